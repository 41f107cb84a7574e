"""The live sweep: statuses from the ladder, changes told once, the incremental path.

acme.client is short 200 XYZ with 15,000 of client money. Under the built-in default ladder
(warning below 1.25, call below 1.00, deleverage below 0.90, liquidate below 0.75 of equity to
maintenance), short stock's maintenance is 30%: ratio = (15,000 - 200 P) / (60 P).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from platform_core.hooks import scheduled_tasks
from platform_core.tenancy.roles import Role
from risk.hooks import margin_status_changed
from risk.models import MarginStatus, MarginStatusChange
from risk.sweep import margin_sweep, margin_sweep_moved
from risk.tasks import margin_sweep_task
from tests.conftest import TenantPeople, make_person
from tests.ledger.factories import open_book
from tests.risk.factories import equity, hold, option, quote

pytestmark = pytest.mark.django_db


class Market:
    """Quotes XYZ at a price every 20 seconds (under the 20% jump guard step by step)."""

    def __init__(self) -> None:
        self.xyz = equity("XYZ")
        self.abc = equity("ABC")
        self.now = timezone.now() - timedelta(hours=1)

    def move(self, price: str) -> Any:
        self.now += timedelta(seconds=20)
        quote(self.xyz, price, price, price, at=self.now)
        quote(self.abc, "20", "20", "20", at=self.now)
        return self.now


@pytest.fixture
def told() -> Any:
    """The payloads told to listeners. The apps' own listeners (the operations loop would
    deleverage the account) are set aside meanwhile: these tests are about the telling."""
    payloads: list[dict[str, Any]] = []
    listener = payloads.append
    others = list(margin_status_changed._listeners)
    for other in others:
        margin_status_changed.disconnect(other)
    margin_status_changed.connect(listener)
    yield payloads
    margin_status_changed.disconnect(listener)
    for other in others:
        margin_status_changed.connect(other)


@pytest.fixture
def short_book(acme: TenantPeople) -> Any:
    market = Market()
    book = open_book(acme)
    book.fund("15000.00")
    hold(book.client, market.xyz, "-200")
    return market, book


def test_each_status_change_is_told_once(
    acme: TenantPeople, short_book: Any, told: list, django_capture_on_commit_callbacks: Any
) -> None:
    market, book = short_book
    steps = [
        ("50", "healthy"),
        ("55", "warning"),
        ("58", "margin_call"),
        ("60", "deleverage"),
        ("62", "liquidate"),
    ]
    for price, expected in steps:
        now = market.move(price)
        with django_capture_on_commit_callbacks(execute=True):
            margin_sweep(tenant=acme.tenant, now=now)
        assert MarginStatus.objects.get(account=book.client).status == expected, price
        # The same prices again: nothing changes, nobody is told.
        with django_capture_on_commit_callbacks(execute=True):
            again = margin_sweep(tenant=acme.tenant, now=now)
        assert again.changes == []
    assert [(p["previous"], p["status"]) for p in told] == [
        ("healthy", "warning"),
        ("warning", "margin_call"),
        ("margin_call", "deleverage"),
        ("deleverage", "liquidate"),
    ]
    last = told[-1]
    # At 62: equity 15,000 - 12,400 = 2,600; maintenance 30% of 12,400 = 3,720.
    assert last["equity"] == "2600.0000" and last["maintenance"] == "3720.0000"
    assert last["ratio"] == "0.6989"
    assert last["account"] == book.client.pk
    assert last["membership"] == acme.client.membership.pk
    assert last["tenant"] == acme.tenant.pk and last["sweep_id"]
    history = MarginStatusChange.objects.filter(account=book.client).order_by("at")
    assert [h.status for h in history] == ["warning", "margin_call", "deleverage", "liquidate"]


def test_recovery_is_a_change_too(
    acme: TenantPeople, short_book: Any, told: list, django_capture_on_commit_callbacks: Any
) -> None:
    market, _ = short_book
    for price in ("55", "50"):
        with django_capture_on_commit_callbacks(execute=True):
            margin_sweep(tenant=acme.tenant, now=market.move(price))
    # First seen in warning: there was no status before.
    assert [(p["previous"], p["status"]) for p in told] == [
        (None, "warning"),
        ("warning", "healthy"),
    ]


def test_the_active_policy_ladder_decides(
    acme: TenantPeople, short_book: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from risk.policies import policy_activate_execute, policy_version_create

    market, book = short_book
    version = policy_version_create(
        tenant=acme.tenant,
        actor=acme.risk.user,
        name="tight",
        base="cboe-strategy",
        ladder={"warning": "1.8", "margin_call": "1.5", "deleverage": "1.3", "liquidation": "1.1"},
        leverage_cap="4",
    )
    policy_activate_execute(
        tenant=acme.tenant,
        params={"policy_id": version.pk, "digest": version.digest},
        maker=acme.risk.user,
        approver=acme.admin.user,
    )
    margin_sweep(tenant=acme.tenant, now=market.move("50"))  # ratio 1.6667: below 1.8
    status = MarginStatus.objects.get(account=book.client)
    assert status.status == "warning"
    assert status.policy == "acme:tight" and status.policy_digest == version.digest


def test_the_incremental_path_margins_only_the_holders_of_what_moved(
    acme: TenantPeople, short_book: Any
) -> None:
    from ledger.services import account_create

    market, book = short_book

    def client_account(email: str) -> Any:
        person = make_person(acme.tenant, email, Role.CLIENT)
        return account_create(
            tenant=acme.tenant, kind="client_cash", currency="USD", owner_id=person.membership.pk
        )

    other = client_account("abc-holder@acme.example")
    hold(other, market.abc, "10")
    call_holder = client_account("call-holder@acme.example")
    call = option(market.xyz, strike="60")
    hold(call_holder, call, "1")
    now = market.move("50")
    quote(call, "1.00", "1.00", at=now)
    outcome = margin_sweep_moved(tenant=acme.tenant, instrument_ids=[market.xyz.pk], now=now)
    assert outcome.computed == 2
    swept = set(MarginStatus.objects.values_list("account_id", flat=True))
    assert swept == {book.client.pk, call_holder.pk}
    full = margin_sweep(tenant=acme.tenant, now=now)
    assert full.computed == 3


def test_an_account_that_cannot_be_priced_keeps_its_status_with_the_reason(
    acme: TenantPeople, short_book: Any
) -> None:
    market, book = short_book
    now = market.move("50")
    margin_sweep(tenant=acme.tenant, now=now)
    hold(book.client, equity("NEW"), "5")  # never quoted
    outcome = margin_sweep(tenant=acme.tenant, now=now)
    assert outcome.failed == 1
    status = MarginStatus.objects.get(account=book.client)
    assert status.status == "healthy" and "NEW" in status.error


def test_the_history_is_append_only(acme: TenantPeople, short_book: Any) -> None:
    market, _ = short_book
    margin_sweep(tenant=acme.tenant, now=market.move("55"))
    change = MarginStatusChange.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        MarginStatusChange.objects.filter(pk=change.pk).update(status="healthy")
    with pytest.raises(DatabaseError), transaction.atomic():
        MarginStatusChange.objects.filter(pk=change.pk).delete()


def test_the_task_and_its_beat(acme: TenantPeople, short_book: Any) -> None:
    market, book = short_book
    market.move("50")
    # The quotes are an hour old by the wall clock: stale, so margined at the trusted price
    # plus the add-on against the short (50 x 1.05), still healthy.
    assert margin_sweep_task(acme.tenant.pk) == 1
    status = MarginStatus.objects.get(account=book.client)
    assert status.equity == Decimal("4500.0000")
    beat = scheduled_tasks.get("risk-margin-sweep")
    assert beat is not None and beat.task == "risk.tasks.margin_sweep_all_task"
