"""Deleveraging plans: which whole strategy groups to close, in which order, and what each
step does to the ratio. Plain Python over the engine's groups; no ORM.

A group is closed with all its legs at once (a covered call's stock and its short call, a
protective put's stock and its put), so no step ever leaves a short leg uncovered. Groups go
riskiest first (the largest maintenance requirement per unit of value closed), the more liquid
first among equals (stock and ETFs before options), and the plan stops at the first step that
restores the target ratio: the fewest closings, the least market impact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from risk.operations.ladder import ratio_of

# Expected cost of closing at market, as a share of the gross value traded (half a spread).
IMPACT = {"option": Decimal("0.01"), "default": Decimal("0.001")}
LIQUIDITY = {"equity": 3, "etf": 3, "index": 2, "option": 1}


@dataclass(frozen=True)
class Leg:
    symbol: str
    quantity: Decimal
    price: Decimal
    multiplier: Decimal = Decimal(1)
    kind: str = "equity"

    @property
    def value(self) -> Decimal:
        return self.quantity * self.price * self.multiplier


@dataclass(frozen=True)
class GroupView:
    strategy: str
    legs: tuple[Leg, ...]
    maintenance: Decimal

    @property
    def gross(self) -> Decimal:
        return sum((abs(leg.value) for leg in self.legs), Decimal(0))

    @property
    def impact(self) -> Decimal:
        return sum(
            (abs(leg.value) * IMPACT.get(leg.kind, IMPACT["default"]) for leg in self.legs),
            Decimal(0),
        ).quantize(Decimal("0.01"))

    @property
    def liquidity(self) -> int:
        return min((LIQUIDITY.get(leg.kind, 1) for leg in self.legs), default=1)

    @property
    def riskiness(self) -> Decimal:
        return self.maintenance / self.gross if self.gross else Decimal(0)


@dataclass(frozen=True)
class AccountBook:
    """An account as the planner sees it: equity, requirement, groups, and the prices used."""

    currency: str
    equity: Decimal
    maintenance: Decimal
    groups: tuple[GroupView, ...]
    ratio: Decimal | None = None  # the engine's (the contract's margin ratio)

    @property
    def prices(self) -> dict[str, str]:
        return {leg.symbol: str(leg.price) for g in self.groups for leg in g.legs}


# (groups closed so far) -> (equity, maintenance, ratio) by the engine, for the exact effect.
Recompute = Callable[[list[GroupView]], tuple[Decimal, Decimal, Decimal | None]]


def plan_order(groups: tuple[GroupView, ...]) -> list[GroupView]:
    return sorted(
        (g for g in groups if g.legs),
        key=lambda g: (-g.riskiness, -g.liquidity, -g.maintenance, g.strategy),
    )


def deleverage_plan(
    book: AccountBook, *, target: Decimal, recompute: Recompute | None = None
) -> list[dict[str, Any]]:
    """Steps that restore ``target``: each a whole group, with the ratio it leaves.

    Without ``recompute`` a step's effect is estimated (the group's requirement goes, the
    impact cost comes off equity); with it the engine re-margins what remains at the marks.
    """
    steps: list[dict[str, Any]] = []
    equity, maintenance = book.equity, book.maintenance
    ratio = book.ratio if book.ratio is not None else ratio_of(equity, maintenance)
    closed: list[GroupView] = []
    if ratio is None or ratio >= target:
        return steps
    for group in plan_order(book.groups):
        closed.append(group)
        if recompute is not None:
            # The engine's answer at today's prices; the impact estimate is shown beside it.
            equity, maintenance, ratio = recompute(closed)
        else:
            equity -= group.impact
            maintenance = max(maintenance - group.maintenance, Decimal(0))
            ratio = ratio_of(equity, maintenance)
        steps.append(
            {
                "step": len(steps) + 1,
                "strategy": group.strategy,
                "legs": [
                    {
                        "symbol": leg.symbol,
                        "quantity": format(leg.quantity.normalize(), "f"),
                        "close": format((-leg.quantity).normalize(), "f"),
                        "price": format(leg.price, "f"),
                        "multiplier": format(leg.multiplier.normalize(), "f"),
                        "kind": leg.kind,
                    }
                    for leg in group.legs
                ],
                "group_maintenance": format(group.maintenance, "f"),
                "impact": format(group.impact, "f"),
                "equity_after": format(equity.quantize(Decimal("0.01")), "f"),
                "maintenance_after": format(maintenance.quantize(Decimal("0.01")), "f"),
                "ratio_after": None if ratio is None else format(ratio, "f"),
            }
        )
        if ratio is None or ratio >= target:
            break
    return steps
