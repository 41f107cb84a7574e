"""The replay command (the whole loop on a copy of the book, nothing persists) and disputes
of a liquidation (the evidence bundle, through the portal and the console)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client

from platform_core.audit.models import AuditEvent
from risk.operations.models import Dispute, MarginNotice, Proposal
from tests.conftest import TenantPeople, sign_in
from tests.ledger.factories import open_book
from tests.risk.factories import equity, hold
from tests.risk_operations.helpers import Clock, prices, sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def short_book(acme: TenantPeople) -> Any:
    """acme.client short 1,000 DEF with 28,000 of client money: healthy at 20."""
    book = open_book(acme)
    book.fund("28000.00")
    hold(book.client, equity("DEF"), "-1000")
    return book


def row_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def test_replay_runs_the_loop_and_persists_nothing(
    acme: TenantPeople, short_book: Any, tmp_path: Path
) -> None:
    clock = Clock()
    prices(clock, DEF="20")
    path = tmp_path / "squeeze.csv"
    path.write_text("step,symbol,price\n1,DEF,22\n2,DEF,23\n3,DEF,27\n", encoding="utf-8")
    before = row_counts()
    out = StringIO()
    call_command("replay", "--scenario", str(path), "--tenant", "acme", "--json", stdout=out)
    import json

    report = json.loads(out.getvalue())
    assert row_counts() == before  # nothing persisted: no quote, call, fill, entry or event
    # 22: ratio 6,000/6,600 = 0.91 (a call); 23: 5,000/6,900 = 0.72 (liquidate); 27 is past it.
    assert report["calls_issued"] == 1
    assert report["liquidated"] == 1
    statuses = [s["statuses"] for s in report["steps"]]
    assert statuses[0] == {"margin_call": 1}
    assert statuses[1] == {"healthy": 1}  # liquidated at 23: nothing left to margin
    assert report["shortfall"] == "0"
    assert report["steps_to_restore"] == 1
    assert report["persisted"] is False


def test_replay_with_the_switch_on_queues_instead(acme: TenantPeople, short_book: Any) -> None:
    clock = Clock()
    prices(clock, DEF="20")
    out = StringIO()
    # gap-20 moves every underlying 20% lower: a short gains, nothing is called.
    call_command("replay", "--scenario", "gap-20", "--tenant", "acme", "--json", stdout=out)
    assert '"calls_issued": 0' in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "no-such", "--tenant", "acme"], "no built-in 'no-such'"),
        (["--scenario", "gap-20", "--tenant", "nobody"], "no tenant 'nobody'"),
    ],
)
def test_replay_refuses_bad_input(acme: TenantPeople, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message) as refused:
        call_command("replay", *args)
    assert refused.value.returncode == 2


def test_replay_refuses_a_malformed_file(acme: TenantPeople, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("step,move\n1,-0.5\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 2 is not valid"):
        call_command("replay", "--scenario", str(path), "--tenant", "acme")


def test_a_client_disputes_a_liquidation_with_its_evidence_and_risk_resolves_it(
    acme: TenantPeople, short_book: Any, django_capture_on_commit_callbacks: Any
) -> None:
    tenant = acme.tenant
    clock = Clock()
    prices(clock, DEF="20")
    sweep(tenant, clock)
    prices(clock, DEF="22")
    with django_capture_on_commit_callbacks(execute=True):
        sweep(tenant, clock)
    prices(clock, DEF="27")
    with django_capture_on_commit_callbacks(execute=True):
        sweep(tenant, clock)
    proposal = Proposal.objects.get(status="executed")

    client = sign_in(Client(), acme.client)
    page = client.get("/margin/calls/")
    assert page.status_code == 200
    assert f"/margin/calls/proposals/{proposal.pk}/dispute/" in page.content.decode()
    refused = client.post(f"/margin/calls/proposals/{proposal.pk}/dispute/", {"statement": " "})
    assert refused.status_code == 400 and not Dispute.objects.exists()
    filed = client.post(
        f"/margin/calls/proposals/{proposal.pk}/dispute/",
        {"statement": "The buy-back at 27 was above the day's high."},
    )
    assert filed.status_code == 302
    dispute = Dispute.objects.get()
    evidence = dispute.evidence
    assert evidence["policy_version"] == "default v0"
    assert evidence["fills"][0]["price"].startswith("27")
    assert evidence["prices_planned"] == {"DEF": "27.00000000"}
    assert [m["status"] for m in evidence["ratio_history"]] == ["margin_call", "liquidate"]
    steps = [n["step"] for n in evidence["notices"]]
    assert steps[:2] == ["margin_call", "liquidate"]
    assert all(n["sent_at"] for n in evidence["notices"])
    assert evidence["call"]["deadline"]
    assert len(dispute.evidence_digest) == 64

    # A second dispute of the same liquidation while one is open is refused.
    again = client.post(f"/margin/calls/proposals/{proposal.pk}/dispute/", {"statement": "again"})
    assert again.status_code == 400 and Dispute.objects.count() == 1

    officer = sign_in(Client(), acme.risk)
    shown = officer.get(f"/console/margin/disputes/{dispute.pk}/")
    assert shown.status_code == 200 and "above the day" in shown.content.decode()
    resolved = officer.post(
        f"/console/margin/disputes/{dispute.pk}/",
        {"outcome": "dismissed", "resolution": "27 was the oracle's median; fills match."},
    )
    assert resolved.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == "dismissed" and dispute.resolved_by == acme.risk.user
    assert AuditEvent.objects.filter(action="risk.dispute_resolved").count() == 1


def test_the_console_shows_the_switch_and_the_queue(acme: TenantPeople) -> None:
    officer = sign_in(Client(), acme.risk)
    engaged = officer.post(
        "/console/margin/crash-switch/", {"action": "engage", "reason": "exchange halted"}
    )
    assert engaged.status_code == 302
    page = officer.get("/console/margin/")
    assert page.status_code == 200 and 'id="crash-switch-on"' in page.content.decode()
    # A compliance officer reads the page but may not touch the switch.
    compliance = sign_in(Client(), acme.compliance)
    assert compliance.get("/console/margin/").status_code == 200
    refused = compliance.post(
        "/console/margin/crash-switch/", {"action": "release", "reason": "no"}
    )
    assert refused.status_code == 403
    assert AuditEvent.objects.filter(action="risk.crash_switch_released").count() == 0
    # No reason, no change.
    officer.post("/console/margin/crash-switch/", {"action": "release", "reason": ""})
    assert AuditEvent.objects.filter(action="risk.crash_switch_released").count() == 0


def test_the_margin_calls_report_lists_calls_notices_and_liquidations(
    acme: TenantPeople, short_book: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.utils import timezone

    from platform_core.audit.report_content import ReportAppendix, ReportPeriod
    from platform_core.hooks import report_types

    tenant = acme.tenant
    clock = Clock()
    prices(clock, DEF="20")
    sweep(tenant, clock)
    prices(clock, DEF="22")
    with django_capture_on_commit_callbacks(execute=True):
        sweep(tenant, clock)
    prices(clock, DEF="27")
    with django_capture_on_commit_callbacks(execute=True):
        sweep(tenant, clock)
    today = timezone.localdate(timezone=tenant_zone(tenant))
    period = ReportPeriod(today - timedelta(days=1), today, tenant.timezone)
    appendix = ReportAppendix()
    body = report_types.get("margin_calls").build(tenant=tenant, period=period, appendix=appendix)
    summary = dict(body.summary)
    assert summary["Margin calls issued"] == "1"
    assert summary["Liquidations executed"] == "1"
    assert summary["Closed by liquidation"] == "1"
    assert not body.empty
    files = {f.name: f.content.decode() for f in appendix.files}
    assert set(files) == {
        "calls.csv",
        "notices.csv",
        "proposals.csv",
        "fills.json",
        "ratio_marks.csv",
    }
    assert files["notices.csv"].count("\r\n") == 1 + MarginNotice.objects.count()
    assert "liquidation" in files["proposals.csv"]


def tenant_zone(tenant: Any) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(tenant.timezone)


def test_the_loops_words_have_a_simplified_chinese_translation() -> None:
    from django.template.loader import render_to_string
    from django.utils import translation

    with translation.override("zh-hans"):
        subject = render_to_string(
            "notifications/margin.call/subject.txt",
            {"deposit_needed": "425.00", "currency": "USD", "deadline": "2026-11-30"},
        )
        assert "追加保证金通知" in subject and "425.00" in subject
        assert translation.gettext("Margin calls issued") == "已发出的追保通知"
