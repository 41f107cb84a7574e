"""Liquidation prices and the largest order under any margin function (stored policies too).

The engine's searches (``risk.engine.whatif``) take a built-in policy's name; a tenant's stored
policy lays tiers and add-ons over its base, so the same questions are asked here of a margin
function. Repricing is the engine's own: ``risk.engine.stress.shock_apply`` moves one
underlying (options with it), and ``risk.engine.whatif.orders_apply`` fills orders at the
instrument's price; the answer is to the cent (prices) or the unit (quantities).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from risk.engine.portfolio import Portfolio
from risk.engine.result import MarginResult
from risk.engine.stress import Shock, shock_apply
from risk.engine.whatif import Order, orders_apply

Margin = Callable[[Portfolio], MarginResult]
CENT = Decimal("0.01")
DOWN_GRID = (
    Decimal("0.99"),
    Decimal("0.95"),
    Decimal("0.9"),
    Decimal("0.8"),
    Decimal("0.6"),
    Decimal("0.4"),
    Decimal("0.2"),
    Decimal("0.05"),
    Decimal("0.01"),
)
UP_GRID = (
    Decimal("1.01"),
    Decimal("1.05"),
    Decimal("1.1"),
    Decimal("1.2"),
    Decimal("1.5"),
    Decimal("2"),
    Decimal("3"),
    Decimal("5"),
    Decimal("10"),
)


def _held_underlyings(portfolio: Portfolio) -> list[str]:
    names: list[str] = []
    for position in portfolio.positions:
        name = portfolio.underlying_of(portfolio.instruments[position.symbol]).symbol
        if name not in names:
            names.append(name)
    return names


def liquidation_prices_under(
    portfolio: Portfolio, *, margin: Margin, line: Decimal
) -> list[dict[str, Any]]:
    """Per underlying held: the nearest prices (to the cent) below and above the current one at
    which the margin ratio falls under ``line``, the rest of the portfolio fixed; None where
    there is none within the search range (down to 1%, up to 10x of the price)."""
    out = []
    for name in _held_underlyings(portfolio):
        current = portfolio.instruments[name].price

        def below(price: Decimal, name: str = name, current: Decimal = current) -> bool:
            moved = shock_apply(portfolio, Shock("", moves={name: price / current - 1}))
            ratio = margin(moved).margin_ratio
            return ratio is not None and ratio < line

        if below(current):
            down = up = current
        else:
            down = _crossing(below, current, DOWN_GRID)
            up = _crossing(below, current, UP_GRID)
        out.append(
            {
                "underlying": name,
                "current": format(current, "f"),
                "down": None if down is None else format(down, "f"),
                "up": None if up is None else format(up, "f"),
            }
        )
    return out


def _crossing(
    below: Callable[[Decimal], bool], current: Decimal, grid: tuple[Decimal, ...]
) -> Decimal | None:
    """The first cent from ``current`` towards the grid's direction where ``below`` holds."""
    safe = current
    for factor in grid:
        price = (current * factor).quantize(CENT)
        if price <= 0 or price == safe:
            continue
        if below(price):
            # Bisect in cents between the last safe price and this one.
            lo, hi = int(safe / CENT), int(price / CENT)
            while abs(hi - lo) > 1:
                middle = (lo + hi) // 2
                if below(Decimal(middle) * CENT):
                    hi = middle
                else:
                    lo = middle
            return Decimal(hi) * CENT
        safe = price
    return None


def max_quantity_under(
    portfolio: Portfolio, symbol: str, *, side: int, margin: Margin, limit: int = 10_000_000
) -> int:
    """The largest whole quantity of ``symbol`` to buy (``side`` 1) or sell (-1) at its price
    keeping the initial excess at or above zero; 0 if even one does not fit."""

    def fits(quantity: int) -> bool:
        after = orders_apply(portfolio, [Order(symbol, Decimal(side * quantity))])
        return margin(after).excess_initial >= 0

    if not fits(1):
        return 0
    good, bad = 1, 2
    while bad <= limit and fits(bad):
        good, bad = bad, bad * 2
    if bad > limit:
        if fits(limit):
            return limit
        bad = limit
    while bad - good > 1:
        middle = (good + bad) // 2
        if fits(middle):
            good = middle
        else:
            bad = middle
    return good
