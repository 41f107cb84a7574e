"""What-if and pre-trade questions on one portfolio, answered by the same engine.

- ``orders_apply``: the portfolio after some orders fill (at the instrument's price unless the
  order names one): the position changes and the cash pays for it (a purchase of ``q`` at
  ``p`` takes ``q x p x multiplier`` from cash, a sale adds it), so a fill at the mark leaves the
  equity where it was and only the requirement changes.
- ``what_if``: the margin before and after, and the liquidation prices after.
- ``liquidation_prices``: per underlying, the prices at which the account would fall to a line,
  all else fixed (the other underlyings where they are, options on the moving underlying revalued
  as ``stress.portfolio_reprice`` revalues them). The line is a margin ratio (1: equity equal to
  the maintenance requirement, the contract's liquidation line for the strategy and scenario
  policies; a tenant's ladder gives others). "At or below the line" means a ratio under it; an
  account with nothing required has no ratio and is never below.

  How it is found: from the current price, a grid of moves (1 % steps to 10 %, then coarser, down
  to -99.99 % and up to +900 %) is walked in each direction until the first price below the line;
  then bisection on whole cents between the last price above and that one finds the nearest price
  below the line, to the cent. Each step margins the revalued portfolio with the engine, so the
  answer is exactly the engine's. A direction with no price below the line on the grid gives
  ``None``; an account already below gives the current price both ways. Between grid points the
  search assumes one crossing (the margin ratio of the common strategies is monotone in the
  underlying between two strikes); a narrower dip between two grid points could be missed.
- ``max_quantity``: the largest whole quantity of one order that keeps the excess (initial by
  default: it is a new position) at or above zero, by doubling then bisection. It assumes that
  if a quantity fails, every larger one fails (true when each added contract or share adds
  requirement, which is how orders that open risk behave); an order that reduces risk is checked
  up to ``limit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

from risk.engine.policies import margin_compute
from risk.engine.portfolio import Portfolio, PortfolioError, Position
from risk.engine.result import RATIO_PLACES, MarginResult
from risk.engine.stress import portfolio_reprice

CENT = Decimal("0.01")
_DOWN_GRID = (
    [Decimal(k) / 100 for k in range(1, 11)]
    + [Decimal(x) for x in ("0.125", "0.15", "0.2", "0.25", "0.3", "0.4", "0.5", "0.6", "0.7")]
    + [Decimal(x) for x in ("0.8", "0.9", "0.95", "0.99", "0.9999")]
)
_UP_GRID = (
    [Decimal(k) / 100 for k in range(1, 11)]
    + [Decimal(x) for x in ("0.125", "0.15", "0.2", "0.25", "0.3", "0.4", "0.5", "0.75", "1")]
    + [Decimal(x) for x in ("1.5", "2", "3", "5", "9")]
)


@dataclass(frozen=True)
class Order:
    """Buy (quantity > 0) or sell (< 0) ``symbol``, at ``price`` or the instrument's price."""

    symbol: str
    quantity: Decimal
    price: Decimal | None = None


def orders_apply(portfolio: Portfolio, orders: Sequence[Order]) -> Portfolio:
    """The portfolio once ``orders`` have filled (see the module docstring)."""
    held: dict[str, Decimal] = {}
    for position in portfolio.positions:
        held[position.symbol] = held.get(position.symbol, Decimal(0)) + position.quantity
    cash = portfolio.cash
    for index, order in enumerate(orders):
        if order.symbol not in portfolio.instruments:
            raise PortfolioError(f"orders[{index}].symbol", f"unknown symbol {order.symbol!r}")
        if not order.quantity.is_finite() or order.quantity == 0:
            raise PortfolioError(f"orders[{index}].quantity", "must be a non-zero number")
        instrument = portfolio.instruments[order.symbol]
        price = instrument.price if order.price is None else order.price
        if price < 0:
            raise PortfolioError(f"orders[{index}].price", "must not be negative")
        cash -= order.quantity * price * instrument.multiplier
        held[order.symbol] = held.get(order.symbol, Decimal(0)) + order.quantity
    positions = tuple(Position(s, q) for s, q in held.items() if q != 0)
    return replace(portfolio, cash=cash, positions=positions)


@dataclass(frozen=True)
class LiquidationPrice:
    """The nearest underlying prices (to the cent) below and above the current one at which the
    account is below the line; ``None`` where there is none in range."""

    underlying: str
    current: Decimal
    down: Decimal | None
    up: Decimal | None


def _below_line(result: MarginResult, line: Decimal) -> bool:
    ratio = result.margin_ratio
    return ratio is not None and ratio < line


def _crossing(
    below: Callable[[Decimal], bool], current: Decimal, grid: list[Decimal], sign: int
) -> Decimal | None:
    safe = current
    for step in grid:
        price = (current * (1 + sign * step)).quantize(CENT, rounding=ROUND_FLOOR)
        if price < 0 or price == safe:
            continue
        if below(price):
            # bisection on whole cents between ``safe`` (above the line) and ``price`` (below)
            low, high = sorted((safe, price))
            low_cents, high_cents = int(low / CENT), int(high / CENT)
            if sign < 0:  # the highest price below the line
                while high_cents - low_cents > 1:
                    middle = (low_cents + high_cents) // 2
                    if below(Decimal(middle) * CENT):
                        low_cents = middle
                    else:
                        high_cents = middle
                return Decimal(low_cents) * CENT
            while high_cents - low_cents > 1:  # the lowest price below the line
                middle = (low_cents + high_cents) // 2
                if below(Decimal(middle) * CENT):
                    high_cents = middle
                else:
                    low_cents = middle
            return Decimal(high_cents) * CENT
        safe = price
    return None


def liquidation_prices(
    portfolio: Portfolio,
    *,
    policy: str = "cboe-strategy",
    line: Decimal = Decimal(1),
    underlyings: Sequence[str] | None = None,
) -> list[LiquidationPrice]:
    """Per underlying held (or ``underlyings``), the prices at which the margin ratio under
    ``policy`` falls below ``line``, the rest of the portfolio fixed."""
    held = []
    for position in portfolio.positions:
        symbol = portfolio.underlying_of(portfolio.instruments[position.symbol]).symbol
        if symbol not in held:
            held.append(symbol)
    for symbol in underlyings or ():
        if symbol not in portfolio.instruments or portfolio.instruments[symbol].is_option:
            raise PortfolioError("underlyings", f"{symbol!r} is not an underlying of the portfolio")
    base = margin_compute(portfolio, policy)
    out = []
    for symbol in underlyings or held:
        current = portfolio.instruments[symbol].price
        if _below_line(base, line):
            out.append(LiquidationPrice(symbol, current, current, current))
            continue
        below = _below_function(portfolio, base, symbol, policy, line)
        out.append(
            LiquidationPrice(
                symbol,
                current,
                _crossing(below, current, _DOWN_GRID, -1),
                _crossing(below, current, _UP_GRID, +1),
            )
        )
    return out


def _below_function(
    portfolio: Portfolio, base: MarginResult, symbol: str, policy: str, line: Decimal
) -> Callable[[Decimal], bool]:
    """Whether the account is below ``line`` with ``symbol`` at a price.

    The strategy and scenario policies margin each underlying apart (groups never span two),
    so only the positions on ``symbol`` are margined again at each price and the rest of the
    account is added as it stands: the same numbers as margining the whole portfolio, rounded
    the same way, at a fraction of the cost. ``cn-rzrq`` (the loan spans the account) is
    margined whole.
    """
    if policy == "cn-rzrq":

        def whole(price: Decimal) -> bool:
            moved = portfolio_reprice(portfolio, {symbol: price})
            return _below_line(margin_compute(moved, policy), line)

        return whole
    mine = tuple(
        p
        for p in portfolio.positions
        if portfolio.underlying_of(portfolio.instruments[p.symbol]).symbol == symbol
    )
    alone = replace(portfolio, positions=mine, cash=Decimal(0), loan=Decimal(0))
    part = margin_compute(alone, policy)
    rest_equity = base.equity - part.equity
    rest_maintenance = base.maintenance_requirement - part.maintenance_requirement
    rest_paid = base.fully_paid_value - part.fully_paid_value

    def below(price: Decimal) -> bool:
        moved = margin_compute(portfolio_reprice(alone, {symbol: price}), policy)
        paid = rest_paid + moved.fully_paid_value
        denominator = rest_maintenance + moved.maintenance_requirement - paid
        if denominator <= 0:
            return False
        ratio = ((rest_equity + moved.equity - paid) / denominator).quantize(RATIO_PLACES)
        return ratio < line

    return below


@dataclass(frozen=True)
class WhatIf:
    before: MarginResult
    after: MarginResult
    liquidation: list[LiquidationPrice]


def what_if(
    portfolio: Portfolio,
    orders: Sequence[Order],
    *,
    policy: str = "cboe-strategy",
    line: Decimal = Decimal(1),
) -> WhatIf:
    """The margin before and after ``orders``, and the liquidation prices after."""
    after = orders_apply(portfolio, orders)
    return WhatIf(
        before=margin_compute(portfolio, policy),
        after=margin_compute(after, policy),
        liquidation=liquidation_prices(after, policy=policy, line=line),
    )


def max_quantity(
    portfolio: Portfolio,
    symbol: str,
    *,
    side: int = 1,
    policy: str = "cboe-strategy",
    price: Decimal | None = None,
    excess: str = "initial",
    limit: int = 10_000_000,
) -> int:
    """The largest whole quantity of ``symbol`` to buy (``side`` 1) or sell (-1) keeping the
    ``excess`` ("initial" or "maintenance") at or above zero; 0 if even one fails."""
    if side not in (1, -1):
        raise PortfolioError("side", "1 to buy, -1 to sell")
    if excess not in ("initial", "maintenance"):
        raise PortfolioError("excess", "initial or maintenance")
    if symbol not in portfolio.instruments:
        raise PortfolioError("symbol", f"unknown symbol {symbol!r}")

    def fits(quantity: int) -> bool:
        order = Order(symbol, Decimal(side * quantity), price)
        result = margin_compute(orders_apply(portfolio, [order]), policy)
        value = result.excess_initial if excess == "initial" else result.excess_maintenance
        return value >= 0

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
