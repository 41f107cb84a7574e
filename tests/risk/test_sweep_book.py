"""The live sweep margins the book with the vectorised engine and answers what the
single-portfolio path answers, account by account (decision 18), loans included.

A mixed book on XYZ (50.00) and ABC (20.00): covered calls, short stock, debit and credit
verticals, an iron condor, a short straddle, a protective put, a long-dated call with a naked
put, a butterfly, and an account with only cash and a loan. Some accounts owe the house (a
test-only loan source). The reference is ``priced_portfolio`` + ``portfolio_margin``: the
what-if's and the margin page's path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

import risk.sweep
from ledger.models import LedgerAccount
from ledger.services import account_create
from platform_core.tenancy.roles import Role
from risk.hooks import LoanSource, loan_sources
from risk.models import Instrument
from risk.policies import policy_activate_execute, policy_version_create
from risk.selectors import policy_active, portfolio_margin, priced_portfolio
from risk.sweep import sweep_compute
from tests.conftest import TenantPeople, as_tenant, make_person
from tests.ledger.factories import Book, open_book, refreshed
from tests.risk.factories import equity, hold, option, quote

pytestmark = pytest.mark.django_db

OPTION_PRICES = {
    ("call", "45"): "6.10",
    ("call", "50"): "2.40",
    ("call", "55"): "0.80",
    ("call", "60"): "0.25",
    ("put", "40"): "0.20",
    ("put", "45"): "0.70",
    ("put", "50"): "2.20",
}
# Each account: cash, loan, positions as (underlying, right or None, strike, quantity).
ACCOUNTS: list[tuple[str, str, list[tuple[str, str | None, str, str]]]] = [
    ("240.00", "10000.00", [("XYZ", None, "", "200"), ("XYZ", "call", "55", "-2")]),
    ("15000.00", "0", [("ABC", None, "", "-300")]),
    ("5000.00", "0", [("XYZ", "call", "50", "1"), ("XYZ", "call", "55", "-1")]),
    ("5000.00", "0", [("XYZ", "call", "50", "-3"), ("XYZ", "call", "55", "3")]),
    (
        "8000.00",
        "1500.00",
        [
            ("XYZ", "put", "40", "2"),
            ("XYZ", "put", "45", "-2"),
            ("XYZ", "call", "55", "-2"),
            ("XYZ", "call", "60", "2"),
        ],
    ),
    ("20000.00", "0", [("XYZ", "call", "50", "-1"), ("XYZ", "put", "50", "-1")]),
    ("1000.00", "2500.00", [("XYZ", None, "", "100"), ("XYZ", "put", "45", "1")]),
    ("30000.00", "0", [("XYZ", "leap", "50", "2"), ("XYZ", "put", "45", "-4")]),
    (
        "12000.00",
        "7000.00",
        [
            ("ABC", None, "", "500"),
            ("XYZ", "call", "45", "1"),
            ("XYZ", "call", "50", "-2"),
            ("XYZ", "call", "55", "1"),
        ],
    ),
    ("3000.00", "400.00", []),
]


class Market:
    def __init__(self) -> None:
        self.xyz = equity("XYZ")
        self.abc = equity("ABC", risk_tier=3)
        quote(self.xyz, "50.00", "50.00", "50.00")
        quote(self.abc, "20.00", "20.00", "20.00")
        self.options: dict[tuple[str, str], Instrument] = {}
        for (right, strike), price in OPTION_PRICES.items():
            self.options[right, strike] = option(self.xyz, right=right, strike=strike)
            quote(self.options[right, strike], price, price)
        leap = option(
            self.xyz, right="call", strike="50", expiry=timezone.localdate() + timedelta(days=400)
        )
        quote(leap, "8.50", "8.50")
        self.options["leap", "50"] = leap

    def instrument(self, underlying: str, right: str | None, strike: str) -> Instrument:
        if right is None:
            return self.xyz if underlying == "XYZ" else self.abc
        return self.options[right, strike]


@pytest.fixture
def mixed_book(acme: TenantPeople) -> Iterator[tuple[Book, list[LedgerAccount]]]:
    market = Market()
    book = open_book(acme)
    accounts, owed = [], {}
    for n, (cash, loan, positions) in enumerate(ACCOUNTS):
        person = make_person(acme.tenant, f"holder{n}@acme.example", Role.CLIENT)
        account = account_create(
            tenant=acme.tenant, kind="client_cash", currency="USD", owner_id=person.membership.pk
        )
        book.fund(cash, account)
        for underlying, right, strike, quantity in positions:
            hold(account, market.instrument(underlying, right, strike), quantity)
        if Decimal(loan):
            owed[account.pk] = Decimal(loan)
        accounts.append(account)
    source = LoanSource(
        key="test.book_loans",
        loans=lambda *, tenant, accounts: {a.pk: owed[a.pk] for a in accounts if a.pk in owed},
    )
    saved = [loan_sources.get(key) for key in loan_sources.keys()]
    for entry in saved:
        loan_sources.unregister(entry.key)  # type: ignore[union-attr]
    loan_sources.register(source)
    yield book, [refreshed(a) for a in accounts]
    loan_sources.unregister(source.key)
    for entry in saved:
        loan_sources.register(entry)  # type: ignore[arg-type]


def single_path(acme: TenantPeople, account: LedgerAccount) -> Any:
    stored = policy_active(tenant=acme.tenant)
    priced = priced_portfolio(tenant=acme.tenant, account=account)
    return portfolio_margin(
        tenant=acme.tenant,
        account=account,
        priced=priced,
        policy=None if stored else "cboe-strategy",
        stored=stored,
    )


def figures(result: Any) -> tuple[Any, ...]:
    return (
        result.equity.quantize(Decimal("0.01")),
        result.initial_requirement,
        result.maintenance_requirement,
        result.margin_ratio,
        result.collateral_ratio,
    )


@pytest.fixture
def single_path_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The accounts the sweep left to the single-portfolio path."""
    calls: list[int] = []
    original = risk.sweep._account_compute

    def recorded(**kwargs: Any) -> Any:
        calls.append(kwargs["account"].pk)
        return original(**kwargs)

    monkeypatch.setattr(risk.sweep, "_account_compute", recorded)
    return calls


def activate(acme: TenantPeople, **content: Any) -> None:
    version = policy_version_create(
        tenant=acme.tenant, actor=acme.risk.user, name="house", **content
    )
    policy_activate_execute(
        tenant=acme.tenant,
        params={"policy_id": version.pk, "digest": version.digest},
        maker=acme.risk.user,
        approver=acme.admin.user,
    )


def sweep_against_single_path(acme: TenantPeople, accounts: list[LedgerAccount]) -> dict[int, Any]:
    with as_tenant(acme.tenant):
        expected = {a.pk: single_path(acme, a) for a in accounts}
        swept = sweep_compute(
            tenant=acme.tenant,
            accounts=accounts,
            stored=policy_active(tenant=acme.tenant),
            now=timezone.now(),
        )
    for account in accounts:
        assert not isinstance(swept[account.pk], str), swept[account.pk]
        assert figures(swept[account.pk]) == figures(expected[account.pk]), account.pk
    return expected


def test_the_book_sweep_equals_the_single_path_under_the_default_policy(
    acme: TenantPeople, mixed_book: Any, single_path_calls: list[int]
) -> None:
    _, accounts = mixed_book
    expected = sweep_against_single_path(acme, accounts)
    assert single_path_calls == []  # every account was margined by the book
    # The covered call of the contract's example, owing 10,000: equity 0 (240 - 10,000 +
    # 10,000 - 160 of calls at 0.80), and the loan counts in 维持担保比例.
    first = expected[accounts[0].pk]
    assert first.equity == Decimal("80.00") and first.loan == Decimal("10000.00")
    strategies = {g.strategy for result in expected.values() for g in result.groups}
    assert {
        "covered_call",
        "short_stock",
        "vertical_spread",
        "iron_condor",
        "straddle",
        "protective_put",
        "naked_put",
        "butterfly",
    } <= strategies, strategies


def test_the_book_sweep_equals_the_single_path_under_a_scenario_policy(
    acme: TenantPeople, mixed_book: Any, single_path_calls: list[int]
) -> None:
    _, accounts = mixed_book
    activate(acme, base="span-like", parameters={"base_parameters": {}})
    sweep_against_single_path(acme, accounts)
    assert single_path_calls == []


def test_house_add_ons_are_laid_over_the_book_and_scaled_groups_go_one_by_one(
    acme: TenantPeople, mixed_book: Any, single_path_calls: list[int]
) -> None:
    _, accounts = mixed_book
    activate(
        acme,
        base="cboe-strategy",
        parameters={
            "risk_tiers": {"3": "1.5"},  # ABC is tier 3
            "house_addon": {"rate": "0.01", "by_symbol": {"XYZ": "0.02"}},
            "concentration": {"share": "0.5", "rate": "0.1"},
        },
    )
    sweep_against_single_path(acme, accounts)
    abc_holders = {accounts[1].pk, accounts[8].pk}
    assert set(single_path_calls) == abc_holders
