"""``cn-rzrq`` (融资融券): available margin for opening, the 维持担保比例 lines for maintenance.

Expected values come from the exchanges' formulas written out here (保证金可用余额 and
维持担保比例, research notes §6), not from the engine's per-position decomposition.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from risk.engine.policies import margin_compute
from risk.engine.portfolio import PortfolioError, portfolio_parse
from risk.engine.result import MarginResult


def share(symbol: str, price: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "kind": "equity", "price": price, **extra}


def margin(
    instruments: list[dict[str, Any]],
    positions: list[tuple[str, str]],
    *,
    cash: str = "0",
    loan: str = "0",
    as_of: str = "2026-11-26",
    parameters: dict[str, str] | None = None,
) -> MarginResult:
    document = {
        "currency": "CNY",
        "as_of": as_of,
        "cash": cash,
        "loan": loan,
        "instruments": instruments,
        "positions": [{"symbol": s, "quantity": q} for s, q in positions],
        "parameters": parameters or {},
    }
    return margin_compute(portfolio_parse(document), "cn-rzrq")


def test_the_contracts_collateral_ratio_example() -> None:
    # "With 50 in cash, 100 of stock and a loan of 100 it is 1.5."
    result = margin([share("600000", "10")], [("600000", "10")], cash="50", loan="100")
    payload = result.as_json()
    assert payload["collateral_ratio"] == "1.5000"
    # Held to the 130 % line: (1.30 - 1) x 100 owed; 1.5 is not below the 150 % warning line.
    assert payload["maintenance_requirement"] == "30.00"
    assert payload["excess_maintenance"] == "20.00"
    assert payload["margin_ratio"] == "1.6667"  # (1.5 - 1) / (1.3 - 1)
    assert payload["line"] == "healthy"
    assert payload["lines"] == {"warning": "1.5000", "liquidation": "1.3000"}


@pytest.mark.parametrize(
    ("as_of", "deposit"),
    [
        (
            "2026-11-26",
            "8000.00",
        ),  # 80 %: SSE art. 39 / SZSE art. 4.5 after the close of 2023-09-08
        ("2023-09-09", "8000.00"),
        ("2023-09-08", "10000.00"),  # 100 % until then
    ],
)
def test_a_financed_purchase_needs_the_financing_margin_ratio(as_of: str, deposit: str) -> None:
    # A flat account buys 1,000 shares at 10 entirely with a loan: equity 0, and the deposit it
    # owes is 10,000 x the financing margin ratio (1 M of margin "can borrow up to 1.25 M" at 80 %).
    result = margin([share("600000", "10")], [("600000", "1000")], loan="10000", as_of=as_of)
    payload = result.as_json()
    assert payload["equity"] == "0.00"
    assert payload["initial_requirement"] == deposit
    assert payload["excess_initial"] == f"-{deposit}"
    assert [g.strategy for g in result.groups] == ["long_stock", "financing"]


def test_owned_collateral_counts_at_its_haircut() -> None:
    # 保证金可用余额 = cash + Σ collateral x 折算率 = 10,000 + 10,000 x 0.65 (A-shares, default).
    result = margin([share("000001", "10")], [("000001", "1000")], cash="10000")
    payload = result.as_json()
    assert payload["excess_initial"] == "16500.00"
    assert payload["initial_requirement"] == "3500.00"
    assert payload["maintenance_requirement"] == "0.00"
    assert payload["collateral_ratio"] is None  # nothing owed
    assert payload["margin_ratio"] is None
    assert payload["line"] == "healthy"


def test_etfs_and_per_instrument_haircuts() -> None:
    instruments = [
        {"symbol": "510300", "kind": "etf", "price": "4", "underlying_class": "broad_index"},
        share("600001", "10", haircut="0"),  # ST: no collateral value
    ]
    result = margin(instruments, [("510300", "1000"), ("600001", "100")])
    by_symbol = {g.legs[0][0]: g.initial for g in result.groups}
    assert by_symbol == {"510300": Decimal("400.00"), "600001": Decimal("1000.00")}


@pytest.mark.parametrize(
    ("as_of", "ratio"),
    [
        ("2026-11-26", "1.00"),
        ("2024-07-22", "1.00"),
        ("2024-07-21", "0.80"),
        ("2023-10-29", "0.50"),
    ],
)
def test_a_short_sale_needs_the_lending_margin_ratio(as_of: str, ratio: str) -> None:
    # 10,000 of cash, then 500 shares sold short at 10: the 5,000 of proceeds are frozen and the
    # sale ties up 5,000 x the lending ratio (CSRC: 80 % from 2023-10-30, 100 % from 2024-07-22).
    result = margin([share("600000", "10")], [("600000", "-500")], cash="15000", as_of=as_of)
    available = Decimal(15000) - 5000 - 5000 * Decimal(ratio)
    payload = result.as_json()
    assert payload["excess_initial"] == f"{available:.2f}"
    (group,) = result.groups
    assert group.strategy == "short_stock"
    assert group.maintenance == Decimal("1500.00")  # (1.30 - 1) x 5,000


def test_the_loan_is_taken_to_have_bought_the_highest_haircut_holding() -> None:
    # Two holdings of 10,000: A at 0.70, B at 0.50, and a loan of 10,000. Counting A as financed
    # leaves B (the lower haircut) as owned collateral: the least collateral the facts allow.
    instruments = [share("A", "10", haircut="0.70"), share("B", "10", haircut="0.50")]
    result = margin(instruments, [("B", "1000"), ("A", "1000")], cash="1000", loan="10000")
    # 保证金可用余额 = cash + owned x 折算率 + (financed value - loan) x 折算率 - loan x 80 %.
    available = Decimal(1000) + 10000 * Decimal("0.50") + 0 - 10000 * Decimal("0.80")
    assert result.as_json()["excess_initial"] == f"{available:.2f}"


def test_a_loan_above_the_holdings_counts_the_loss_in_full() -> None:
    # Financed stock bought for 10,000 now worth 6,000: the 4,000 loss counts at 100 %.
    result = margin([share("A", "6")], [("A", "1000")], cash="5000", loan="10000")
    available = Decimal(5000) - 4000 - 10000 * Decimal("0.80")
    assert result.as_json()["excess_initial"] == f"{available:.2f}"


def test_two_lots_of_one_share_are_margined_as_one_holding() -> None:
    instruments = [share("A", "10", haircut="0.70"), share("B", "10", haircut="0.50")]
    lots = margin(instruments, [("A", "600"), ("B", "1000"), ("A", "400")], loan="8000")
    whole = margin(instruments, [("A", "1000"), ("B", "1000")], loan="8000")
    assert lots.initial_requirement == whole.initial_requirement
    assert lots.maintenance_requirement == whole.maintenance_requirement


@pytest.mark.parametrize(
    ("cash", "line"),
    [
        ("50", "healthy"),  # 150 / 100
        ("49.99", "warning"),
        ("30", "warning"),  # exactly 130 %: at the line, not below it
        ("29.99", "liquidation"),
    ],
)
def test_the_warning_and_liquidation_lines(cash: str, line: str) -> None:
    result = margin([share("600000", "10")], [("600000", "10")], cash=cash, loan="100")
    assert result.as_json()["line"] == line
    assert (result.excess_maintenance >= 0) == (line != "liquidation")


def test_the_lines_are_parameters() -> None:
    result = margin(
        [share("600000", "10")],
        [("600000", "10")],
        cash="30",
        loan="100",
        parameters={"warning_line": "1.40", "liquidation_line": "1.15"},
    )
    payload = result.as_json()
    assert payload["line"] == "warning"
    assert payload["maintenance_requirement"] == "15.00"
    assert payload["lines"] == {"warning": "1.4000", "liquidation": "1.1500"}


def test_an_overdraft_is_owed_like_the_loan() -> None:
    # 维持担保比例 = 100 of stock / (60 loan + 20 overdraft) = 1.25: below the 130 % line.
    result = margin([share("600000", "10")], [("600000", "10")], cash="-20", loan="60")
    payload = result.as_json()
    assert payload["collateral_ratio"] == "1.2500"
    assert payload["maintenance_requirement"] == "24.00"  # 0.30 x 80
    assert payload["line"] == "liquidation"


@pytest.mark.parametrize(
    ("instrument", "field"),
    [
        (
            {
                "symbol": "C",
                "kind": "option",
                "underlying": "600000",
                "right": "call",
                "strike": "10",
                "expiry": "2027-01-15",
                "multiplier": 10000,
                "price": "0.5",
            },
            "instruments[1].kind",
        ),
        ({"symbol": "C", "kind": "index", "price": "3800"}, "instruments[1].kind"),
    ],
)
def test_ineligible_instruments_name_the_field(instrument: dict[str, Any], field: str) -> None:
    with pytest.raises(PortfolioError) as caught:
        margin([share("600000", "10"), instrument], [("600000", "100"), ("C", "1")])
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"warning_line": "1.2"}, "parameters.warning_line"),  # below the 130 % liquidation line
        ({"liquidation_line": "0.9"}, "parameters.liquidation_line"),
        ({"haircut_etf": "1.2"}, "parameters.haircut_etf"),
        ({"financing_margin_ratio": "-1"}, "parameters.financing_margin_ratio"),
        ({"haircut": "0.5"}, "parameters.haircut"),
        ({"haircut_equity.600000": "0.5"}, "parameters.haircut_equity.600000"),
    ],
)
def test_a_bad_parameter_names_itself(parameters: dict[str, str], field: str) -> None:
    with pytest.raises(PortfolioError) as caught:
        margin([share("600000", "10")], [("600000", "100")], parameters=parameters)
    assert caught.value.field == field


# --- invariants ---------------------------------------------------------------------------------

amounts = st.integers(0, 10**7).map(lambda cents: Decimal(cents) / 100)


@st.composite
def accounts(draw: Any) -> tuple[list[dict[str, Any]], list[tuple[str, str]], str, str]:
    instruments, positions = [], []
    for n in range(draw(st.integers(1, 4))):
        symbol = f"60000{n}"
        haircut = draw(st.sampled_from([None, "0", "0.5", "0.65", "0.7"]))
        extra = {} if haircut is None else {"haircut": haircut}
        instruments.append(share(symbol, str(draw(st.integers(100, 10000)) / 100), **extra))
        positions.append((symbol, str(draw(st.integers(-5000, 5000).filter(bool)))))
    return instruments, positions, str(draw(amounts) - 20000), str(draw(amounts))


@hypothesis_settings(max_examples=100, deadline=None)
@given(account=accounts())
def test_maintenance_excess_agrees_with_the_liquidation_line(
    account: tuple[list[dict[str, Any]], list[tuple[str, str]], str, str],
) -> None:
    instruments, positions, cash, loan = account
    result = margin(instruments, positions, cash=cash, loan=loan)
    # Each group is rounded up once, so the excess can fall short of the line by a few cents.
    slack = Decimal("0.01") * len(result.groups)
    if result.as_json()["line"] == "liquidation":
        assert result.excess_maintenance < 0
    elif result.excess_maintenance < -slack:
        pytest.fail(f"{result.excess_maintenance} below the line but reported not liquidating")


@hypothesis_settings(max_examples=60, deadline=None)
@given(account=accounts(), factor=st.integers(2, 9), seed=st.integers(0, 2**32 - 1))
def test_scaling_and_leg_order(
    account: tuple[list[dict[str, Any]], list[tuple[str, str]], str, str], factor: int, seed: int
) -> None:
    instruments, positions, cash, loan = account
    base = margin(instruments, positions, cash=cash, loan=loan)
    scaled = margin(
        instruments,
        [(s, str(int(q) * factor)) for s, q in positions],
        cash=str(Decimal(cash) * factor),
        loan=str(Decimal(loan) * factor),
    )
    tolerance = Decimal("0.01") * factor * len(base.groups)
    assert abs(scaled.initial_requirement - factor * base.initial_requirement) <= tolerance
    assert abs(scaled.maintenance_requirement - factor * base.maintenance_requirement) <= tolerance
    shuffled = list(positions)
    random.Random(seed).shuffle(shuffled)
    reordered = margin(instruments, shuffled, cash=cash, loan=loan)
    assert reordered.initial_requirement == base.initial_requirement
    assert reordered.maintenance_requirement == base.maintenance_requirement
