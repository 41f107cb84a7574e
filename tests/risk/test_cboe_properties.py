"""Invariants of cboe-strategy's grouping, on random books.

- Grouping never costs more than margining every leg on its own.
- The order of positions and instruments does not matter.
- Scaling every quantity scales both requirements.
- Every leg lands in exactly one group.
- On small books priced without arbitrage, the grouping is the cheapest of all partitions the
  rules allow, found here by an independent exhaustive search.

Amounts are whole cents by construction (prices in cents, multiplier 100, stock in lots of 100),
so rounding each group up to the cent cannot blur a comparison.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date
from decimal import Decimal
from itertools import product
from typing import Any

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.risk.cboe_builders import AS_OF, book, margin, option, stock

CENT = Decimal("0.01")
EXPIRIES = ("2026-03-20", "2026-06-19", "2027-06-18")  # the last has loan value on AS_OF
LOAN_VALUE_AFTER = date(2026, 10, 2)
PRICES = ("20.00", "47.50", "100.00", "233.10")


@st.composite
def books(draw: Any, *, with_stock: bool = True, max_legs: int = 5) -> dict:
    price = Decimal(draw(st.sampled_from(PRICES)))
    underlying_class = draw(st.sampled_from(["equity", "broad_index"]))
    underlying = (
        {"symbol": "U", "kind": "index", "price": str(price), "underlying_class": "broad_index"}
        if underlying_class == "broad_index"
        else stock("U", str(price))
    )
    instruments, positions = [underlying], {}
    for index in range(draw(st.integers(1, max_legs))):
        right = draw(st.sampled_from(["call", "put"]))
        strike = (price * draw(st.integers(80, 120)) / 100).quantize(Decimal("0.5"))
        premium = Decimal(draw(st.integers(1, int(price * 30)))) * CENT
        symbol = f"O{index}"
        instruments.append(
            option(
                symbol,
                "U",
                right,
                str(strike),
                str(premium),
                expiry=draw(st.sampled_from(EXPIRIES)),
                exercise_style=draw(st.sampled_from(["american"] * 4 + ["european"])),
            )
        )
        positions[symbol] = draw(st.integers(-3, 3).filter(bool))
    if with_stock and underlying_class == "equity":
        shares = draw(st.integers(-3, 3)) * 100
        if shares:
            positions["U"] = shares
    return book(instruments, positions)


def separately(document: dict) -> tuple[Decimal, Decimal]:
    """Every leg margined on its own, written from the rule book independently of the engine."""
    price = Decimal(document["instruments"][0]["price"])
    broad = document["instruments"][0].get("underlying_class") == "broad_index"
    specs = {i["symbol"]: i for i in document["instruments"]}
    initial = maintenance = Decimal(0)
    for position in document["positions"]:
        quantity, spec = Decimal(position["quantity"]), specs[position["symbol"]]
        if spec["kind"] != "option":
            value = abs(quantity) * price
            if quantity > 0:
                initial += value / 2
                maintenance += value / 4
            else:
                per_share = max(price * Decimal("0.3"), Decimal(5))
                maintenance += per_share * -quantity
                initial += max(value / 2, per_share * -quantity)
            continue
        strike, premium = Decimal(spec["strike"]), Decimal(spec["price"])
        if quantity > 0:
            loan = date.fromisoformat(spec["expiry"]) > LOAN_VALUE_AFTER
            amount = quantity * 100 * premium * (Decimal("0.75") if loan else 1)
        else:
            rate = Decimal("0.15") if broad else Decimal("0.20")
            if spec["right"] == "call":
                per_share = max(rate * price - max(strike - price, 0), price / 10)
            else:
                per_share = max(rate * price - max(price - strike, 0), strike / 10)
            amount = -quantity * 100 * per_share
        initial += amount
        maintenance += amount
    return initial, maintenance


def requirements(result: dict) -> tuple[Decimal, Decimal]:
    return Decimal(result["initial_requirement"]), Decimal(result["maintenance_requirement"])


@hypothesis_settings(max_examples=150, deadline=None)
@given(books())
def test_never_above_the_legs_margined_separately(document: dict) -> None:
    initial, maintenance = requirements(margin(document))
    alone_initial, alone_maintenance = separately(document)
    assert initial <= alone_initial
    assert maintenance <= alone_maintenance


@hypothesis_settings(max_examples=100, deadline=None)
@given(books())
def test_every_leg_lands_in_exactly_one_group(document: dict) -> None:
    result = margin(document)
    grouped: Counter = Counter()
    for group in result["groups"]:
        for leg in group["legs"]:
            grouped[leg["symbol"]] += Decimal(leg["quantity"])
    assert grouped == Counter({p["symbol"]: Decimal(p["quantity"]) for p in document["positions"]})


@hypothesis_settings(max_examples=100, deadline=None)
@given(books(), st.randoms(use_true_random=False))
def test_leg_order_does_not_matter(document: dict, random: Any) -> None:
    shuffled = {**document, "instruments": list(document["instruments"])}
    shuffled["positions"] = list(document["positions"])
    random.shuffle(shuffled["instruments"])
    random.shuffle(shuffled["positions"])
    assert margin(shuffled) == margin(document)


@hypothesis_settings(max_examples=100, deadline=None)
@given(books(), st.sampled_from([2, 3, 10]))
def test_scaling_quantities_scales_requirements(document: dict, factor: int) -> None:
    scaled = {
        **document,
        "positions": [
            {**p, "quantity": str(Decimal(p["quantity"]) * factor)} for p in document["positions"]
        ],
    }
    initial, maintenance = requirements(margin(document))
    assert requirements(margin(scaled)) == (initial * factor, maintenance * factor)


# --- optimality against an exhaustive search --------------------------------------------------


def _black_scholes(right: str, spot: float, strike: float, years: float, vol: float) -> float:
    """Undiscounted Black-Scholes: prices consistent across strikes and expiries."""
    d1 = (math.log(spot / strike) + vol * vol * years / 2) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    cdf = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2  # noqa: E731
    call = spot * cdf(d1) - strike * cdf(d2)
    return call if right == "call" else call - spot + strike


@st.composite
def priced_books(draw: Any) -> dict:
    price = Decimal(draw(st.sampled_from(PRICES)))
    vol = draw(st.sampled_from([0.2, 0.35, 0.6]))
    broad = draw(st.booleans())
    underlying = (
        {"symbol": "U", "kind": "index", "price": str(price), "underlying_class": "broad_index"}
        if broad
        else stock("U", str(price))
    )
    instruments, positions, contracts = [underlying], {}, 0
    for index in range(draw(st.integers(2, 4))):
        right = draw(st.sampled_from(["call", "put"]))
        strike = (price * draw(st.integers(75, 125)) / 100).quantize(Decimal("0.5"))
        expiry = draw(st.sampled_from(EXPIRIES))
        years = (date.fromisoformat(expiry) - date.fromisoformat(AS_OF)).days / 365
        premium = _black_scholes(right, float(price), float(strike), years, vol)
        premium_text = str(max(Decimal(str(premium)).quantize(CENT), CENT))
        quantity = draw(st.integers(-2, 2).filter(bool))
        if contracts + abs(quantity) > 5:
            break
        contracts += abs(quantity)
        european = draw(st.sampled_from(["american"] * 4 + ["european"]))
        symbol = f"O{index}"
        instruments.append(
            option(
                symbol,
                "U",
                right,
                str(strike),
                premium_text,
                expiry=expiry,
                exercise_style=european,
            )
        )
        positions[symbol] = quantity
    return book(instruments, positions)


def _partitions(items: list) -> Any:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _partitions(rest):
        yield [[first], *partition]
        for index in range(len(partition)):
            yield [*partition[:index], [first, *partition[index]], *partition[index + 1 :]]


def _cheapest_partition(document: dict) -> Decimal:
    """The least total over every partition of the contracts into groups the rules allow."""
    price = Decimal(document["instruments"][0]["price"])
    rate = Decimal("0.15") if document["instruments"][0].get("kind") == "index" else Decimal("0.2")
    specs = {i["symbol"]: i for i in document["instruments"][1:]}

    def naked(spec: dict) -> Decimal:
        strike = Decimal(spec["strike"])
        if spec["right"] == "call":
            return 100 * max(rate * price - max(strike - price, 0), price / 10)
        return 100 * max(rate * price - max(price - strike, 0), strike / 10)

    def value(spec: dict) -> Decimal:
        return 100 * Decimal(spec["price"])

    def group_cost(units: list[tuple[str, int]]) -> Decimal | None:
        if len(units) == 1:
            symbol, sign = units[0]
            spec = specs[symbol]
            if sign < 0:
                return naked(spec)
            loan = date.fromisoformat(spec["expiry"]) > LOAN_VALUE_AFTER
            return value(spec) * (Decimal("0.75") if loan else 1)
        options: list[Decimal] = []
        rights = sorted(specs[s]["right"] for s, sign in units if sign < 0)
        if len(units) == 2 and rights == ["call", "put"]:  # short straddle or strangle
            call, put = sorted((specs[s] for s, _ in units), key=lambda spec: spec["right"])
            gross_call, gross_put = naked(call) + value(call), naked(put) + value(put)
            greater = (
                gross_call + value(put) if gross_call >= gross_put else gross_put + value(call)
            )
            options.append(greater - value(call) - value(put))
        short_expiries = {specs[s]["expiry"] for s, sign in units if sign < 0}
        if len(short_expiries) != 1:  # several longs alone cost what they cost apart
            return min(options) if options else None
        [expiry] = short_expiries
        longs_cover = all(
            spec["expiry"] == expiry
            or (spec["expiry"] > expiry and spec.get("exercise_style") != "european")
            for spec in (specs[s] for s, sign in units if sign > 0)
        )
        calls_short = sum(-sign for s, sign in units if specs[s]["right"] == "call")
        if longs_cover and calls_short <= 0:
            strikes = {Decimal(0), *(Decimal(specs[s]["strike"]) for s, _ in units)}

            def payoff(symbol: str, at: Decimal) -> Decimal:
                strike = Decimal(specs[symbol]["strike"])
                return 100 * max(
                    at - strike if specs[symbol]["right"] == "call" else strike - at, 0
                )

            worst = max(
                max(sum(-sign * payoff(s, at) for s, sign in units) for at in strikes), Decimal(0)
            )
            options.append(worst + sum(sign * value(specs[s]) for s, sign in units))
        return min(options) if options else None

    units = [
        (p["symbol"], 1 if int(p["quantity"]) > 0 else -1)
        for p in document["positions"]
        for _ in range(abs(int(p["quantity"])))
    ]
    best = None
    for partition in _partitions(units):
        costs = [group_cost(group) for group in partition]
        if all(c is not None for c in costs):
            total = sum((max(c, Decimal(0)) for c in costs), Decimal(0))  # type: ignore[type-var]
            best = total if best is None else min(best, total)
    assert best is not None
    return best


@hypothesis_settings(max_examples=120, deadline=None)
@given(priced_books())
def test_grouping_is_the_cheapest_partition(document: dict) -> None:
    assert Decimal(margin(document)["initial_requirement"]) == _cheapest_partition(document)


def test_exhaustive_search_sees_what_pairing_alone_misses() -> None:
    # The example that made the search move a long between expiries: the 37.5 call covering the
    # 55 call (a calendar) is worth more netted against the June puts, the 55 call going naked.
    document = book(
        [
            stock("U", "50"),
            option("P60", "U", "put", "60", "10.31", expiry="2026-06-19"),
            option("C55", "U", "call", "55", "0.37"),
            option("P52.5", "U", "put", "52.5", "4.20", expiry="2026-06-19"),
            option("C37.5", "U", "call", "37.5", "13.45", expiry="2027-12-17"),
        ],
        {"P60": -1, "C55": -1, "P52.5": 2, "C37.5": 1},
    )
    assert margin(document)["initial_requirement"] == "1654.00"
    assert _cheapest_partition(document) == Decimal("1654.00")


@st.composite
def priced_books_with_stock(draw: Any) -> dict:
    document = draw(priced_books())
    price = document["instruments"][0]["price"]
    document["instruments"][0] = stock("U", price)
    document["positions"].append(
        {"symbol": "U", "quantity": draw(st.sampled_from([-200, -100, 100, 200]))}
    )
    return document


def _cheapest_with_stock(document: dict) -> Decimal:
    """Every way to cover short calls (long stock) or short puts (short stock) with the lots, the
    options left margined by the exhaustive search: a covered call adds nothing to the stock's
    50%, a covered put its in-the-money amount, and each lot is floored at zero."""
    price = Decimal(document["instruments"][0]["price"])
    specs = {i["symbol"]: i for i in document["instruments"][1:]}
    options = {
        p["symbol"]: int(p["quantity"]) for p in document["positions"] if p["symbol"] in specs
    }
    shares = next(int(p["quantity"]) for p in document["positions"] if p["symbol"] == "U")
    right = "call" if shares > 0 else "put"
    lot = (
        50 * price if shares > 0 else max(50 * price, 100 * max(price * Decimal("0.3"), Decimal(5)))
    )
    coverable = [s for s, q in options.items() if q < 0 and specs[s]["right"] == right]
    best = None
    for counts in product(*(range(-options[s] + 1) for s in coverable)):
        if sum(counts) > abs(shares) // 100:
            continue
        total = (abs(shares) // 100 - sum(counts)) * lot
        rest = dict(options)
        for symbol, n in zip(coverable, counts, strict=True):
            rest[symbol] += n
            in_the_money = max(Decimal(specs[symbol]["strike"]) - price, 0) if right == "put" else 0
            total += n * max(lot + 100 * in_the_money - 100 * Decimal(specs[symbol]["price"]), 0)
        left = [{"symbol": s, "quantity": q} for s, q in rest.items() if q]
        if left:
            total += _cheapest_partition({**document, "positions": left})
        best = total if best is None else min(best, total)
    assert best is not None
    return best


@hypothesis_settings(max_examples=80, deadline=None)
@given(priced_books_with_stock())
def test_grouping_with_stock_is_the_cheapest(document: dict) -> None:
    assert Decimal(margin(document)["initial_requirement"]) == _cheapest_with_stock(document)
