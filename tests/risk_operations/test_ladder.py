"""An account walked down the ladder by prices: each notice once, the call's deadline in
business days on the tenant's calendar, a deposit closing the call; a second sweep at the
same prices changes nothing.

acme.client is short 100 XYZ with 7,000 in client money (the short sale's proceeds and
2,000 of their own). At 50 the ratio is 1.33 (healthy); 52 is a warning, 54 a margin call.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from platform_core.audit.models import AuditEvent, Notification
from risk.operations.ladder import DEFAULT_LADDER, call_deadline
from risk.operations.models import AccountLadder, MarginCall, MarginNotice, RatioMark
from risk.operations.services import call_hints_compute
from tests.conftest import TenantPeople
from tests.ledger.factories import open_book
from tests.risk.factories import equity, hold
from tests.risk_operations.helpers import Clock, prices, sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(acme: TenantPeople) -> Any:
    equity("XYZ")
    book = open_book(acme)
    book.fund("7000.00")
    hold(book.client, equity_of("XYZ"), "-100")
    return book


def equity_of(symbol: str) -> Any:
    from risk.models import Instrument

    return Instrument.objects.get(symbol=symbol)


def counts() -> dict[str, int]:
    return {
        "marks": RatioMark.objects.count(),
        "calls": MarginCall.objects.count(),
        "notices": MarginNotice.objects.count(),
        "notifications": Notification.objects.count(),
        "audit": AuditEvent.objects.filter(action="risk.ladder_moved").count(),
    }


def test_it_walks_the_ladder_with_each_notice_once_and_a_deposit_meets_the_call(
    acme: TenantPeople,
    book: Any,
    django_capture_on_commit_callbacks: Any,
    mailoutbox: Any,
    settings: Any,
) -> None:
    # The deposit's listener re-marks the account at the real time: keep the quotes fresh.
    settings.RISK_ORACLE = {"freshness_seconds": {"equity": 86400, "option": 86400}}
    clock = Clock()
    tenant = acme.tenant
    prices(clock, XYZ="50")
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(tenant, clock).transitions == 0
    assert counts()["notices"] == 0

    prices(clock, XYZ="52")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = sweep(tenant, clock)
    assert outcome.transitions == 1
    state = AccountLadder.objects.get(account_id=book.client.pk)
    assert (state.status, state.ratio) == ("warning", Decimal("1.1538"))
    warning = MarginNotice.objects.get(step="warning")
    assert warning.sent_at is not None
    assert Notification.objects.filter(kind="margin.warning").count() == 1
    assert not MarginCall.objects.exists()

    # The same prices again: nothing moves, nothing is stored, nothing is sent.
    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        again = sweep(tenant, clock)
    assert again.transitions == 0 and counts() == before

    issued_at = prices(clock, XYZ="54")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = sweep(tenant, clock)
    call = MarginCall.objects.get()
    assert outcome.calls_issued == [call.pk]
    assert (call.status, call.stage, call.ratio) == ("open", "margin_call", Decimal("0.9877"))
    # Deposit needed to the target (1.25 x 1,620 - 1,600), rounded up to the cent.
    assert call.deposit_needed == Decimal("425.00")
    due, due_at = call_deadline(tenant=tenant, issued_at=issued_at, days=DEFAULT_LADDER.call_days)
    assert call.deadline_date == due
    assert due_at.astimezone(ZoneInfo("Asia/Shanghai")).hour == 0
    assert call.deadline_date.weekday() < 5
    local_day = issued_at.astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert (call.deadline_date - local_day).days >= DEFAULT_LADDER.call_days
    notice = MarginNotice.objects.get(step="margin_call")
    assert notice.call_id == call.pk and notice.context["deposit_needed"] == "425.00"
    sent = Notification.objects.get(kind="margin.call")
    assert set(sent.channels) == {"portal", "email", "webhook"}
    assert "425.00" in sent.subject
    assert any("425.00" in m.subject for m in mailoutbox)
    # The hints were computed with the call (by a task, at the prices of its run); at the
    # call's prices the deposit is the call's.
    call.refresh_from_db()
    assert call.hints["deposit"]
    hints = call_hints_compute(tenant=tenant, call_id=call.pk, now=clock.now)
    assert hints["deposit"] == "425.00"
    assert hints["reduce"][0]["strategy"] == "short_stock"
    assert hints["reduce"][0]["ratio_after"] is None  # nothing left to margin

    # Sweeping the same prices twice, even under the same sweep id, calls once.
    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        sweep(tenant, clock)
    assert counts() == before

    # A deposit of 450 lifts the ratio to 2,050 / 1,620 = 1.2654: the call closes itself.
    with django_capture_on_commit_callbacks(execute=True):
        book.fund("450.00")
    call.refresh_from_db()
    assert (call.status, call.closed_reason) == ("met", "deposit")
    assert AccountLadder.objects.get(account_id=book.client.pk).status == "healthy"
    assert Notification.objects.filter(kind="margin.call_met").count() == 1
    steps = list(MarginNotice.objects.order_by("pk").values_list("step", flat=True))
    assert steps == ["warning", "margin_call", "met"]
    assert Notification.objects.filter(key__startswith="risk_ops:").count() == 3
    history = list(RatioMark.objects.order_by("pk").values_list("previous", "status"))
    assert history == [
        ("healthy", "warning"),
        ("warning", "margin_call"),
        ("margin_call", "healthy"),
    ]
    assert AuditEvent.objects.filter(action="risk.ladder_moved").count() == 3


def test_a_replayed_sweep_id_is_ignored(acme: TenantPeople, book: Any) -> None:
    from risk.operations.services import account_change, ladder_apply

    clock = Clock()
    prices(clock, XYZ="54")
    change = account_change(
        tenant=acme.tenant, account=book.client, sweep_id="sweep-7", now=clock.now
    )
    first = ladder_apply(tenant=acme.tenant, changes=[change], now=clock.now)
    assert len(first.calls_issued) == 1
    # The same payload delivered again (a retried listener) changes nothing.
    second = ladder_apply(tenant=acme.tenant, changes=[change], now=clock.now)
    assert second.transitions == 0 and second.calls_issued == []
    assert MarginCall.objects.count() == 1 and RatioMark.objects.count() == 1


def test_a_reminder_once_as_the_deadline_nears_then_an_overdue_call_is_deleveraged(
    acme: TenantPeople, book: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    from datetime import timedelta

    from risk.operations.models import Proposal
    from risk.operations.services import calls_deadline_check

    settings.RISK_ORACLE = {"freshness_seconds": {"equity": 86400 * 7, "option": 86400 * 7}}
    clock = Clock()
    prices(clock, XYZ="54")
    with django_capture_on_commit_callbacks(execute=True):
        sweep(acme.tenant, clock)
    call = MarginCall.objects.get()

    early = calls_deadline_check(tenant=acme.tenant, now=call.deadline_at - timedelta(days=3))
    assert early == {"reminded": 0, "overdue": 0}
    near = call.deadline_at - timedelta(hours=3)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            calls_deadline_check(tenant=acme.tenant, now=near)
    reminder = MarginNotice.objects.get(step="deadline_near")
    assert reminder.context["hours_left"] == 3 and reminder.sent_at is not None
    assert Notification.objects.filter(kind="margin.deadline_near").count() == 1
    assert not Proposal.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        overdue = calls_deadline_check(
            tenant=acme.tenant, now=call.deadline_at + timedelta(minutes=1)
        )
    assert overdue == {"reminded": 0, "overdue": 1}
    proposal = Proposal.objects.get()
    assert (proposal.kind, proposal.status, proposal.call_id) == ("deleverage", "executed", call.pk)
    assert [s["strategy"] for s in proposal.steps] == ["short_stock"]
    call.refresh_from_db()
    assert (call.status, call.closed_reason) == ("met", "reduction")
