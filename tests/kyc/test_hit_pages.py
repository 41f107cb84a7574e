"""The console's screening hits: the queue, a hit's page with the features that drove its
score, the officer's decision (audited, compliance only, four eyes for a strong hit), the link
from the case page, and the KYC overview that counts what needs action."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from kyc.screening.models import ScreeningHit, WhitelistEntry
from kyc.screening.services import screening_settings_set
from platform_core.audit.models import ApprovalRequest, AuditEvent
from tests.conftest import as_tenant, sign_in
from tests.kyc.factories import LISTED_NAME, client_with_hit

pytestmark = pytest.mark.django_db


@pytest.fixture
def hit_case(acme: Any, tmp_path: Any) -> Any:
    return client_with_hit(acme.tenant, acme.client, tmp_path)


def the_hit(case: Any) -> ScreeningHit:
    return ScreeningHit.objects.get(subject_ref=str(case.profile_id))


def officer(acme: Any) -> Client:
    return sign_in(Client(), acme.compliance)


def strong_from(acme: Any, value: str) -> None:
    screening_settings_set(
        tenant=acme.tenant,
        actor=acme.admin.user,
        match_threshold=Decimal("0.700"),
        review_threshold=Decimal("0.500"),
        strong_threshold=Decimal(value),
        reason="test thresholds",
    )


def test_the_queue_shows_the_client_the_listed_entity_and_the_score(acme, hit_case):
    hit = the_hit(hit_case)
    assert hit.status == "open" and hit.band == "hit"
    page = officer(acme).get("/console/kyc/hits/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Ivan Petrov" in text and LISTED_NAME in text and str(hit.score) in text
    assert f"/console/kyc/hits/{hit.pk}/" in text
    review_only = officer(acme).get("/console/kyc/hits/?band=review").content.decode()
    assert LISTED_NAME not in review_only


def test_a_hits_page_explains_the_score_and_the_case_page_links_to_it(acme, hit_case):
    hit = the_hit(hit_case)
    browser = officer(acme)
    page = browser.get(f"/console/kyc/hits/{hit.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "name_match" in text  # the feature logic-v2 scored the names with
    assert "1949-12-31" in text and LISTED_NAME in text
    assert f"/console/kyc/cases/{hit_case.pk}/" in text
    case_page = browser.get(f"/console/kyc/cases/{hit_case.pk}/").content.decode()
    assert f"/console/kyc/hits/{hit.pk}/" in case_page


def test_a_true_match_is_confirmed_with_a_reason_and_audited(acme, hit_case):
    hit = the_hit(hit_case)
    browser = officer(acme)
    missing = browser.post(f"/console/kyc/hits/{hit.pk}/", {"action": "confirm", "reason": ""})
    assert missing.status_code == 400
    assert ScreeningHit.objects.get(pk=hit.pk).status == "open"
    done = browser.post(
        f"/console/kyc/hits/{hit.pk}/", {"action": "confirm", "reason": "same passport"}
    )
    assert done.status_code == 302
    hit.refresh_from_db()
    assert hit.status == "confirmed" and hit.decided_by == acme.compliance.user
    assert AuditEvent.objects.filter(
        action="screening.hit_confirmed", object_id=str(hit.pk)
    ).exists()
    again = browser.post(f"/console/kyc/hits/{hit.pk}/", {"action": "clear", "reason": "oops"})
    assert again.status_code == 409
    assert ScreeningHit.objects.get(pk=hit.pk).status == "confirmed"


def test_a_false_positive_is_cleared_and_whitelisted(acme, hit_case):
    strong_from(acme, "1.000")  # no hit is strong: one officer clears it
    hit = the_hit(hit_case)
    done = officer(acme).post(
        f"/console/kyc/hits/{hit.pk}/",
        {
            "action": "clear",
            "reason": "different person: other father's name",
            "whitelist_days": 30,
        },
    )
    assert done.status_code == 302
    hit.refresh_from_db()
    assert hit.status == "cleared"
    entry = WhitelistEntry.objects.get(subject_ref=hit.subject_ref, entity=hit.entity)
    assert entry.reason == "different person: other father's name"
    assert AuditEvent.objects.filter(action="screening.hit_cleared", object_id=str(hit.pk)).exists()
    queue = officer(acme).get("/console/kyc/hits/").content.decode()
    assert LISTED_NAME not in queue


def test_a_confirmed_match_is_not_whitelisted(acme, hit_case):
    hit = the_hit(hit_case)
    refused = officer(acme).post(
        f"/console/kyc/hits/{hit.pk}/",
        {"action": "confirm", "reason": "same person", "whitelist_days": 30},
    )
    assert refused.status_code == 400
    assert ScreeningHit.objects.get(pk=hit.pk).status == "open"


def test_a_strong_hit_waits_for_a_second_officer(acme, hit_case):
    strong_from(acme, "0.700")
    hit = the_hit(hit_case)
    done = officer(acme).post(
        f"/console/kyc/hits/{hit.pk}/", {"action": "clear", "reason": "other person"}
    )
    assert done.status_code == 302
    assert ScreeningHit.objects.get(pk=hit.pk).status == "open"
    assert ApprovalRequest.objects.filter(action="screening.hit_clear", status="pending").exists()
    page = officer(acme).get(f"/console/kyc/hits/{hit.pk}/").content.decode()
    assert "waits for a second compliance officer" in page
    assert 'value="clear"' not in page  # no second request for the same hit


def test_only_a_compliance_officer_decides_and_a_foreign_tenant_gets_a_404(acme, globex, hit_case):
    hit = the_hit(hit_case)
    admin = sign_in(Client(), acme.admin)
    assert admin.get(f"/console/kyc/hits/{hit.pk}/").status_code == 200
    refused = admin.post(f"/console/kyc/hits/{hit.pk}/", {"action": "confirm", "reason": "x"})
    assert refused.status_code == 403
    assert sign_in(Client(), acme.operations).get("/console/kyc/hits/").status_code == 403
    foreign = sign_in(Client(), globex.compliance)
    assert foreign.get(f"/console/kyc/hits/{hit.pk}/").status_code == 404
    assert (
        foreign.post(
            f"/console/kyc/hits/{hit.pk}/", {"action": "confirm", "reason": "x"}
        ).status_code
        == 404
    )
    assert LISTED_NAME not in foreign.get("/console/kyc/hits/").content.decode()
    assert ScreeningHit.objects.get(pk=hit.pk).status == "open"


def test_an_unverified_officer_is_refused(acme, hit_case):
    browser = sign_in(Client(), acme.compliance, verify=False)
    assert browser.get("/console/kyc/").status_code in (302, 403)
    assert browser.get(f"/console/kyc/hits/{the_hit(hit_case).pk}/").status_code in (302, 403)


def test_the_overview_counts_what_needs_action(acme, hit_case):
    page = officer(acme).get("/console/kyc/")
    assert page.status_code == 200
    overview = page.context["overview"]
    assert overview["open_cases"] == 1 and overview["unassigned_cases"] == 1
    assert overview["hits"] == {"hit": 1} and overview["open_hits"] == 1
    assert overview["open_alerts"] == 0 and overview["reviews_overdue"] == 0
    with as_tenant(acme.tenant):
        hit_case.profile.__class__.objects.filter(pk=hit_case.profile_id).update(
            status="approved", next_review_on="2020-01-01"
        )
    assert officer(acme).get("/console/kyc/").context["overview"]["reviews_overdue"] == 1
