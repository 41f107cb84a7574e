"""The option pricer against Hull's textbook values and against QuantLib, an independent library.

Hull's figures are quoted to the cent, so they pin the formulas; QuantLib (its analytic European
engine on a Black-Scholes-Merton process, and its ``blackFormula``) pins every digit.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from risk.engine.pricing import black76, black_scholes, normal_cdf
from tests.risk.quantlib_prices import quantlib_european

# --- Hull, "Options, Futures, and Other Derivatives" (8th ed.) ---------------------------------


def test_it_prices_hulls_stock_option_example() -> None:
    # Example 15.6: S0 = 42, K = 40, r = 10 %, sigma = 20 %, six months: c = 4.76, p = 0.81.
    call, put = black_scholes(42.0, 40.0, 0.5, 0.2, 0.1, 0.0, np.array([True, False]))
    assert round(call, 2) == 4.76
    assert round(put, 2) == 0.81


def test_it_prices_hulls_index_option_with_a_dividend_yield() -> None:
    # Example 17.1: a two-month call on an index at 930, strike 900, r = 8 %, sigma = 20 %, dividend
    # yield 3 %: c = 51.83.
    assert round(float(black_scholes(930.0, 900.0, 2 / 12, 0.2, 0.08, 0.03, True)), 2) == 51.83


def test_it_prices_hulls_futures_option_with_blacks_model() -> None:
    # Chapter 18 (Black's model): a four-month European put on a futures price of 20, strike 20,
    # r = 9 %, sigma = 25 %: p = 1.12.
    assert round(float(black76(20.0, 20.0, 4 / 12, 0.25, 0.09, False)), 2) == 1.12


# --- QuantLib, every digit ---------------------------------------------------------------------


def test_black_scholes_matches_quantlib_across_a_grid() -> None:
    rng = np.random.default_rng(20261126)
    n = 400
    spot = rng.uniform(5, 500, n)
    strike = spot * rng.uniform(0.5, 1.5, n)
    days = rng.integers(1, 3 * 365, n)
    vol = rng.uniform(0.05, 1.2, n)
    rate = rng.uniform(-0.01, 0.08, n)
    dividend = rng.uniform(0, 0.06, n)
    call = rng.random(n) < 0.5
    engine = black_scholes(spot, strike, days / 365.0, vol, rate, dividend, call)
    reference = np.array(
        [
            quantlib_european(
                float(spot[i]),
                float(strike[i]),
                int(days[i]),
                float(vol[i]),
                float(rate[i]),
                float(dividend[i]),
                bool(call[i]),
            )
            for i in range(n)
        ]
    )
    np.testing.assert_allclose(engine, reference, rtol=1e-10, atol=1e-10 * spot.max())


def test_black76_matches_quantlib_black_formula() -> None:
    rng = np.random.default_rng(76)
    n = 400
    forward = rng.uniform(5, 5000, n)
    strike = forward * rng.uniform(0.5, 1.5, n)
    years = rng.uniform(0.01, 3, n)
    vol = rng.uniform(0.05, 1.2, n)
    rate = rng.uniform(0, 0.08, n)
    call = rng.random(n) < 0.5
    engine = black76(forward, strike, years, vol, rate, call)
    reference = np.array(
        [
            ql.blackFormula(
                ql.Option.Call if c else ql.Option.Put, k, f, s * math.sqrt(t), math.exp(-r * t)
            )
            for f, k, t, s, r, c in zip(forward, strike, years, vol, rate, call, strict=True)
        ]
    )
    np.testing.assert_allclose(engine, reference, rtol=1e-10, atol=1e-10 * forward.max())


# --- limits and invariants ---------------------------------------------------------------------


def test_normal_cdf_is_accurate_to_double_precision() -> None:
    x = np.linspace(-38, 38, 20001)
    reference = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    assert np.max(np.abs(normal_cdf(x) - reference)) < 1e-15
    tail = x < -5  # relative accuracy where the probabilities are tiny
    np.testing.assert_allclose(normal_cdf(x[tail]), reference[tail], rtol=1e-7)


def test_normal_cdf_limits() -> None:
    values = normal_cdf(np.array([-np.inf, np.inf, 0.0, np.nan]))
    assert values[0] == 0.0
    assert values[1] == 1.0
    assert values[2] == 0.5
    assert np.isnan(values[3])


def test_expired_or_riskless_options_are_worth_their_discounted_intrinsic_value() -> None:
    # T = 0: what exercise yields; sigma = 0: the forward's intrinsic value, discounted.
    assert black_scholes(110.0, 100.0, 0.0, 0.3, 0.05, 0.0, True) == pytest.approx(10.0)
    assert black_scholes(90.0, 100.0, 0.0, 0.3, 0.05, 0.0, True) == 0.0
    forward = 100.0 * math.exp(0.05)
    assert black_scholes(100.0, 90.0, 1.0, 0.0, 0.05, 0.0, True) == pytest.approx(
        math.exp(-0.05) * (forward - 90.0)
    )


def test_an_underlying_at_zero_gives_the_limits_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        call, put = black76(0.0, 50.0, 1.0, 0.3, 0.02, np.array([True, False]))
    assert call == 0.0
    assert put == pytest.approx(50.0 * math.exp(-0.02))


def test_it_broadcasts_like_a_ufunc() -> None:
    spot = np.linspace(80, 120, 5)[:, None]  # rows: positions; columns: scenarios
    vol = np.array([[0.2, 0.3, 0.4]])
    assert black_scholes(spot, 100.0, 0.5, vol, 0.01, 0.0, True).shape == (5, 3)


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    spot=st.floats(1, 1000),
    moneyness=st.floats(0.3, 3),
    years=st.floats(0, 5),
    vol=st.floats(0, 2),
    rate=st.floats(-0.02, 0.15),
    dividend=st.floats(0, 0.1),
)
def test_put_call_parity(
    spot: float, moneyness: float, years: float, vol: float, rate: float, dividend: float
) -> None:
    strike = spot * moneyness
    call, put = black_scholes(spot, strike, years, vol, rate, dividend, np.array([True, False]))
    parity = spot * math.exp(-dividend * years) - strike * math.exp(-rate * years)
    assert call - put == pytest.approx(parity, abs=1e-9 * max(spot, strike))
    assert call >= 0
    assert put >= 0
