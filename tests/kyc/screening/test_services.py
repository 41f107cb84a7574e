"""Screening clients: bands, blocking, hits and their decisions, whitelists, deltas."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.http import Http404
from django.utils import timezone

from kyc.screening.hooks import screening_changed
from kyc.screening.matching import Subject
from kyc.screening.models import (
    Band,
    DeltaScreening,
    ListEntity,
    ScreeningHit,
    ScreeningResult,
    ScreeningRun,
    WhitelistEntry,
)
from kyc.screening.selectors import access_hit_by_id
from kyc.screening.services import (
    list_import,
    list_version_delta_screen,
    screening_hit_clear,
    screening_hit_confirm,
    screening_settings_set,
    subject_blocking_reasons,
    subject_screen,
    subject_summary,
    subjects_rescreen,
    whitelist_add,
)
from platform_core.audit.approvals import approval_request_approve
from platform_core.audit.models import AuditEvent
from platform_core.exceptions import ApplicationError
from tests.conftest import as_tenant
from tests.kyc.screening.conftest import SubjectTable, person_entity, write_ftm

pytestmark = pytest.mark.django_db

PETROV = person_entity("a", ["Ivan Sergeyevich Petrov"], birth="1970-02-03", country="ru")
SMIRNOVA = person_entity("b", ["Olga Smirnova"], birth="1981", country="ru")
ORLOV = {
    "id": "c",
    "schema": "Person",
    "properties": {"name": ["Pavel Orlov"], "topics": ["role.pep"], "birthDate": ["1960"]},
}


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    path = write_ftm(tmp_path / "v1.json", [PETROV, SMIRNOVA, ORLOV])
    list_import(path=path, fmt="ftm", source_name="demo")
    return tmp_path


def ivan(ref: str = "101") -> Subject:
    return Subject(ref=ref, names=("Ivan Petrov",), birth_date=date(1970, 2, 3), countries=("ru",))


def stranger(ref: str = "102") -> Subject:
    return Subject(ref=ref, names=("Margaret Holloway",), birth_date=date(1990, 5, 5))


def test_a_strong_match_is_a_hit_that_blocks_approval(acme: Any, lists: Path) -> None:
    tenant = acme.tenant
    run = subject_screen(tenant=tenant, subject=ivan(), reason="onboarding")
    assert run.band == Band.HIT and run.top_score >= Decimal("0.700")
    assert run.candidate_count == ScreeningResult.objects.filter(run=run).count() >= 1
    best = ScreeningResult.objects.filter(run=run).order_by("-score").first()
    assert best.entity.key == "a" and "name_match" in best.features
    hit = ScreeningHit.objects.get(subject_ref="101")
    assert hit.status == ScreeningHit.Status.OPEN and hit.band == Band.HIT
    reasons = subject_blocking_reasons(tenant=tenant, ref="101")
    assert any("Open screening hit" in r for r in reasons)
    summary = subject_summary(tenant=tenant, ref="101")
    assert summary["band"] == Band.HIT and summary["open_hits"] == 1 and summary["sanction"]
    assert AuditEvent.objects.filter(action="screening.alert", object_id=str(run.pk)).exists()


def test_a_stranger_is_clear_and_not_blocked(acme: Any, lists: Path) -> None:
    run = subject_screen(tenant=acme.tenant, subject=stranger(), reason="onboarding")
    assert run.band == Band.CLEAR
    assert subject_blocking_reasons(tenant=acme.tenant, ref="102") == []
    assert subject_summary(tenant=acme.tenant, ref="102")["open_hits"] == 0


def test_never_screened_or_changed_profile_blocks(
    acme: Any, lists: Path, subjects: SubjectTable
) -> None:
    assert subject_blocking_reasons(tenant=acme.tenant, ref="102")  # never screened
    subjects.add(acme.tenant, stranger())
    subject_screen(tenant=acme.tenant, subject=stranger(), reason="onboarding")
    assert subject_blocking_reasons(tenant=acme.tenant, ref="102") == []
    subjects.add(acme.tenant, Subject(ref="102", names=("Margaret Holloway-Smith",)))
    reasons = subject_blocking_reasons(tenant=acme.tenant, ref="102")
    assert any("changed since the last screening" in r for r in reasons)


def test_the_review_band_queues_without_blocking(acme: Any, lists: Path) -> None:
    # Same name, another birth year and nationality: logic-v2 lowers it into review.
    subject = Subject(ref="103", names=("Ivan Petrov",), birth_date=date(1971, 2, 3))
    screening_settings_set(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        match_threshold=Decimal("0.95"),
        review_threshold=Decimal("0.50"),
        strong_threshold=Decimal("0.99"),
        reason="tighter",
    )
    run = subject_screen(tenant=acme.tenant, subject=subject, reason="onboarding")
    assert run.band == Band.REVIEW and run.match_threshold == Decimal("0.950")
    assert ScreeningHit.objects.get(subject_ref="103").band == Band.REVIEW
    assert subject_blocking_reasons(tenant=acme.tenant, ref="103") == []


def test_thresholds_are_per_tenant_and_checked(acme: Any, globex: Any, lists: Path) -> None:
    with pytest.raises(ApplicationError) as refused:
        screening_settings_set(
            tenant=acme.tenant,
            actor=acme.compliance.user,
            match_threshold=Decimal("0.40"),
            review_threshold=Decimal("0.50"),
            strong_threshold=Decimal("0.90"),
            reason="bad",
        )
    assert "review_threshold" in refused.value.fields
    screening_settings_set(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        match_threshold=Decimal("0.99"),
        review_threshold=Decimal("0.98"),
        strong_threshold=Decimal("1.00"),
        reason="acme is lenient",
    )
    subject = Subject(ref="104", names=("Ivan Petrov",), countries=("ru",))
    acme_run = subject_screen(tenant=acme.tenant, subject=subject, reason="onboarding")
    with as_tenant(globex.tenant):
        globex_run = subject_screen(tenant=globex.tenant, subject=subject, reason="onboarding")
    assert acme_run.top_score == globex_run.top_score < Decimal("0.98")
    assert (acme_run.band, globex_run.band) == (Band.CLEAR, Band.HIT)


def test_clearing_a_weak_hit_and_confirming_another(acme: Any, lists: Path) -> None:
    screening_settings_set(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        match_threshold=Decimal("0.70"),
        review_threshold=Decimal("0.50"),
        strong_threshold=Decimal("1.00"),
        reason="four eyes only for exact",
    )
    subject_screen(tenant=acme.tenant, subject=ivan(), reason="onboarding")
    hit = ScreeningHit.objects.get(subject_ref="101")
    with pytest.raises(ApplicationError):
        screening_hit_clear(
            tenant=acme.tenant, actor=acme.compliance.user, hit_id=hit.pk, reason=""
        )
    outcome = screening_hit_clear(
        tenant=acme.tenant, actor=acme.compliance.user, hit_id=hit.pk, reason="other person"
    )
    assert outcome.approval is None and outcome.hit.status == ScreeningHit.Status.CLEARED
    assert subject_blocking_reasons(tenant=acme.tenant, ref="101") == []
    # Decided on the same data: a re-screen keeps the decision and stores a new run.
    again = subject_screen(tenant=acme.tenant, subject=ivan(), reason="periodic")
    assert again.band == Band.HIT
    assert ScreeningHit.objects.filter(subject_ref="101").count() == 1
    assert subject_blocking_reasons(tenant=acme.tenant, ref="101") == []
    # Another client: confirmed stays blocked.
    subject_screen(tenant=acme.tenant, subject=ivan("201"), reason="onboarding")
    other = ScreeningHit.objects.get(subject_ref="201")
    screening_hit_confirm(
        tenant=acme.tenant, actor=acme.compliance.user, hit_id=other.pk, reason="same DOB"
    )
    assert any("Confirmed" in r for r in subject_blocking_reasons(tenant=acme.tenant, ref="201"))
    with pytest.raises(ApplicationError) as twice:
        screening_hit_clear(
            tenant=acme.tenant, actor=acme.compliance.user, hit_id=other.pk, reason="x"
        )
    assert twice.value.status_code == 409


def test_a_strong_hit_is_cleared_only_with_four_eyes(acme: Any, lists: Path) -> None:
    from platform_core.tenancy.models import Membership
    from platform_core.tenancy.roles import Role
    from platform_core.tenancy.services import member_add

    subject_screen(tenant=acme.tenant, subject=ivan(), reason="onboarding")
    hit = ScreeningHit.objects.get(subject_ref="101")
    assert hit.score >= Decimal("0.900")
    outcome = screening_hit_clear(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        hit_id=hit.pk,
        reason="different person: other passport",
        whitelist_days=365,
    )
    hit.refresh_from_db()
    assert outcome.approval is not None and hit.status == ScreeningHit.Status.OPEN
    with pytest.raises(ApplicationError) as same:
        approval_request_approve(
            tenant=acme.tenant,
            actor=acme.compliance.user,
            membership=acme.compliance.membership,
            approval_id=outcome.approval.pk,
            reason="me again",
        )
    assert same.value.error_code == "maker_cannot_decide"
    second = member_add(
        tenant=acme.tenant,
        email="second@acme.example",
        role=Role.COMPLIANCE_OFFICER,
        password="x" * 20,
    ).membership
    assert isinstance(second, Membership)
    approval_request_approve(
        tenant=acme.tenant,
        actor=second.user,
        membership=second,
        approval_id=outcome.approval.pk,
        reason="checked the passport",
    )
    hit.refresh_from_db()
    assert hit.status == ScreeningHit.Status.CLEARED and hit.decided_by == second.user
    entry = WhitelistEntry.objects.get(subject_ref="101")
    assert entry.entity_id == hit.entity_id
    # Whitelisted: the next run marks the result and opens nothing.
    run = subject_screen(tenant=acme.tenant, subject=ivan(), reason="periodic")
    assert run.band == Band.CLEAR
    assert ScreeningResult.objects.get(run=run, entity=hit.entity).whitelisted


def test_a_whitelist_entry_expires(acme: Any, lists: Path) -> None:
    entity = ListEntity.objects.get(key="a")
    whitelist_add(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        subject_ref="101",
        entity_id=entity.pk,
        reason="known false positive",
        expires_at=timezone.now() + timedelta(days=1),
    )
    assert subject_screen(tenant=acme.tenant, subject=ivan(), reason="x").band == Band.CLEAR
    with pytest.raises(ApplicationError):
        whitelist_add(
            tenant=acme.tenant,
            actor=acme.compliance.user,
            subject_ref="101",
            entity_id=entity.pk,
            reason="in the past",
            expires_at=timezone.now() - timedelta(days=1),
        )
    # A day later the entry has lapsed: the same client is a hit again.
    later = timezone.now() + timedelta(days=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: later)
        run = subject_screen(tenant=acme.tenant, subject=ivan(), reason="periodic")
    assert run.band == Band.HIT
    assert not ScreeningResult.objects.get(run=run, entity=entity).whitelisted


def test_runs_and_results_are_append_only(acme: Any, lists: Path) -> None:
    run = subject_screen(tenant=acme.tenant, subject=ivan(), reason="onboarding")
    with pytest.raises(DatabaseError), transaction.atomic():
        ScreeningRun.objects.filter(pk=run.pk).update(band=Band.CLEAR)
    with pytest.raises(DatabaseError), transaction.atomic():
        ScreeningResult.objects.filter(run=run).delete()


def test_delta_screening_finds_a_newly_listed_client(
    acme: Any, globex: Any, lists: Path, subjects: SubjectTable
) -> None:
    changes: list[dict[str, Any]] = []
    screening_changed.connect(changes.append)
    try:
        newcomer = Subject(ref="301", names=("Dmitri Volkov",), birth_date=date(1975, 6, 1))
        subjects.add(acme.tenant, newcomer)
        subjects.add(acme.tenant, stranger())
        subjects.add(globex.tenant, Subject(ref="301", names=("Anna Lee",)))
        with transaction.atomic():
            first = subjects_rescreen(tenant=acme.tenant)
        assert first == 2
        assert subject_summary(tenant=acme.tenant, ref="301")["band"] == Band.CLEAR
        # The list now names him; the delta re-screens exactly him.
        v2 = write_ftm(
            lists / "v2.json",
            [PETROV, SMIRNOVA, ORLOV, person_entity("d", ["Dmitry Volkov"], birth="1975-06-01")],
        )
        version = list_import(path=v2, fmt="ftm", source_name="demo").version
        assert version.added_count == 1
        # Until the delta has run, the new version keeps the client pending.
        reasons = subject_blocking_reasons(tenant=acme.tenant, ref="102")
        assert any("has not been screened yet" in r for r in reasons)
        outcome = list_version_delta_screen(version_id=version.pk)
        assert outcome.refs[acme.tenant.pk] == ["301"]
        assert outcome.refs[globex.tenant.pk] == []
        latest = ScreeningRun.objects.filter(subject_ref="301").order_by("-id").first()
        assert latest.reason == "list_delta" and latest.band == Band.HIT
        assert ScreeningRun.objects.filter(subject_ref="301").count() == 2  # old run kept
        assert subject_blocking_reasons(tenant=acme.tenant, ref="102") == []
        assert any(
            "Open screening hit" in r
            for r in subject_blocking_reasons(tenant=acme.tenant, ref="301")
        )
        # Idempotent per tenant and version.
        assert list_version_delta_screen(version_id=version.pk).tenants == 0
        assert DeltaScreening.objects.filter(version=version).count() == 1
    finally:
        screening_changed.disconnect(changes.append)


def test_delisting_resolves_the_open_hit(acme: Any, lists: Path, subjects: SubjectTable) -> None:
    subjects.add(acme.tenant, ivan())
    subject_screen(tenant=acme.tenant, subject=ivan(), reason="onboarding")
    v2 = write_ftm(lists / "v2.json", [SMIRNOVA, ORLOV])
    version = list_import(path=v2, fmt="ftm", source_name="demo").version
    outcome = list_version_delta_screen(version_id=version.pk)
    assert outcome.refs[acme.tenant.pk] == ["101"]
    hit = ScreeningHit.objects.get(subject_ref="101")
    assert hit.status == ScreeningHit.Status.CLEARED and hit.decision_reason == "delisted"
    assert subject_blocking_reasons(tenant=acme.tenant, ref="101") == []


def test_a_foreign_tenants_hit_is_a_404(acme: Any, globex: Any, lists: Path) -> None:
    with as_tenant(globex.tenant):
        subject_screen(tenant=globex.tenant, subject=ivan(), reason="onboarding")
        hit_id = ScreeningHit.objects.get().pk
    with pytest.raises(Http404):
        access_hit_by_id(tenant=acme.tenant, hit_id=hit_id)
    with pytest.raises(Http404):
        screening_hit_confirm(
            tenant=acme.tenant, actor=acme.compliance.user, hit_id=hit_id, reason="x"
        )


def test_the_pep_topic_reaches_the_summary(acme: Any, lists: Path) -> None:
    subject_screen(
        tenant=acme.tenant, subject=Subject(ref="401", names=("Pavel Orlov",)), reason="x"
    )
    summary = subject_summary(tenant=acme.tenant, ref="401")
    assert summary["pep"] and not summary["sanction"]


def test_the_screen_command(lists: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = ScreeningRun.objects.count()
    call_command("screen", "Ivan Petrov", "--birth-date", "1970-02-03", "--country", "RU")
    text = capsys.readouterr().out
    assert "Ivan Sergeyevich Petrov" in text and "hit" in text and "name_match" in text
    call_command("screen", "Ivan Petrov", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["candidates"][0]["caption"] == "Ivan Sergeyevich Petrov"
    assert data["candidates"][0]["features"]["name_match"]["score"] > 0
    assert ScreeningRun.objects.count() == runs  # no side effects
    with pytest.raises(CommandError, match="not a date"):
        call_command("screen", "Ivan Petrov", "--birth-date", "03/02/1970")
    with pytest.raises(CommandError, match="two-letter"):
        call_command("screen", "Ivan Petrov", "--country", "Russia")
    with pytest.raises(CommandError, match="Give a name"):
        call_command("screen", "   ")
