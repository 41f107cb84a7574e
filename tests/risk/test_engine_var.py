"""VaR by historical simulation and the volatility add-on, against numbers worked by hand."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from risk.engine.portfolio import PortfolioError, portfolio_parse
from risk.engine.var import (
    historical_var,
    holding_returns,
    portfolio_var,
    volatility_addon_rate,
)
from tests.risk.cboe_builders import book, option, stock


def test_the_var_is_the_kth_largest_loss() -> None:
    # 250 scenarios, losses 1..250: at 99% k = floor(2.5) + 1 = 3, the third largest loss.
    pnl = -np.arange(1, 251, dtype=float)
    assert historical_var(pnl, 0.99) == 248.0
    # 100 scenarios at 99%: more than one loss beyond it would exceed 1%: the second largest
    assert historical_var(-np.arange(1, 101, dtype=float), 0.99) == 99.0
    assert historical_var(np.ones(50), 0.99) == 0.0  # gains only: no VaR


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=20, max_size=300),
    st.sampled_from([0.95, 0.99, 0.995]),
)
def test_var_leaves_at_most_the_tail_beyond_it(pnl: list[float], confidence: float) -> None:
    var = historical_var(pnl, confidence)
    beyond = sum(1 for p in pnl if -p > var)
    assert beyond <= len(pnl) * (1 - confidence) + 1e-9
    assert historical_var(pnl, 0.999) >= historical_var(pnl, 0.95)
    assert historical_var([2 * p for p in pnl], confidence) == pytest.approx(2 * var)


def test_holding_period_returns_overlap() -> None:
    returns = holding_returns([100, 110, 99, 99], holding_days=2)
    assert returns[:, 0] == pytest.approx([-0.01, -0.1])


def test_portfolio_var_revalues_stock_by_its_history() -> None:
    portfolio = portfolio_parse(book([stock("XYZ", "50.00")], {"XYZ": 100}))
    history = [Decimal(p) for p in ("100", "95", "100", "90", "99", "99")]
    # one-day changes: -5%, +5.26%, -10%, +10%, 0; 5 scenarios at 80%: k = floor(1) + 1 = 2
    var = portfolio_var(portfolio, {"XYZ": history}, confidence=0.8, holding_days=1)
    assert var == Decimal("250.00")  # 5% of 5,000
    with pytest.raises(PortfolioError) as refused:
        portfolio_var(portfolio, {}, holding_days=1)
    assert refused.value.field == "history.XYZ"


def test_a_protective_put_lowers_the_var() -> None:
    instruments = [stock("XYZ", "50.00"), option("XYZ P50", "XYZ", "put", "50", "2.00")]
    history = [50.0 * math.exp(0.03 * math.sin(i)) for i in range(60)]
    history[30] = history[29] * 0.7  # a crash day
    bare = portfolio_parse(book(instruments, {"XYZ": 100}, volatility={"XYZ": "0.3"}))
    hedged = portfolio_parse(
        book(instruments, {"XYZ": 100, "XYZ P50": 1}, volatility={"XYZ": "0.3"})
    )
    assert portfolio_var(hedged, {"XYZ": history}, holding_days=1) < portfolio_var(
        bare, {"XYZ": history}, holding_days=1
    )


def test_the_addon_rate_is_k_sigma_with_a_floor() -> None:
    # log returns alternating +r, -r: sample sigma = r * sqrt(n / (n - 1))
    r = 0.02
    prices = [100.0]
    for i in range(10):
        prices.append(prices[-1] * math.exp(r if i % 2 == 0 else -r))
    sigma = r * math.sqrt(10 / 9)
    rate = volatility_addon_rate(prices, k=Decimal("3.5"), floor=Decimal("0.05"))
    assert rate == pytest.approx(Decimal(str(3.5 * sigma)), abs=Decimal("0.000002"))
    flat = [100.0 * 1.001**i for i in range(30)]  # constant growth: sigma 0
    assert volatility_addon_rate(flat, k=Decimal("3.5"), floor=Decimal("0.075")) == Decimal(
        "0.075000"
    )
    two_days = volatility_addon_rate(prices, k=Decimal("3.5"), floor=Decimal(0), holding_days=2)
    assert two_days == pytest.approx(Decimal(str(3.5 * sigma * math.sqrt(2))), abs=Decimal("2e-6"))


def test_the_ewma_addon_weights_recent_returns() -> None:
    prices = [100.0] * 20 + [100.0, 110.0]  # one big move at the end
    lam = 0.94
    rate = volatility_addon_rate(prices, k=Decimal(1), floor=Decimal(0), ewma_lambda=lam)
    expected = math.sqrt((1 - lam) * math.log(1.1) ** 2)
    assert rate == pytest.approx(Decimal(str(expected)), abs=Decimal("2e-6"))
    with pytest.raises(PortfolioError):
        volatility_addon_rate(prices, k=Decimal(1), floor=Decimal(0), ewma_lambda=1.5)


def test_bad_histories_are_refused() -> None:
    with pytest.raises(PortfolioError):
        holding_returns([100.0], 1)
    with pytest.raises(PortfolioError):
        holding_returns([100.0, -1.0, 3.0], 1)
    with pytest.raises(PortfolioError):
        historical_var([1.0], 1.5)
