"""``finra-pm`` and ``span-like``: grids by hand and valued by QuantLib, cited arrays, invariants.

Expected values are computed here, independently of the engine: stock moves by hand, options with
QuantLib (``quantlib_prices.quantlib_european``), and the worst loss picked and rounded up to the
cent as the contract says.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from risk.engine.policies import margin_compute
from risk.engine.portfolio import PortfolioError, portfolio_parse
from risk.engine.pricing import black_scholes
from risk.engine.result import MarginResult
from risk.engine.scenario import SPAN_PRICE_MOVES, ScenarioBook, group_loss, span_scenarios
from tests.risk.quantlib_prices import quantlib_european

AS_OF = date(2026, 11, 26)


def stock(symbol: str, price: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "kind": "equity", "price": price, **extra}


def option(
    symbol: str, underlying: str, right: str, strike: str, days: int, price: str, **extra: Any
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "kind": "option",
        "underlying": underlying,
        "right": right,
        "strike": strike,
        "expiry": (AS_OF + timedelta(days=days)).isoformat(),
        "multiplier": 100,
        "price": price,
        **extra,
    }


def margin(
    policy: str,
    instruments: list[dict[str, Any]],
    positions: list[tuple[str, str]],
    *,
    cash: str = "0",
    loan: str = "0",
    volatility: dict[str, str] | None = None,
    parameters: dict[str, str] | None = None,
) -> MarginResult:
    document = {
        "currency": "USD",
        "as_of": AS_OF.isoformat(),
        "cash": cash,
        "loan": loan,
        "instruments": instruments,
        "positions": [{"symbol": s, "quantity": q} for s, q in positions],
        "volatility": volatility or {},
        "parameters": parameters or {},
    }
    return margin_compute(portfolio_parse(document), policy)


def cents_up(loss: float) -> Decimal:
    """A float loss as the contract wants it: rounded up once to the cent (float noise dropped)."""
    return max(Decimal(loss).quantize(Decimal("0.000001")), Decimal(0)).quantize(
        Decimal("0.01"), rounding=ROUND_CEILING
    )


def only_group(result: MarginResult) -> dict[str, Any]:
    (group,) = result.as_json()["groups"]
    return group


# --- finra-pm: the prescribed ranges, by hand ---------------------------------------------------


def test_finra_long_stock_takes_its_loss_at_minus_15_percent() -> None:
    # 200 shares at 50: the worst of ten equidistant points over ±15 % is -15 %: 200 x 7.50.
    result = margin("finra-pm", [stock("XYZ", "50.00")], [("XYZ", "200")], cash="10000")
    group = only_group(result)
    assert group["strategy"] == "max_loss"
    assert group["initial_requirement"] == group["maintenance_requirement"] == "1500.00"
    assert "-15.00%" in group["rule"]
    payload = result.as_json()
    assert payload["equity"] == "20000.00"
    assert payload["excess_maintenance"] == "18500.00"
    # Nothing is fully paid under portfolio margin: the ratio is equity / requirement.
    assert payload["margin_ratio"] == str((Decimal(20000) / 1500).quantize(Decimal("0.0001")))


def test_finra_high_cap_broad_index_moves_up_6_and_down_8_percent() -> None:
    # SEC Release 34-46576 (NYSE Rule 431(g) pilot): a high-capitalisation broad-based index
    # moves +6 % / -8 %.
    spy = {"symbol": "SPY", "kind": "etf", "price": "500", "underlying_class": "broad_index"}
    assert only_group(margin("finra-pm", [spy], [("SPY", "10")]))["maintenance_requirement"] == (
        "400.00"
    )
    short = only_group(margin("finra-pm", [spy], [("SPY", "-10")]))
    assert short["maintenance_requirement"] == "300.00"
    assert "+6.00%" in short["rule"]


def test_finra_leveraged_etf_range_scales_with_leverage() -> None:
    etf = {
        "symbol": "UPRO",
        "kind": "etf",
        "price": "100",
        "underlying_class": "leveraged_etf",
        "leverage": "3",
    }
    group = only_group(margin("finra-pm", [etf], [("UPRO", "10")]))
    assert group["maintenance_requirement"] == "450.00"  # 10 x 100 x 45 %


def test_finra_ranges_are_overridable_per_product_and_globally() -> None:
    instruments = [stock("XYZ", "50.00"), stock("ABC", "20.00")]
    positions = [("XYZ", "100"), ("ABC", "100")]
    result = margin(
        "finra-pm",
        instruments,
        positions,
        parameters={"range_down": "0.20", "range_down.XYZ": "0.10"},
    )
    by_symbol = {g.legs[0][0]: g.maintenance for g in result.groups}
    assert by_symbol == {"XYZ": Decimal("500.00"), "ABC": Decimal("400.00")}


def test_finra_option_grid_matches_quantlib() -> None:
    # The contract's covered call: 200 XYZ at 50, short 2 calls 55 expiring in 50 days at 1.20,
    # volatility 32 %. Eleven points -15 % … +15 %, valued independently with QuantLib.
    instruments = [stock("XYZ", "50.00"), option("C55", "XYZ", "call", "55", 50, "1.20")]
    result = margin(
        "finra-pm",
        instruments,
        [("XYZ", "200"), ("C55", "-2")],
        cash="240.00",
        loan="10000.00",
        volatility={"XYZ": "0.32"},
    )
    losses = []
    for step in range(-5, 6):
        spot = 50.0 * (1 + 0.15 * step / 5)
        call = quantlib_european(spot, 55.0, 50, 0.32, 0.0, 0.0, True)
        losses.append(-(200 * (spot - 50.0) - 200 * (call - 1.20)))
    expected = cents_up(max(losses))
    group = only_group(result)
    assert group["maintenance_requirement"] == str(expected)
    assert losses.index(max(losses)) == 0  # the stock's fall dominates
    payload = result.as_json()
    assert payload["equity"] == "0.00"
    assert payload["excess_initial"] == str(-expected)


def test_finra_values_american_puts_at_least_at_their_intrinsic_value() -> None:
    # Deep in the money with r = 5 %, the European put (≈ 35.9) is worth less than exercising (40):
    # an American put is revalued at no less than what exercise yields.
    instruments = [stock("XYZ", "60.00"), option("P100", "XYZ", "put", "100", 365, "40.00")]
    result = margin(
        "finra-pm",
        instruments,
        [("P100", "1")],
        volatility={"XYZ": "0.20"},
        parameters={"rate": "0.05"},
    )
    losses = []
    for step in range(-5, 6):
        spot = 60.0 * (1 + 0.15 * step / 5)
        european = quantlib_european(spot, 100.0, 365, 0.20, 0.05, 0.0, False)
        losses.append(-100 * (max(european, 100.0 - spot) - 40.0))
    assert quantlib_european(60.0, 100.0, 365, 0.20, 0.05, 0.0, False) < 40.0
    assert only_group(result)["maintenance_requirement"] == str(cents_up(max(losses)))


def test_finra_per_contract_minimum_applies_when_the_scenarios_lose_little() -> None:
    # A far out-of-the-money long put loses at most its 0.01 mark; 4210(g): $0.375 x 100 a contract.
    instruments = [stock("XYZ", "50.00"), option("P10", "XYZ", "put", "10", 30, "0.01")]
    result = margin("finra-pm", instruments, [("P10", "3")], volatility={"XYZ": "0.30"})
    group = only_group(result)
    assert group["maintenance_requirement"] == "112.50"
    assert "minimum" in group["rule"]


def test_finra_groups_by_underlying_in_order_of_appearance() -> None:
    instruments = [
        stock("XYZ", "50.00"),
        stock("ABC", "20.00"),
        option("C55", "XYZ", "call", "55", 50, "1.20"),
    ]
    result = margin(
        "finra-pm",
        instruments,
        [("C55", "-1"), ("ABC", "10"), ("XYZ", "100")],
        volatility={"XYZ": "0.32"},
    )
    assert [[leg[0] for leg in g.legs] for g in result.groups] == [["C55", "XYZ"], ["ABC"]]
    assert result.initial_requirement == sum(g.initial for g in result.groups)


def test_finra_excess_is_the_account_value_in_each_groups_worst_scenario() -> None:
    # The held view: equity marks every position, the requirement is the loss from the mark.
    result = margin("finra-pm", [stock("XYZ", "50.00")], [("XYZ", "-100")], cash="7000")
    # Short 100 at 50 with 7,000 in cash: worst is +15 %, a loss of 750; 7,000 - 5,750 = 1,250.
    assert result.as_json()["excess_maintenance"] == "1250.00"


# --- span-like: by hand, and McMillan's CME S&P risk array -------------------------------------


def test_span_stock_with_an_explicit_scan_range() -> None:
    # 100 shares at 40, scan 10 %: 3/3 down loses 400; the extreme move 2 x 10 % at 35 % loses 280.
    result = margin(
        "span-like", [stock("XYZ", "40")], [("XYZ", "100")], parameters={"price_scan": "0.10"}
    )
    group = only_group(result)
    assert group["maintenance_requirement"] == "400.00"
    assert group["initial_requirement"] == "440.00"  # x 1.10, CME's speculative initial
    assert "scenario 13" in group["rule"] or "scenario 14" in group["rule"]


def test_span_default_scan_range_is_six_sigma_over_two_days_with_a_floor() -> None:
    # NSE Clearing: 6 sigma (daily) x sqrt 2, at least 14.2 % of the price for stock, 9.3 % for an
    # index.
    wild = margin("span-like", [stock("XYZ", "40")], [("XYZ", "100")], volatility={"XYZ": "0.5"})
    scan = 6 * 0.5 / math.sqrt(252) * math.sqrt(2)
    assert only_group(wild)["maintenance_requirement"] == str(cents_up(4000 * scan))
    calm = margin("span-like", [stock("XYZ", "40")], [("XYZ", "100")], volatility={"XYZ": "0.2"})
    assert only_group(calm)["maintenance_requirement"] == "568.00"  # 4,000 x 14.2 %
    index = {"symbol": "SPX", "kind": "index", "price": "5000", "underlying_class": "broad_index"}
    quiet = margin("span-like", [index], [("SPX", "1")], volatility={"SPX": "0.12"})
    assert only_group(quiet)["maintenance_requirement"] == "465.00"  # 5,000 x 9.3 %


def test_span_scenarios_reproduce_mcmillans_futures_risk_array() -> None:
    # McMillan, "Options as a Strategic Investment", ch. 34 (Futures and Futures Options): the CME
    # risk array of one long S&P future whose scan range is 10,000, rounded to tens there:
    expected = [0, 0, 3330, 3330, -3330, -3330, 6670, 6670, -6670, -6670]
    expected += [10000, 10000, -10000, -10000, 7000, -7000]
    one = np.ones(1)
    book = ScenarioBook(
        group=np.zeros(1, dtype=np.intp),
        quantity=np.array([500.0]),  # 500 x 400 = 200,000 of notional; 5 % of it is 10,000
        multiplier=one,
        price=np.array([400.0]),
        spot=np.array([400.0]),
        is_option=np.zeros(1, dtype=bool),
        is_call=np.zeros(1, dtype=bool),
        american=np.zeros(1, dtype=bool),
        strike=np.zeros(1),
        years=np.zeros(1),
        volatility=np.zeros(1),
        rate=np.zeros(1),
        dividend_yield=np.zeros(1),
    )
    profit = span_scenarios(book, 0.05 * one, 0 * one, 2 * one, 0.35 * one, 0.0)
    assert [round(v, -1) for v in profit[0]] == expected


def test_span_scan_risk_of_mcmillans_covered_write() -> None:
    # Same chapter: long Dec 410 call array, and the covered write (long future, short call).
    # "The SPAN requirement would be $3,990" for the call; 6,620 for the covered write.
    future = [0, 0, 3330, 3330, -3330, -3330, 6670, 6670, -6670, -6670]
    future += [10000, 10000, -10000, -10000, 7000, -7000]
    call = [460, -610, 2640, 1730, -1270, -2340, 5210, 4540, -2540, -3430]
    call += [8060, 7640, -3380, -3990, 3130, -1500]
    profit = np.array([future, [-v for v in call], call], dtype=np.float64)
    losses = group_loss(np.array([0, 0, 1], dtype=np.intp), profit, 2)
    assert losses.max(axis=1).tolist() == [6620.0, 3990.0]
    assert losses.argmax(axis=1).tolist() == [12, 13]  # scenarios 13 and 14


def test_span_option_grid_matches_quantlib() -> None:
    # Short 2 calls 55 (50 days) against 200 shares, sigma = 32 %: scan = 6 sigma sqrt(2/252),
    # volatility ± max(25 % x 32 %, 10 points) = ±10 points, one day of look-ahead.
    instruments = [stock("XYZ", "50.00"), option("C55", "XYZ", "call", "55", 50, "1.20")]
    result = margin(
        "span-like",
        instruments,
        [("XYZ", "200"), ("C55", "-2")],
        volatility={"XYZ": "0.32"},
    )
    scan = 6 * 0.32 * math.sqrt(2 / 252)
    losses = []
    for k, move in enumerate(SPAN_PRICE_MOVES.tolist()):
        extreme = k >= 14
        spot = 50.0 * (1 + move * (2 if extreme else 1) * scan)
        vol = 0.32 if extreme else 0.32 + (0.10 if k % 2 == 0 else -0.10)
        call = quantlib_european(spot, 55.0, 49, vol, 0.0, 0.0, True)
        loss = -(200 * (spot - 50.0) - 200 * (call - 1.20))
        losses.append(loss * (0.35 if extreme else 1))
    group = only_group(result)
    maintenance = cents_up(max(losses))
    assert group["maintenance_requirement"] == str(maintenance)
    initial = (Decimal(max(losses)).quantize(Decimal("0.000001")) * Decimal("1.10")).quantize(
        Decimal("0.01"), rounding=ROUND_CEILING
    )
    assert group["initial_requirement"] == str(initial)


def test_span_short_option_minimum() -> None:
    # NSE: 7.5 % of the notional of short stock options. 1 far out-of-the-money call on a 50 stock:
    # 0.075 x 50 x 100 = 375, far above what the scenarios can lose.
    instruments = [stock("XYZ", "50.00"), option("C200", "XYZ", "call", "200", 30, "0.01")]
    result = margin("span-like", instruments, [("C200", "-1")], volatility={"XYZ": "0.30"})
    group = only_group(result)
    assert group["maintenance_requirement"] == "375.00"
    assert group["initial_requirement"] == "412.50"
    assert "short option minimum" in group["rule"]


def test_span_parameters_per_product() -> None:
    instruments = [stock("XYZ", "40"), stock("ABC", "40")]
    result = margin(
        "span-like",
        instruments,
        [("XYZ", "100"), ("ABC", "100")],
        parameters={
            "price_scan": "0.10",
            "price_scan.ABC": "0.20",
            "extreme_multiple.ABC": "3",
            "extreme_weight.ABC": "0.5",
            "initial_ratio": "1",
        },
    )
    by_symbol = {g.legs[0][0]: g.maintenance for g in result.groups}
    # ABC: the extreme move 3 x 20 % at 50 % (1,200) beats the full range (800).
    assert by_symbol == {"XYZ": Decimal("400.00"), "ABC": Decimal("1200.00")}


# --- bad inputs name the field ------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["finra-pm", "span-like"])
def test_an_option_without_its_underlyings_volatility_names_the_field(policy: str) -> None:
    instruments = [stock("XYZ", "50.00"), option("C55", "XYZ", "call", "55", 50, "1.20")]
    with pytest.raises(PortfolioError) as caught:
        margin(
            policy,
            instruments,
            [("C55", "-1")],
            parameters={"price_scan": "0.1"} if policy == "span-like" else None,
        )
    assert caught.value.field == "volatility.XYZ"


def test_span_needs_a_volatility_for_its_default_scan_range() -> None:
    with pytest.raises(PortfolioError) as caught:
        margin("span-like", [stock("XYZ", "40")], [("XYZ", "100")])
    assert caught.value.field == "volatility.XYZ"


@pytest.mark.parametrize(
    ("policy", "parameters", "field"),
    [
        ("finra-pm", {"range_dwn": "0.1"}, "parameters.range_dwn"),
        ("finra-pm", {"range_down": "1.5"}, "parameters.range_down"),
        ("finra-pm", {"range_up.XYZ": "-0.1"}, "parameters.range_up.XYZ"),
        ("finra-pm", {"range_up.NOPE": "0.1"}, "parameters.range_up.NOPE"),
        ("finra-pm", {"minimum_per_contract.XYZ": "1"}, "parameters.minimum_per_contract.XYZ"),
        ("span-like", {"extreme_weight": "1.5"}, "parameters.extreme_weight"),
        ("span-like", {"initial_ratio": "0.9"}, "parameters.initial_ratio"),
        ("span-like", {"price_scan": "-0.1"}, "parameters.price_scan"),
    ],
)
def test_a_bad_parameter_names_itself(policy: str, parameters: dict[str, str], field: str) -> None:
    with pytest.raises(PortfolioError) as caught:
        margin(
            policy,
            [stock("XYZ", "40")],
            [("XYZ", "100")],
            volatility={"XYZ": "0.3"},
            parameters=parameters,
        )
    assert caught.value.field == field


# --- invariants ---------------------------------------------------------------------------------


def priced_option(
    symbol: str, spot: float, right: str, strike: float, days: int, vol: float
) -> dict[str, Any]:
    """A European option marked at its own model value, so a hedge's mark carries no model gap."""
    value = float(black_scholes(spot, strike, days / 365, vol, 0.0, 0.0, right == "call"))
    return option(symbol, "XYZ", right, repr(strike), days, repr(value), exercise_style="european")


spots = st.integers(500, 50000).map(lambda cents: cents / 100)
vols = st.sampled_from([0.05, 0.15, 0.3, 0.6, 1.0])
days = st.integers(2, 700)
lots = st.integers(1, 20)


@hypothesis_settings(max_examples=60, deadline=None)
@given(spot=spots, moneyness=st.floats(0.5, 1.5), vol=vols, days=days, lots=lots)
def test_finra_a_protective_put_never_increases_the_requirement(
    spot: float, moneyness: float, vol: float, days: int, lots: int
) -> None:
    instruments = [
        stock("XYZ", repr(spot)),
        priced_option("P", spot, "put", round(spot * moneyness, 2), days, vol),
    ]
    shares = ("XYZ", str(100 * lots))
    alone = margin("finra-pm", instruments, [shares], volatility={"XYZ": str(vol)})
    hedged = margin(
        "finra-pm", instruments, [shares, ("P", str(lots))], volatility={"XYZ": str(vol)}
    )
    assert hedged.maintenance_requirement <= alone.maintenance_requirement


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    spot=spots,
    low=st.floats(0.6, 1.4),
    width=st.floats(0.01, 0.5),
    vol=vols,
    days=days,
    lots=lots,
)
def test_finra_buying_the_wing_never_increases_a_short_calls_worst_loss(
    spot: float, low: float, width: float, vol: float, days: int, lots: int
) -> None:
    # The per-contract minimum is set aside (it charges the wing's contract by design).
    instruments = [
        stock("XYZ", repr(spot)),
        priced_option("SHORT", spot, "call", round(spot * low, 2), days, vol),
        priced_option("WING", spot, "call", round(spot * (low + width), 2), days, vol),
    ]
    volatility, parameters = {"XYZ": str(vol)}, {"minimum_per_contract": "0"}
    legs = [("SHORT", f"-{lots}")]
    naked = margin("finra-pm", instruments, legs, volatility=volatility, parameters=parameters)
    spread = margin(
        "finra-pm",
        instruments,
        [*legs, ("WING", str(lots))],
        volatility=volatility,
        parameters=parameters,
    )
    assert spread.maintenance_requirement <= naked.maintenance_requirement


@hypothesis_settings(max_examples=60, deadline=None)
@given(spot=spots, moneyness=st.floats(0.5, 1.5), vol=vols, days=days, lots=lots)
def test_span_a_synthetic_short_never_increases_a_long_stocks_requirement(
    spot: float, moneyness: float, vol: float, days: int, lots: int
) -> None:
    # Long put + short call at one strike is short the stock whatever the volatility or the day
    # (put-call parity), so it cancels the shares at every scenario: only the short option
    # minimum is left, below the stock's scan risk.
    strike = round(spot * moneyness, 2)
    instruments = [
        stock("XYZ", repr(spot)),
        priced_option("P", spot, "put", strike, days, vol),
        priced_option("C", spot, "call", strike, days, vol),
    ]
    shares = ("XYZ", str(100 * lots))
    volatility = {"XYZ": str(vol)}
    alone = margin("span-like", instruments, [shares], volatility=volatility)
    hedged = margin(
        "span-like",
        instruments,
        [shares, ("P", str(lots)), ("C", f"-{lots}")],
        volatility=volatility,
    )
    assert hedged.maintenance_requirement <= alone.maintenance_requirement
    assert hedged.initial_requirement <= alone.initial_requirement


@st.composite
def books(draw: Callable[..., Any]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Two underlyings, stock and a few American options on each, any signs."""
    instruments: list[dict[str, Any]] = []
    positions: list[tuple[str, str]] = []
    for name in ("XYZ", "ABC"):
        spot = draw(spots)
        instruments.append(stock(name, repr(spot)))
        positions.append((name, str(draw(st.integers(-500, 500)))))
        for n in range(draw(st.integers(0, 3))):
            symbol = f"{name}{n}"
            right = draw(st.sampled_from(["call", "put"]))
            strike = round(spot * draw(st.floats(0.6, 1.4)), 2)
            mark = round(draw(st.floats(0.01, 0.3)) * spot, 2)
            instruments.append(option(symbol, name, right, repr(strike), draw(days), repr(mark)))
            positions.append((symbol, str(draw(st.integers(-20, 20)))))
    return instruments, positions


VOLATILITY = {"XYZ": "0.35", "ABC": "0.25"}


@pytest.mark.parametrize("policy", ["finra-pm", "span-like"])
@hypothesis_settings(max_examples=40, deadline=None)
@given(book=books(), factor=st.integers(2, 9))
def test_scaling_the_quantities_scales_the_requirements(
    policy: str, book: tuple[list[dict[str, Any]], list[tuple[str, str]]], factor: int
) -> None:
    instruments, positions = book
    base = margin(policy, instruments, positions, volatility=VOLATILITY)
    scaled = margin(
        policy,
        instruments,
        [(s, str(int(q) * factor)) for s, q in positions],
        volatility=VOLATILITY,
    )
    for one, many in zip(base.groups, scaled.groups, strict=True):
        # Each group is rounded up once: k times (x rounded up) and (k times x) rounded up differ
        # by less than k cents.
        tolerance = Decimal("0.01") * factor
        assert abs(many.maintenance - factor * one.maintenance) <= tolerance
        assert abs(many.initial - factor * one.initial) <= tolerance


@pytest.mark.parametrize("policy", ["finra-pm", "span-like"])
@hypothesis_settings(max_examples=40, deadline=None)
@given(book=books(), seed=st.integers(0, 2**32 - 1))
def test_the_order_of_legs_does_not_matter(
    policy: str, book: tuple[list[dict[str, Any]], list[tuple[str, str]]], seed: int
) -> None:
    instruments, positions = book
    shuffled_instruments, shuffled_positions = list(instruments), list(positions)
    random.Random(seed).shuffle(shuffled_instruments)
    random.Random(seed + 1).shuffle(shuffled_positions)
    before = margin(policy, instruments, positions, volatility=VOLATILITY)
    after = margin(policy, shuffled_instruments, shuffled_positions, volatility=VOLATILITY)

    def by_underlying(result: MarginResult) -> dict[frozenset[str], tuple[Decimal, Decimal]]:
        return {frozenset(s for s, _ in g.legs): (g.initial, g.maintenance) for g in result.groups}

    assert by_underlying(after) == by_underlying(before)
    assert after.as_json()["maintenance_requirement"] == before.as_json()["maintenance_requirement"]
    assert after.as_json()["initial_requirement"] == before.as_json()["initial_requirement"]
