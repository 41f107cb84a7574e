"""What-if: orders applied, liquidation prices and the largest order, against numbers worked
by hand from the rule book and against the engine at the neighbouring cent or share."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from risk.engine.policies import margin_compute
from risk.engine.portfolio import PortfolioError, portfolio_parse
from risk.engine.stress import portfolio_reprice
from risk.engine.whatif import (
    Order,
    liquidation_prices,
    max_quantity,
    orders_apply,
    what_if,
)
from tests.risk.cboe_builders import book, option, stock

CENT = Decimal("0.01")


def _portfolio(positions: dict[str, int], *, cash: str = "0", loan: str = "0"):
    instruments = [
        stock("XYZ", "50.00"),
        stock("ABC", "20.00"),
        option("XYZ C55", "XYZ", "call", "55", "1.20"),
        option("XYZ P45", "XYZ", "put", "45", "0.80"),
    ]
    return portfolio_parse(book(instruments, positions, cash=cash, loan=loan))


def _ratio_at(portfolio, symbol: str, price: Decimal) -> Decimal | None:
    return margin_compute(portfolio_reprice(portfolio, {symbol: price})).margin_ratio


def test_a_fill_at_the_mark_moves_cash_not_equity() -> None:
    portfolio = _portfolio({"XYZ": 100}, cash="10000")
    after = orders_apply(portfolio, [Order("XYZ C55", Decimal(-1)), Order("ABC", Decimal(50))])
    assert after.cash == Decimal("10000") + Decimal("120.00") - Decimal("1000.00")
    assert margin_compute(after).equity == margin_compute(portfolio).equity
    assert {p.symbol: p.quantity for p in after.positions} == {
        "XYZ": 100,
        "XYZ C55": -1,
        "ABC": 50,
    }
    closed = orders_apply(portfolio, [Order("XYZ", Decimal(-100), Decimal("51"))])
    assert closed.positions == ()
    assert closed.cash == Decimal("15100")


def test_orders_naming_unknown_symbols_or_nothing_are_refused() -> None:
    portfolio = _portfolio({"XYZ": 100})
    with pytest.raises(PortfolioError) as refused:
        orders_apply(portfolio, [Order("XYZ", Decimal(1)), Order("NOPE", Decimal(1))])
    assert refused.value.field == "orders[1].symbol"
    with pytest.raises(PortfolioError) as refused:
        orders_apply(portfolio, [Order("XYZ", Decimal(0))])
    assert refused.value.field == "orders[0].quantity"


def test_long_stock_on_a_loan_is_liquidated_where_equity_meets_25_percent() -> None:
    # 100 XYZ on a loan of 3,000: equity 100 P - 3,000 falls under 25 x P at P = 40.
    portfolio = _portfolio({"XYZ": 100}, loan="3000")
    (found,) = liquidation_prices(portfolio)
    assert found.down == Decimal("39.99")
    assert found.up is None
    assert _ratio_at(portfolio, "XYZ", Decimal("40.00")) == Decimal(1)  # at the line, not under


def test_short_stock_is_liquidated_on_a_rise() -> None:
    # short 100 XYZ at 50 with 6,500 in cash: equity 6,500 - 100 P under 30 x P at P = 50.
    portfolio = _portfolio({"XYZ": -100}, cash="6500")
    (found,) = liquidation_prices(portfolio)
    assert found.up == Decimal("50.01")
    assert found.down is None


@hypothesis_settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(
        [
            {"XYZ": 200, "XYZ C55": -2},
            {"XYZ": 100, "XYZ P45": 1},
            {"XYZ": 300},
            {"XYZ": 100, "ABC": 150, "XYZ C55": -1},
            {"XYZ": -100, "ABC": 300},
        ]
    ),
    st.integers(-3000, 9000),
    st.sampled_from([Decimal(1), Decimal("1.3")]),
)
def test_the_liquidation_price_is_the_engines_crossing_to_the_cent(
    positions: dict[str, int], loan: int, line: Decimal
) -> None:
    portfolio = _portfolio(positions, loan=str(max(loan, 0)), cash=str(max(-loan, 0)))
    (found,) = liquidation_prices(portfolio, line=line, underlyings=["XYZ"])
    if found.down is not None and found.down != found.current:
        below = _ratio_at(portfolio, "XYZ", found.down)
        above = _ratio_at(portfolio, "XYZ", found.down + CENT)
        assert below is not None and below < line
        assert above is None or above >= line
    if found.up is not None and found.up != found.current:
        below = _ratio_at(portfolio, "XYZ", found.up)
        under = _ratio_at(portfolio, "XYZ", found.up - CENT)
        assert below is not None and below < line
        assert under is None or under >= line


def test_an_account_already_below_the_line_is_liquidated_where_it_stands() -> None:
    portfolio = _portfolio({"XYZ": 100}, loan="4500")
    (found,) = liquidation_prices(portfolio)
    assert found.down == found.up == Decimal("50.00")


def test_what_if_returns_before_after_and_liquidation() -> None:
    portfolio = _portfolio({"XYZ": 100}, cash="2500")
    result = what_if(portfolio, [Order("XYZ", Decimal(100))])
    assert result.before.initial_requirement == Decimal("2500.00")
    assert result.after.initial_requirement == Decimal("5000.00")
    assert result.after.equity == result.before.equity == Decimal("7500.00")
    (found,) = result.liquidation
    # cash -2,500 and 200 XYZ: 200 P - 2,500 = 50 P at P = 16.67
    assert found.down == (Decimal(2500) / 150).quantize(CENT, rounding=ROUND_FLOOR)


@pytest.mark.parametrize("cash", ["1000", "2500", "12345.67"])
def test_max_quantity_of_stock_is_twice_the_cash_over_the_price(cash: str) -> None:
    portfolio = _portfolio({}, cash=cash)
    expected = int((Decimal(cash) * 2 / Decimal(20)).to_integral_value(rounding=ROUND_FLOOR))
    assert max_quantity(portfolio, "ABC") == expected


@hypothesis_settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(["XYZ P45", "XYZ C55", "XYZ", "ABC"]),
    st.sampled_from([1, -1]),
    st.integers(0, 40000),
)
def test_max_quantity_fits_and_one_more_does_not(symbol: str, side: int, cash: int) -> None:
    portfolio = _portfolio({"XYZ": 200}, cash=str(cash))
    found = max_quantity(portfolio, symbol, side=side, limit=100_000)

    def excess(quantity: int) -> Decimal:
        order = Order(symbol, Decimal(side * quantity))
        return margin_compute(orders_apply(portfolio, [order])).excess_initial

    if found:
        assert excess(found) >= 0
    if found < 100_000:
        assert excess(found + 1) < 0


def test_max_quantity_refuses_bad_questions() -> None:
    portfolio = _portfolio({}, cash="100")
    with pytest.raises(PortfolioError) as refused:
        max_quantity(portfolio, "NOPE")
    assert refused.value.field == "symbol"
    with pytest.raises(PortfolioError):
        max_quantity(portfolio, "XYZ", side=2)
    assert max_quantity(_portfolio({}, cash="0"), "XYZ") == 0
