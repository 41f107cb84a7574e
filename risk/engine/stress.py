"""Stress tests: price and volatility shocks applied to one portfolio or to the whole book.

A ``Shock`` moves underlyings (a market-wide fraction, and per-underlying fractions that win
over it) and shifts volatilities (absolute points). Revaluation (``portfolio_reprice`` and
``book_reprice``, the same rule):

- stock, ETFs and indices take the moved price;
- an option on a moved underlying keeps its market price plus the change in its Black-Scholes
  value (at the underlying's volatility, shifted; time unchanged), floored at zero and, for an
  American option, at its intrinsic value: the mark moves as the model says and keeps whatever
  gap the market had to the model;
- an option whose underlying has no volatility moves with its intrinsic value instead (the
  change in intrinsic value added, floored at the new intrinsic value), and a volatility shift
  has nothing to act on.

Prices are rounded to four decimals (the book's price unit). The shocked portfolio is then
margined by the policy, so the outcome says the loss (equity before - after), the margin ratio
after, and which lines of the ladder it is below. A ladder is a list of (name, margin ratio)
lines, e.g. ``DEFAULT_LADDER``: warning 1.25, margin call 1.00, deleverage 0.90,
liquidation 0.75; an account is "below" a line when its ratio is under the line's ratio,
and an account with no ratio (nothing required) is below none.

``HISTORICAL_SCENARIOS`` are published one-day index moves of well-known crashes, applied as
market-wide moves (sources next to each).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from risk.engine.book import Book, FloatArray
from risk.engine.policies import margin_compute
from risk.engine.portfolio import Instrument, Portfolio, PortfolioError
from risk.engine.pricing import black_scholes
from risk.engine.result import MarginResult
from risk.engine.scenario import DAYS_PER_YEAR
from risk.engine.sweep import ladder_line, sweep_full

PRICE_PLACES = Decimal("0.0001")
# The platform's default ladder (risk/stored_policy.py's DEFAULT_LADDER): margin ratios.
DEFAULT_LADDER: tuple[tuple[str, Decimal], ...] = (
    ("warning", Decimal("1.25")),
    ("margin_call", Decimal("1.00")),
    ("deleverage", Decimal("0.90")),
    ("liquidation", Decimal("0.75")),
)


@dataclass(frozen=True)
class Shock:
    """A stress scenario: fractional price moves and absolute volatility shifts."""

    name: str
    market_move: Decimal = Decimal(0)
    moves: Mapping[str, Decimal] = field(default_factory=dict)
    volatility_shift: Decimal = Decimal(0)
    volatility_shifts: Mapping[str, Decimal] = field(default_factory=dict)
    source: str = ""

    def move(self, underlying: str) -> Decimal:
        return self.moves.get(underlying, self.market_move)

    def shift(self, underlying: str) -> Decimal:
        return self.volatility_shifts.get(underlying, self.volatility_shift)


# Published one-day closing moves (the index's close against the previous close).
HISTORICAL_SCENARIOS: tuple[Shock, ...] = (
    Shock(
        "1987-10-19 Black Monday (S&P 500)",
        market_move=Decimal("-0.2047"),
        # S&P 500 -20.47%: the worst one-day percentage losses of the S&P 500 from Yahoo Finance
        # data, tradermike.net, "The worst one-day percentage losses for the Dow, S&P 500 and
        # Nasdaq" (2008-09-29); the Dow fell 22.6% the same day.
        source="tradermike.net/2008/09/the_worst_one-day_percentage_losses_for_the_dow_sp_500_and_nasdaq",
    ),
    Shock(
        "2008-10-15 financial crisis (S&P 500)",
        market_move=Decimal("-0.0903"),
        # S&P 500 -9.03%: the same list, and U.S. News, "October Sell-Off, Anyone? The S&P's 10
        # Worst Trading Days" (2012-10-19): "Oct. 15, 2008, Decline: 9.03".
        source="money.usnews.com, The S&P's 10 Worst Trading Days",
    ),
    Shock(
        "2020-03-16 Covid crash (S&P 500)",
        market_move=Decimal("-0.1198"),
        # S&P 500 fell 324.89 points to close at 2,386.13 (FXStreet, "Wall Street Close",
        # 2020-03-16): 324.89 / 2,711.02 = 11.98%; CNBC (2021-03-16): "The S&P 500 dropped 12%".
        source="fxstreet.com, Wall Street Close 2020-03-16; cnbc.com 2021-03-16",
    ),
    Shock(
        "2015-08-24 China Black Monday (Shanghai Composite)",
        market_move=Decimal("-0.0849"),
        # Shanghai Composite -8.49%: Business Insider Australia (2015-08-24), "the benchmark
        # Shanghai Composite index lost 8.492%"; The Economist (2015-08-28): "down 8.5%".
        source="businessinsider.com.au 2015-08-24; economist.com 2015-08-28",
    ),
)


def shock_scenario(name: str) -> Shock:
    """A historical scenario by name (the start of it, e.g. ``"1987-10-19"``)."""
    for shock in HISTORICAL_SCENARIOS:
        if shock.name.startswith(name):
            return shock
    raise PortfolioError("scenario", f"unknown historical scenario {name!r}")


# --- revaluation ------------------------------------------------------------------------------


def _option_prices(
    price: FloatArray,
    spot: FloatArray,
    moved_spot: FloatArray,
    strike: FloatArray,
    years: FloatArray,
    volatility: FloatArray,
    shifted: FloatArray,
    is_call: NDArray[np.bool_],
    american: NDArray[np.bool_],
) -> FloatArray:
    """New option marks after the underlying moves from ``spot`` to ``moved_spot``."""
    intrinsic_before = np.maximum(np.where(is_call, spot - strike, strike - spot), 0.0)
    intrinsic_after = np.maximum(np.where(is_call, moved_spot - strike, strike - moved_spot), 0.0)
    known = ~np.isnan(volatility)
    sigma = np.where(known, volatility, 0.0)
    sigma_after = np.where(known, np.maximum(shifted, 0.0), 0.0)
    model = black_scholes(moved_spot, strike, years, sigma_after, 0.0, 0.0, is_call) - (
        black_scholes(spot, strike, years, sigma, 0.0, 0.0, is_call)
    )
    change = np.where(known, model, intrinsic_after - intrinsic_before)
    floor = np.where(american | ~known, intrinsic_after, 0.0)
    return np.maximum(np.maximum(price + change, floor), 0.0)


def _decimal_price(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(PRICE_PLACES)


def portfolio_reprice(
    portfolio: Portfolio,
    spots: Mapping[str, Decimal],
    volatility_shifts: Mapping[str, Decimal] | None = None,
) -> Portfolio:
    """The portfolio with underlyings at ``spots`` (symbol → new price) and options revalued
    as the module describes."""
    shifts = volatility_shifts or {}
    instruments: dict[str, Instrument] = {}
    for symbol, instrument in portfolio.instruments.items():
        if not instrument.is_option:
            moved = spots.get(symbol, instrument.price)
            if moved < 0:
                raise PortfolioError(f"spots.{symbol}", "a price cannot be negative")
            instruments[symbol] = replace(instrument, price=moved)
            continue
        underlying = portfolio.instruments[str(instrument.underlying)]
        if underlying.symbol not in spots and not shifts.get(underlying.symbol):
            instruments[symbol] = instrument
            continue
        assert instrument.strike is not None and instrument.expiry is not None
        volatility = portfolio.volatility.get(underlying.symbol)
        sigma = float(volatility) if volatility is not None else float("nan")
        shift = float(shifts.get(underlying.symbol, Decimal(0)))
        value = _option_prices(
            np.array([float(instrument.price)]),
            np.array([float(underlying.price)]),
            np.array([float(spots.get(underlying.symbol, underlying.price))]),
            np.array([float(instrument.strike)]),
            np.array([(instrument.expiry - portfolio.as_of).days / DAYS_PER_YEAR]),
            np.array([sigma]),
            np.array([sigma + shift]),
            np.array([instrument.right == "call"]),
            np.array([instrument.exercise_style == "american"]),
        )[0]
        instruments[symbol] = replace(instrument, price=_decimal_price(value))
    volatility_after = dict(portfolio.volatility)
    for symbol, points in shifts.items():
        if symbol in volatility_after:
            volatility_after[symbol] = max(volatility_after[symbol] + points, Decimal(0))
    return replace(portfolio, instruments=instruments, volatility=volatility_after)


def shock_apply(portfolio: Portfolio, shock: Shock) -> Portfolio:
    """``portfolio`` after ``shock`` (every underlying it holds moved, volatilities shifted)."""
    spots: dict[str, Decimal] = {}
    shifts: dict[str, Decimal] = {}
    for symbol, instrument in portfolio.instruments.items():
        if instrument.is_option:
            continue
        move = shock.move(symbol)
        if move < -1:
            raise PortfolioError(f"shock.moves.{symbol}", "a price cannot fall more than 100%")
        if move:
            spots[symbol] = (instrument.price * (1 + move)).quantize(PRICE_PLACES)
        if shock.shift(symbol):
            shifts[symbol] = shock.shift(symbol)
    return portfolio_reprice(portfolio, spots, shifts)


@dataclass(frozen=True)
class StressOutcome:
    shock: Shock
    loss: Decimal  # equity before - equity after (a gain is negative)
    before: MarginResult
    after: MarginResult
    below: tuple[str, ...]  # the ladder lines the margin ratio is under after the shock


def _below(ratio: Decimal | None, ladder: Sequence[tuple[str, Decimal]]) -> tuple[str, ...]:
    if ratio is None:
        return ()
    return tuple(name for name, line in ladder if ratio < line)


def portfolio_stress(
    portfolio: Portfolio,
    shocks: Sequence[Shock],
    *,
    policy: str = "cboe-strategy",
    ladder: Sequence[tuple[str, Decimal]] = DEFAULT_LADDER,
) -> list[StressOutcome]:
    """Each shock applied to one portfolio, margined under ``policy``."""
    before = margin_compute(portfolio, policy)
    outcomes = []
    for shock in shocks:
        after = margin_compute(shock_apply(portfolio, shock), policy)
        outcomes.append(
            StressOutcome(
                shock=shock,
                loss=before.equity - after.equity,
                before=before,
                after=after,
                below=_below(after.margin_ratio, ladder),
            )
        )
    return outcomes


# --- the whole book ---------------------------------------------------------------------------


def book_reprice(book: Book, shock: Shock) -> tuple[FloatArray, FloatArray]:
    """(prices, volatilities) of every instrument of the book after ``shock``, the same rule as
    ``portfolio_reprice`` (prices rounded to four decimals)."""
    n = len(book.instruments)
    underlyings = np.flatnonzero(~book.is_option)
    move = np.zeros(n)
    shift = np.zeros(n)
    for index in underlyings.tolist():
        symbol = book.instruments[index].symbol
        move[index] = float(shock.move(symbol))
        shift[index] = float(shock.shift(symbol))
    if np.any(move < -1):
        raise PortfolioError("shock.moves", "a price cannot fall more than 100%")
    price = book.price.copy()
    spot = book.price[book.underlying]
    moved = book.price.copy()
    for index in underlyings.tolist():  # in Decimal, as portfolio_reprice rounds it
        symbol = book.instruments[index].symbol
        if shock.move(symbol):
            moved[index] = float(
                (book.price_decimal(index) * (1 + shock.move(symbol))).quantize(PRICE_PLACES)
            )
    price[underlyings] = moved[underlyings]
    options = np.flatnonzero(book.is_option)
    u = book.underlying[options]
    touched = (move[u] != 0) | (shift[u] != 0)
    options, u = options[touched], u[touched]
    volatility = book.volatility[u]
    values = _option_prices(
        book.price[options],
        spot[options],
        moved[u],
        book.strike[options],
        book.expiry_days[options] / DAYS_PER_YEAR,
        volatility,
        volatility + shift[u],
        book.is_call[options],
        ~book.european[options],
    )
    price[options] = [float(_decimal_price(value)) for value in values]
    volatility_after = np.where(
        np.isnan(book.volatility), np.nan, np.maximum(book.volatility + shift, 0.0)
    )
    return price, volatility_after


@dataclass(frozen=True)
class BookStress:
    """Per account: ``loss`` (equity before - after), ``ratio`` after (NaN: none) and ``line``,
    the index in the ladder of the lowest line it is under (-1: none); the book's ``loss`` and
    how many accounts are under each line."""

    shock: Shock
    loss: FloatArray
    ratio: FloatArray
    line: NDArray[np.int64]
    book_loss: float
    below_counts: dict[str, int]


def book_stress(
    book: Book,
    shock: Shock,
    *,
    policy: str = "cboe-strategy",
    ladder: Sequence[tuple[str, Decimal]] = DEFAULT_LADDER,
    parameters: Mapping[str, Decimal] | None = None,
) -> BookStress:
    """``shock`` applied to every account of ``book`` at once (the book is left as it was)."""
    before = sweep_full(book, policy, parameters)
    prices, volatility = book_reprice(book, shock)
    saved_price, saved_volatility = book.price, book.volatility
    try:
        book.price, book.volatility = prices, volatility
        after = sweep_full(book, policy, parameters)
    finally:
        book.price, book.volatility = saved_price, saved_volatility
    ratio = after.margin_ratio
    line = ladder_line(ratio, ladder)
    rounded = np.round(ratio, 4)
    counts = {
        name: int(np.count_nonzero(~np.isnan(rounded) & (rounded < float(threshold))))
        for name, threshold in ladder
    }
    loss = before.equity - after.equity
    return BookStress(
        shock=shock,
        loss=loss,
        ratio=ratio,
        line=line,
        book_loss=float(loss.sum()),
        below_counts=counts,
    )
