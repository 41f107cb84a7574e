"""cboe-strategy rule by rule: loan value, hedged stock, structures, grouping, parameters, refusals.

Where no public worked example exists the expected numbers are worked from the rule cited.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from risk.engine.policies import margin_compute
from risk.engine.portfolio import PortfolioError, portfolio_parse
from tests.risk.cboe_builders import (
    FAR,
    book,
    held,
    index,
    margin,
    option,
    stock,
    strategies,
)

X = stock("X", "100")


def only_group(result: dict) -> dict:
    [group] = result["groups"]
    return group


# --- long options: loan value after nine months -----------------------------------------------
# https://markets.cboe.com/us/options/strategy_based_margin/: a long option with more than nine
# months to expiry may be bought on margin, 75% of its cost (initial) or market value
# (maintenance); with nine months or less it "is required to pay the premium amount in full".


@pytest.mark.parametrize(
    ("expiry", "required", "ratio"),
    [
        ("2026-10-02", "1200.00", None),  # exactly nine months after 2026-01-02: paid in full
        ("2026-10-05", "900.00", "1.3333"),  # more than nine months: 75%
    ],
)
def test_long_option_loan_value_after_nine_months(expiry: str, required: str, ratio) -> None:
    document = book(
        [stock("Z", "78"), option("C80", "Z", "call", "80", "12", expiry=expiry)], {"C80": 1}
    )
    result = margin(document)
    assert result["initial_requirement"] == required
    assert result["maintenance_requirement"] == required
    # A fully paid option neither supports nor burdens the margin ratio (contract, Definitions).
    assert result["margin_ratio"] == ratio


def test_account_of_fully_paid_positions_has_no_margin_ratio() -> None:
    document = book(
        [X, option("P95", "X", "put", "95", "2"), option("C105", "X", "call", "105", "2")],
        {"P95": 3, "C105": 1},
        cash="1000",
    )
    result = margin(document)
    assert result["margin_ratio"] is None
    assert result["initial_requirement"] == "800.00"
    assert strategies(result) == ["long_option", "strangle"]


# --- stock with options: covered and hedged ---------------------------------------------------
# Cboe Margin Manual (https://docslib.org/doc/6485279/margin-manual): "Short Call and Long
# Underlying", "Long Put and Long Underlying", "Conversion", "Collar" and their short-stock
# mirrors; maintenance for hedged underlying as implemented from IB's rules by LEAN
# (https://www.interactivebrokers.com/en/index.php?f=26660): min(10% of the strike + the
# out-of-the-money amount, the stock's own rate).


@pytest.mark.parametrize(
    ("positions", "strategy", "initial", "maintenance"),
    [
        # 5,000 + the put 200; min(9.5 + 5, 25) x 100 + 200
        ({"X": 100, "P95": 1}, "protective_put", "5200.00", "1650.00"),
        # 5,000 + 200 - 150; min(14.5, 25% x min(100, 105)) x 100 + 200 - 150
        ({"X": 100, "P95": 1, "C105": -1}, "collar", "5050.00", "1500.00"),
        # same strike: min(10 + 0, 25) x 100 + 400 - 500
        ({"X": 100, "P100": 1, "C100": -1}, "conversion", "4900.00", "900.00"),
        # short 5,000 (50%) + call 500 - put 400; (10% x 100 + 0) x 100 + 500 - 400
        ({"X": -100, "P100": -1, "C100": 1}, "reverse_conversion", "5100.00", "1100.00"),
        # short 5,000 - the put's 200; max(30% x 100, 5) x 100 - 200
        ({"X": -100, "P95": -1}, "covered_put", "4800.00", "2800.00"),
        # short 5,000 + call 200; min(10.5 + 5, 30) x 100 + 200
        ({"X": -100, "C105": 1}, "protective_call", "5200.00", "1750.00"),
    ],
)
def test_stock_with_options(positions: dict, strategy: str, initial: str, maintenance: str):
    instruments = [
        X,
        option("P95", "X", "put", "95", "2"),
        option("P100", "X", "put", "100", "4"),
        option("C100", "X", "call", "100", "5"),
        option("C105", "X", "call", "105", "1.50" if "P95" in positions else "2"),
    ]
    group = only_group(margin(book(instruments, positions)))
    assert group["strategy"] == strategy
    assert (group["initial_requirement"], group["maintenance_requirement"]) == (
        initial,
        maintenance,
    )


def test_covered_call_in_the_money_values_the_stock_at_the_strike() -> None:
    # FINRA 4210: the long stock of a covered call is valued at no more than the call's strike.
    document = book(
        [stock("X", "60"), option("C55", "X", "call", "55", "6")], {"X": 100, "C55": -1}
    )
    group = only_group(margin(document))
    assert group["initial_requirement"] == "2400.00"  # 50% x 6,000 - 600
    assert group["maintenance_requirement"] == "775.00"  # 25% x 55 x 100 - 600


def test_stock_beyond_the_calls_stays_long_stock() -> None:
    document = book(
        [X, option("C105", "X", "call", "105", "2"), option("C110", "X", "call", "110", "1")],
        {"X": 150, "C105": -2, "C110": 1},
    )
    result = margin(document)
    assert strategies(result) == ["covered_call", "long_stock", "vertical_spread"]
    assert result["initial_requirement"] == "7700.00"  # 4,800 + 2,500 + (500 + 100 - 200)


# --- option structures at their netted maximum loss (FINRA RN 12-44) ---------------------------


CHAIN = [
    X,
    option("C90", "X", "call", "90", "12"),
    option("C100", "X", "call", "100", "5"),
    option("C110", "X", "call", "110", "1"),
    option("C115", "X", "call", "115", "0.5"),
    option("P90", "X", "put", "90", "1"),
    option("P100", "X", "put", "100", "4"),
    option("P110", "X", "put", "110", "11"),
]


@pytest.mark.parametrize(
    ("positions", "strategy", "required"),
    [
        # long butterfly: no loss at any strike, the net debit 1,300 - 1,000
        ({"C90": 1, "C100": -2, "C110": 1}, "butterfly", "300.00"),
        # short butterfly: the lower spread's 1,000 + 1,000 paid - 1,300 received
        ({"C90": -1, "C100": 2, "C110": -1}, "butterfly", "700.00"),
        # broken wing: 500 at 115 + 250 of debit
        ({"C90": 1, "C100": -2, "C115": 1}, "butterfly", "750.00"),
        # iron butterfly: 1,000 (either wing) + 200 paid - 900 of proceeds
        ({"P90": 1, "P100": -1, "C100": -1, "C110": 1}, "iron_butterfly", "300.00"),
        # long box: worth the width at any price, so only the debit 2,300 - 200
        ({"C90": 1, "C110": -1, "P110": 1, "P90": -1}, "box", "2100.00"),
    ],
    ids=[
        "long butterfly",
        "short butterfly",
        "broken-wing butterfly",
        "iron butterfly",
        "long box",
    ],
)
def test_structures(positions: dict, strategy: str, required: str) -> None:
    group = only_group(margin(book(CHAIN, positions)))
    assert group["strategy"] == strategy
    assert group["initial_requirement"] == required


def test_calendar_long_outlives_short() -> None:
    same_strike = book(
        [X, option("N", "X", "call", "100", "4"), option("F", "X", "call", "100", "9", expiry=FAR)],
        {"N": -1, "F": 1},
    )
    group = only_group(margin(same_strike))
    assert (group["strategy"], group["initial_requirement"]) == ("calendar", "500.00")
    # A later long on the credit side: the strike difference, 500, on top of the 300 debit.
    diagonal = book(
        [X, option("N", "X", "call", "100", "4"), option("F", "X", "call", "105", "7", expiry=FAR)],
        {"N": -1, "F": 1},
    )
    group = only_group(margin(diagonal))
    assert (group["strategy"], group["initial_requirement"]) == ("calendar", "800.00")


def test_european_long_must_expire_with_the_short() -> None:
    # A European long cannot be exercised when the American short is assigned, so a later one
    # does not cover it: naked 2,000 + the long 900.
    document = book(
        [
            X,
            option("N", "X", "call", "100", "4"),
            option("F", "X", "call", "100", "9", expiry=FAR, exercise_style="european"),
        ],
        {"N": -1, "F": 1},
    )
    result = margin(document)
    assert strategies(result) == ["long_option", "naked_call"]
    assert result["initial_requirement"] == "2675.00"  # 2,000 + 75% x 900


def test_naked_requirement_below_the_spread_width_wins() -> None:
    # FINRA 4210(f)(2): a spread's short leg needs "the lesser of the (E) [naked] requirement
    # and the maximum potential loss". Short 100 put against a long 50 put, stock at 110: the
    # naked 20% x 110 - 10 = 12 a share (1,200) is far below the 50-point width (5,000).
    document = book(
        [
            stock("Y", "110"),
            option("P100", "Y", "put", "100", "2"),
            option("P50", "Y", "put", "50", "0.05"),
        ],
        {"P100": -1, "P50": 1},
    )
    result = margin(document)
    assert result["initial_requirement"] == "1205.00"  # 1,200 + the long put paid, 5
    assert strategies(result) == ["long_option", "naked_put"]


def test_ratio_spread_pairs_what_it_can_and_the_rest_is_naked() -> None:
    document = book(
        [X, option("C105", "X", "call", "105", "2"), option("C110", "X", "call", "110", "1")],
        {"C105": 1, "C110": -3},
    )
    result = margin(document)
    assert strategies(result) == ["naked_call", "vertical_spread"]
    naked = next(g for g in result["groups"] if g["strategy"] == "naked_call")
    assert naked["legs"] == [{"symbol": "C110", "quantity": "-2"}]
    assert result["initial_requirement"] == "2100.00"  # debit 100 + 2 x (20 - 10) x 100


def test_netting_finds_the_iron_condor_inside_two_strangles() -> None:
    # Pairwise, two short strangles (2,000) plus the long wings (90) look cheapest; netted, one
    # strangle becomes an iron condor paying one 1,000 wing: 820 + 1,000.
    document = book(
        [
            X,
            option("P80", "X", "put", "80", "0.50"),
            option("P90", "X", "put", "90", "1.50"),
            option("C110", "X", "call", "110", "1.20"),
            option("C120", "X", "call", "120", "0.40"),
        ],
        {"P80": 1, "P90": -2, "C110": -2, "C120": 1},
    )
    result = margin(document)
    assert result["initial_requirement"] == "1820.00"
    assert strategies(result) == ["iron_condor", "strangle"]


def test_a_group_is_never_below_zero() -> None:
    # A short box sold for more than its width (a price no market would show) has a negative
    # held requirement: the group needs nothing, not a credit against the rest.
    document = book(
        [
            X,
            option("C90", "X", "call", "90", "12"),
            option("C110", "X", "call", "110", "1"),
            option("P90", "X", "put", "90", "1.5"),
            option("P110", "X", "put", "110", "11"),
            stock("Y", "20"),
        ],
        {"C90": -1, "C110": 1, "P110": -1, "P90": 1, "Y": 100},
    )
    result = margin(document)
    box = next(g for g in result["groups"] if g["strategy"] == "box")
    assert box["initial_requirement"] == "0.00"
    assert result["initial_requirement"] == "1000.00"  # the stock's 50% only


def test_every_leg_is_in_exactly_one_group() -> None:
    positions = {
        "X": 250,
        "C95": -3,
        "C105": -2,
        "C110": 1,
        "P90": 2,
        "P95": -1,
        "P80": -1,
        "C100F": 1,
    }
    instruments = [
        X,
        option("C95", "X", "call", "95", "7"),
        option("C105", "X", "call", "105", "2.5"),
        option("C110", "X", "call", "110", "1"),
        option("P90", "X", "put", "90", "1.2"),
        option("P95", "X", "put", "95", "2.1"),
        option("P80", "X", "put", "80", "0.3"),
        option("C100F", "X", "call", "100", "11", expiry=FAR),
    ]
    result = margin(book(instruments, positions))
    grouped: Counter = Counter()
    for group in result["groups"]:
        for leg in group["legs"]:
            grouped[leg["symbol"]] += Decimal(leg["quantity"])
        assert group["rule"]
    assert grouped == Counter({s: Decimal(q) for s, q in positions.items()})
    totals = (
        sum(Decimal(g["initial_requirement"]) for g in result["groups"]),
        sum(Decimal(g["maintenance_requirement"]) for g in result["groups"]),
    )
    assert totals == (held(result), held(result, "maintenance_requirement"))


def test_rule_texts_show_their_numbers() -> None:
    document = book([stock("ABC", "65"), option("C68", "ABC", "call", "68", "1.50")], {"C68": -1})
    rule = only_group(margin(document))["rule"]
    assert rule.startswith("naked call: max(20% x 65 - 3 out of the money, 10% x 65")
    assert "= 10 a share x 1 x 100 = 1000.00" in rule


def test_underlyings_are_margined_apart() -> None:
    document = book(
        [
            stock("A", "50"),
            stock("B", "20"),
            option("A C55", "A", "call", "55", "1"),
            option("B P20", "B", "put", "20", "1"),
        ],
        {"A": 100, "A C55": -1, "B P20": -1},
    )
    result = margin(document)
    assert strategies(result) == ["covered_call", "naked_put"]
    assert result["initial_requirement"] == "2800.00"  # 2,500 - 100 + 20% x 20 x 100


def test_mini_options_use_their_multiplier() -> None:
    document = book(
        [stock("ABC", "65"), option("C68", "ABC", "call", "68", "1.50", multiplier=10)], {"C68": -1}
    )
    assert margin(document)["initial_requirement"] == "100.00"


def test_each_group_is_rounded_up_once() -> None:
    # 1 share at 10.01: 5.005 and 2.5025, each rounded up to the cent, never along the way.
    result = margin(book([stock("ABC", "10.01")], {"ABC": 1}))
    assert (result["initial_requirement"], result["maintenance_requirement"]) == ("5.01", "2.51")


# --- parameters -------------------------------------------------------------------------------


def test_parameters_override_the_rule_book_rates() -> None:
    # A house rule like tastytrade's for cash-settled indices: 25%/15% instead of 15%/10%
    # (https://support.tastyworks.com/support/solutions/articles/43000435195-naked-short-call).
    document = book(
        [index("IDX", "1000"), option("P950", "IDX", "put", "950", "5")],
        {"P950": -1},
        parameters={"naked_broad_index": "0.25", "naked_minimum": "0.15"},
    )
    # max(25% x 1000 - 50, 15% x 950) = 200 a share
    assert margin(document)["initial_requirement"] == "20000.00"
    house = book([stock("ABC", "10")], {"ABC": 100}, parameters={"long_stock_initial": "0.7"})
    assert margin(house)["initial_requirement"] == "700.00"


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"naked_rate": "0.3"}, "parameters.naked_rate"),
        ({"naked": "-0.2"}, "parameters.naked"),
        ({"loan_value_months": "9.5"}, "parameters.loan_value_months"),
    ],
)
def test_bad_parameters_are_refused_naming_them(parameters: dict, field: str) -> None:
    document = book([stock("ABC", "10")], {"ABC": 100}, parameters=parameters)
    with pytest.raises(PortfolioError) as refused:
        margin(document)
    assert refused.value.field == field


# --- malformed portfolios are refused, naming the field ---------------------------------------


def _good() -> dict:
    return book(
        [stock("XYZ", "50"), option("XYZ C55", "XYZ", "call", "55", "1.20")],
        {"XYZ": 200, "XYZ C55": -2},
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["positions"].append({"symbol": "NOPE", "quantity": 1}), "positions[2].symbol"),
        (lambda d: d["instruments"][0].pop("price"), "instruments[0].price"),
        (lambda d: d["positions"][1].update(quantity="two"), "positions[1].quantity"),
        (lambda d: d["instruments"][1].pop("strike"), "instruments[1].strike"),
        (lambda d: d["instruments"][1].update(expiry="2025-12-19"), "instruments[1].expiry"),
        (lambda d: d["instruments"][1].update(underlying="ABC"), "instruments[1].underlying"),
        (lambda d: d.pop("as_of"), "as_of"),
    ],
    ids=[
        "unknown symbol",
        "missing price",
        "non-numeric quantity",
        "option without strike",
        "expired option",
        "unknown underlying",
        "no valuation date",
    ],
)  # fmt: skip
def test_malformed_portfolios_are_refused_naming_the_field(change, field: str) -> None:
    document = _good()
    change(document)
    with pytest.raises(PortfolioError) as refused:
        margin(document)
    assert refused.value.field == field


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(PortfolioError) as refused:
        margin_compute(portfolio_parse(_good()), "cboe")
    assert refused.value.field == "policy"
