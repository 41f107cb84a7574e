"""cboe-strategy against worked examples from rule books and broker documentation, to the cent.

Each source is cited where it is used. Sources quote a naked short option's requirement *with*
its premium; the contract's held view subtracts the proceeds (the short option is a liability
in ``equity``), so such figures are checked as source - premium, with the source's own number
in the comment. Spreads are quoted net of the credit already, and match as printed.
"""

from __future__ import annotations

import pytest

from tests.risk.cboe_builders import FAR, book, index, margin, option, stock, strategies

EUROPEAN_CASH = {"exercise_style": "european", "settlement": "cash"}


def initial(document: dict) -> str:
    return margin(document)["initial_requirement"]


# --- the contract's own examples (../shared/contracts/margin-cli.md) ------------------------


def test_contract_covered_call_is_the_deposit_still_owed() -> None:
    document = book(
        [
            stock("XYZ", "50.00", underlying_class="equity"),
            option("XYZ 270115C55", "XYZ", "call", "55", "1.20", expiry="2027-01-15"),
        ],
        {"XYZ": "200", "XYZ 270115C55": "-2"},
        as_of="2026-11-26",
        cash="240.00",
        loan="10000.00",
        volatility={"XYZ": "0.32"},
    )
    result = margin(document)
    assert result["policy"] == "cboe-strategy"
    assert result["currency"] == "USD"
    assert result["equity"] == "0.00"
    assert result["initial_requirement"] == "4760.00"
    assert result["excess_initial"] == "-4760.00"
    # FINRA 4210 maintenance: 25% of the stock (valued at no more than the 55 strike) less the
    # call's value: 2,500 - 240.
    assert result["maintenance_requirement"] == "2260.00"
    assert result["excess_maintenance"] == "-2260.00"
    assert result["margin_ratio"] == "0.0000"
    assert result["collateral_ratio"] == "1.0000"  # (240 + 10,000) / (10,000 + 240)
    [group] = result["groups"]
    assert group["strategy"] == "covered_call"
    assert group["legs"] == [
        {"symbol": "XYZ", "quantity": "200"},
        {"symbol": "XYZ 270115C55", "quantity": "-2"},
    ]
    assert (group["initial_requirement"], group["maintenance_requirement"]) == (
        "4760.00",
        "2260.00",
    )


def test_contract_collateral_ratio_example() -> None:
    # "With 50 in cash, 100 of stock and a loan of 100 it is 1.5."
    document = book([stock("ABC", "100")], {"ABC": 1}, cash="50", loan="100")
    assert margin(document)["collateral_ratio"] == "1.5000"


def test_naked_call_tastytrade_1150_is_1000_held() -> None:
    # https://support.tastyworks.com/support/solutions/articles/43000435195-naked-short-call
    # Sell 1 MAR 68 call at 1.50, stock at 65: [((.2 x 65) - 3) + 1.50] x 100 = 1,150; "the
    # buying power required for this trade would be $1,000".
    document = book([stock("ABC", "65"), option("C68", "ABC", "call", "68", "1.50")], {"C68": -1})
    result = margin(document)
    assert result["initial_requirement"] == "1000.00"
    assert result["maintenance_requirement"] == "1000.00"
    assert strategies(result) == ["naked_call"]
    assert "1150.00" in result["groups"][0]["rule"]


def test_credit_spread_tastytrade_width_100_credit_35_needs_65() -> None:
    # https://tastyworks.freshdesk.com/support/solutions/articles/43000435260-short-credit-vertical-spread
    # Sell 1 ABC 100 call at 1.40, buy 1 ABC 101 call at 1.05: requirement 100, credit 35,
    # "BP Effect: -$65". (The page gives no stock price; any price leaves the width cheaper.)
    document = book(
        [
            stock("ABC", "100"),
            option("C100", "ABC", "call", "100", "1.40"),
            option("C101", "ABC", "call", "101", "1.05"),
        ],
        {"C100": -1, "C101": 1},
    )
    result = margin(document)
    assert result["initial_requirement"] == "65.00"
    assert strategies(result) == ["vertical_spread"]


def test_naked_put_tastytrade() -> None:
    # https://support.tastyworks.com/support/solutions/articles/43000435177-naked-short-put
    # Sell 1 MAR 45 put at .50, stock at 47.50: [((.2 x 47.50) - 2.5) + 0.50] x 100 = 750;
    # "resulting in a buying power requirement of $700".
    document = book([stock("ABC", "47.50"), option("P45", "ABC", "put", "45", "0.50")], {"P45": -1})
    assert initial(document) == "700.00"


def test_short_strangle_tastytrade() -> None:
    # https://support.tastyworks.com/support/solutions/articles/43000435282-short-straddle-strangle
    # Underlying 45; sell 1 Mar 47 call at 2.10 (910 with premium) and 1 Mar 43 put at 1.20
    # (820): "the total margin requirement $1,030" = 910 + 120; less 330 of proceeds = 700.
    document = book(
        [
            stock("ABC", "45"),
            option("C47", "ABC", "call", "47", "2.10"),
            option("P43", "ABC", "put", "43", "1.20"),
        ],
        {"C47": -1, "P43": -1},
    )
    result = margin(document)
    assert result["initial_requirement"] == "700.00"
    assert strategies(result) == ["strangle"]


def test_iron_condor_tastytrade_uses_one_wing() -> None:
    # https://tastyworks.freshdesk.com/support/solutions/articles/43000435229-short-iron-condor
    # Buy 2 MAR 50 puts at .80, sell 2 MAR 53 puts at 1.25, sell 2 MAR 67 calls at 2.00, buy
    # 2 MAR 70 calls at .75: "The margin requirement for this position is $600"; the credit of
    # 340 applies: 260.
    document = book(
        [
            stock("ABC", "60"),
            option("P50", "ABC", "put", "50", "0.80"),
            option("P53", "ABC", "put", "53", "1.25"),
            option("C67", "ABC", "call", "67", "2.00"),
            option("C70", "ABC", "call", "70", "0.75"),
        ],
        {"P50": 2, "P53": -2, "C67": -2, "C70": 2},
    )
    result = margin(document)
    assert result["initial_requirement"] == "260.00"
    [group] = result["groups"]
    assert group["strategy"] == "iron_condor"
    assert "maximum potential loss 600.00" in group["rule"]


def test_fidelity_style_short_put_and_put_spread_edeltapro() -> None:
    # https://www.edeltapro.com/knowledge-base/margin
    # Short 1 Sep 200 put at 1.20, stock 209: requirement 3,400.00, proceeds 120.00, "Margin
    # call (SMA debit): $3,280.00".
    naked = book([stock("ABC", "209"), option("P200", "ABC", "put", "200", "1.20")], {"P200": -1})
    assert initial(naked) == "3280.00"
    # Long 1 Sep 120 put at 0.80, short 1 Sep 125 put at 1.24: requirement 580.00 (the 500
    # width and the long paid in full), proceeds 124.00, "Margin call (SMA debit): $456.00".
    spread = book(
        [
            stock("ABC", "130"),
            option("P120", "ABC", "put", "120", "0.80"),
            option("P125", "ABC", "put", "125", "1.24"),
        ],
        {"P120": 1, "P125": -1},
    )
    assert initial(spread) == "456.00"


# --- Cboe's 2007 strategy-based examples ------------------------------------------------------
# "Margin Requirement Examples for Sample Options-based Positions" (Cboe, a/o close of Feb. 23,
# 2007), https://studylib.net/doc/11615061/ (also
# https://online.documentine.com/example-of-short-sale/3/margin-requirement-examples-for-sample-options-based.html).
# The table applies the option proceeds, as the held view does. IBM at 97.73.

IBM = [
    stock("IBM", "97.73"),
    option("IBM C100", "IBM", "call", "100", "1.68", expiry="2007-04-20"),
    option("IBM P100", "IBM", "put", "100", "3.18", expiry="2007-04-20"),
    option("IBM P95", "IBM", "put", "95", "1.02", expiry="2007-04-20"),
    option("IBM C105", "IBM", "call", "105", "0.40", expiry="2007-04-20"),
    option("IBM C95", "IBM", "call", "95", "4.53", expiry="2007-04-20"),
]


@pytest.mark.parametrize(
    ("positions", "expected", "names"),
    [
        ({"IBM C100": -100}, "172760.00", ["naked_call"]),
        ({"IBM P100": -100}, "195460.00", ["naked_put"]),
        ({"IBM": 10_000, "IBM C100": -100}, "471850.00", ["covered_call"]),
        ({"IBM": 10_000, "IBM P95": 100}, "498850.00", ["protective_put"]),
        ({"IBM C100": 100, "IBM P100": -100}, "212260.00", ["long_option", "naked_put"]),
        ({"IBM P95": 100, "IBM C105": -100}, "132960.00", ["long_option", "naked_call"]),
        ({"IBM": 10_000, "IBM P95": 100, "IBM C105": -100}, "494850.00", ["collar"]),
        ({"IBM C95": 100, "IBM C105": -100}, "41300.00", ["vertical_spread"]),
    ],
    ids=[
        "short call",
        "short put",
        "covered call",
        "protective put",
        "synthetic long",
        "risk reversal",
        "collar",
        "long vertical call spread",
    ],
)
def test_cboe_2007_equity_examples(positions: dict, expected: str, names: list[str]) -> None:
    result = margin(book(IBM, positions, as_of="2007-02-23"))
    assert result["initial_requirement"] == expected
    assert strategies(result) == names


# The SPX column: broad-based, 15%. The table does not print the index level; both its short
# call (2,088,685) and short put (2,176,785) lines imply 1451.19, used for every line here.
SPX = [
    index("SPX", "1451.19"),
    option("SPX C1460", "SPX", "call", "1460", "21.66", expiry="2007-04-20", **EUROPEAN_CASH),
    option("SPX P1460", "SPX", "put", "1460", "22.55", expiry="2007-04-20", **EUROPEAN_CASH),
    option("SPX P1450", "SPX", "put", "1450", "18.72", expiry="2007-04-20", **EUROPEAN_CASH),
    option("SPX C1500", "SPX", "call", "1500", "5.96", expiry="2007-04-20", **EUROPEAN_CASH),
    option("SPX C1450", "SPX", "call", "1450", "27.57", expiry="2007-04-20", **EUROPEAN_CASH),
]


@pytest.mark.parametrize(
    ("positions", "expected"),
    [
        ({"SPX C1460": -100}, "2088685.00"),
        ({"SPX P1460": -100}, "2176785.00"),
        ({"SPX C1460": 100, "SPX P1460": -100}, "2393385.00"),
        ({"SPX P1450": 100, "SPX C1500": -100}, "1875885.00"),
        ({"SPX C1450": 100, "SPX C1500": -100}, "216100.00"),
    ],
    ids=["short call", "short put", "synthetic long", "risk reversal", "long vertical"],
)
def test_cboe_2007_broad_based_index_examples(positions: dict, expected: str) -> None:
    assert initial(book(SPX, positions, as_of="2007-02-23")) == expected


# --- FINRA / NYSE short-sale requirements -----------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "price", "maintenance"),
    [
        (-1_000, "50", "15000.00"),  # A: 30% = 15,000 > $5 a share
        (-10_000, "5", "50000.00"),  # B: $5 a share = 50,000 > 30%
        (-10_000, "4.50", "45000.00"),  # C: below $5, 100% = 45,000 > $2.50 a share
        (-50_000, "1.00", "125000.00"),  # D: $2.50 a share = 125,000 > 100%
    ],
)
def test_short_stock_maintenance_per_share_minimums(shares: int, price: str, maintenance: str):
    # https://si.frajer.net/readmsg.aspx?msgid=14932764 ("the basic NYSE/NASD requirement")
    result = margin(book([stock("SHRT", price)], {"SHRT": shares}))
    assert result["maintenance_requirement"] == maintenance
    assert strategies(result) == ["short_stock"]


@pytest.mark.parametrize(
    ("shares", "price", "deposit"),
    [
        (-500, "40", "10000.00"),  # 50% = 10,000 > $5 a share
        (-10_000, "2.00", "25000.00"),  # "$25,000 must be deposited": $2.50 a share
    ],
)
def test_short_stock_initial_is_at_least_the_maintenance(shares: int, price: str, deposit: str):
    # https://si.frajer.net/readmsg.aspx?msgid=14932750: the proceeds stay on deposit (they are
    # in cash in the held view) plus 50%, or the per-share minimum when it is higher.
    assert initial(book([stock("SHRT", price)], {"SHRT": shares})) == deposit


# --- naked options: textbooks and the Cboe manual's samples ------------------------------------


def test_put_minimum_is_ten_percent_of_the_strike() -> None:
    # https://si.frajer.net/readmsg.aspx?msgid=14937063: write 10 Jan 40 puts with the stock at
    # 50 for 2: 20% less the 10 out of the money is nothing, "Option premium 2,000 plus 10% of
    # strike 4,000: requirement 6,000"; less the 2,000 of proceeds.
    document = book([stock("ABC", "50"), option("P40", "ABC", "put", "40", "2")], {"P40": -10})
    assert initial(document) == "4000.00"


def test_call_minimum_is_ten_percent_of_the_underlying() -> None:
    # https://www.coursehero.com/file/24922/quiz4/ (CBOE naked MSFT call, strike 30, stock 26,
    # price 0.50): 50 + 520 - 400 = 170 against 50 + 260 = 310: "$310 per contract"; held 260.
    document = book([stock("MSFT", "26"), option("C30", "MSFT", "call", "30", "0.50")], {"C30": -1})
    assert initial(document) == "260.00"


def test_hull_naked_puts_in_the_money() -> None:
    # Hull, Options, Futures and Other Derivatives (problem: five naked puts, strike 64, price
    # 10, stock 58): "the greater of 500 x (10 + 0.2 x 58) = 10,800 and ..."
    # https://www.solutioninn.com/a-trader-writes-five-naked-put-option-contracts-with-each
    document = book([stock("ABC", "58"), option("P64", "ABC", "put", "64", "10")], {"P64": -5})
    assert initial(document) == "5800.00"


def test_broad_index_put_floor_binds_hull_quiz() -> None:
    # https://www.solutioninn.com/study-help/questions/a-trader-writes-ten-naked-option-contracts-with-each-contract-6545566
    # Ten index puts, strike 320, index 340, price 16: 15% x 340 - 20 = 31 is below 10% of the
    # strike, 32: (16 + 32) x 1,000 = 48,000 (answer A); held 32,000.
    document = book([index("IDX", "340"), option("P320", "IDX", "put", "320", "16")], {"P320": -10})
    assert initial(document) == "32000.00"


def test_fincyclopedia_naked_put() -> None:
    # https://fincyclopedia.net/?p=24378: five puts, price 4, stock 52, strike 55:
    # (5 x 100) x (4 + 20% x 52) = 7,200; held 5,200.
    document = book([stock("ABC", "52"), option("P55", "ABC", "put", "55", "4")], {"P55": -5})
    assert initial(document) == "5200.00"


# The Cboe Margin Manual's sample calculations as reproduced in tastyware/margin-estimator's
# tests, https://github.com/tastyware/margin-estimator/blob/main/test.py (its
# ``margin_requirement``; it rounds per share to whole dollars, the figures here are exact).


@pytest.mark.parametrize(
    ("underlying", "contract", "quantity", "expected"),
    [
        # test_short_broad: 445.35 index, 410 put at 0.10: 10% of the strike binds, 4,110
        (index("IDX", "445.35"), ("put", "410", "0.10"), -1, "4100.00"),
        # test_short_broad_2: 15% x 433.35 - 3.35 + 7.80 = 69.4525 a share (6,945)
        (index("IDX", "433.35"), ("put", "430", "7.80"), -1, "6165.25"),
        # test_short_call_broad: 15% x 43.34 - 1.66 + 1.35 = 6.191 (619)
        (index("IDX", "43.34"), ("call", "45", "1.35"), -1, "484.10"),
        # test_short_call: 10% of 26.38 binds: 2.638 + 0.05 = 2.688 a share (269)
        (stock("ABC", "26.38"), ("call", "30", "0.05"), -1, "263.80"),
        # test_short_call_itm: 20% x 128.5 + 8.40 = 34.10 (3,410)
        (stock("ABC", "128.5"), ("call", "120", "8.40"), -1, "2570.00"),
        # test_short_put_itm: 20% x 19.5 + 1.50 = 5.40 (540)
        (stock("ABC", "19.5"), ("put", "20", "1.50"), -1, "390.00"),
        # test_short_leveraged: 2x ETF at 970, 725 put at 3: 20% of the strike binds (14,800)
        (
            stock("LEV", "970", underlying_class="leveraged_etf", leverage="2"),
            ("put", "725", "3"),
            -1,
            "14500.00",
        ),
        # test_short_leveraged_itm: 3x at 390.70, 400 put at 15.50: 60% x 390.70 + 15.50 (24,992)
        (
            stock("LEV", "390.70", underlying_class="leveraged_etf", leverage="3"),
            ("put", "400", "15.50"),
            -1,
            "23442.00",
        ),
        # test_short_call_leveraged: 1.5x at 1050.30, 1250 call at 2: 15% of 1050.30 binds
        # (15,954.50, printed 15,954)
        (
            stock("LEV", "1050.30", underlying_class="leveraged_etf", leverage="1.5"),
            ("call", "1250", "2"),
            -1,
            "15754.50",
        ),
        # test_long_option_18_months: 75% of 1,200
        (stock("ABC", "78"), ("call", "80", "12"), 1, "900.00"),
        # test_long_option_20_months: 75% of 1,680
        (index("IDX", "1290"), ("call", "1325", "16.80"), 1, "1260.00"),
    ],
    ids=[
        "broad put strike floor",
        "broad put",
        "broad call",
        "call underlying floor",
        "call in the money",
        "put in the money",
        "2x leveraged put",
        "3x leveraged put",
        "1.5x leveraged call",
        "long call 18 months",
        "long call 20 months",
    ],
)
def test_cboe_manual_single_options(underlying, contract, quantity, expected) -> None:
    right, strike, price = contract
    symbol = underlying["symbol"]
    document = book(
        [underlying, option("OPT", symbol, right, strike, price, expiry=FAR)], {"OPT": quantity}
    )
    assert initial(document) == expected


def _estimator_book(price: str, legs: str, broad: bool = False) -> dict:
    """``legs`` as "quantity right+strike price", comma separated: "-1 C90 7, -1 P90 3.7"."""
    underlying = index("U", price) if broad else stock("U", price)
    instruments, positions = [underlying], {}
    for leg in legs.split(","):
        quantity, series, premium = leg.split()
        right = {"C": "call", "P": "put"}[series[0]]
        instruments.append(option(series, "U", right, series[1:], premium))
        positions[series] = quantity
    return book(instruments, positions)


@pytest.mark.parametrize(
    ("price", "legs", "broad", "expected", "strategy"),
    [
        # test_straddle (the Cboe manual's short straddle, p. 45): 25.526 + 3.70 = 29.226 a
        # share (2,923); less 1,070 of proceeds
        ("92.63", "-1 C90 7, -1 P90 3.7", False, "1852.60", "straddle"),
        # test_straddle_broad: the put's 72.2025 + the call's 5.50 (7,770)
        ("433.35", "-1 C435 5.5, -1 P435 7.2", True, "6500.25", "straddle"),
        # test_put_credit_spread: 500 - 140 = 360
        ("433.35", "1 P425 6.4, -1 P430 7.8", True, "360.00", "vertical_spread"),
        # test_call_credit_spread_itm: 500 - 460 = 40
        ("128.5", "1 C125 3.8, -1 C120 8.4", False, "40.00", "vertical_spread"),
        # test_put_debit_spread: 300 - 95 = 205
        ("255", "1 P250 3, -1 P240 0.95", False, "205.00", "vertical_spread"),
        # test_long_put_butterfly (10 and 5 wide wings): 500 at zero + 100 of debit = 600
        ("550", "1 P540 5.6, -2 P550 7.2, 1 P555 9.8", False, "600.00", "butterfly"),
        # test_long_call_butterfly (5 and 15 wide): 1,000 at 565 - 320 of credit = 680
        ("550", "1 C545 12.4, -2 C550 8.8, 1 C565 2", False, "680.00", "butterfly"),
        # test_long_put_condor: no loss anywhere, 1,050 of debit
        (
            "1160",
            "1 P1050 47.1, -1 P1075 55.7, -1 P1100 66.3, 1 P1125 85.4",
            False,
            "1050.00",
            "condor",
        ),
        # test_long_call_condor: 125 of debit
        ("26.75", "1 C22.5 0.45, -1 C25 0.75, -1 C30 2.75, 1 C32.5 4.3", False, "125.00", "condor"),
        # test_iron_butterfly: 400 - 310 = 90
        ("26.75", "1 P16 0.1, -1 P20 0.2, -1 C20 7, 1 C24 4", False, "90.00", "iron_butterfly"),
        # test_iron_condor: 2,500 - 620 = 1,880
        (
            "1060",
            "1 P1000 32, -1 P1025 35.1, -1 C1150 9.4, 1 C1175 6.3",
            False,
            "1880.00",
            "iron_condor",
        ),
    ],
    ids=[
        "short straddle",
        "broad short straddle",
        "put credit spread",
        "call credit spread in the money",
        "put debit spread",
        "broken-wing put butterfly",
        "broken-wing call butterfly",
        "put condor",
        "call condor",
        "iron butterfly",
        "iron condor",
    ],
)
def test_cboe_manual_multi_leg(price, legs, broad, expected, strategy) -> None:
    result = margin(_estimator_book(price, legs, broad))
    assert result["initial_requirement"] == expected
    assert strategies(result) == [strategy]


def test_short_calendar_is_naked_plus_the_long() -> None:
    # margin-estimator test_call_calendar_spread: stock 75, long 70 call expiring today at 5,
    # short 70 call a month later at 8: the short outlives the long, so it is naked: 2,300
    # with its premium + 500 for the long = 2,800; held 2,000.
    document = book(
        [
            stock("U", "75"),
            option("NEAR", "U", "call", "70", "5", expiry="2026-01-02"),
            option("LATER", "U", "call", "70", "8", expiry="2026-02-02"),
        ],
        {"NEAR": 1, "LATER": -1},
    )
    result = margin(document)
    assert result["initial_requirement"] == "2000.00"
    assert strategies(result) == ["long_option", "naked_call"]


# --- where LEAN's greedy matcher went wrong ---------------------------------------------------


def test_lean_9775_unequal_wing_condor_pays_the_wider_wing() -> None:
    # https://github.com/QuantConnect/Lean/issues/9775: SPXW 7135/7185 puts, 7500/7660 calls,
    # quantity 2: LEAN charged the 50-point put wing, 10,000; the gross expiration loss is the
    # 160-point call wing, 32,000.
    document = book(
        [
            index("SPX", "7350"),
            option("P7135", "SPX", "put", "7135", "20", **EUROPEAN_CASH),
            option("P7185", "SPX", "put", "7185", "30", **EUROPEAN_CASH),
            option("C7500", "SPX", "call", "7500", "25", **EUROPEAN_CASH),
            option("C7660", "SPX", "call", "7660", "5", **EUROPEAN_CASH),
        ],
        {"P7135": 2, "P7185": -2, "C7500": -2, "C7660": 2},
    )
    result = margin(document)
    [group] = result["groups"]
    assert group["strategy"] == "iron_condor"
    assert "maximum potential loss 32000.00" in group["rule"]
    # 32,000 + 5,000 paid for the wings - 11,000 of proceeds
    assert result["initial_requirement"] == "26000.00"


def test_lean_9638_covered_debit_spreads_are_never_naked() -> None:
    # https://github.com/QuantConnect/Lean/pull/9639: holding 598C +1, 603C -1 and adding
    # 600C +1, 605C -1 (SPY about 600) was regrouped into a ladder with a naked call (about
    # 12k); two bull call spreads need only their debits.
    document = book(
        [
            stock("SPY", "600"),
            option("C598", "SPY", "call", "598", "9.10"),
            option("C600", "SPY", "call", "600", "8.00"),
            option("C603", "SPY", "call", "603", "6.40"),
            option("C605", "SPY", "call", "605", "5.45"),
        ],
        {"C598": 1, "C603": -1, "C600": 1, "C605": -1},
    )
    result = margin(document)
    assert result["initial_requirement"] == "525.00"  # (9.10 - 6.40) + (8.00 - 5.45), x 100
    assert strategies(result) == ["vertical_spread", "vertical_spread"]
