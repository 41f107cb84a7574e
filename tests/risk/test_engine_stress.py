"""Stress tests: shocks on one portfolio and on the whole book agree, with losses that follow
from the shock by hand, and historical crashes at their published moves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from risk.engine.book import book_from_portfolios
from risk.engine.policies import margin_compute
from risk.engine.portfolio import PortfolioError, portfolio_parse
from risk.engine.stress import (
    DEFAULT_LADDER,
    HISTORICAL_SCENARIOS,
    Shock,
    book_stress,
    portfolio_stress,
    shock_apply,
    shock_scenario,
)
from tests.risk.cboe_builders import book, option, stock
from tests.risk.test_engine_book import books

VOLATILITY = {"XYZ": "0.30"}


def _portfolio(positions: dict[str, int], cash: str = "0", loan: str = "0", **extra: Any):
    instruments = [
        stock("XYZ", "50.00"),
        stock("ABC", "20.00"),
        option("XYZ C55", "XYZ", "call", "55", "1.20"),
        option("XYZ P45", "XYZ", "put", "45", "0.80"),
    ]
    return portfolio_parse(
        book(instruments, positions, cash=cash, loan=loan, volatility=VOLATILITY, **extra)
    )


def test_a_market_wide_fall_costs_long_stock_its_share_of_the_value() -> None:
    portfolio = _portfolio({"XYZ": 200, "ABC": 100}, cash="1000", loan="6000")
    (outcome,) = portfolio_stress(portfolio, [Shock("down 10%", market_move=Decimal("-0.10"))])
    assert outcome.loss == Decimal("1200.00")  # 10% of 200 x 50 + 100 x 20
    # after: equity 1000 - 6000 + 9000 + 1800 = 5800; maintenance 25% of 10,800 = 2700
    assert outcome.after.maintenance_requirement == Decimal("2700.00")
    assert outcome.after.margin_ratio == Decimal("2.1481")
    assert outcome.below == ()
    ladder = [("tight", Decimal("2.5")), ("loose", Decimal("2"))]
    (custom,) = portfolio_stress(
        portfolio, [Shock("down 10%", market_move=Decimal("-0.10"))], ladder=ladder
    )
    assert custom.below == ("tight",)


def test_a_per_underlying_move_wins_over_the_market_move() -> None:
    portfolio = _portfolio({"XYZ": 100, "ABC": 100})
    shock = Shock("XYZ only", market_move=Decimal("-0.5"), moves={"XYZ": Decimal(0)})
    moved = shock_apply(portfolio, shock)
    assert moved.instruments["XYZ"].price == Decimal("50.00")
    assert moved.instruments["ABC"].price == Decimal("10.0000")


def test_options_follow_the_model_and_a_put_gains_when_the_market_falls() -> None:
    portfolio = _portfolio({"XYZ": 100, "XYZ P45": 1})
    moved = shock_apply(portfolio, Shock("crash", market_move=Decimal("-0.20")))
    put = moved.instruments["XYZ P45"].price
    assert put >= Decimal(5)  # at least its intrinsic value at 40 (American)
    (outcome,) = portfolio_stress(portfolio, [Shock("crash", market_move=Decimal("-0.20"))])
    stock_loss = Decimal(1000)
    assert outcome.loss == stock_loss - (put - Decimal("0.80")) * 100
    assert outcome.loss < stock_loss  # the protective put pays


def test_a_volatility_shift_raises_a_long_options_value_and_needs_a_volatility() -> None:
    portfolio = _portfolio({"XYZ C55": 1})
    moved = shock_apply(portfolio, Shock("vol up", volatility_shift=Decimal("0.10")))
    assert moved.instruments["XYZ C55"].price > Decimal("1.20")
    assert moved.volatility["XYZ"] == Decimal("0.40")
    without = portfolio_parse(
        book(
            [stock("XYZ", "50.00"), option("XYZ C55", "XYZ", "call", "55", "1.20")],
            {"XYZ C55": 1},
        )
    )
    unchanged = shock_apply(without, Shock("vol up", volatility_shift=Decimal("0.10")))
    assert unchanged.instruments["XYZ C55"].price == Decimal("1.20")


def test_the_ladder_names_every_line_a_leveraged_account_falls_under() -> None:
    # 100 XYZ at 50 on a loan of 3,500: equity 1,500 on a 1,250 maintenance (ratio 1.2).
    portfolio = _portfolio({"XYZ": 100}, loan="3500")
    assert margin_compute(portfolio).margin_ratio == Decimal("1.2000")
    (calm, dip, crash) = portfolio_stress(
        portfolio,
        [
            Shock("flat"),
            Shock("-10%", market_move=Decimal("-0.10")),
            Shock("-20%", market_move=Decimal("-0.20")),
        ],
    )
    assert calm.below == ("warning",)
    # at 45: equity 1,000 on a 1,125 maintenance: ratio 0.8889
    assert dip.below == ("warning", "margin_call", "deleverage")
    # at 40: equity 500 on 1,000: ratio 0.5, under every line
    assert crash.below == tuple(name for name, _ in DEFAULT_LADDER)


def test_historical_scenarios_carry_the_published_moves() -> None:
    moves = {shock.name[:10]: shock.market_move for shock in HISTORICAL_SCENARIOS}
    assert moves == {
        "1987-10-19": Decimal("-0.2047"),
        "2008-10-15": Decimal("-0.0903"),
        "2020-03-16": Decimal("-0.1198"),
        "2015-08-24": Decimal("-0.0849"),
    }
    portfolio = _portfolio({"XYZ": 100})
    (outcome,) = portfolio_stress(portfolio, [shock_scenario("1987-10-19")])
    assert outcome.loss == Decimal("1023.50")  # 20.47% of 5,000
    with pytest.raises(PortfolioError):
        shock_scenario("1929-10-28")


def test_a_fall_beyond_everything_is_refused() -> None:
    with pytest.raises(PortfolioError) as refused:
        shock_apply(_portfolio({"XYZ": 1}), Shock("impossible", market_move=Decimal("-1.5")))
    assert refused.value.field == "shock.moves.XYZ"


@hypothesis_settings(max_examples=40, deadline=None)
@given(
    books(size=6),
    st.sampled_from(["cboe-strategy", "span-like"]),
    st.sampled_from(["-0.2047", "-0.0849", "0.07"]),
    st.sampled_from(["0", "0.1", "-0.05"]),
)
def test_the_book_stress_is_the_portfolio_stress_of_every_account(
    documents: list[dict], policy: str, move: str, shift: str
) -> None:
    portfolios = [portfolio_parse(d) for d in documents]
    book_ = book_from_portfolios(portfolios)
    shock = Shock("test", market_move=Decimal(move), volatility_shift=Decimal(shift))
    prices = book_.price.copy()
    stressed = book_stress(book_, shock, policy=policy)
    assert np.array_equal(book_.price, prices)  # the book is left as it was
    for index, portfolio in enumerate(portfolios):
        (outcome,) = portfolio_stress(portfolio, [shock], policy=policy)
        assert abs(stressed.loss[index] - float(outcome.loss)) < 1e-6
        expected_line = (
            max(i for i, (n, _) in enumerate(DEFAULT_LADDER) if n in outcome.below)
            if outcome.below
            else -1
        )
        assert stressed.line[index] == expected_line
    assert abs(stressed.book_loss - float(sum(stressed.loss))) < 1e-6
