"""The book sweep gives, account by account, what ``margin_compute`` gives for that account.

Random books of accounts sharing one option chain (prices drawn freely, arbitrage allowed, so
the closed forms' refusals are exercised too), in the shapes the closed forms cover and in shapes
they do not: requirements must be equal to the cent, the ratios to the fourth place. The
incremental re-mark must land where a full sweep at the new prices lands.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from risk.engine.book import BookAccount, book_build, book_from_portfolios
from risk.engine.policies import margin_compute
from risk.engine.portfolio import PortfolioError, Position, portfolio_parse
from risk.engine.sweep import account_figures, account_result, sweep_full, sweep_remark
from risk.engine.sweep_cboe import PATTERN_NAMES
from tests.risk.cboe_builders import AS_OF, FAR, NEAR, book, option, stock

MID = "2026-06-19"
UNDERLYINGS = ("20.00", "47.50", "100.00", "233.10", "4.20", "61.2345")


@st.composite
def chains(draw: Any) -> tuple[list[dict], list[str]]:
    """One underlying and a chain of options on it."""
    price = Decimal(draw(st.sampled_from(UNDERLYINGS)))
    kind = draw(st.sampled_from(["equity", "equity", "broad_index", "leveraged_etf"]))
    if kind == "broad_index":
        underlying = {"symbol": "U", "kind": "index", "price": str(price), "underlying_class": kind}
    elif kind == "leveraged_etf":
        underlying = {**stock("U", str(price)), "kind": "etf", "underlying_class": kind}
        underlying["leverage"] = draw(st.sampled_from(["2", "3", "1.5"]))
    else:
        underlying = stock("U", str(price))
    instruments = [underlying]
    expiry = draw(st.sampled_from([NEAR, MID, FAR]))
    for index in range(draw(st.integers(4, 8))):
        right = "call" if index % 2 else "put"
        strike = (price * draw(st.integers(70, 130)) / 100).quantize(Decimal("0.5"))
        cents = draw(st.integers(1, max(2, int(price * 25))))
        premium = Decimal(cents) / 100
        if draw(st.integers(0, 9)) == 0:
            premium += Decimal(draw(st.integers(1, 99))) / 10_000
        instruments.append(
            option(
                f"O{index}",
                "U",
                right,
                str(strike),
                str(premium),
                expiry=expiry if draw(st.integers(0, 4)) else draw(st.sampled_from([NEAR, FAR])),
                exercise_style=draw(st.sampled_from(["american"] * 4 + ["european"])),
                multiplier=draw(st.sampled_from([100] * 6 + [10, 50])),
            )
        )
    return instruments, [i["symbol"] for i in instruments[1:]]


def _of(instruments: list[dict], right: str) -> list[str]:
    return [i["symbol"] for i in instruments[1:] if i["right"] == right]


@st.composite
def accounts(draw: Any, instruments: list[dict]) -> dict[str, int]:
    """One account's positions, in one of the common shapes or anything else."""
    calls, puts = _of(instruments, "call"), _of(instruments, "put")
    options = calls + puts
    shape = draw(
        st.sampled_from(
            ["stock", "family", "lone", "straddle", "vertical", "condor", "butterfly", "any"]
        )
    )
    n = draw(st.sampled_from([1, 1, 2, 3, 5]))
    shares = draw(st.sampled_from([0, 100, 200, 300, 150, 1000]))
    positions: dict[str, int] = {}
    if shape == "stock":
        positions["U"] = draw(st.sampled_from([100, -100, 250, -37, 1000, 5]))
    elif shape == "family":
        if shares:
            positions["U"] = shares
        if calls and draw(st.booleans()):
            positions[draw(st.sampled_from(calls))] = -n
        if puts and draw(st.booleans()):
            positions[draw(st.sampled_from(puts))] = draw(st.sampled_from([1, 2, n]))
    elif shape == "lone":
        if shares:
            positions["U"] = shares
        if draw(st.booleans()) and puts:
            positions[draw(st.sampled_from(puts))] = -n
        elif calls:
            positions[draw(st.sampled_from(calls))] = n
    elif shape == "straddle" and calls and puts:
        positions[draw(st.sampled_from(calls))] = -n
        positions[draw(st.sampled_from(puts))] = -draw(st.sampled_from([n, 1, 2]))
    elif shape == "vertical":
        chain = draw(st.sampled_from([c for c in (calls, puts) if len(c) >= 2] or [options]))
        if len(chain) >= 2:
            short, long = draw(st.permutations(chain))[:2]
            positions[short], positions[long] = -n, n
    elif shape == "condor" and len(calls) >= 2 and len(puts) >= 2:
        strike = {i["symbol"]: Decimal(i["strike"]) for i in instruments[1:]}
        lp, sp = sorted(draw(st.permutations(puts))[:2], key=lambda s: strike[s])
        sc, lc = sorted(draw(st.permutations(calls))[:2], key=lambda s: strike[s])
        positions.update({lp: n, sp: -n, sc: -n, lc: n})
    elif shape == "butterfly":
        chain = draw(st.sampled_from([c for c in (calls, puts) if len(c) >= 3] or [options]))
        strike = {i["symbol"]: Decimal(i["strike"]) for i in instruments[1:]}
        picked = sorted(draw(st.permutations(chain))[:3], key=lambda s: strike[s])
        if len(picked) == 3 and len({strike[s] for s in picked}) == 3:
            positions.update({picked[0]: n, picked[1]: -2 * n, picked[2]: n})
    if shape == "any" or not positions:
        for symbol in draw(st.lists(st.sampled_from(options), min_size=1, max_size=4, unique=True)):
            positions[symbol] = draw(st.integers(-3, 3).filter(bool))
        if draw(st.booleans()):
            positions["U"] = draw(st.sampled_from([-200, -100, 100, 200, 300]))
    return positions


@st.composite
def books(draw: Any, *, size: int = 8) -> list[dict]:
    instruments, _ = draw(chains())
    documents = []
    for _ in range(size):
        positions = draw(accounts(instruments))
        cash = draw(st.sampled_from(["0", "1000", "-500", "25000.55"]))
        loan = draw(st.sampled_from(["0", "0", "5000"]))
        documents.append(
            book(instruments, positions, cash=cash, loan=loan, volatility={"U": "0.35"})
        )
    return documents


def _check(documents: list[dict], policy: str) -> Any:
    portfolios = [portfolio_parse(d) for d in documents]
    book_ = book_from_portfolios(portfolios)
    state = sweep_full(book_, policy)
    for index, portfolio in enumerate(portfolios):
        expected = margin_compute(portfolio, policy)
        got = account_figures(book_, state, index)
        assert got.initial_requirement == expected.initial_requirement, (index, documents[index])
        assert got.maintenance_requirement == expected.maintenance_requirement, index
        assert got.equity == expected.equity
        assert got.margin_ratio == expected.margin_ratio
        assert got.collateral_ratio == expected.collateral_ratio
        same = {**expected.as_json(), "groups": []}
        same = {k: v for k, v in same.items() if k not in ("line", "lines")}  # cn-rzrq's extras
        assert account_result(book_, state, index).as_json() == same
        assert state.maintenance[index] == int(expected.maintenance_requirement * state.scale)
        # the float64 equity: to a millionth, or to float precision on amounts in the trillions
        tolerance = max(1e-6, 1e-15 * abs(float(expected.equity)))
        assert abs(state.equity[index] - float(expected.equity)) <= tolerance
    return book_, state


@hypothesis_settings(max_examples=400, deadline=None)
@given(books())
def test_cboe_sweep_equals_margin_compute_account_by_account(documents: list[dict]) -> None:
    _check(documents, "cboe-strategy")


@hypothesis_settings(max_examples=60, deadline=None)
@given(books(), st.sampled_from(["span-like", "finra-pm"]))
def test_scenario_sweep_equals_margin_compute_account_by_account(
    documents: list[dict], policy: str
) -> None:
    _check(documents, policy)


@hypothesis_settings(max_examples=80, deadline=None)
@given(books(), st.sampled_from(["cboe-strategy", "span-like"]), st.integers(-30, 30))
def test_remark_lands_where_a_full_sweep_lands(
    documents: list[dict], policy: str, move: int
) -> None:
    portfolios = [portfolio_parse(d) for d in documents]
    book_ = book_from_portfolios(portfolios)
    state = sweep_full(book_, policy)
    new = {"U": float(book_.price[book_.symbols["U"]]) * (1 + move / 100)}
    new["U"] = round(new["U"], 2)
    changed = sweep_remark(book_, state, new)
    assert set(changed.tolist()) == {
        int(a) for a in book_.slot_account[book_.slots_of_underlyings([book_.symbols["U"]])]
    }
    fresh = sweep_full(book_, policy)
    assert np.array_equal(fresh.initial, state.initial)
    assert np.array_equal(fresh.maintenance, state.maintenance)
    assert np.array_equal(fresh.fully_paid, state.fully_paid)
    assert np.allclose(fresh.equity, state.equity, rtol=0, atol=1e-6)
    for index in range(book_.n_accounts):  # and the re-marked book is still margin_compute's
        expected = margin_compute(book_.portfolio(index), policy)
        assert state.maintenance[index] == int(expected.maintenance_requirement * state.scale)


def _common_book() -> list[dict]:
    instruments = [
        stock("U", "50.00"),
        option("C55", "U", "call", "55", "1.20"),
        option("C60", "U", "call", "60", "0.40"),
        option("P45", "U", "put", "45", "0.80"),
        option("P40", "U", "put", "40", "0.30"),
        option("P45F", "U", "put", "45", "2.10", expiry=FAR),
        option("C50", "U", "call", "50", "3.00"),
    ]
    shapes = [
        {"U": 200, "C55": -2},  # covered call
        {"U": 300, "C55": -2, "P45": 2},  # collar and stock
        {"U": 100, "P45F": 1},  # protective put with loan value
        {"C55": -2, "C60": 2},  # call vertical
        {"P45": -3, "P40": 3},  # put vertical
        {"P40": 2, "P45": -2, "C55": -2, "C60": 2},  # iron condor
        {"P45": -1},  # naked put
        {"U": -100},  # short stock
        {"C55": -1, "P45": -1},  # short strangle
        {"U": 500, "C60": 1},  # stock and a long call
        {"C50": 1, "C55": -2, "C60": 1},  # long call butterfly
    ]
    return [book(instruments, shape) for shape in shapes]


def test_the_common_shapes_take_the_closed_forms() -> None:
    book_, state = _check(_common_book(), "cboe-strategy")
    patterns = [PATTERN_NAMES[p] for p in book_.cache["cboe_classes"]["pattern"]]
    assert "other" not in patterns
    assert state.engine.exact_calls == 0


def test_an_unusual_shape_takes_the_exact_engine_and_its_answer_is_cached() -> None:
    instruments = [
        stock("U", "50.00"),
        option("C55", "U", "call", "55", "1.20"),
        option("C55F", "U", "call", "55", "4.10", expiry=FAR),
    ]
    calendar = {"C55": -2, "C55F": 2}
    documents = [book(instruments, calendar), book(instruments, calendar)]
    _, state = _check(documents, "cboe-strategy")
    assert state.engine.exact_calls == 1  # the second account hit the cache


def test_book_build_refuses_an_unknown_symbol_naming_the_field() -> None:
    portfolio = portfolio_parse(_common_book()[0])
    with pytest.raises(PortfolioError) as refused:
        book_build(
            currency="USD",
            as_of=portfolio.as_of,
            instruments=list(portfolio.instruments.values()),
            accounts=[BookAccount(1, Decimal(0), Decimal(0), [Position("NOPE", Decimal(1))])],
        )
    assert refused.value.field == "accounts[0].positions[0].symbol"


def test_scenario_sweep_without_a_needed_volatility_names_it() -> None:
    portfolio = portfolio_parse(_common_book()[3])
    book_ = book_from_portfolios([portfolio])
    with pytest.raises(PortfolioError) as refused:
        sweep_full(book_, "span-like")
    assert refused.value.field == "volatility.U"


def test_an_unknown_sweep_policy_is_refused() -> None:
    book_ = book_from_portfolios([portfolio_parse(_common_book()[0])])
    with pytest.raises(PortfolioError) as refused:
        sweep_full(book_, "nope")
    assert refused.value.field == "policy"


def test_remark_touches_only_the_holders_of_the_moved_underlying() -> None:
    documents = _common_book()
    documents.append(book([stock("V", "10.00")], {"V": 100}, as_of=AS_OF))
    book_ = book_from_portfolios([portfolio_parse(d) for d in documents])
    state = sweep_full(book_)
    before = state.maintenance.copy()
    changed = sweep_remark(book_, state, {"V": 12.0})
    assert changed.tolist() == [len(documents) - 1]
    assert state.maintenance[-1] == 300_00  # 25% of 1,200
    assert np.array_equal(state.maintenance[:-1], before[:-1])


def test_ladder_line_is_the_lowest_line_under_at_four_places() -> None:
    from risk.engine.stress import DEFAULT_LADDER
    from risk.engine.sweep import ladder_line

    ratio = np.array([np.nan, 2.0, 1.1, 0.999996, 0.99994, 0.8, 0.5])
    assert ladder_line(ratio, DEFAULT_LADDER).tolist() == [-1, -1, 0, 0, 1, 2, 3]


@pytest.mark.parametrize("policy", ["span-like", "finra-pm", "cboe-strategy"])
def test_amounts_beyond_int64_millionths_are_still_exact(policy: str) -> None:
    instruments = [
        stock("U", "99999.99"),
        option("P", "U", "put", "99000", "1200.55"),
        option("C", "U", "call", "99999.5", "800.15"),
    ]
    documents = [
        book(instruments, {"U": 3_000_000_000, "P": -20_000_000}, volatility={"U": "0.35"}),
        book(instruments, {"C": -50_000_000, "P": -1}, volatility={"U": "0.35"}),
        book(instruments, {"U": 100, "C": -1}, volatility={"U": "0.35"}),
        book(instruments, {"U": 999_900, "C": -9_999}, volatility={"U": "0.35"}),  # at the bound
        book(instruments, {"U": 1_000_100, "C": -10_001}, volatility={"U": "0.35"}),
        book(instruments, {"U": 1.5, "P": 1}, volatility={"U": "0.35"}),  # a fractional share
    ]
    _check(documents, policy)


@pytest.mark.parametrize(
    ("policy", "parameters"),
    [
        ("cboe-strategy", {"long_stock_maintenance": "0.30", "naked": "0.25"}),
        ("cboe-strategy", {"hedge_minimum": "0.125"}),  # not whole hundredths: exact engine
        ("span-like", {"price_scan": "0.2", "initial_ratio": "1.25"}),
        ("finra-pm", {"range_down": "0.2", "minimum_per_contract": "0.5"}),
    ],
)
def test_policy_parameters_reach_the_sweep_as_they_reach_margin_compute(
    policy: str, parameters: dict[str, str]
) -> None:
    documents = [
        {**d, "volatility": {"U": "0.4"}, "parameters": parameters} for d in _common_book()
    ]
    portfolios = [portfolio_parse(d) for d in documents]
    book_ = book_from_portfolios(portfolios)
    state = sweep_full(book_, policy, {k: Decimal(v) for k, v in parameters.items()})
    for index, portfolio in enumerate(portfolios):
        expected = margin_compute(portfolio, policy)
        figures = account_figures(book_, state, index)
        assert figures.initial_requirement == expected.initial_requirement
        assert figures.maintenance_requirement == expected.maintenance_requirement


def test_an_unknown_parameter_is_refused_by_the_sweep_as_by_margin_compute() -> None:
    book_ = book_from_portfolios([portfolio_parse(_common_book()[0])])
    with pytest.raises(PortfolioError) as refused:
        sweep_full(book_, "cboe-strategy", {"nakedd": Decimal("0.2")})
    assert refused.value.field == "parameters.nakedd"


@pytest.mark.parametrize("policy", ["span-like", "finra-pm"])
def test_the_scenario_sweep_in_chunks_gives_the_same_answer(monkeypatch, policy: str) -> None:
    import risk.engine.sweep as sweep_module

    documents = [{**d, "volatility": {"U": "0.3"}} for d in _common_book()]
    whole = sweep_full(book_from_portfolios([portfolio_parse(d) for d in documents]), policy)
    monkeypatch.setattr(sweep_module, "_CHUNK_ROWS", 3)
    _, chunked = _check(documents, policy)
    assert np.array_equal(whole.maintenance, chunked.maintenance)


@pytest.mark.parametrize("policy", ["cboe-strategy", "span-like", "finra-pm"])
def test_a_currency_without_minor_units_is_rounded_to_the_yen(policy: str) -> None:
    documents = [{**d, "currency": "JPY", "volatility": {"U": "0.3"}} for d in _common_book()]
    _, state = _check(documents, policy)
    assert state.scale == 1


def test_an_account_without_positions_has_its_cash_and_no_ratio() -> None:
    documents = [*_common_book()[:2], book([stock("U", "50.00")], {}, cash="100", loan="40")]
    book_, state = _check(documents, "cboe-strategy")
    figures = account_figures(book_, state, 2)
    assert figures.equity == Decimal("60")
    assert figures.margin_ratio is None


def test_a_remark_with_a_bad_price_changes_nothing_and_names_it() -> None:
    book_ = book_from_portfolios([portfolio_parse(d) for d in _common_book()])
    state = sweep_full(book_)
    prices, maintenance = book_.price.copy(), state.maintenance.copy()
    for bad, field in (({"U": 51.0, "NOPE": 1.0}, "prices.NOPE"), ({"U": -1.0}, "prices.U")):
        with pytest.raises(PortfolioError) as refused:
            sweep_remark(book_, state, bad)
        assert refused.value.field == field
    assert np.array_equal(book_.price, prices)
    assert np.array_equal(state.maintenance, maintenance)


@st.composite
def rzrq_books(draw: Any) -> list[dict]:
    instruments = []
    for index in range(4):
        spec = stock(f"S{index}", str(Decimal(draw(st.integers(100, 9999))) / 100))
        if draw(st.booleans()):
            spec["kind"] = "etf"
        if draw(st.booleans()):
            spec["haircut"] = draw(st.sampled_from(["0", "0.5", "0.65", "0.7", "0.625", "1"]))
        instruments.append(spec)
    as_of = draw(st.sampled_from(["2023-06-01", "2023-11-01", "2026-01-02"]))
    documents = []
    for _ in range(6):
        positions = {
            s: draw(st.sampled_from([-300, -100, 100, 200, 500, 1000, 1]))
            for s in draw(st.lists(st.sampled_from(["S0", "S1", "S2", "S3"]), unique=True))
        }
        documents.append(
            book(
                instruments,
                positions,
                as_of=as_of,
                cash=draw(st.sampled_from(["0", "5000", "-1200.50", "100000"])),
                loan=draw(st.sampled_from(["0", "10000", "33333.33", "250000.125", "1000.00005"])),
            )
        )
    return documents


@hypothesis_settings(max_examples=150, deadline=None)
@given(rzrq_books(), st.integers(-20, 20))
def test_rzrq_sweep_equals_margin_compute_and_remarks_whole_accounts(
    documents: list[dict], move: int
) -> None:
    book_, state = _check(documents, "cn-rzrq")
    symbol = "S1"
    price = round(float(book_.price[book_.symbols[symbol]]) * (1 + move / 100), 2)
    sweep_remark(book_, state, {symbol: max(price, 0.01)})
    for index in range(book_.n_accounts):
        expected = margin_compute(book_.portfolio(index), "cn-rzrq")
        figures = account_figures(book_, state, index)
        assert figures.initial_requirement == expected.initial_requirement
        assert figures.maintenance_requirement == expected.maintenance_requirement


def test_rzrq_sweep_refuses_options_naming_the_instrument() -> None:
    book_ = book_from_portfolios([portfolio_parse(_common_book()[0])])
    with pytest.raises(PortfolioError) as refused:
        sweep_full(book_, "cn-rzrq")
    assert refused.value.field.endswith(".kind")
