"""What a policy produces (strategy groups) and the contract's result built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from risk.engine.portfolio import Portfolio

MINOR_UNITS = {"JPY": 0}  # every other supported currency has 2
RATIO_PLACES = Decimal("0.0001")


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


@dataclass
class Group:
    """Legs margined together under one rule, with the requirement before rounding.

    ``fully_paid`` is the part of the requirement that is the full value of long options with
    no loan value (V in the contract's margin ratio). ``rule`` says how the number was reached.
    """

    strategy: str
    legs: list[tuple[str, Decimal]]
    initial: Decimal
    maintenance: Decimal
    fully_paid: Decimal = Decimal(0)
    rule: str = ""


@dataclass
class MarginResult:
    policy: str
    currency: str
    equity: Decimal
    initial_requirement: Decimal
    maintenance_requirement: Decimal
    groups: list[Group]
    long_market_value: Decimal
    short_market_value: Decimal
    fully_paid_value: Decimal
    cash: Decimal
    loan: Decimal
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def excess_initial(self) -> Decimal:
        return self.equity - self.initial_requirement

    @property
    def excess_maintenance(self) -> Decimal:
        return self.equity - self.maintenance_requirement

    @property
    def margin_ratio(self) -> Decimal | None:
        denominator = self.maintenance_requirement - self.fully_paid_value
        if denominator <= 0:
            return None
        return ((self.equity - self.fully_paid_value) / denominator).quantize(RATIO_PLACES)

    @property
    def collateral_ratio(self) -> Decimal | None:
        owed = self.loan + max(-self.cash, Decimal(0)) + self.short_market_value
        if owed <= 0:
            return None
        held = max(self.cash, Decimal(0)) + self.long_market_value
        return (held / owed).quantize(RATIO_PLACES)

    def as_json(self) -> dict[str, Any]:
        unit = minor_unit(self.currency)

        def money(value: Decimal) -> str:
            return format(value.quantize(unit), "f")

        def ratio(value: Decimal | None) -> str | None:
            return None if value is None else format(value, "f")

        return {
            "policy": self.policy,
            "currency": self.currency,
            "equity": money(self.equity),
            "initial_requirement": money(self.initial_requirement),
            "maintenance_requirement": money(self.maintenance_requirement),
            "excess_initial": money(self.excess_initial),
            "excess_maintenance": money(self.excess_maintenance),
            "margin_ratio": ratio(self.margin_ratio),
            "collateral_ratio": ratio(self.collateral_ratio),
            "groups": [
                {
                    "strategy": g.strategy,
                    "legs": [
                        {"symbol": s, "quantity": format(q.normalize(), "f")} for s, q in g.legs
                    ],
                    "initial_requirement": money(g.initial),
                    "maintenance_requirement": money(g.maintenance),
                    "rule": g.rule,
                }
                for g in self.groups
            ],
            **self.extra,
        }


def round_up(value: Decimal, currency: str) -> Decimal:
    """A group's requirement, rounded up once to the minor unit and never below zero."""
    return max(value, Decimal(0)).quantize(minor_unit(currency), rounding=ROUND_CEILING)


def result_assemble(
    *, policy: str, portfolio: Portfolio, groups: list[Group], **extra: Any
) -> MarginResult:
    """Round each group once, sum the groups, and value the account (the contract's "held" view)."""
    for group in groups:
        group.initial = round_up(group.initial, portfolio.currency)
        group.maintenance = round_up(group.maintenance, portfolio.currency)
        group.fully_paid = min(round_up(group.fully_paid, portfolio.currency), group.maintenance)
    long_value = sum(
        (portfolio.market_value(p) for p in portfolio.positions if p.quantity > 0), Decimal(0)
    )
    short_value = -sum(
        (portfolio.market_value(p) for p in portfolio.positions if p.quantity < 0), Decimal(0)
    )
    return MarginResult(
        policy=policy,
        currency=portfolio.currency,
        equity=portfolio.cash - portfolio.loan + long_value - short_value,
        initial_requirement=sum((g.initial for g in groups), Decimal(0)),
        maintenance_requirement=sum((g.maintenance for g in groups), Decimal(0)),
        groups=groups,
        long_market_value=long_value,
        short_market_value=short_value,
        fully_paid_value=sum((g.fully_paid for g in groups), Decimal(0)),
        cash=portfolio.cash,
        loan=portfolio.loan,
        extra=extra,
    )
