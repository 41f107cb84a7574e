"""Credit lines, drawdowns, repayments, interest and rollover, through the ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from financing import services
from financing.models import CreditLine, FinancingContract, InterestAccrual, InterestCharge
from financing.selectors import StressScenario, buffer_status, buffer_stress
from ledger.models import LedgerAccount
from ledger.selectors import trial_balance
from platform_core.audit.approvals import approval_request_approve
from platform_core.audit.models import ApprovalRequest, AuditEvent
from platform_core.exceptions import ApplicationError
from tests.conftest import TenantPeople, make_person
from tests.financing.factories import CAUTIOUS_ANSWERS, kyc_approve, lender, pool
from tests.kyc.factories import submit_profile

pytestmark = pytest.mark.django_db
SEP_28 = date(2026, 9, 28)  # a Monday; Shanghai closes 1-7 October 2026


@pytest.fixture(autouse=True)
def signing_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.SIGNING_PKCS12_FILE = ""
    settings.SIGNING_TSA_URL = ""
    return settings.VAR_DIR


@pytest.fixture
def unsigned_book(acme: TenantPeople) -> Any:
    """A client with a 200,000 USD line who has signed nothing yet (rendering and sealing
    PDFs is the slow part of these tests: only tests that draw sign)."""
    book = lender(acme)
    kyc_approve(acme, rating="medium")
    book.line("200000")
    return book


@pytest.fixture
def book(unsigned_book: Any) -> Any:
    unsigned_book.sign_all()
    return unsigned_book


def balances(tenant: Any, currency: str = "USD") -> dict[str, Decimal]:
    return {
        f"{a.kind}:{a.owner_id or ''}": a.balance
        for a in LedgerAccount.objects.filter(tenant=tenant, currency=currency)
    }


def assert_conserved(book: Any) -> None:
    """Debits equal credits; the bank holds the clients' money plus the interest earned from
    their cash; the pools fund exactly the principal lent."""
    totals = trial_balance(tenant=book.tenant, currency=book.currency)
    assert totals.total_debits == totals.total_credits
    by_kind = balances(book.tenant, book.currency)
    clients = sum(v for k, v in by_kind.items() if k.startswith("client_cash"))
    earned_from_cash = sum(c.amount for c in InterestCharge.objects.filter(capitalised=False))
    assert by_kind["custodian_bank:"] == clients + earned_from_cash
    principal = sum(
        c.outstanding for c in FinancingContract.objects.filter(status__in=["open", "overdue"])
    )
    assert by_kind.get("funding_pool:", 0) == principal


def test_a_drawdown_posts_one_balanced_entry_and_money_is_conserved(book: Any) -> None:
    book.deposit("1000.00")
    contract = book.draw("50000.00", day=SEP_28)
    after = balances(book.tenant)
    assert after[f"client_cash:{book.client.membership.pk}"] == Decimal("51000.00")
    assert after["loan_receivable:"] == Decimal("50000.00")
    assert after["funding_pool:"] == Decimal("50000.00")
    assert after["custodian_bank:"] == Decimal("51000.00")
    assert contract.rate == Decimal("0.05") + Decimal("0.015") + Decimal("0.01") + Decimal("0.002")
    assert [name for name, _ in contract.rate_components] == [
        "base_rate",
        "tenor_premium",
        "counterparty_premium",
        "hedge_cost",
    ]
    assert contract.maturity_date == date(2026, 10, 28)
    assert_conserved(book)
    services.contract_repay(
        tenant=book.tenant,
        membership=book.client.membership,
        actor=book.client.user,
        contract_id=contract.pk,
        amount="20000.00",
        idempotency_key="r1",
    )
    contract.refresh_from_db()
    assert contract.outstanding == Decimal("30000.00")
    assert balances(book.tenant)["funding_pool:"] == Decimal("30000.00")
    assert_conserved(book)


def test_a_replayed_drawdown_writes_once(book: Any) -> None:
    args = dict(
        tenant=book.tenant,
        membership=book.client.membership,
        actor=book.client.user,
        currency="USD",
        amount="1000.00",
        tenor="term",
        term_days=10,
        idempotency_key="same",
        business_date=SEP_28,
    )
    first = services.contract_draw(**args)
    second = services.contract_draw(**args)
    assert first.pk == second.pk
    assert FinancingContract.objects.count() == 1
    assert balances(book.tenant)["loan_receivable:"] == Decimal("1000.00")


@pytest.mark.parametrize(
    ("amount", "tenor", "field"),
    [
        ("-5", "term", "amount"),
        ("1.001", "term", "amount"),
        ("abc", "term", "amount"),
        ("100", "weekly", "tenor"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    unsigned_book: Any, amount: str, tenor: str, field: str
) -> None:
    with pytest.raises(ApplicationError) as refused:
        services.contract_draw(
            tenant=unsigned_book.tenant,
            membership=unsigned_book.client.membership,
            actor=unsigned_book.client.user,
            currency="USD",
            amount=amount,
            tenor=tenor,
            term_days=10,
            idempotency_key="k",
            business_date=SEP_28,
        )
    assert refused.value.status_code == 400 and field in refused.value.fields
    assert not FinancingContract.objects.exists()
    assert balances(unsigned_book.tenant).get("loan_receivable:", Decimal(0)) == 0


def test_more_than_the_limit_is_refused(book: Any) -> None:
    book.draw("150000.00", day=SEP_28)
    with pytest.raises(ApplicationError) as refused:
        book.draw("60000.00", day=SEP_28)
    assert refused.value.error_code == "credit_refused"
    assert FinancingContract.objects.count() == 1


def test_the_cheapest_pool_with_room_funds_the_drawdown(book: Any, acme: TenantPeople) -> None:
    cheap = pool(acme, "fund-a", limit="10000", cost="0.01", kind="institutional")
    contract = book.draw("8000.00", day=SEP_28)
    assert contract.pool == cheap
    # 2,000 left in the cheap pool: the next 5,000 goes to the house pool (2 %).
    assert book.draw("5000.00", day=SEP_28).pool.name == "house"


def test_interest_over_a_month_end_and_a_holiday_accrues_once_and_is_charged_to_the_cent(
    book: Any,
) -> None:
    book.deposit("1000.00")
    contract = book.draw("100000.00", day=SEP_28)  # 7.7 %, ACT/360
    for day in (28, 29, 30):
        services.financing_day_close(tenant=book.tenant, business_date=date(2026, 9, day))
    for day in (1, 2, 5, 6, 7):  # the holiday: nothing runs
        result = services.financing_day_close(tenant=book.tenant, business_date=date(2026, 10, day))
        assert result.accrued == 0
    first = services.financing_day_close(tenant=book.tenant, business_date=date(2026, 10, 8))
    again = services.financing_day_close(tenant=book.tenant, business_date=date(2026, 10, 8))
    assert first.accrued == 1 and first.charged == 1
    assert again.accrued == 0 and again.charged == 0  # running twice charges once
    services.financing_day_close(tenant=book.tenant, business_date=date(2026, 10, 9))
    accruals = list(InterestAccrual.objects.filter(contract=contract).order_by("period_start"))
    assert [a.days for a in accruals] == [1, 1, 1, 8, 3]
    (charge,) = InterestCharge.objects.filter(contract=contract)
    assert charge.period_end == date(2026, 10, 1)
    assert charge.amount == Decimal("64.17")  # 100000 * 0.077 * 3 / 360 = 64.1666...
    assert not charge.capitalised
    assert balances(book.tenant)["interest_income:"] == Decimal("64.17")
    assert balances(book.tenant)[f"client_cash:{book.client.membership.pk}"] == Decimal("100935.83")
    assert_conserved(book)


def test_interest_in_an_act_365_currency(acme: TenantPeople) -> None:
    book = lender(acme, currency="HKD")
    kyc_approve(acme, rating="medium")
    book.line("200000")
    book.sign_all()
    contract = book.draw("100000.00", day=SEP_28)
    assert contract.day_count == "ACT/365"
    for day in (28, 29, 30):
        services.financing_day_close(tenant=book.tenant, business_date=date(2026, 9, day))
    services.financing_day_close(tenant=book.tenant, business_date=date(2026, 10, 8))
    (charge,) = InterestCharge.objects.filter(contract=contract)
    assert charge.amount == Decimal("63.29")  # 100000 * 0.077 * 3 / 365 = 63.2876...


def test_an_overnight_contract_rolls_with_its_interest_charged(book: Any) -> None:
    book.deposit("100.00")
    contract = book.draw("36000.00", "overnight", day=date(2026, 9, 30))
    # Wednesday 30 September: due the next business day, Thursday 8 October (8 days).
    assert contract.maturity_date == date(2026, 10, 8)
    assert contract.rate == Decimal("0.067")
    services.financing_day_close(tenant=book.tenant, business_date=date(2026, 9, 30))
    result = services.financing_day_close(tenant=book.tenant, business_date=date(2026, 10, 8))
    assert result.rolled == 1
    contract.refresh_from_db()
    assert contract.status == "rolled" and contract.outstanding == 0
    new = FinancingContract.objects.get(rolled_from=contract)
    assert (new.principal, new.start_date, new.maturity_date) == (
        Decimal("36000.00"),
        date(2026, 10, 8),
        date(2026, 10, 9),
    )
    # 36000 * 0.067 * 8 / 360 = 53.60, from the client's cash.
    (charge,) = InterestCharge.objects.filter(contract=contract)
    assert charge.amount == Decimal("53.60") and not charge.capitalised
    assert balances(book.tenant)["funding_pool:"] == Decimal("36000.00")
    assert_conserved(book)


def test_interest_the_cash_cannot_pay_is_added_to_the_loan(book: Any) -> None:
    contract = book.draw("36000.00", "overnight", day=date(2026, 9, 30))
    # The client spends the lent cash (a withdrawal stands in for a purchase).
    client = LedgerAccount.objects.get(kind="client_cash", owner=book.client.membership)
    services.transfer_post(
        tenant=book.tenant,
        debit_account=client.pk,
        credit_account=book.bank.pk,
        amount=Decimal("36000.00"),
        currency="USD",
        entry_type="withdrawal",
        idempotency_key="w",
    )
    services.financing_day_close(tenant=book.tenant, business_date=date(2026, 9, 30))
    services.financing_day_close(tenant=book.tenant, business_date=date(2026, 10, 8))
    (charge,) = InterestCharge.objects.filter(contract=contract)
    assert charge.capitalised and charge.amount == Decimal("53.60")
    new = FinancingContract.objects.get(rolled_from=contract)
    assert new.interest_owed == Decimal("53.60")
    assert services.loan_outstanding(tenant=book.tenant, membership=book.client.membership) == (
        Decimal("36053.60")
    )
    assert balances(book.tenant)["loan_receivable:"] == Decimal("36053.60")


def test_liquidation_proceeds_repay_the_loans(book: Any) -> None:
    contract = book.draw("10000.00", day=SEP_28)
    applied = services.liquidation_proceeds_apply(
        tenant=book.tenant,
        membership=book.client.membership,
        currency="USD",
        amount=Decimal("4000.00"),
        reference="liq-1",
    )
    again = services.liquidation_proceeds_apply(
        tenant=book.tenant,
        membership=book.client.membership,
        currency="USD",
        amount=Decimal("4000.00"),
        reference="liq-1",
    )
    contract.refresh_from_db()
    assert applied == Decimal("4000.00")
    assert again == 0  # the same liquidation again: nothing more is applied
    assert contract.outstanding == Decimal("6000.00")
    assert balances(book.tenant)["loan_receivable:"] == Decimal("6000.00")
    assert_conserved(book)


def test_a_line_above_the_tenants_limit_waits_for_a_second_risk_officer(
    acme: TenantPeople,
) -> None:
    book = lender(acme)
    kyc_approve(acme, rating="low")
    with pytest.raises(ApplicationError) as no_reason:
        book.line("900000")
    assert "reason" in no_reason.value.fields
    line = book.line("900000", reason="private-banking client, 3M in assets")
    assert line.status == CreditLine.Status.PENDING_APPROVAL
    approval = ApprovalRequest.objects.get(action=services.CREDIT_LINE_ACTIVATE)
    with pytest.raises(ApplicationError):  # the maker cannot approve it
        approval_request_approve(
            tenant=acme.tenant,
            actor=acme.risk.user,
            membership=acme.risk.membership,
            approval_id=approval.pk,
            reason="ok",
        )
    second = make_person(acme.tenant, "risk2@acme.example", "risk_officer")
    approval_request_approve(
        tenant=acme.tenant,
        actor=second.user,
        membership=second.membership,
        approval_id=approval.pk,
        reason="checked",
    )
    line.refresh_from_db()
    assert line.status == CreditLine.Status.ACTIVE and line.approved_by == second.user


def test_a_line_is_capped_by_the_policy_and_suitability(acme: TenantPeople) -> None:
    """KYC's class C3 may finance half its equity (``kyc.suitability.LEVERAGE_CAPS``), so
    gross over equity 1.5, and take products up to R3: no options (R4 and up, CSRC rules)."""
    book = lender(acme)  # the policy's cap is 4
    kyc_approve(acme, rating="high", answers=CAUTIOUS_ANSWERS)
    with pytest.raises(ApplicationError) as refused:
        book.line(leverage_cap="1.51", allowed_products=["stock", "option"])
    assert set(refused.value.fields) == {"leverage_cap", "allowed_products"}
    assert "1.5" in refused.value.fields["leverage_cap"][0]
    assert not CreditLine.objects.exists()
    line = book.line(leverage_cap="1.5", allowed_products=["stock"])
    assert (line.risk_rating, line.investor_class) == ("high", "C3")


def test_a_professional_may_be_lent_up_to_its_suitability_cap(acme: TenantPeople) -> None:
    """A professional investor finances up to 1.25 times equity (``kyc.suitability``):
    gross over equity 2.25, options allowed."""
    book = lender(acme)
    kyc_approve(acme, rating="low")
    with pytest.raises(ApplicationError) as refused:
        book.line(leverage_cap="2.26", allowed_products=["option"])
    assert set(refused.value.fields) == {"leverage_cap"}
    line = book.line(leverage_cap="2.25", allowed_products=["stock", "option"])
    assert (line.investor_class, line.leverage_cap) == ("C5", Decimal("2.25"))


def test_a_client_without_a_rating_gets_no_line(acme: TenantPeople) -> None:
    """Submitted to KYC but not approved yet: no rating, no line."""
    book = lender(acme)
    submit_profile(acme.tenant, acme.client)
    with pytest.raises(ApplicationError) as refused:
        book.line()
    assert refused.value.error_code == "no_profile"


def test_a_rating_change_puts_the_line_under_review_and_stops_drawing(unsigned_book: Any) -> None:
    changed = services.credit_lines_review_flag(
        tenant=unsigned_book.tenant,
        membership=unsigned_book.client.membership,
        reason="rating medium -> high",
    )
    assert changed == 1
    with pytest.raises(ApplicationError) as refused:
        unsigned_book.draw("100.00", day=SEP_28)
    assert "review" in refused.value.message


def test_a_rating_change_in_kyc_puts_the_line_under_review(
    unsigned_book: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """End to end: KYC re-rates the client (its own service, a tenant's new thresholds), tells
    ``kyc.risk_rating_changed``, and financing's listener flags the line; told twice, once."""
    from financing.receivers import risk_rating_changed_review
    from kyc.models import ClientProfile as KycProfile
    from kyc.services import rating_config_set, risk_rating_compute

    tenant, client = unsigned_book.tenant, unsigned_book.client
    profile = KycProfile.objects.get(membership=client.membership)
    rating_config_set(tenant=tenant, actor=unsigned_book.people.compliance.user, high_from=2)
    with django_capture_on_commit_callbacks(execute=True) as told:
        rating = risk_rating_compute(tenant=tenant, profile=profile)
    assert rating.level == "high" and told
    line = CreditLine.objects.get()
    assert line.status == CreditLine.Status.REVIEW
    assert line.review_reason.startswith("risk rating medium -> high")
    event = AuditEvent.objects.get(action="financing.credit_line_review")
    assert event.actor_label == "financing.rating_changed"
    risk_rating_changed_review(
        {
            "tenant": tenant.pk,
            "membership": client.membership.pk,
            "previous": "medium",
            "rating": "high",
            "at": rating.created_at.isoformat(),
        }
    )
    assert AuditEvent.objects.filter(action="financing.credit_line_review").count() == 1
    with pytest.raises(ApplicationError) as refused:
        unsigned_book.draw("100.00", day=SEP_28)
    assert "review" in refused.value.message
    # The same level again tells nothing; a person's review makes the line active again.
    with django_capture_on_commit_callbacks(execute=True):
        risk_rating_compute(tenant=tenant, profile=profile)
    services.credit_line_reviewed(
        tenant=tenant,
        actor=unsigned_book.people.risk.user,
        credit_line_id=line.pk,
        reason="the new rating was looked at",
    )
    assert CreditLine.objects.get().status == CreditLine.Status.ACTIVE


def test_the_buffer_and_its_stress_test(book: Any, acme: TenantPeople) -> None:
    pool(acme, "fund-a", limit="100000", cost="0.01", kind="institutional")
    book.draw("80000.00", day=SEP_28)  # from fund-a, the cheapest
    book.house.refresh_from_db()
    services.buffer_fund(
        tenant=acme.tenant,
        actor=acme.risk.user,
        currency="USD",
        amount="20000.00",
        idempotency_key="b1",
    )
    status = buffer_status(tenant=acme.tenant, currency="USD")
    assert (status.loans_outstanding, status.target, status.balance) == (
        Decimal("80000.00"),
        Decimal("8000.00"),
        Decimal("20000.00"),
    )
    # Day 1: fund-a pulls all 80,000 (concentrated): the buffer cannot meet it.
    run = buffer_stress(
        tenant=acme.tenant, currency="USD", scenario=StressScenario(shock=Decimal(0))
    )
    assert not run.meets_day_one and run.days_covered == 0
    assert run.days[0].recalls == Decimal("80000.00")
    # No concentrated pull: 10 % a day of what fund-a funds, 5 % of undrawn credit (120,000).
    calm = buffer_stress(
        tenant=acme.tenant,
        currency="USD",
        scenario=StressScenario(concentrated_pools=0, shock=Decimal(0)),
    )
    assert calm.days[0].recalls == Decimal("8000.00") and calm.days[0].draws == Decimal("6000.00")
    assert calm.days_covered == 1  # 20,000 - 14,000 = 6,000 left; day 2 needs 7,200 + 5,700
    with pytest.raises(ApplicationError):
        StressScenario.parse({"shock": "1.5"})


def _result_after(*, cash: str, equity: str, long_value: str) -> Any:
    from risk.engine.result import MarginResult

    return MarginResult(
        policy="cboe-strategy",
        currency="USD",
        equity=Decimal(equity),
        initial_requirement=Decimal(0),
        maintenance_requirement=Decimal(0),
        groups=[],
        long_market_value=Decimal(long_value),
        short_market_value=Decimal(0),
        fully_paid_value=Decimal(0),
        cash=Decimal(cash),
        loan=Decimal(0),
    )


def test_the_pretrade_gate_refuses_a_margin_order_without_credit(acme: TenantPeople) -> None:
    from financing.pretrade import margin_order_gate

    book = lender(acme)

    def gate(**result: str) -> str | None:
        return margin_order_gate(
            tenant=acme.tenant,
            account=book.client_cash,
            membership=acme.client.membership,
            orders={},
            result_after=_result_after(**result),
        )

    # Paid in cash: not a margin order, no credit needed.
    assert gate(cash="10", equity="5000", long_value="4990") is None
    refusal = gate(cash="-1000", equity="5000", long_value="6000")
    assert refusal is not None and "credit" in refusal
    kyc_approve(acme)
    book.line("200000", leverage_cap="2")
    assert "Sign" in (gate(cash="-1000", equity="5000", long_value="6000") or "")
    book.sign_all()
    assert gate(cash="-1000", equity="5000", long_value="6000") is None
    assert "leverage" in (gate(cash="-1000", equity="5000", long_value="20000") or "")
    assert "credit" in (gate(cash="-300000", equity="5000", long_value="9000") or "")
