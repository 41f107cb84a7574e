"""Deleveraging and liquidation: whole strategy groups, the crash switch, and a gap through
the liquidation line whose shortfall becomes client debt and is written off under four eyes.

acme.client holds a covered call (200 XYZ, short 2 XYZ 55 calls), a protective put (300 ABC,
long 3 ABC 18 puts) and is short 1,000 DEF, with 20,000 in client money: at XYZ 50, ABC 20,
DEF 20 the ratio is 1.68. A gap to XYZ 45, ABC 18, DEF 35 leaves equity below zero.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from ledger.models import JournalEntry, LedgerAccount
from ledger.services import account_create, transfer_post
from platform_core.audit.approvals import (
    approval_request_approve,
    approval_request_create,
    approvals_expire,
)
from platform_core.audit.models import ApprovalRequest, AuditEvent, Notification
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from risk.engine.policies import margin_compute
from risk.engine.portfolio import portfolio_parse
from risk.hooks import crash_signal
from risk.models import Instrument, Order, Position, Quote
from risk.operations.models import ClientDebt, CrashSwitch, MarginCall, Proposal
from risk.operations.services import (
    WRITEOFF_ACTION,
    crash_signal_received,
    crash_switch_engage,
    crash_switch_release,
    proposal_execute,
    proposal_execution_request,
)
from tests.conftest import TenantPeople, as_tenant, make_person, make_tenant_people
from tests.ledger.factories import key, open_book
from tests.risk.factories import SOURCES, equity, hold, option
from tests.risk_operations.helpers import Clock, conserved, prices, refreshed, sweep

pytestmark = pytest.mark.django_db

EXPIRY = timezone.localdate() + timedelta(days=60)


@pytest.fixture
def book(acme: TenantPeople) -> Any:
    xyz, abc, def_ = equity("XYZ"), equity("ABC"), equity("DEF")
    call = option(xyz, right="call", strike="55", expiry=EXPIRY)
    put = option(abc, right="put", strike="18", expiry=EXPIRY)
    book = open_book(acme)
    book.fund("20000.00")
    for instrument, quantity in ((xyz, "200"), (call, "-2"), (abc, "300"), (put, "3")):
        hold(book.client, instrument, quantity)
    hold(book.client, def_, "-1000")
    book.call, book.put = call.symbol, put.symbol
    return book


def house_reserve(tenant: Any, book: Any, amount: str) -> LedgerAccount:
    """House capital set aside as a default fund: house cash and the fund grow together."""
    fund = account_create(tenant=tenant, kind="default_fund", currency="USD")
    transfer_post(
        tenant=tenant,
        debit_account=book.house.pk,
        credit_account=fund.pk,
        amount=Decimal(amount),
        currency="USD",
        entry_type="transfer",
        idempotency_key=key("reserve"),
    )
    return fund


def calm(clock: Clock, book: Any) -> None:
    prices(clock, XYZ="50", ABC="20", DEF="20", **{book.call: "1.20", book.put: "0.50"})


def gap(clock: Clock, book: Any) -> None:
    prices(clock, XYZ="45", ABC="18", DEF="35", **{book.call: "1.00", book.put: "0.58"})


def held(account: LedgerAccount) -> dict[str, Decimal]:
    return {
        p.instrument.symbol: p.quantity
        for p in Position.objects.filter(account=account).select_related("instrument")
        if p.quantity != 0
    }


def strategies_after_each_step(book: Any, proposal: Proposal, start: dict[str, Decimal]) -> list:
    """Re-margin what the account held after each step's fills with the engine."""
    positions = dict(start)
    by_step: dict[int, list[dict[str, str]]] = defaultdict(list)
    for fill in proposal.fills:
        by_step[fill["step"]].append(fill)
    seen = []
    for step in sorted(by_step):
        for fill in by_step[step]:
            positions[fill["symbol"]] += Decimal(fill["quantity"])
        document = {
            "currency": "USD",
            "as_of": timezone.localdate().isoformat(),
            "cash": "100000",
            "instruments": [
                {"symbol": "XYZ", "kind": "equity", "price": "45"},
                {"symbol": "ABC", "kind": "equity", "price": "18"},
                {"symbol": "DEF", "kind": "equity", "price": "35"},
                {
                    "symbol": book.call,
                    "kind": "option",
                    "underlying": "XYZ",
                    "right": "call",
                    "strike": "55",
                    "expiry": EXPIRY.isoformat(),
                    "multiplier": "100",
                    "price": "1.00",
                },
                {
                    "symbol": book.put,
                    "kind": "option",
                    "underlying": "ABC",
                    "right": "put",
                    "strike": "18",
                    "expiry": EXPIRY.isoformat(),
                    "multiplier": "100",
                    "price": "0.58",
                },
            ],
            "positions": [
                {"symbol": s, "quantity": str(q)} for s, q in positions.items() if q != 0
            ],
        }
        groups = margin_compute(portfolio_parse(document)).groups
        seen.append(sorted(g.strategy for g in groups))
    return seen


def test_a_gap_liquidates_whole_groups_and_the_shortfall_is_written_off(
    acme: TenantPeople, book: Any, django_capture_on_commit_callbacks: Any
) -> None:
    tenant = acme.tenant
    house_reserve(tenant, book, "1000.00")
    clock = Clock()
    calm(clock, book)
    assert sweep(tenant, clock).transitions == 0
    start = held(book.client)

    gap(clock, book)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = sweep(tenant, clock)
    assert outcome.by_status == {"liquidate": 1}
    proposal = Proposal.objects.get()
    assert (proposal.kind, proposal.status) == ("liquidation", "executed")
    assert not proposal.paused_by_switch
    # Riskiest first: the short stock, then the covered call, then the protective put, each
    # group's legs closed together in one step.
    assert [s["strategy"] for s in proposal.steps] == [
        "short_stock",
        "covered_call",
        "protective_put",
    ]
    step_of = {f["symbol"]: f["step"] for f in proposal.fills}
    assert step_of["XYZ"] == step_of[book.call] == 2
    assert step_of["ABC"] == step_of[book.put] == 3
    # A group's short leg is bought back before its stock is sold.
    symbols = [f["symbol"] for f in proposal.fills]
    assert symbols.index(book.call) < symbols.index("XYZ")
    # No step left a short option without its cover.
    for strategies in strategies_after_each_step(book, proposal, start):
        assert not any(s.startswith("naked") for s in strategies), strategies
    assert held(book.client) == {}

    # Fills at the market: DEF bought back at 35 (35,000), the calls bought back 200, XYZ
    # sold 9,000, ABC sold 5,400, the puts sold 174: net cost 20,626 against 20,000 of cash.
    assert proposal.proceeds == Decimal("-20626.0000")
    assert proposal.shortfall == Decimal("626.0000")
    assert ClientDebt.objects.get().amount == Decimal("626.0000")
    assert refreshed(book.client).balance == 0
    # Positions, orders and the ledger agree: every leg is one order of risk's order service
    # that moved the position to zero, each settled by one liquidation entry of its cash.
    orders = list(Order.objects.select_related("instrument"))
    assert sorted(o.idempotency_key for o in orders) == sorted(f["key"] for f in proposal.fills)
    for order in orders:
        assert start[order.instrument.symbol] + order.quantity == 0
        entry = JournalEntry.objects.get(pk=order.journal_entry_id)
        assert entry.entry_type == "liquidation"
        assert {p.amount for p in entry.postings.all()} == {abs(order.cash)}
    assert sum(o.cash for o in orders) == proposal.proceeds
    call = MarginCall.objects.get()
    assert call.status == "liquidated" and call.closed_reason == "liquidation"
    assert Notification.objects.filter(kind="margin.liquidation").count() == 1
    assert Notification.objects.filter(kind="margin.executed").count() == 1
    assert conserved(tenant, "USD")


@pytest.fixture
def naked(acme: TenantPeople) -> Any:
    """acme.client short 1,000 DEF with 28,000: ratio 1.33 at 20."""
    def_ = equity("DEF")
    book = open_book(acme)
    book.fund("28000.00")
    hold(book.client, def_, "-1000")
    return book


def test_a_gap_through_the_liquidation_line_leaves_debt_written_off_under_four_eyes(
    acme: TenantPeople, naked: Any, django_capture_on_commit_callbacks: Any
) -> None:
    tenant = acme.tenant
    clock = Clock()
    prices(clock, DEF="20")
    sweep(tenant, clock)
    # The house's money and reserves: house cash, a default fund of 1,500 and a buffer.
    fund = account_create(tenant=tenant, kind="default_fund", currency="USD")
    buffer = account_create(tenant=tenant, kind="liquidity_buffer", currency="USD")
    # The house's capital set aside as reserves (house cash and each reserve grow together).
    for reserve, amount in ((fund, "1500.00"), (buffer, "5000.00")):
        transfer_post(
            tenant=tenant,
            debit_account=naked.house.pk,
            credit_account=reserve.pk,
            amount=Decimal(amount),
            currency="USD",
            entry_type="transfer",
            idempotency_key=key("reserve"),
        )

    prices(clock, DEF="30")
    with django_capture_on_commit_callbacks(execute=True):
        sweep(tenant, clock)
    proposal = Proposal.objects.get()
    assert proposal.status == "executed"
    # Buying 1,000 DEF back at 30 costs 30,000; the client had 28,000.
    assert proposal.shortfall == Decimal("2000.0000")
    debt = ClientDebt.objects.get()
    assert (debt.amount, debt.status) == (Decimal("2000.0000"), "open")
    loan = JournalEntry.objects.get(pk=debt.loan_entry_id)
    assert loan.entry_type == "loan_drawdown"
    types = list(
        JournalEntry.objects.filter(idempotency_key__contains=f"risk_ops:proposal:{proposal.pk}:")
        .order_by("pk")
        .values_list("entry_type", flat=True)
    )
    assert types == ["shortfall_topup", "loan_drawdown", "liquidation"]
    # The buy-back went through risk's order service: one order, its entry the liquidation.
    order = Order.objects.get()
    assert (order.quantity, order.fill_price, order.cash) == (
        Decimal("1000"),
        Decimal("30"),
        Decimal("-30000.0000"),
    )
    assert JournalEntry.objects.get(pk=order.journal_entry_id).entry_type == "liquidation"
    assert proposal.fills[0]["order"] == order.pk
    assert refreshed(naked.client).balance == 0
    loans = LedgerAccount.objects.get(kind="loan_receivable")
    assert loans.balance == Decimal("2000")
    assert conserved(tenant, "USD")

    # Four eyes: the risk officer asks, the tenant admin approves; the fund pays 1,500 and
    # the buffer the remaining 500.
    approval = approval_request_create(
        tenant=tenant,
        actor=acme.risk.user,
        membership=acme.risk.membership,
        action=WRITEOFF_ACTION,
        params={"debt_id": debt.pk},
        reason="client insolvent after the DEF gap",
    )
    approval_request_approve(
        tenant=tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        approval_id=approval.pk,
        reason="checked the fills",
    )
    debt.refresh_from_db()
    assert debt.status == "written_off"
    assert [(e["from"], e["amount"]) for e in debt.writeoff_entries] == [
        ("default_fund", "1500.0000"),
        ("liquidity_buffer", "500.0000"),
    ]
    for item in debt.writeoff_entries:
        assert JournalEntry.objects.get(pk=item["entry"]).entry_type == "default_writeoff"
    assert refreshed(loans).balance == 0
    assert refreshed(fund).balance == 0
    assert refreshed(buffer).balance == Decimal("4500")
    assert conserved(tenant, "USD")
    assert AuditEvent.objects.filter(action="risk.debt_written_off").count() == 1


def crash(clock: Clock, **fall: tuple[str, str]) -> dict[str, Any]:
    """Quote each symbol at (before, after) five minutes apart, the oracle's crash window, and
    return the signal the oracle sends (a market-wide 8% fall)."""
    before, now = clock.now + timedelta(minutes=1), clock.now + timedelta(minutes=6)
    for symbol, (old, new) in fall.items():
        instrument = Instrument.objects.get(symbol=symbol)
        for source in SOURCES:
            for price, at in ((old, before), (new, now)):
                Quote.objects.create(
                    instrument=instrument, source=source, price=Decimal(price), at=at
                )
    clock.now = now
    return {
        "direction": "down",
        "move": "-0.0812",
        "threshold": "0.07",
        "window_seconds": 300,
        "instruments": 40,
        "at": now.isoformat(),
    }


def second_risk_officer(people: TenantPeople) -> Any:
    return make_person(people.tenant, "risk2@acme.example", Role.RISK_OFFICER)


def test_the_crash_switch_stops_automatic_action_and_four_eyes_execute(
    acme: TenantPeople, naked: Any, django_capture_on_commit_callbacks: Any
) -> None:
    tenant = acme.tenant
    clock = Clock()
    prices(clock, DEF="20")
    sweep(tenant, clock)
    # The oracle's crash signal engages the switch by itself: DEF, what Acme's client holds,
    # fell 10% within the window.
    with django_capture_on_commit_callbacks(execute=True):
        crash_signal.send(crash(clock, DEF=("20", "18")))
    switch = CrashSwitch.objects.get()
    assert switch.engaged and switch.changed_by_label == "system:crash_signal"
    assert AuditEvent.objects.filter(action="risk.crash_switch_engaged").count() == 1

    prices(clock, DEF="27")
    with django_capture_on_commit_callbacks(execute=True):
        sweep(tenant, clock)
    proposal = Proposal.objects.get()
    assert (proposal.status, proposal.paused_by_switch) == ("queued", True)
    assert held(naked.client) == {"DEF": Decimal("-1000")}  # nothing was closed
    # Calls still go out, and say the switch is on.
    notice = Notification.objects.get(kind="margin.liquidation")
    assert notice.context["crash_switch"] is True
    assert MarginCall.objects.get().status == "open"

    # Releasing the switch resumes automatic action for new proposals only.
    crash_switch_release(tenant=tenant, actor=acme.risk.user, reason="market reopened")
    proposal.refresh_from_db()
    assert proposal.status == "queued"

    # Four eyes: one risk officer asks, another executes.
    approval = proposal_execution_request(
        tenant=tenant,
        actor=acme.risk.user,
        membership=acme.risk.membership,
        proposal_id=proposal.pk,
        reason="fills look fair",
    )
    proposal.refresh_from_db()
    assert (proposal.status, proposal.approval_id) == ("queued", approval.pk)
    assert held(naked.client) == {"DEF": Decimal("-1000")}
    other = second_risk_officer(acme)
    with django_capture_on_commit_callbacks(execute=True):
        approval_request_approve(
            tenant=tenant,
            actor=other.user,
            membership=other.membership,
            approval_id=approval.pk,
            reason="checked the marks",
        )
    proposal.refresh_from_db()
    assert proposal.status == "executed"
    assert proposal.decided_by_label == other.email
    assert held(naked.client) == {}
    event = AuditEvent.objects.get(action="risk.proposal_approved")
    assert event.payload["maker"] == acme.risk.email
    assert event.payload["approver"] == other.email


def test_the_maker_cannot_approve_their_own_execution_request(
    acme: TenantPeople, naked: Any
) -> None:
    """Four eyes (ARCHITECTURE.md, risk officer: liquidation approval): the person who asks
    cannot be the one who approves, nor can another role."""
    tenant = acme.tenant
    clock = Clock()
    prices(clock, DEF="20")
    sweep(tenant, clock)
    crash_switch_engage(tenant=tenant, actor=acme.risk.user, reason="exchange halted")
    prices(clock, DEF="27")
    sweep(tenant, clock)
    proposal = Proposal.objects.get(status="queued")
    approval = proposal_execution_request(
        tenant=tenant,
        actor=acme.risk.user,
        membership=acme.risk.membership,
        proposal_id=proposal.pk,
        reason="close it",
    )
    with pytest.raises(ApplicationError) as refused:
        approval_request_approve(
            tenant=tenant,
            actor=acme.risk.user,
            membership=acme.risk.membership,
            approval_id=approval.pk,
            reason="me again",
        )
    assert refused.value.error_code == "maker_cannot_decide"
    with pytest.raises(ApplicationError) as wrong_role:
        approval_request_approve(
            tenant=tenant,
            actor=acme.admin.user,
            membership=acme.admin.membership,
            approval_id=approval.pk,
            reason="admin",
        )
    assert wrong_role.value.error_code == "approver_role_required"
    # A second request for the same proposal while one is pending is refused.
    with pytest.raises(ApplicationError) as twice:
        proposal_execution_request(
            tenant=tenant,
            actor=acme.risk.user,
            membership=acme.risk.membership,
            proposal_id=proposal.pk,
            reason="again",
        )
    assert twice.value.error_code == "approval_pending"
    proposal.refresh_from_db()
    assert proposal.status == "queued"
    assert held(naked.client) == {"DEF": Decimal("-1000")}
    assert not AuditEvent.objects.filter(action="risk.proposal_executed").exists()


def test_an_expired_execution_request_executes_nothing_and_may_be_asked_again(
    acme: TenantPeople, naked: Any
) -> None:
    tenant = acme.tenant
    clock = Clock()
    prices(clock, DEF="20")
    sweep(tenant, clock)
    crash_switch_engage(tenant=tenant, actor=acme.risk.user, reason="exchange halted")
    prices(clock, DEF="27")
    sweep(tenant, clock)
    proposal = Proposal.objects.get(status="queued")
    approval = proposal_execution_request(
        tenant=tenant,
        actor=acme.risk.user,
        membership=acme.risk.membership,
        proposal_id=proposal.pk,
        reason="close it",
    )
    assert approval.expires_at - approval.created_at <= timedelta(hours=1, seconds=1)
    ApprovalRequest.objects.filter(pk=approval.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    other = second_risk_officer(acme)
    with pytest.raises(ApplicationError) as expired:
        approval_request_approve(
            tenant=tenant,
            actor=other.user,
            membership=other.membership,
            approval_id=approval.pk,
            reason="too late",
        )
    assert expired.value.error_code == "approval_expired"
    assert approvals_expire(tenant=tenant) == 1
    proposal.refresh_from_db()
    assert proposal.status == "queued"
    assert held(naked.client) == {"DEF": Decimal("-1000")}
    again = proposal_execution_request(
        tenant=tenant,
        actor=other.user,
        membership=other.membership,
        proposal_id=proposal.pk,
        reason="still needed",
    )
    assert again.pk != approval.pk and again.status == "pending"


def test_a_crash_in_one_tenants_instruments_does_not_pause_another(
    acme: TenantPeople, naked: Any
) -> None:
    """The switch engages for the tenant whose clients hold what fell (DEF, down 10%), not for
    Globex, whose client holds only GHI (flat), though the oracle's signal is market-wide."""
    globex = make_tenant_people("globex")
    ghi = equity("GHI")
    with as_tenant(globex.tenant):
        other_book = open_book(globex)
        other_book.fund("50000.00")
        hold(other_book.client, ghi, "100")
    clock = Clock()
    signal = crash(clock, DEF=("20", "18"), GHI=("30", "30"))
    crash_signal_received(signal)
    assert CrashSwitch.objects.get().engaged  # Acme's
    with as_tenant(globex.tenant):
        assert not CrashSwitch.objects.filter(engaged=True).exists()
        assert not AuditEvent.objects.filter(action="risk.crash_switch_engaged").exists()
    event = AuditEvent.objects.get(action="risk.crash_switch_engaged")
    assert event.payload["tenant_moves"] == {"DEF": "-0.1000"}
    # A signal upwards, or one where Acme's underlyings barely moved, engages nothing more.
    crash_signal_received({**signal, "direction": "up"})
    assert AuditEvent.objects.filter(action="risk.crash_switch_engaged").count() == 1


def test_a_buy_back_lent_before_its_groups_sale_is_repaid_from_the_proceeds(
    acme: TenantPeople,
) -> None:
    """A covered call closed with no free cash: the short call is bought back first (300, lent
    by the house), then the stock sold (5,000); the sale repays the loan and the house takes its
    money back out of the client-money bank account, so no debt is left."""
    tenant = acme.tenant
    xyz = equity("XYZ")
    call = option(xyz, right="call", strike="55", expiry=EXPIRY)
    book = open_book(acme)
    hold(book.client, xyz, "100")
    hold(book.client, call, "-1")
    house_reserve(tenant, book, "1000.00")  # house cash to lend from
    clock = Clock()
    prices(clock, XYZ="50", **{call.symbol: "3"})
    legs = [
        {"symbol": "XYZ", "quantity": "100", "close": "-100", "price": "50", "multiplier": "1"},
        {"symbol": call.symbol, "quantity": "-1", "close": "1", "price": "3", "multiplier": "100"},
    ]
    proposal = Proposal.objects.create(
        tenant=tenant,
        account_id=book.client.pk,
        membership_id=acme.client.membership.pk,
        kind=Proposal.Kind.LIQUIDATION,
        status=Proposal.ProposalStatus.PROPOSED,
        currency="USD",
        target_ratio=Decimal("1.25"),
        equity_before=Decimal("4700"),
        maintenance_before=Decimal("0"),
        steps=[{"step": 1, "strategy": "covered_call", "legs": legs}],
        created_at=clock.now,
    )
    proposal_execute(tenant=tenant, proposal_id=proposal.pk, now=clock.now, dispatch=False)
    proposal.refresh_from_db()
    assert [f["symbol"] for f in proposal.fills] == [call.symbol, "XYZ"]
    assert (proposal.proceeds, proposal.shortfall) == (Decimal("4700.0000"), 0)
    assert not ClientDebt.objects.exists()
    types = list(
        JournalEntry.objects.filter(idempotency_key__contains=f"risk_ops:proposal:{proposal.pk}:")
        .order_by("pk")
        .values_list("entry_type", flat=True)
    )
    assert types == [
        "shortfall_topup",
        "loan_drawdown",
        "liquidation",
        "liquidation",
        "liquidation",
        "sweep",
    ]
    assert refreshed(book.client).balance == Decimal("4700")
    assert LedgerAccount.objects.get(kind="loan_receivable").balance == 0
    assert refreshed(book.house).balance == Decimal("1000")
    assert held(book.client) == {}
    assert conserved(tenant, "USD")
