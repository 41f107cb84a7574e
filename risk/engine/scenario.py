"""Scenario (risk-based) policies: ``finra-pm`` (FINRA 4210(g) portfolio margin) and ``span-like``.

Both revalue every position at a grid of scenarios for its underlying, sum the profit and loss of
the positions on one underlying (FINRA's *class group*: "all products with the same deliverable
and the deliverable itself", OCC's CPM disclosure; SPAN's *combined commodity*), and charge each
group its worst loss. Stock, ETFs and indices move one for one with the scenario; options are
revalued with ``pricing.black_scholes`` at the portfolio's ``volatility`` for their underlying
(an option without one is an error naming ``volatility.<UNDERLYING>``), American options floored
at their intrinsic value. Time to expiry is ACT/365 from ``as_of``.

What the requirement is in the contract's held view
---------------------------------------------------
A scenario requirement is a loss: how far the group's value can fall from its current mark. The
contract's ``equity`` already marks every position (long options at their full value, short
options as a liability), so the equity a group needs *is* that loss, with no premium added or
subtracted. The loss is measured from the mark, so a short option's proceeds are already netted
(a naked call sold for 150 whose worst scenario costs 1,150 to buy back needs 1,000, the number
the contract asks for), and a long option is charged what the scenarios can take from it, never
more than its value: portfolio margin gives long options the loan value the scenarios leave them,
so no group here is "fully paid" (V = 0 in ``margin_ratio``). It follows that
``excess_maintenance`` is what the account would be worth if every group met its worst scenario
(cash - loan + the marks - the losses), and ``margin_ratio`` is ``equity / maintenance``.

The mark is the instrument's market ``price``. When that differs from the model's value at the
portfolio's volatility, the difference shows up at every scenario, the unchanged point included:
a short option marked below its model value is charged the gap.

``finra-pm`` (FINRA Rule 4210(g); the same requirement for initial and maintenance)
-----------------------------------------------------------------------------------
Each class group is revalued at ten equidistant valuation points across the prescribed price
range, five down and five up, plus the unchanged point; the requirement is the greatest loss, but
at least ``minimum_per_contract`` x multiplier for every option contract, long or short (4210(g):
"$.375 for each listed option ... multiplied by the contract's ... multiplier, carried long or
short", quoted in Fidelity's PM supplement). Product-group offsets between class groups (e.g. SPX
against SPY) are not taken: each class group stands alone, which can only over-margin.

Parameters (``NAME.SYMBOL`` overrides ``NAME`` for one underlying):

- ``range_down[.SYM]`` / ``range_up[.SYM]``: the prescribed price range, as fractions.
  Equity, ETF and narrow-based index 0.15 / 0.15 (thinkorswim PM, Fidelity PM supplement);
  broad-based index 0.08 / 0.06, the high-capitalisation range (SEC Release 34-46576, the NYSE
  Rule 431(g) pilot table now in 4210(g)(2)(F): +6 % / -8 %; a non-high-capitalisation
  broad-based index takes 0.10 / 0.10 by override); leveraged ETF 0.15 x leverage (the
  strategy-based treatment carried over, research notes 1.1: the portfolio-margin text was not
  retrieved). A fall is capped at 100 %.
- ``minimum_per_contract``: 0.375 per unit of multiplier (4210(g), above).
- ``rate``: 0, the continuously compounded riskless rate (the caller's rates feed).
- ``dividend_yield[.SYM]``: 0, continuous (the caller's dividend forecast).

``span-like`` (the CME SPAN standard risk array)
------------------------------------------------
Sixteen scenarios per combined commodity: the price unchanged, +-1/3, +-2/3 and +-3/3 of the
price scan range, each with the volatility up and down by the volatility scan range (scenarios
1-14, 100 % of the loss), and two extreme moves of ``extreme_multiple`` x the range at unchanged
volatility, counted at ``extreme_weight`` of their loss (15, 16). Time moves forward by the
look-ahead. The group's maintenance is the larger of its scan risk and the short option minimum;
its initial is the maintenance x ``initial_ratio``. Intra-commodity spread, delivery and
inter-commodity charges concern futures months and are not modelled (there are no futures here).

Parameters (index: an ``index`` or a narrow/broad-based index class; stock: the rest):

- ``price_scan[.SYM]``: the price scan range as a fraction of the underlying's price. Default
  max(``price_scan_sigmas`` x sigma x sqrt(``margin_period_days`` / 252), ``price_scan_floor``),
  sigma the underlying's annualised ``volatility`` (NSE Clearing SPAN risk parameters, 2024: "six
  standard deviations scaled up by sqrt 2 subject to 9.3 % / 14.2 % of underlying price");
  ``price_scan_sigmas`` 6, ``margin_period_days`` 2, ``price_scan_floor[.SYM]`` index 0.093,
  stock 0.142. An underlying without ``price_scan`` needs its volatility even without options.
- ``volatility_scan[.SYM]``: 0.25 of the volatility, at least ``volatility_scan_floor[.SYM]``
  volatility points, index 0.04, stock 0.10 (NSE: "25 % of annualized EWMA volatility subject to
  minimum 4 % / 10 %"; CME also quotes the scan range relative to the volatility).
- ``extreme_multiple[.SYM]`` 2 and ``extreme_weight[.SYM]`` 0.35: the NSE SPAN table (+-2 x the
  range at 35 %) and McMillan's CME S&P risk array (an extreme move of 7,000 against a 10,000
  range, "Options as a Strategic Investment", ch. 34). A product quoted at 3 x the range takes
  ``extreme_multiple.SYM = 3``.
- ``short_option_minimum[.SYM]``: index 0.03, stock 0.075 of the underlying's notional per short
  option (NSE SPAN parameters: "3 % / 7.5 % of the notional value of all short ... positions").
- ``lookahead_days``: 1 calendar day (CME, "Components of SPAN": the look-ahead time "is
  typically set to one trading day").
- ``initial_ratio``: 1.10 (CME Clearing advisory 13-479: speculative initial 2,750 on a
  maintenance of 2,500; hedgers' initial equals maintenance, ``initial_ratio = 1``).
- ``rate``, ``dividend_yield[.SYM]``: as for ``finra-pm``.

Vectorisation
-------------
``scenario_profit`` and ``group_loss`` work on a ``ScenarioBook`` of parallel arrays, one row per
position, for one account or for many at once (the sweep groups rows by account x underlying), so
the per-portfolio policies below are thin wrappers over the same array code.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import numpy as np
from numpy.typing import NDArray

from risk.engine.parameters import PolicyParameters
from risk.engine.policies import policy_register
from risk.engine.portfolio import Instrument, Portfolio, PortfolioError, Position
from risk.engine.pricing import FloatArray, black_scholes
from risk.engine.result import Group, MarginResult, result_assemble

BoolArray = NDArray[np.bool_]
IndexArray = NDArray[np.intp]

DAYS_PER_YEAR = 365.0  # ACT/365 time to expiry
TRADING_DAYS_PER_YEAR = 252.0  # annualised volatility to daily, for the SPAN scan range
# Rows are revalued in blocks: 4,096 rows x 16 scenarios keeps every temporary in cache.
_BLOCK_ROWS = 4096
# Float64 sums carry noise far below a millionth of a currency unit; it is dropped before the
# requirement is rounded up to the minor unit, so 1,500 computed as 1500.0000000000002 stays 1,500.
_NOISE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class ScenarioBook:
    """Positions as parallel arrays, one row per position, for one account or for many."""

    group: IndexArray  # which group (class group, combined commodity) the row belongs to
    quantity: FloatArray  # signed: negative is short
    multiplier: FloatArray
    price: FloatArray  # the mark: the instrument's market price
    spot: FloatArray  # the underlying's price (the instrument's own for stock, ETFs, indices)
    is_option: BoolArray
    is_call: BoolArray
    american: BoolArray
    strike: FloatArray  # options only (0 elsewhere)
    years: FloatArray  # time to expiry, options only
    volatility: FloatArray  # of the underlying, options only
    rate: FloatArray
    dividend_yield: FloatArray


def scenario_profit(
    book: ScenarioBook,
    moves: FloatArray,
    volatility: FloatArray,
    elapsed_years: float = 0.0,
) -> FloatArray:
    """Profit (a loss is negative) of each row at each scenario, against the row's mark.

    ``moves[i, s]`` is the relative move of row i's underlying in scenario s (-0.15: 15 % down,
    never below -1); ``volatility[i, s]`` the volatility its option is revalued at;
    ``elapsed_years`` the time the scenario looks ahead.
    """
    profit = np.empty(moves.shape)
    scale = book.quantity * book.multiplier
    for start in range(0, scale.size, _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        move = moves[rows]
        mark = book.price[rows, None]
        value = mark * (1.0 + move)  # stock, ETFs and indices move with the scenario
        options = np.flatnonzero(book.is_option[rows])
        if options.size:
            picked = start + options
            spot = book.spot[picked, None] * (1.0 + move[options])
            strike = book.strike[picked, None]
            call = book.is_call[picked, None]
            theoretical = black_scholes(
                spot,
                strike,
                book.years[picked, None] - elapsed_years,
                volatility[picked],
                book.rate[picked, None],
                book.dividend_yield[picked, None],
                call,
            )
            intrinsic = np.maximum(np.where(call, spot - strike, strike - spot), 0.0)
            value[options] = np.where(
                book.american[picked, None], np.maximum(theoretical, intrinsic), theoretical
            )
        value -= mark
        value *= scale[rows, None]
        profit[rows] = value
    return profit


def group_loss(group: IndexArray, profit: FloatArray, groups: int) -> FloatArray:
    """Loss (positive) of each of ``groups`` groups at each scenario: its rows' profits summed."""
    totals = np.zeros((groups, profit.shape[1]))
    if group.size:
        if np.all(group[1:] >= group[:-1]):  # a sweep's book comes sorted: no copy needed
            ordered, rows = group, profit
        else:
            order = np.argsort(group, kind="stable")
            ordered, rows = group[order], profit[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        totals[ordered[starts]] = np.add.reduceat(rows, starts, axis=0)
    return -totals


def contract_units(book: ScenarioBook, groups: int) -> FloatArray:
    """Per group, |contracts| x multiplier summed over its options, long or short."""
    units = np.where(book.is_option, np.abs(book.quantity) * book.multiplier, 0.0)
    return np.bincount(book.group, weights=units, minlength=groups).astype(np.float64, copy=False)


def short_option_notional(book: ScenarioBook, groups: int) -> FloatArray:
    """Per group, the underlying's value behind its short options (contracts x multiplier x S)."""
    short = book.is_option & (book.quantity < 0)
    notional = np.where(short, -book.quantity * book.multiplier * book.spot, 0.0)
    return np.bincount(book.group, weights=notional, minlength=groups).astype(
        np.float64, copy=False
    )


# --- from a portfolio to a book ---------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """The portfolio's positions arranged by group, in order of first appearance."""

    underlyings: list[str]
    legs: list[list[Position]]
    group_of_position: list[int]


def _layout(portfolio: Portfolio) -> _Layout:
    underlyings: list[str] = []
    legs: list[list[Position]] = []
    index: dict[str, int] = {}
    group_of_position = []
    for position in portfolio.positions:
        underlying = portfolio.underlying_of(portfolio.instrument(position.symbol)).symbol
        if underlying not in index:
            index[underlying] = len(underlyings)
            underlyings.append(underlying)
            legs.append([])
        legs[index[underlying]].append(position)
        group_of_position.append(index[underlying])
    return _Layout(underlyings, legs, group_of_position)


def _volatility(portfolio: Portfolio, underlying: str, needed_by: str) -> Decimal:
    if underlying not in portfolio.volatility:
        raise PortfolioError(
            f"volatility.{underlying}", f"the volatility of {underlying} is needed by {needed_by}"
        )
    return portfolio.volatility[underlying]


def _book(portfolio: Portfolio, layout: _Layout, parameters: PolicyParameters) -> ScenarioBook:
    rate = parameters.value("rate", Decimal(0), low=Decimal(-1), high=Decimal(1))
    rows: list[tuple[float, ...]] = []
    for position, group in zip(portfolio.positions, layout.group_of_position, strict=True):
        instrument = portfolio.instrument(position.symbol)
        underlying = portfolio.underlying_of(instrument)
        dividend_yield = parameters.value(
            "dividend_yield", Decimal(0), symbol=underlying.symbol, low=Decimal(-1), high=Decimal(1)
        )
        strike = years = volatility = 0.0
        if instrument.strike is not None and instrument.expiry is not None:  # an option
            strike = float(instrument.strike)
            years = (instrument.expiry - portfolio.as_of).days / DAYS_PER_YEAR
            volatility = float(
                _volatility(portfolio, underlying.symbol, f"option {instrument.symbol}")
            )
        rows.append(
            (
                group,
                float(position.quantity),
                float(instrument.multiplier),
                float(instrument.price),
                float(underlying.price),
                instrument.is_option,
                instrument.right == "call",
                instrument.is_option and instrument.exercise_style == "american",
                strike,
                years,
                volatility,
                float(rate),
                float(dividend_yield),
            )
        )
    columns = list(zip(*rows, strict=True)) if rows else [()] * 13
    return ScenarioBook(
        group=np.asarray(columns[0], dtype=np.intp),
        quantity=np.asarray(columns[1], dtype=np.float64),
        multiplier=np.asarray(columns[2], dtype=np.float64),
        price=np.asarray(columns[3], dtype=np.float64),
        spot=np.asarray(columns[4], dtype=np.float64),
        is_option=np.asarray(columns[5], dtype=np.bool_),
        is_call=np.asarray(columns[6], dtype=np.bool_),
        american=np.asarray(columns[7], dtype=np.bool_),
        strike=np.asarray(columns[8], dtype=np.float64),
        years=np.asarray(columns[9], dtype=np.float64),
        volatility=np.asarray(columns[10], dtype=np.float64),
        rate=np.asarray(columns[11], dtype=np.float64),
        dividend_yield=np.asarray(columns[12], dtype=np.float64),
    )


def _per_row(book: ScenarioBook, per_group: list[Decimal]) -> FloatArray:
    """A per-group parameter spread onto the book's rows."""
    return np.array([float(value) for value in per_group], dtype=np.float64)[book.group]


def _decimal(amount: float) -> Decimal:
    """A float64 amount as a ``Decimal``, its binary noise (far below 1e-6) dropped."""
    return Decimal(amount).quantize(_NOISE_PLACES)


def _money(value: Decimal) -> str:
    """An amount for a rule's text, as a requirement is: rounded up to the cent, never below 0."""
    return format(max(value, Decimal(0)).quantize(Decimal("0.01"), rounding=ROUND_CEILING), "f")


def _is_index(instrument: Instrument) -> bool:
    return instrument.kind == "index" or instrument.underlying_class in (
        "narrow_index",
        "broad_index",
    )


# --- finra-pm ---------------------------------------------------------------------------------

FINRA_POINTS = 5  # valuation points on each side of the unchanged price: ten in all
_FINRA_FRACTIONS = np.linspace(-1.0, 1.0, 2 * FINRA_POINTS + 1)  # -5/5 … 0 … +5/5 of the range


def _finra_range(underlying: Instrument, parameters: PolicyParameters) -> tuple[Decimal, Decimal]:
    if underlying.underlying_class == "broad_index":
        down, up = Decimal("0.08"), Decimal("0.06")
    elif underlying.underlying_class == "leveraged_etf":
        down = up = Decimal("0.15") * underlying.leverage
    else:
        down = up = Decimal("0.15")
    down = parameters.value(
        "range_down",
        min(down, Decimal(1)),
        symbol=underlying.symbol,
        low=Decimal(0),
        high=Decimal(1),
    )
    up = parameters.value("range_up", up, symbol=underlying.symbol, low=Decimal(0))
    return down, up


@policy_register("finra-pm")
def finra_pm(portfolio: Portfolio) -> MarginResult:
    """FINRA 4210(g) portfolio margin: worst loss of each class group over the price range."""
    parameters = PolicyParameters(
        portfolio,
        policy="finra-pm",
        names=("range_down", "range_up", "minimum_per_contract", "rate", "dividend_yield"),
        per_symbol=("range_down", "range_up", "dividend_yield"),
    )
    minimum_rate = parameters.value("minimum_per_contract", Decimal("0.375"), low=Decimal(0))
    layout = _layout(portfolio)
    book = _book(portfolio, layout, parameters)
    ranges = [_finra_range(portfolio.instrument(u), parameters) for u in layout.underlyings]
    down = _per_row(book, [down for down, _ in ranges])
    up = _per_row(book, [up for _, up in ranges])
    fractions = _FINRA_FRACTIONS[None, :]
    moves = np.where(fractions < 0, fractions * down[:, None], fractions * up[:, None])
    losses = group_loss(
        book.group,
        scenario_profit(book, moves, np.repeat(book.volatility[:, None], fractions.size, axis=1)),
        len(layout.underlyings),
    )
    units = contract_units(book, len(layout.underlyings))
    groups = []
    for g, underlying in enumerate(layout.underlyings):
        worst = int(np.argmax(losses[g]))
        loss = _decimal(float(losses[g, worst]))
        fraction = Decimal(worst - FINRA_POINTS) / FINRA_POINTS
        move = fraction * (ranges[g][1] if fraction > 0 else ranges[g][0])
        minimum = minimum_rate * _decimal(float(units[g]))
        requirement = max(loss, minimum)
        rule = (
            f"FINRA 4210(g) class group {underlying}: greatest loss {_money(loss)} "
            f"at {underlying} {move:+.2%} (range -{ranges[g][0]:.2%} to +{ranges[g][1]:.2%})"
        )
        if minimum > loss:
            rule += f"; the ${minimum_rate} per-contract minimum, {_money(minimum)}, applies"
        groups.append(
            Group(
                strategy="max_loss",
                legs=[(p.symbol, p.quantity) for p in layout.legs[g]],
                initial=requirement,
                maintenance=requirement,
                rule=rule,
            )
        )
    return result_assemble(policy="finra-pm", portfolio=portfolio, groups=groups)


# --- span-like --------------------------------------------------------------------------------

_THIRD = 1.0 / 3.0
# Scenarios 1-14 pair each price move (in scan ranges) with the volatility up, then down;
# 15 and 16 are the extreme moves up and down (in extreme ranges) at unchanged volatility.
SPAN_PRICE_MOVES = np.concatenate(
    [np.repeat([0.0, _THIRD, -_THIRD, 2 * _THIRD, -2 * _THIRD, 1.0, -1.0], 2), [1.0, -1.0]]
)
SPAN_VOLATILITY_MOVES = np.concatenate([np.tile([1.0, -1.0], 7), [0.0, 0.0]])
SPAN_EXTREME = np.arange(16) >= 14
_SPAN_PRICE_LABELS = ("0", "+1/3", "-1/3", "+2/3", "-2/3", "+3/3", "-3/3")


@dataclass(frozen=True)
class SpanProduct:
    """The SPAN parameters of one combined commodity, as fractions of its underlying's price."""

    price_scan: Decimal
    volatility_shift: Decimal  # absolute, in volatility points
    extreme_multiple: Decimal
    extreme_weight: Decimal
    short_option_minimum: Decimal


def _span_product(
    portfolio: Portfolio, underlying: Instrument, parameters: PolicyParameters, *, options: bool
) -> SpanProduct:
    symbol = underlying.symbol
    index = _is_index(underlying)

    def value(name: str, default: str, high: Decimal | None = None) -> Decimal:
        return parameters.value(name, Decimal(default), symbol=symbol, low=Decimal(0), high=high)

    if parameters.given("price_scan", symbol=symbol):
        price_scan = value("price_scan", "0")
    else:
        sigma = _volatility(portfolio, symbol, f"span-like's default price scan range of {symbol}")
        sigmas = parameters.value("price_scan_sigmas", Decimal(6), low=Decimal(0))
        days = parameters.value("margin_period_days", Decimal(2), low=Decimal(0))
        scaled = sigmas * sigma * (days / Decimal(TRADING_DAYS_PER_YEAR)).sqrt()
        price_scan = max(scaled, value("price_scan_floor", "0.093" if index else "0.142"))
    volatility_shift = Decimal(0)
    if options:
        sigma = _volatility(portfolio, symbol, f"the options on {symbol}")
        volatility_shift = max(
            value("volatility_scan", "0.25") * sigma,
            value("volatility_scan_floor", "0.04" if index else "0.10"),
        )
    return SpanProduct(
        price_scan=price_scan,
        volatility_shift=volatility_shift,
        extreme_multiple=value("extreme_multiple", "2"),
        extreme_weight=value("extreme_weight", "0.35", high=Decimal(1)),
        short_option_minimum=value("short_option_minimum", "0.03" if index else "0.075"),
    )


def span_scenarios(
    book: ScenarioBook,
    price_scan: FloatArray,
    volatility_shift: FloatArray,
    extreme_multiple: FloatArray,
    extreme_weight: FloatArray,
    elapsed_years: float,
) -> FloatArray:
    """Each row's weighted profit at the 16 SPAN scenarios (per-row parameters, as fractions)."""
    multiples = np.where(SPAN_EXTREME[None, :], extreme_multiple[:, None], 1.0)
    moves = np.maximum(SPAN_PRICE_MOVES[None, :] * multiples * price_scan[:, None], -1.0)
    volatility = np.maximum(
        book.volatility[:, None] + SPAN_VOLATILITY_MOVES[None, :] * volatility_shift[:, None], 0.0
    )
    profit = scenario_profit(book, moves, volatility, elapsed_years)
    profit[:, SPAN_EXTREME] *= extreme_weight[:, None]
    return profit


def _span_label(scenario: int) -> str:
    if SPAN_EXTREME[scenario]:
        direction = "up" if SPAN_PRICE_MOVES[scenario] > 0 else "down"
        return f"scenario {scenario + 1} (extreme move {direction})"
    volatility = "up" if SPAN_VOLATILITY_MOVES[scenario] > 0 else "down"
    price = _SPAN_PRICE_LABELS[scenario // 2]
    return f"scenario {scenario + 1} (price {price} of the range, volatility {volatility})"


@policy_register("span-like")
def span_like(portfolio: Portfolio) -> MarginResult:
    """A SPAN-style 16-scenario grid per underlying, with the short option minimum."""
    per_symbol = (
        "price_scan",
        "price_scan_floor",
        "volatility_scan",
        "volatility_scan_floor",
        "extreme_multiple",
        "extreme_weight",
        "short_option_minimum",
        "dividend_yield",
    )
    parameters = PolicyParameters(
        portfolio,
        policy="span-like",
        names=(
            *per_symbol,
            "price_scan_sigmas",
            "margin_period_days",
            "lookahead_days",
            "initial_ratio",
            "rate",
        ),
        per_symbol=per_symbol,
    )
    lookahead = parameters.value("lookahead_days", Decimal(1), low=Decimal(0))
    initial_ratio = parameters.value("initial_ratio", Decimal("1.10"), low=Decimal(1))
    layout = _layout(portfolio)
    book = _book(portfolio, layout, parameters)
    products = [
        _span_product(
            portfolio,
            portfolio.instrument(underlying),
            parameters,
            options=any(portfolio.instrument(p.symbol).is_option for p in layout.legs[g]),
        )
        for g, underlying in enumerate(layout.underlyings)
    ]

    profit = span_scenarios(
        book,
        _per_row(book, [p.price_scan for p in products]),
        _per_row(book, [p.volatility_shift for p in products]),
        _per_row(book, [p.extreme_multiple for p in products]),
        _per_row(book, [p.extreme_weight for p in products]),
        float(lookahead) / DAYS_PER_YEAR,
    )
    losses = group_loss(book.group, profit, len(layout.underlyings))
    notional = short_option_notional(book, len(layout.underlyings))
    groups = []
    for g, underlying in enumerate(layout.underlyings):
        product = products[g]
        worst = int(np.argmax(losses[g]))
        scan_risk = _decimal(float(losses[g, worst]))
        minimum = product.short_option_minimum * _decimal(float(notional[g]))
        maintenance = max(scan_risk, minimum)
        rule = (
            f"SPAN scan risk {_money(scan_risk)} for {underlying} at {_span_label(worst)}, "
            f"price scan range {product.price_scan:.2%}"
        )
        if minimum > scan_risk:
            rule += f"; the short option minimum, {_money(minimum)}, applies"
        groups.append(
            Group(
                strategy="max_loss",
                legs=[(p.symbol, p.quantity) for p in layout.legs[g]],
                initial=maintenance * initial_ratio,
                maintenance=maintenance,
                rule=rule,
            )
        )
    return result_assemble(policy="span-like", portfolio=portfolio, groups=groups)
