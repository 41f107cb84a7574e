"""Stress tests on stored accounts: the engine's shocks (``risk.engine.stress``) applied to an
account's priced portfolio, margined under the tenant's policy, judged by its ladder.

``account_stress`` answers one account (the portal's stress table); ``book_stress_run`` every
holder of the tenant (the console): which accounts breach which line, and the book's loss.
Shocks: the historical scenarios of ``risk.engine.stress.HISTORICAL_SCENARIOS``, and
user-defined ones (``shock_parse``): a market-wide move, per-underlying moves and volatility
shifts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from ledger.models import LedgerAccount
from platform_core.tenancy.models import Tenant
from risk.engine.portfolio import Portfolio, PortfolioError
from risk.engine.result import MarginResult, minor_unit
from risk.engine.stress import HISTORICAL_SCENARIOS, Shock, shock_apply
from risk.models import MarginPolicyVersion
from risk.oracle import OracleError
from risk.selectors import (
    DEFAULT_POLICY,
    loans_of,
    policy_active,
    portfolio_margin,
    priced_portfolio,
)
from risk.stored_policy import DEFAULT_LADDER, LADDER_LINES, status_for

MAX_MOVE = Decimal("0.95")


def shock_parse(raw: Any, where: str = "shocks[0]") -> Shock:
    """A user-defined shock: ``{"name", "market_move", "moves": {SYM: move},
    "volatility_shift", "volatility_shifts": {SYM: shift}}`` (fractions, e.g. "-0.10");
    or ``{"scenario": "1987-10-19"}`` for a historical one. Errors name the field."""
    if not isinstance(raw, Mapping):
        raise PortfolioError(where, "must be an object")
    if "scenario" in raw:
        from risk.engine.stress import shock_scenario

        try:
            return shock_scenario(str(raw["scenario"]))
        except PortfolioError as exc:
            raise PortfolioError(f"{where}.scenario", exc.problem) from None

    def number(value: Any, field: str, bound: Decimal) -> Decimal:
        try:
            result = Decimal(str(value))
        except (InvalidOperation, ValueError):
            raise PortfolioError(f"{where}.{field}", f"{value!r} is not a number") from None
        if not result.is_finite() or abs(result) > bound:
            raise PortfolioError(f"{where}.{field}", f"must be between -{bound} and {bound}")
        return result

    def table(key: str, bound: Decimal) -> dict[str, Decimal]:
        value = raw.get(key) or {}
        if not isinstance(value, Mapping):
            raise PortfolioError(f"{where}.{key}", "must be an object of symbol: number")
        return {str(s): number(v, f"{key}.{s}", bound) for s, v in value.items()}

    name = str(raw.get("name") or "custom")[:100]
    return Shock(
        name=name,
        market_move=number(raw.get("market_move", "0"), "market_move", MAX_MOVE),
        moves=table("moves", MAX_MOVE),
        volatility_shift=number(raw.get("volatility_shift", "0"), "volatility_shift", Decimal(2)),
        volatility_shifts=table("volatility_shifts", Decimal(2)),
    )


@dataclass(frozen=True)
class StressRow:
    shock: Shock
    before: MarginResult
    after: MarginResult
    status: str
    below: tuple[str, ...]

    @property
    def loss(self) -> Decimal:
        return self.before.equity - self.after.equity

    def as_json(self) -> dict[str, Any]:
        unit = minor_unit(self.after.currency)
        ratio = self.after.margin_ratio
        return {
            "scenario": self.shock.name,
            "source": self.shock.source,
            "loss": format(self.loss.quantize(unit), "f"),
            "equity_after": format(self.after.equity.quantize(unit), "f"),
            "maintenance_after": format(self.after.maintenance_requirement.quantize(unit), "f"),
            "margin_ratio_after": None if ratio is None else format(ratio, "f"),
            "status_after": self.status,
            "below": list(self.below),
        }


def default_shocks() -> list[Shock]:
    """The portal's table: market-wide -10% and -20%, +10%, and the historical scenarios."""
    return [
        Shock("market -10%", market_move=Decimal("-0.10")),
        Shock("market -20%", market_move=Decimal("-0.20")),
        Shock("market +10%", market_move=Decimal("0.10")),
        *HISTORICAL_SCENARIOS,
    ]


def _ladder(stored: MarginPolicyVersion | None) -> dict[str, Decimal]:
    ladder = stored.ladder if stored is not None else DEFAULT_LADDER
    return {line: Decimal(str(ladder[line])) for line in LADDER_LINES}


def _stress_portfolio(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    portfolio: Portfolio,
    shocks: Sequence[Shock],
    stored: MarginPolicyVersion | None,
    extra: Any,
) -> list[StressRow]:
    from risk.selectors import PricedPortfolio

    ladder = _ladder(stored)

    def margin(p: Portfolio) -> MarginResult:
        return portfolio_margin(
            tenant=tenant,
            account=account,
            priced=PricedPortfolio(p, extra),
            policy=None if stored is not None else DEFAULT_POLICY,
            stored=stored,
        )

    before = margin(portfolio)
    rows = []
    for shock in shocks:
        after = margin(shock_apply(portfolio, shock))
        ratio = after.margin_ratio
        below = (
            () if ratio is None else tuple(line for line in LADDER_LINES if ratio < ladder[line])
        )
        rows.append(StressRow(shock, before, after, status_for(result=after, ladder=ladder), below))
    return rows


def account_stress(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    shocks: Sequence[Shock] | None = None,
    now: datetime | None = None,
) -> list[StressRow]:
    """Each shock applied to the account now, margined under the tenant's policy.

    Raises ``OracleError`` / ``PortfolioError`` when the account cannot be margined.
    """
    priced = priced_portfolio(tenant=tenant, account=account, now=now or timezone.now())
    return _stress_portfolio(
        tenant=tenant,
        account=account,
        portfolio=priced.portfolio,
        shocks=shocks or default_shocks(),
        stored=policy_active(tenant=tenant),
        extra=priced.prices,
    )


@dataclass
class BookStress:
    shock: Shock
    loss: Decimal
    accounts: int
    breaches: list[dict[str, Any]]
    failed: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.shock.name,
            "source": self.shock.source,
            "book_loss": format(self.loss.quantize(Decimal("0.01")), "f"),
            "accounts": self.accounts,
            "breaches": self.breaches,
            "failed": self.failed,
        }


def book_stress_run(
    *, tenant: Tenant, shocks: Sequence[Shock], now: datetime | None = None
) -> list[BookStress]:
    """Every holder of the tenant under each shock: the accounts below a line afterwards (with
    the lines) and the book's loss (the sum of the accounts' losses, in their currencies as
    numbers: a book in one currency, as tenants run today)."""
    from risk.sweep import holder_accounts

    now = now or timezone.now()
    stored = policy_active(tenant=tenant)
    outcomes = [BookStress(shock, Decimal(0), 0, [], []) for shock in shocks]
    accounts = holder_accounts(tenant=tenant)
    loans = loans_of(tenant=tenant, accounts=accounts)
    for account in accounts:
        try:
            priced = priced_portfolio(
                tenant=tenant,
                account=account,
                now=now,
                loan=loans.get(account.pk, Decimal(0)),
            )
            rows = _stress_portfolio(
                tenant=tenant,
                account=account,
                portfolio=priced.portfolio,
                shocks=shocks,
                stored=stored,
                extra=priced.prices,
            )
        except (OracleError, PortfolioError) as exc:
            for outcome in outcomes:
                outcome.failed.append({"account": account.pk, "reason": str(exc)[:300]})
            continue
        for outcome, row in zip(outcomes, rows, strict=True):
            outcome.accounts += 1
            outcome.loss += row.loss
            if row.below:
                outcome.breaches.append(
                    {"account": account.pk, "currency": account.currency, **row.as_json()}
                )
    for outcome in outcomes:
        outcome.breaches.sort(
            key=lambda b: (b["margin_ratio_after"] is None, Decimal(b["margin_ratio_after"] or 0))
        )
    return outcomes
