"""Value at risk by historical simulation, and the volatility add-on rate.

Historical simulation (EMIR RTS 153/2013 art. 24-26: 99 % for listed instruments, a two-day
liquidation period; research notes section 5): the portfolio is revalued under every
``holding_days``-day price change observed in the history, the profit and loss of each scenario
is the sum over positions, and the VaR is the loss at the confidence level.

- ``holding_returns(prices, holding_days)``: overlapping relative changes
  ``P[t + h] / P[t] - 1`` of each column (one column per underlying, rows oldest first).
- ``historical_var(pnl, confidence)``: the loss that is exceeded in no more than ``1 -
  confidence`` of the scenarios: with N scenarios, the k-th largest loss, k = floor(N (1 - c)) + 1
  (250 scenarios at 99 %: the third largest). Never below zero (a book that gains in every
  scenario has no VaR).
- ``portfolio_var(portfolio, history, ...)``: full revaluation of one portfolio: stock moves with
  its underlying, options are revalued as the stress tests revalue them (``stress``: the
  Black-Scholes change at the portfolio's volatility added to the mark, floored at intrinsic
  value for American options; intrinsic value when no volatility is known).
- ``volatility_addon_rate(prices, k, floor, ...)``: the dynamic add-on rate max(floor, k x sigma),
  sigma the standard deviation of daily log returns (sample, or exponentially weighted with
  ``ewma_lambda``, RiskMetrics' 0.94 being usual) scaled to the holding period by sqrt(h): NSE's
  VaR margin is 3.5 sigma with a floor (research notes section 5). Rounded up to a millionth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal

import numpy as np
from numpy.typing import ArrayLike

from risk.engine.book import FloatArray
from risk.engine.portfolio import Portfolio, PortfolioError
from risk.engine.scenario import DAYS_PER_YEAR
from risk.engine.stress import _option_prices

RATE_PLACES = Decimal("0.000001")


def _history(prices: ArrayLike, where: str) -> FloatArray:
    values = np.asarray(prices, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] < 2:
        raise PortfolioError(where, "a price history needs at least two prices")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise PortfolioError(where, "prices must be positive numbers")
    return values


def holding_returns(prices: ArrayLike, holding_days: int = 1) -> FloatArray:
    """Overlapping ``holding_days`` relative changes, one row per scenario, one column per
    series (a 1-D history gives one column)."""
    if holding_days < 1:
        raise PortfolioError("holding_days", "must be at least 1")
    values = _history(prices, "prices")
    if values.shape[0] <= holding_days:
        raise PortfolioError("prices", f"fewer than {holding_days + 1} prices")
    return values[holding_days:] / values[:-holding_days] - 1.0


def historical_var(pnl: ArrayLike, confidence: float = 0.99) -> float:
    """The historical-simulation VaR of scenario profits ``pnl`` (a loss is negative)."""
    if not 0 < confidence < 1:
        raise PortfolioError("confidence", "must be between 0 and 1")
    values = np.asarray(pnl, dtype=np.float64).ravel()
    if values.size == 0:
        raise PortfolioError("pnl", "no scenarios")
    k = math.floor(values.size * (1 - confidence) + 1e-9) + 1
    losses = np.sort(-values)[::-1]
    return max(float(losses[min(k, values.size) - 1]), 0.0)


def portfolio_var(
    portfolio: Portfolio,
    history: Mapping[str, Sequence[Decimal] | FloatArray],
    *,
    confidence: float = 0.99,
    holding_days: int = 2,
) -> Decimal:
    """One portfolio's VaR from the price ``history`` of each underlying it holds (same dates,
    oldest first), by full revaluation; rounded up to the cent.

    Options are revalued at their current time to expiry (no decay over the holding period)."""
    underlyings = sorted(
        {
            portfolio.underlying_of(portfolio.instruments[p.symbol]).symbol
            for p in portfolio.positions
        }
    )
    if not underlyings:
        return Decimal(0)
    missing = [u for u in underlyings if u not in history]
    if missing:
        raise PortfolioError(f"history.{missing[0]}", f"no price history for {missing[0]}")
    lengths = {len(history[u]) for u in underlyings}
    if len(lengths) != 1:
        raise PortfolioError("history", "every underlying needs the same dates")
    columns = np.column_stack(
        [_history([float(p) for p in history[u]], f"history.{u}")[:, 0] for u in underlyings]
    )
    returns = holding_returns(columns, holding_days)  # scenarios x underlyings
    column = {u: i for i, u in enumerate(underlyings)}
    pnl = np.zeros(returns.shape[0])
    for position in portfolio.positions:
        instrument = portfolio.instruments[position.symbol]
        underlying = portfolio.underlying_of(instrument)
        move = returns[:, column[underlying.symbol]]
        spot = float(underlying.price)
        scale = float(position.quantity * instrument.multiplier)
        if not instrument.is_option:
            pnl += scale * float(instrument.price) * move
            continue
        assert instrument.strike is not None and instrument.expiry is not None
        volatility = portfolio.volatility.get(underlying.symbol)
        sigma = float(volatility) if volatility is not None else float("nan")
        size = move.size
        after = _option_prices(
            np.full(size, float(instrument.price)),
            np.full(size, spot),
            spot * (1.0 + move),
            np.full(size, float(instrument.strike)),
            np.full(size, (instrument.expiry - portfolio.as_of).days / DAYS_PER_YEAR),
            np.full(size, sigma),
            np.full(size, sigma),
            np.full(size, instrument.right == "call"),
            np.full(size, instrument.exercise_style == "american"),
        )
        pnl += scale * (after - float(instrument.price))
    var = historical_var(pnl, confidence)
    # the float sums' noise (far below a millionth) is dropped before rounding up to the cent
    noiseless = Decimal(var).quantize(Decimal("0.000001"))
    return noiseless.quantize(Decimal("0.01"), rounding=ROUND_CEILING)


def volatility_addon_rate(
    prices: ArrayLike,
    *,
    k: Decimal,
    floor: Decimal,
    holding_days: int = 1,
    ewma_lambda: float | None = None,
) -> Decimal:
    """max(floor, k x sigma x sqrt(holding_days)), sigma the daily log-return volatility."""
    values = _history(prices, "prices")[:, 0]
    if values.size < 3:
        raise PortfolioError("prices", "at least three prices are needed for a volatility")
    if holding_days < 1:
        raise PortfolioError("holding_days", "must be at least 1")
    returns = np.diff(np.log(values))
    if ewma_lambda is None:
        sigma = float(np.std(returns, ddof=1))
    else:
        if not 0 < ewma_lambda < 1:
            raise PortfolioError("ewma_lambda", "must be between 0 and 1")
        # RiskMetrics: sigma^2_t = lambda sigma^2_{t-1} + (1 - lambda) r^2_t, seeded with r_1^2
        variance = float(returns[0] ** 2)
        for r in returns[1:]:
            variance = ewma_lambda * variance + (1 - ewma_lambda) * float(r) ** 2
        sigma = math.sqrt(variance)
    scaled = Decimal(repr(sigma * math.sqrt(holding_days)))
    rate = max(floor, k * scaled)
    return rate.quantize(RATE_PLACES, rounding=ROUND_CEILING)
