"""Reads of the financing app, always for one tenant: lines, contracts, pools, the liquidity
buffer and its stress test."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from financing.models import (
    CreditLine,
    FinancingContract,
    FundingPool,
    SignatureRecord,
)
from financing.services import (
    credit_available,
    invalid,
    loan_outstanding,
    pool_used,
    rate_card_current,
)
from ledger.models import LedgerAccount
from platform_core.tenancy.models import Membership, Tenant

OPEN = (FinancingContract.Status.OPEN, FinancingContract.Status.OVERDUE)

__all__ = ["credit_available", "loan_outstanding"]


def loans_by_account(*, tenant: Tenant, accounts: Iterable[Any]) -> dict[int, Decimal]:
    """What each ``client_cash`` account's owner owes in its currency on open and overdue
    contracts (principal plus interest charged and unpaid), in one query for the whole list;
    accounts that owe nothing are absent (``risk.hooks.loan_sources``)."""
    by_owner: dict[tuple[int, str], list[int]] = {}
    for account in accounts:
        if account.kind == "client_cash" and account.owner_id is not None:
            by_owner.setdefault((account.owner_id, account.currency), []).append(account.pk)
    if not by_owner:
        return {}
    owed = (
        FinancingContract.objects.filter(
            tenant=tenant,
            status__in=OPEN,
            membership_id__in={owner for owner, _currency in by_owner},
            currency__in={currency for _owner, currency in by_owner},
        )
        .values("membership_id", "currency")
        .annotate(principal=Sum("outstanding"), interest=Sum("interest_owed"))
    )
    loans: dict[int, Decimal] = {}
    for row in owed:
        total = row["principal"] + row["interest"]
        for account_id in by_owner.get((row["membership_id"], row["currency"]), ()):
            if total:
                loans[account_id] = total
    return loans


def contract_list(*, tenant: Tenant, membership: Membership | None = None) -> QuerySet:
    contracts = FinancingContract.objects.filter(tenant=tenant).select_related("pool")
    if membership is not None:
        contracts = contracts.filter(membership=membership)
    return contracts.order_by("-pk")


def credit_line_list(*, tenant: Tenant, membership: Membership | None = None) -> QuerySet:
    lines = CreditLine.objects.filter(tenant=tenant).select_related("membership__user")
    if membership is not None:
        lines = lines.filter(membership=membership)
    return lines.order_by("-pk")


def signature_list(*, tenant: Tenant, membership: Membership | None = None) -> QuerySet:
    records = SignatureRecord.objects.filter(tenant=tenant).defer("signed_pdf")
    if membership is not None:
        records = records.filter(membership=membership)
    return records.order_by("-seq")


@dataclass(frozen=True)
class PoolUse:
    pool: FundingPool
    used: Decimal

    @property
    def room(self) -> Decimal:
        return self.pool.limit - self.used


def pool_list(*, tenant: Tenant) -> list[PoolUse]:
    return [
        PoolUse(pool, pool_used(tenant=tenant, pool=pool))
        for pool in FundingPool.objects.filter(tenant=tenant).order_by("currency", "cost_rate")
    ]


def _house_balance(*, tenant: Tenant, kind: str, currency: str) -> Decimal:
    account = LedgerAccount.objects.filter(
        tenant=tenant, kind=kind, currency=currency, owner__isnull=True
    ).first()
    return account.balance if account else Decimal(0)


@dataclass(frozen=True)
class BufferStatus:
    currency: str
    loans_outstanding: Decimal
    target_share: Decimal
    target: Decimal
    balance: Decimal

    @property
    def shortfall(self) -> Decimal:
        return max(Decimal(0), self.target - self.balance)


def buffer_status(*, tenant: Tenant, currency: str) -> BufferStatus:
    """The buffer (the ledger's liquidity_buffer balance) against its target share of loans."""
    outstanding = FinancingContract.objects.filter(
        tenant=tenant, currency=currency, status__in=OPEN
    ).aggregate(total=Sum("outstanding"))["total"] or Decimal(0)
    card = rate_card_current(tenant=tenant, currency=currency)
    share = card.buffer_target_share if card else Decimal(0)
    return BufferStatus(
        currency=currency,
        loans_outstanding=outstanding,
        target_share=share,
        target=(outstanding * share).quantize(Decimal("0.01")),
        balance=_house_balance(tenant=tenant, kind="liquidity_buffer", currency=currency),
    )


# --- the stress test ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StressScenario:
    """One bad day, then the run continuing.

    - ``recall_share``: each day, institutional pools pull back this share of what they fund;
      the ``concentrated_pools`` largest pull everything on day 1 (concentrated withdrawals).
    - ``draw_share``: each day, clients draw this share of their undrawn credit.
    - ``shock``: day 1, every client's long positions fall by this share; a loan no longer
      covered by the client's cash and positions is a loss the buffer absorbs.
    """

    recall_share: Decimal = Decimal("0.10")
    concentrated_pools: int = 1
    draw_share: Decimal = Decimal("0.05")
    shock: Decimal = Decimal("0.20")
    horizon_days: int = 30

    @classmethod
    def parse(cls, data: dict[str, Any]) -> StressScenario:
        problems: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        for name in ("recall_share", "draw_share", "shock"):
            raw = data.get(name, getattr(cls, name))
            try:
                number = Decimal(str(raw))
            except ArithmeticError:
                problems[name] = ["Not a number."]
                continue
            if not number.is_finite() or not Decimal(0) <= number <= 1:
                problems[name] = ["A share between 0 and 1."]
            values[name] = number
        for name, top in (("concentrated_pools", 100), ("horizon_days", 365)):
            try:
                whole = int(str(data.get(name, getattr(cls, name))))
            except ValueError:
                problems[name] = ["A whole number."]
                continue
            if not 0 <= whole <= top or (name == "horizon_days" and whole < 1):
                problems[name] = [f"Between {int(name == 'horizon_days')} and {top}."]
            values[name] = whole
        if problems:
            raise invalid(problems)
        return cls(**values)


@dataclass
class StressDay:
    day: int
    recalls: Decimal
    draws: Decimal
    losses: Decimal
    buffer_after: Decimal

    @property
    def outflow(self) -> Decimal:
        return self.recalls + self.draws + self.losses


@dataclass
class StressResult:
    currency: str
    scenario: StressScenario
    buffer: Decimal
    day_one_need: Decimal
    days_covered: int  # full days the buffer meets the outflows (= horizon: it lasts)
    meets_day_one: bool
    days: list[StressDay] = field(default_factory=list)


def _shock_losses(*, tenant: Tenant, currency: str, shock: Decimal) -> Decimal:
    """Per client: loan - (cash + long positions after the shock), where positive."""
    from risk.models import Position
    from risk.oracle import oracle_prices

    losses = Decimal(0)
    borrowers = (
        FinancingContract.objects.filter(tenant=tenant, currency=currency, status__in=OPEN)
        .values_list("membership_id", flat=True)
        .distinct()
    )
    for membership_id in borrowers:
        membership = Membership.objects.get(tenant=tenant, pk=membership_id)
        loan = loan_outstanding(tenant=tenant, membership=membership, currency=currency)
        account = LedgerAccount.objects.filter(
            tenant=tenant, kind="client_cash", currency=currency, owner=membership
        ).first()
        cash = account.balance if account else Decimal(0)
        positions = (
            list(
                Position.objects.filter(
                    tenant=tenant, account=account, quantity__gt=0
                ).select_related("instrument")
            )
            if account
            else []
        )
        prices = oracle_prices(instruments=[p.instrument for p in positions]) if positions else {}
        value = sum(
            (
                p.quantity * p.instrument.multiplier * prices[p.instrument.symbol].price
                for p in positions
                if p.instrument.symbol in prices
            ),
            Decimal(0),
        )
        covered = cash + value * (1 - shock)
        losses += max(Decimal(0), loan - covered)
    return losses.quantize(Decimal("0.01"), rounding=ROUND_CEILING)  # losses count in full


def buffer_stress(*, tenant: Tenant, currency: str, scenario: StressScenario) -> StressResult:
    """Can the liquidity buffer meet pools pulling their money, clients drawing their undrawn
    credit and the losses of a market shock, all starting the same day, and for how long?"""
    status = buffer_status(tenant=tenant, currency=currency)
    institutional = [
        use
        for use in pool_list(tenant=tenant)
        if use.pool.currency == currency and use.pool.kind == FundingPool.Kind.INSTITUTIONAL
    ]
    institutional.sort(key=lambda use: use.used, reverse=True)
    funded = [use.used for use in institutional]
    undrawn = sum(
        (
            credit_available(tenant=tenant, membership=line.membership, currency=currency)
            for line in CreditLine.objects.filter(
                tenant=tenant, currency=currency, status=CreditLine.Status.ACTIVE
            ).select_related("membership")
        ),
        Decimal(0),
    )
    losses = _shock_losses(tenant=tenant, currency=currency, shock=scenario.shock)
    buffer = status.balance
    days: list[StressDay] = []
    covered = 0
    cent = Decimal("0.01")
    for day in range(1, scenario.horizon_days + 1):
        recalls = Decimal(0)
        for index, amount in enumerate(funded):
            pulled = (
                amount
                if (day == 1 and index < scenario.concentrated_pools)
                else (amount * scenario.recall_share)
            )
            pulled = pulled.quantize(cent)
            funded[index] = amount - pulled
            recalls += pulled
        draws = (undrawn * scenario.draw_share).quantize(cent)
        undrawn -= draws
        day_losses = losses if day == 1 else Decimal(0)
        outflow = recalls + draws + day_losses
        buffer -= outflow
        days.append(StressDay(day, recalls, draws, day_losses, buffer))
        if buffer < 0:
            break
        covered = day
    return StressResult(
        currency=currency,
        scenario=scenario,
        buffer=status.balance,
        day_one_need=days[0].outflow if days else Decimal(0),
        days_covered=covered,
        meets_day_one=covered >= 1,
        days=days,
    )
