"""``cboe-strategy`` for many accounts at once: closed forms for the common shapes, the exact
engine (``cboe._Book``) for the rest.

The exact pairing (min-cost flow, local search) costs 0.1-0.6 ms an underlying in Python. Most
account-underlyings ("slots") in a book are one of a few shapes, for which the engine's choice can
be written down. Each slot is classified once, from its legs (not its prices):

- ``STOCK``: stock only, long or short (``long_stock``/``short_stock``);
- ``FAMILY``: long stock (or none), at most one long put series and one short call series (the
  same multiplier when both): covered call, protective put, collar, naked call, long put, and
  the stock left over;
- ``LONE``: long stock (or none) and one short put series or one long call series;
- ``STRADDLE``: no stock, one short call and one short put series of one multiplier (the
  straddle or strangle, and the larger side's excess naked);
- ``VERTICAL``: no stock, a short and a long series of one right, expiry, multiplier and
  number of contracts, at different strikes (the spread, or naked short and long option when
  that is cheaper);
- ``CONDOR``: no stock, long put K1 < short put K2 <= short call K3 < long call K4, one expiry,
  multiplier and number of contracts (the netted iron condor, when it is strictly the cheapest
  grouping of its legs);
- ``BUTTERFLY``: no stock, long K1 < short K2 < long K3 of one right, expiry and multiplier, n,
  2n and n contracts (the netted butterfly, broken wings included, when it is strictly the
  cheapest grouping of its legs).

For ``STOCK`` to ``VERTICAL`` the closed form follows the exact engine step by step (which leg
the flow covers, pairs or leaves naked, what the hedge step hands to protective puts and
collars) and computes the same groups. ``CONDOR`` and ``BUTTERFLY`` answer only where the netted
structure is strictly cheaper than every other grouping of its legs, which is the engine's answer
because its search finds the cheapest grouping (checked against an exhaustive search in
``tests/risk/test_cboe_properties.py``). Where the engine's choice turns on a tie, or where its
local search or trim could take another turn (a put spread whose long leg is worth dropping,
prices that allow arbitrage), the slot is handed to the exact engine instead.
``tests/risk/test_engine_book.py`` checks the sweep against ``margin_compute`` on thousands of
random portfolios of these shapes and others, with prices drawn freely.

Arithmetic is exact integers: prices in units of 1e-4, rates in hundredths, amounts in
millionths ("micro") of the currency, which holds every product the rules form (a rate of two
decimals x a price of four x whole shares). A slot whose price has more than four decimals, whose
quantities or multipliers are not whole, or whose rates are not whole hundredths goes to the exact
engine. Each group is rounded up once to the minor unit, as ``result_assemble`` does.

The exact engine's answers are cached by (underlying, its price, the rates, each leg's instrument,
price and quantity): sound because that, with the book's date and the instruments' fixed terms,
is everything the engine reads for one underlying.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

from risk.engine.book import Book, BoolArray, IndexArray
from risk.engine.cboe import Rates, _Book, _months_after, _option
from risk.engine.result import MINOR_UNITS, round_up

IntArray = NDArray[np.int64]

OTHER, STOCK, FAMILY, LONE, STRADDLE, VERTICAL, CONDOR, BUTTERFLY = range(8)
PATTERN_NAMES = ("other", "stock", "family", "lone", "straddle", "vertical", "condor", "butterfly")
LONG_CALL, SHORT_CALL, LONG_PUT, SHORT_PUT = range(4)
PRICE_UNITS = 10_000  # prices in 1e-4
MICRO = 1_000_000
# The closed forms' int64 products stay below 1e18 (rate 100 x price units 1e9 x units 1e6,
# plus a few such terms): beyond these bounds a slot goes to the exact engine.
_MAX_UNITS = 1_000_000  # shares, or contracts x multiplier, in one position
_MAX_PRICE_UNITS = 1_000_000_000  # prices and strikes up to 100,000.0000
EXACT_CACHE_SIZE = 200_000


def _classify(book: Book) -> dict[str, Any]:
    """Per slot: its pattern and the position of each of its option roles (-1 if none)."""
    n_slots = book.n_slots
    slot = book.position_slot
    instrument = book.position_instrument
    quantity = book.position_quantity
    option = book.is_option[instrument]
    call = book.is_call[instrument]
    long = quantity > 0
    roles = [
        option & call & long,
        option & call & ~long,
        option & ~call & long,
        option & ~call & ~long,
    ]
    count = [np.bincount(slot, weights=r, minlength=n_slots).astype(np.int64) for r in roles]
    role_position = []
    role_first = []
    rows = np.arange(slot.size)
    for r in roles:
        where = np.full(n_slots, -1, dtype=np.intp)
        where[slot[r]] = rows[r]
        role_position.append(where)
        first = np.full(n_slots, -1, dtype=np.intp)
        first[slot[r][::-1]] = rows[r][::-1]
        role_first.append(first)
    stock = np.bincount(slot, weights=np.where(option, 0.0, quantity), minlength=n_slots)
    options = count[0] + count[1] + count[2] + count[3]
    multiplier = np.where(option, book.multiplier[instrument], 1.0)
    whole = (quantity == np.rint(quantity)) & (multiplier == np.rint(multiplier))
    whole &= np.abs(quantity) * multiplier <= _MAX_UNITS
    whole &= ~option | (book.strike[instrument] * PRICE_UNITS < _MAX_PRICE_UNITS)
    bad = np.bincount(slot, weights=~whole, minlength=n_slots) > 0

    pattern = np.full(n_slots, OTHER, dtype=np.int8)
    pattern[options == 0] = STOCK
    # The shapes are told apart on the slots holding options only (most slots hold stock).
    sub = np.flatnonzero(options > 0)
    full_count, full_stock = count, stock
    count = [c[sub] for c in full_count]
    stock, options = full_stock[sub], options[sub]
    positions = [p[sub] for p in role_position]
    firsts = [p[sub] for p in role_first]
    shape = np.full(sub.size, OTHER, dtype=np.int8)

    def leg(role: int, values: NDArray[Any]) -> NDArray[Any]:
        position = positions[role]
        return np.where(position >= 0, values[instrument[np.maximum(position, 0)]], 0)

    def size(role: int) -> NDArray[np.float64]:
        position = positions[role]
        return np.where(position >= 0, np.abs(quantity[np.maximum(position, 0)]), 0.0)

    m = [leg(r, book.multiplier) for r in range(4)]
    expiry = [leg(r, book.expiry_days) for r in range(4)]
    strike = [leg(r, book.strike) for r in range(4)]
    one = [c == 1 for c in count]
    none = [c == 0 for c in count]
    family = (
        (stock >= 0)
        & (options >= 1)
        & none[LONG_CALL]
        & none[SHORT_PUT]
        & (count[LONG_PUT] <= 1)
        & (count[SHORT_CALL] <= 1)
        & ((count[LONG_PUT] == 0) | (count[SHORT_CALL] == 0) | (m[LONG_PUT] == m[SHORT_CALL]))
    )
    shape[family] = FAMILY
    lone = (stock >= 0) & (options == 1) & (one[SHORT_PUT] | one[LONG_CALL])
    shape[lone] = LONE
    straddle = (
        (stock == 0)
        & (options == 2)
        & one[SHORT_CALL]
        & one[SHORT_PUT]
        & (m[SHORT_CALL] == m[SHORT_PUT])
    )
    shape[straddle] = STRADDLE
    for short, long_role in ((SHORT_CALL, LONG_CALL), (SHORT_PUT, LONG_PUT)):
        vertical = (
            (stock == 0)
            & (options == 2)
            & one[short]
            & one[long_role]
            & (m[short] == m[long_role])
            & (expiry[short] == expiry[long_role])
            & (size(short) == size(long_role))
            & (strike[short] != strike[long_role])
        )
        shape[vertical] = VERTICAL
    condor = (stock == 0) & (options == 4) & one[0] & one[1] & one[2] & one[3]
    for other in range(1, 4):
        condor &= (m[other] == m[0]) & (expiry[other] == expiry[0]) & (size(other) == size(0))
    condor &= (strike[LONG_PUT] < strike[SHORT_PUT]) & (strike[SHORT_PUT] <= strike[SHORT_CALL])
    condor &= strike[SHORT_CALL] < strike[LONG_CALL]
    shape[condor] = CONDOR
    for short, long_role in ((SHORT_CALL, LONG_CALL), (SHORT_PUT, LONG_PUT)):
        first = firsts[long_role]
        safe = np.maximum(first, 0)
        low_strike = np.where(first >= 0, book.strike[instrument[safe]], 0.0)
        low_size = np.where(first >= 0, np.abs(quantity[safe]), 0.0)
        butterfly = (stock == 0) & (options == 3) & one[short] & (count[long_role] == 2)
        butterfly &= (m[short] == m[long_role]) & (expiry[short] == expiry[long_role])
        butterfly &= np.where(first >= 0, book.multiplier[instrument[safe]], 0) == m[short]
        butterfly &= np.where(first >= 0, book.expiry_days[instrument[safe]], -1) == expiry[short]
        butterfly &= (low_size == size(long_role)) & (size(short) == 2 * low_size)
        low, high = (
            np.minimum(low_strike, strike[long_role]),
            np.maximum(low_strike, strike[long_role]),
        )
        butterfly &= (low < strike[short]) & (strike[short] < high)
        shape[butterfly] = BUTTERFLY
    pattern[sub] = shape
    stock = full_stock
    pattern[bad] = OTHER
    pattern[np.abs(stock) > _MAX_UNITS] = OTHER
    return {
        "pattern": pattern,
        "role_position": role_position,
        "role_first": role_first,
        "stock": stock,
    }


def _units(rate: Decimal, per: int) -> int | None:
    scaled = rate * per
    return int(scaled) if scaled == scaled.to_integral_value() else None


class _Rates:
    """The rates as integers: hundredths (``*_ru``) and amounts in micro (``*_micro``)."""

    def __init__(self, rates: Rates) -> None:
        self.rates = rates
        values = {f.name: getattr(rates, f.name) for f in fields(Rates)}
        hundredths = {
            name: _units(values[name], 100)
            for name in (
                "long_stock_initial",
                "long_stock_maintenance",
                "short_stock_initial",
                "short_stock_maintenance",
                "low_price_maintenance",
                "long_option_required",
                "hedge_minimum",
            )
        }
        self.ok = all(v is not None for v in hundredths.values())
        get = {k: v or 0 for k, v in hundredths.items()}
        self.lsi, self.lsm = get["long_stock_initial"], get["long_stock_maintenance"]
        self.ssi, self.ssm = get["short_stock_initial"], get["short_stock_maintenance"]
        self.lpm, self.lor = get["low_price_maintenance"], get["long_option_required"]
        self.hm = get["hedge_minimum"]
        per_share = _units(rates.short_stock_per_share, MICRO)
        low_per_share = _units(rates.low_price_per_share, MICRO)
        low_price = _units(rates.low_price, PRICE_UNITS)
        self.ok = self.ok and None not in (per_share, low_per_share, low_price)
        self.ssps, self.lpps, self.low_price = per_share or 0, low_per_share or 0, low_price or 0


def _naked_rates(book: Book, rates: Rates) -> tuple[IntArray, IntArray, BoolArray]:
    """Per instrument as an underlying: the naked and minimum rates in hundredths, and whether
    they are whole hundredths (else its slots go to the exact engine)."""
    n = len(book.instruments)
    naked, minimum, ok = np.zeros(n, np.int64), np.zeros(n, np.int64), np.ones(n, bool)
    for index, instrument in enumerate(book.instruments):
        if instrument.is_option:
            continue
        base = (
            rates.naked_broad_index if instrument.underlying_class == "broad_index" else rates.naked
        )
        a = _units(base * instrument.leverage, 100)
        b = _units(rates.naked_minimum * instrument.leverage, 100)
        if a is None or b is None:
            ok[index] = False
        else:
            naked[index], minimum[index] = a, b
    return naked, minimum, ok


def _round_up(micro: IntArray, scale: int) -> IntArray:
    return (np.maximum(micro, 0) + (scale - 1)) // scale


class _Groups:
    """Running per-slot totals of rounded groups (minor units)."""

    def __init__(self, size: int, scale: int) -> None:
        self.scale = scale
        self.initial = np.zeros(size, np.int64)
        self.maintenance = np.zeros(size, np.int64)
        self.fully_paid = np.zeros(size, np.int64)

    def add(
        self, present: BoolArray, initial: IntArray, maintenance: IntArray, paid: IntArray | int = 0
    ) -> None:
        ri, rm = _round_up(initial, self.scale), _round_up(maintenance, self.scale)
        rf = np.minimum(
            _round_up(np.broadcast_to(np.asarray(paid, np.int64), rm.shape), self.scale), rm
        )
        self.initial += np.where(present, ri, 0)
        self.maintenance += np.where(present, rm, 0)
        self.fully_paid += np.where(present, rf, 0)


class CboeSweep:
    """Margins slots of a book under ``cboe-strategy`` with the given rates."""

    def __init__(self, book: Book, rates: Rates | None = None) -> None:
        self.book = book
        self.rates = rates or Rates()
        if "cboe_classes" not in book.cache:
            book.cache["cboe_classes"] = _classify(book)
        self.classes = book.cache["cboe_classes"]
        self.int_rates = _Rates(self.rates)
        self.naked_ru, self.minimum_ru, self.underlying_ok = _naked_rates(book, self.rates)
        digits = MINOR_UNITS.get(book.currency, 2)
        self.scale = 10 ** (6 - digits)
        cutoff = _months_after(book.as_of, int(self.rates.loan_value_months))
        self.loan_value = book.expiry_days > (cutoff.toordinal() - book.as_of.toordinal())
        self.exact_cache: dict[tuple, tuple[int, int, int]] = book.cache.setdefault(
            "cboe_exact", {}
        )
        self.exact_calls = 0

    # --- per slot -------------------------------------------------------------------------

    def compute(self, slots: IndexArray) -> tuple[IntArray, IntArray, IntArray]:
        """(initial, maintenance, fully paid) of each slot, in minor units."""
        book = self.book
        price = book.price
        units = np.rint(price * PRICE_UNITS)
        self.price_units = units.astype(np.int64)
        self.price_ok = (
            (np.abs(price * PRICE_UNITS - units) <= 1e-6 * np.maximum(1.0, units))
            & (units < _MAX_PRICE_UNITS)
            & (units >= 0)
        )
        out = _Groups(slots.size, self.scale)
        pattern = self.classes["pattern"][slots]
        if not self.int_rates.ok:
            pattern = np.zeros_like(pattern)
        fallback = np.zeros(slots.size, bool)
        for code, method in (
            (STOCK, self._stock),
            (FAMILY, self._family),
            (LONE, self._lone),
            (STRADDLE, self._straddle),
            (VERTICAL, self._vertical),
            (CONDOR, self._condor),
            (BUTTERFLY, self._butterfly),
        ):
            chosen = np.flatnonzero(pattern == code)
            if not chosen.size:
                continue
            groups = _Groups(chosen.size, self.scale)
            refuse = method(slots[chosen], groups) | ~self._prices_ok(slots[chosen])
            fallback[chosen] = refuse
            keep = chosen[~refuse]
            out.initial[keep] = groups.initial[~refuse]
            out.maintenance[keep] = groups.maintenance[~refuse]
            out.fully_paid[keep] = groups.fully_paid[~refuse]
        fallback |= pattern == OTHER
        for at in np.flatnonzero(fallback):
            out.initial[at], out.maintenance[at], out.fully_paid[at] = self.exact(int(slots[at]))
        return out.initial, out.maintenance, out.fully_paid

    def _prices_ok(self, slots: IndexArray) -> BoolArray:
        """Whether every price a slot reads is a whole number of 1e-4 units (and its underlying's
        rates are whole hundredths)."""
        book = self.book
        underlying = book.slot_underlying[slots]
        ok = self.price_ok[underlying] & self.underlying_ok[underlying]
        if self.price_ok.all():
            return ok
        first, last = book.slot_start[slots], book.slot_start[slots + 1]
        lengths = last - first
        rows = np.repeat(first - np.cumsum(np.r_[0, lengths[:-1]]), lengths) + np.arange(
            lengths.sum()
        )
        bad = ~self.price_ok[book.position_instrument[rows]]
        owner = np.repeat(np.arange(slots.size), lengths)
        return ok & (np.bincount(owner, weights=bad, minlength=slots.size) == 0)

    def _spot(self, slots: IndexArray) -> IntArray:
        return self.price_units[self.book.slot_underlying[slots]]

    def _leg(self, slots: IndexArray, role: int, *, first: bool = False) -> dict[str, Any]:
        """One role's leg per slot: present, contracts, strike and price units, multiplier..."""
        book = self.book
        position = self.classes["role_first" if first else "role_position"][role][slots]
        present = position >= 0
        safe = np.maximum(position, 0)
        instrument = book.position_instrument[safe]
        n = np.where(present, np.abs(book.position_quantity[safe]), 0).astype(np.int64)
        loan_value = self.loan_value[instrument] & present
        return {
            "present": present,
            "n": n,
            "K": np.where(present, np.rint(book.strike[instrument] * PRICE_UNITS), 0).astype(
                np.int64
            ),
            "P": np.where(present, self.price_units[instrument], 0),
            "m": np.where(present, book.multiplier[instrument], 1).astype(np.int64),
            "lv": loan_value,
            "lr": np.where(loan_value, self.int_rates.lor, 100).astype(np.int64),
            "strike_ok": np.where(
                present,
                np.abs(
                    book.strike[instrument] * PRICE_UNITS
                    - np.rint(book.strike[instrument] * PRICE_UNITS)
                )
                < 1e-6,
                True,
            ),
        }

    def _naked_per_share(
        self, slots: IndexArray, S: IntArray, leg: dict[str, Any], call: bool
    ) -> IntArray:
        """The naked requirement per share in micro, net of the premium (``naked_per_share``)."""
        underlying = self.book.slot_underlying[slots]
        rate, minimum = self.naked_ru[underlying], self.minimum_ru[underlying]
        K = leg["K"]
        if call:
            return np.maximum(rate * S - np.maximum(K - S, 0) * 100, minimum * S)
        return np.maximum(rate * S - np.maximum(S - K, 0) * 100, minimum * K)

    def _shares(self, slots: IndexArray) -> IntArray:
        return np.rint(self.classes["stock"][slots]).astype(np.int64)

    # --- the closed forms -----------------------------------------------------------------

    def _stock(self, slots: IndexArray, g: _Groups) -> BoolArray:
        r = self.int_rates
        S, q = self._spot(slots), self._shares(slots)
        g.add(q > 0, r.lsi * S * q, r.lsm * S * q)
        high = S >= r.low_price
        per_share = np.where(high, np.maximum(r.ssm * S, r.ssps), np.maximum(r.lpm * S, r.lpps))
        maintenance = per_share * -q
        g.add(q < 0, np.maximum(r.ssi * S * -q, maintenance), maintenance)
        return np.zeros(slots.size, bool)

    def _family(self, slots: IndexArray, g: _Groups) -> BoolArray:
        r = self.int_rates
        S, q = self._spot(slots), self._shares(slots)
        put, call = self._leg(slots, LONG_PUT), self._leg(slots, SHORT_CALL)
        lots = q // call["m"]
        cov = np.where(call["present"], np.minimum(lots, call["n"]), 0)
        free = q - cov * call["m"]
        naked = call["n"] - cov
        cap_free = r.lsm * S
        hedge = r.hm * put["K"] + np.maximum(S - put["K"], 0) * 100
        h1 = np.where(
            put["present"] & (free > 0) & (hedge < cap_free),
            np.minimum(put["n"], free // put["m"]),
            0,
        )
        free = free - h1 * put["m"]
        cap_call = r.lsm * np.minimum(S, call["K"])
        h2 = np.where(
            put["present"] & call["present"] & (cov > 0) & (hedge < cap_call),
            np.minimum(put["n"] - h1, cov),
            0,
        )
        cov_left = cov - h2
        rest = put["n"] - h1 - h2
        Vp = put["P"] * put["m"] * 100
        Vc = call["P"] * call["m"] * 100
        # protective put
        shares = h1 * put["m"]
        paid = h1 * put["P"] * put["m"] * put["lr"]
        g.add(
            h1 > 0,
            r.lsi * S * shares + paid,
            np.minimum(hedge, cap_free) * shares + paid,
            np.where(put["lv"], 0, h1 * Vp),
        )
        # collar
        shares = h2 * put["m"]
        paid = h2 * put["P"] * put["m"] * put["lr"]
        proceeds = h2 * Vc
        g.add(
            h2 > 0,
            r.lsi * S * shares + paid - proceeds,
            np.minimum(hedge, cap_call) * shares + paid - proceeds,
            np.maximum(np.where(put["lv"], 0, h2 * Vp) - proceeds, 0),
        )
        # covered call
        shares = cov_left * call["m"]
        proceeds = cov_left * Vc
        g.add(
            cov_left > 0,
            r.lsi * S * shares - proceeds,
            r.lsm * np.minimum(S, call["K"]) * shares - proceeds,
        )
        g.add(free > 0, r.lsi * S * free, r.lsm * S * free)
        held = rest * put["P"] * put["m"] * put["lr"]
        g.add(rest > 0, held, held, np.where(put["lv"], 0, held))
        held = naked * self._naked_per_share(slots, S, call, True) * call["m"]
        g.add(naked > 0, held, held)
        return ~(put["strike_ok"] & call["strike_ok"])

    def _lone(self, slots: IndexArray, g: _Groups) -> BoolArray:
        r = self.int_rates
        S, q = self._spot(slots), self._shares(slots)
        g.add(q > 0, r.lsi * S * q, r.lsm * S * q)
        put, call = self._leg(slots, SHORT_PUT), self._leg(slots, LONG_CALL)
        held = put["n"] * self._naked_per_share(slots, S, put, False) * put["m"]
        g.add(put["present"], held, held)
        held = call["n"] * call["P"] * call["m"] * call["lr"]
        g.add(call["present"], held, held, np.where(call["lv"], 0, held))
        return ~(put["strike_ok"] & call["strike_ok"])

    def _straddle(self, slots: IndexArray, g: _Groups) -> BoolArray:
        S = self._spot(slots)
        call, put = self._leg(slots, SHORT_CALL), self._leg(slots, SHORT_PUT)
        m = call["m"]
        Vc, Vp = call["P"] * m * 100, put["P"] * m * 100
        nc = self._naked_per_share(slots, S, call, True) * m
        npu = self._naked_per_share(slots, S, put, False) * m
        gc, gp = nc + Vc, npu + Vp
        pair = np.where(gc >= gp, gc + Vp, gp + Vc)
        k = np.minimum(call["n"], put["n"])
        g.add(k > 0, k * (pair - Vc - Vp), k * (pair - Vc - Vp))
        g.add(call["n"] > k, (call["n"] - k) * nc, (call["n"] - k) * nc)
        g.add(put["n"] > k, (put["n"] - k) * npu, (put["n"] - k) * npu)
        return ~(pair < gc + gp) | ~(call["strike_ok"] & put["strike_ok"])

    def _vertical(self, slots: IndexArray, g: _Groups) -> BoolArray:
        S = self._spot(slots)
        sc, lc = self._leg(slots, SHORT_CALL), self._leg(slots, LONG_CALL)
        sp, lp = self._leg(slots, SHORT_PUT), self._leg(slots, LONG_PUT)
        is_call = sc["present"]
        short = {k: np.where(is_call, sc[k], sp[k]) for k in sc}
        long = {k: np.where(is_call, lc[k], lp[k]) for k in lc}
        m, n = short["m"], short["n"]
        width = np.where(is_call, long["K"] - short["K"], short["K"] - long["K"])
        loss = np.maximum(width, 0) * m * 100
        Vs, Vl = short["P"] * m * 100, long["P"] * m * 100
        surcharge = (100 - long["lr"]) * long["P"] * m
        edge = np.maximum(loss, Vs - Vl) + surcharge
        naked_ps = np.where(
            is_call,
            self._naked_per_share(slots, S, short, True),
            self._naked_per_share(slots, S, short, False),
        )
        gross = naked_ps * m + Vs
        spread = edge < gross
        spread_held = n * (loss + Vl - Vs)
        g.add(spread, spread_held, spread_held, np.maximum(n * Vl - n * Vs, 0))
        naked_held = n * naked_ps * m
        long_held = n * long["P"] * m * long["lr"]
        g.add(~spread, naked_held, naked_held)
        g.add(~spread, long_held, long_held, np.where(long["lv"], 0, long_held))
        chosen = np.where(spread, np.maximum(spread_held, 0), naked_held + long_held)
        # A put spread's short leg alone is bounded: the trim or the search could prefer it.
        alone = np.maximum(n * (short["K"] * m * 100 - Vs), 0) + long_held
        refuse = (edge == gross) | (~is_call & (alone <= chosen))
        return refuse | ~(short["strike_ok"] & long["strike_ok"])

    def _condor(self, slots: IndexArray, g: _Groups) -> BoolArray:
        """The netted iron condor, when it is strictly cheaper than every other way the rules
        allow to group its legs (then the engine, which finds the cheapest grouping, returns it
        whatever the flow paired first: the two spreads, or the strangle that the search nets)."""
        S = self._spot(slots)
        lp, sp = self._leg(slots, LONG_PUT), self._leg(slots, SHORT_PUT)
        sc, lc = self._leg(slots, SHORT_CALL), self._leg(slots, LONG_CALL)
        m, n = sp["m"], sp["n"]
        V1, V2, V3, V4 = (leg["P"] * m * 100 for leg in (lp, sp, sc, lc))
        wp, wc = (sp["K"] - lp["K"]) * m * 100, (lc["K"] - sc["K"]) * m * 100
        zero = np.zeros(slots.size, np.int64)
        condor = np.maximum(np.maximum(wp, wc) + V1 + V4 - V2 - V3, zero)
        # The alternatives, per contract: spreads, naked legs, the short put as a bounded
        # structure of its own (K x multiplier less its premium), the strangle, and the
        # three-leg structures.
        naked_put = self._naked_per_share(slots, S, sp, False) * m
        naked_call = self._naked_per_share(slots, S, sc, True) * m
        put_alone = np.minimum(naked_put, np.maximum(sp["K"] * m * 100 - V2, zero))
        long_put, long_call = lp["lr"] * lp["P"] * m, lc["lr"] * lc["P"] * m
        put_spread = np.maximum(wp + V1 - V2, zero)
        call_spread = np.maximum(wc + V4 - V3, zero)
        gross_call, gross_put = naked_call + V3, naked_put + V2
        strangle = np.where(gross_call >= gross_put, gross_call + V2, gross_put + V3) - V2 - V3
        alternatives = [
            put_spread + call_spread,
            put_spread + naked_call + long_call,
            put_alone + long_put + call_spread,
            strangle + long_put + long_call,
            put_alone + naked_call + long_put + long_call,
            np.maximum(np.maximum(sp["K"] * m * 100, wc) + V4 - V2 - V3, zero) + long_put,
            np.maximum(sp["K"] * m * 100 + V4 - V2, zero) + naked_call + long_put,
            np.maximum(wp + V1 + V4 - V2, zero) + naked_call,
            np.maximum(wc + V1 + V4 - V3, zero) + put_alone,
        ]
        ok = np.ones(slots.size, bool)
        for alternative in alternatives:
            ok &= condor < alternative
        held = n * (np.maximum(wp, wc) + V1 + V4 - V2 - V3)
        g.add(np.ones(slots.size, bool), held, held, np.maximum(n * (V1 + V4) - n * (V2 + V3), 0))
        for leg in (lp, sp, sc, lc):
            ok &= leg["strike_ok"]
        return ~ok

    def _butterfly(self, slots: IndexArray, g: _Groups) -> BoolArray:
        """The netted butterfly (n, -2n, n), when strictly cheaper than every other grouping of
        its legs: its two spreads, the short leg naked (or, for puts, as a bounded structure of
        its own) with one or both longs apart, or a three-leg structure with one long apart."""
        S = self._spot(slots)
        is_call = self.classes["role_position"][SHORT_CALL][slots] >= 0
        call, put = self._leg(slots, SHORT_CALL), self._leg(slots, SHORT_PUT)
        short = {k: np.where(is_call, call[k], put[k]) for k in call}
        longs = []
        for first in (True, False):
            call_leg = self._leg(slots, LONG_CALL, first=first)
            put_leg = self._leg(slots, LONG_PUT, first=first)
            longs.append({k: np.where(is_call, call_leg[k], put_leg[k]) for k in call_leg})
        low_first = longs[0]["K"] < longs[1]["K"]
        one = {k: np.where(low_first, longs[0][k], longs[1][k]) for k in longs[0]}
        three = {k: np.where(low_first, longs[1][k], longs[0][k]) for k in longs[0]}
        m, n = short["m"], one["n"]
        K1, K2, K3 = one["K"], short["K"], three["K"]
        V1, V2, V3 = one["P"] * m * 100, short["P"] * m * 100, three["P"] * m * 100

        def intrinsic(strike: IntArray, at: IntArray) -> IntArray:
            return np.where(is_call, np.maximum(at - strike, 0), np.maximum(strike - at, 0))

        def structure(legs: list[tuple[IntArray, int]], values: IntArray) -> IntArray:
            """Per unit: max loss over 0 and every strike, plus values; huge if unbounded."""
            worst = np.zeros(slots.size, np.int64)
            for at in [np.zeros(slots.size, np.int64), K1, K2, K3]:
                loss = -sum((q * intrinsic(k, at) for k, q in legs), np.zeros(slots.size, np.int64))
                worst = np.maximum(worst, loss * m * 100)
            cost = np.maximum(worst + values, 0)
            unbounded = is_call & (sum(q for _, q in legs) < 0)
            return np.where(unbounded, np.int64(2**62), cost)

        butterfly = structure([(K1, 1), (K2, -2), (K3, 1)], V1 + V3 - 2 * V2)
        naked = (
            np.where(
                is_call,
                self._naked_per_share(slots, S, short, True),
                self._naked_per_share(slots, S, short, False),
            )
            * m
        )
        alone = np.minimum(naked, structure([(K2, -1)], -V2))
        l1, l3 = one["lr"] * one["P"] * m, three["lr"] * three["P"] * m
        s12 = structure([(K1, 1), (K2, -1)], V1 - V2)
        s32 = structure([(K3, 1), (K2, -1)], V3 - V2)
        alternatives = [
            s12 + s32,
            s12 + alone + l3,
            s32 + alone + l1,
            2 * alone + l1 + l3,
            structure([(K1, 1), (K2, -2)], V1 - 2 * V2) + l3,
            structure([(K3, 1), (K2, -2)], V3 - 2 * V2) + l1,
            structure([(K1, 1), (K2, -1), (K3, 1)], V1 + V3 - V2) + alone,
        ]
        ok = (n > 0) & one["strike_ok"] & short["strike_ok"] & three["strike_ok"]
        ok = ok.astype(bool)
        for alternative in alternatives:
            ok &= butterfly < alternative
        held = n * butterfly  # bounded and floored: ok only where it is the cheapest
        g.add(ok, held, held, np.maximum(n * (V1 + V3) - n * 2 * V2, 0))
        return ~ok

    # --- the exact engine -----------------------------------------------------------------

    def exact(self, slot: int) -> tuple[int, int, int]:
        """One slot through ``cboe._Book``, rounded as ``result_assemble`` rounds (cached)."""
        book = self.book
        underlying = int(book.slot_underlying[slot])
        rows = range(int(book.slot_start[slot]), int(book.slot_start[slot + 1]))
        key = (
            underlying,
            float(book.price[underlying]),
            self.rates,
            tuple(
                (
                    int(book.position_instrument[row]),
                    float(book.price[book.position_instrument[row]]),
                    float(book.position_quantity[row]),
                )
                for row in rows
            ),
        )
        found = self.exact_cache.get(key)
        if found is not None:
            return found
        self.exact_calls += 1
        record = book.instruments[underlying]
        shares = Decimal(0)
        legs: dict = {}
        for row in rows:
            index = int(book.position_instrument[row])
            quantity = Decimal(repr(float(book.position_quantity[row])))
            instrument = book.instruments[index]
            if instrument.is_option:
                from dataclasses import replace

                priced = replace(instrument, price=book.price_decimal(index))
                option = _option(priced, book.as_of, self.rates)
                legs[option] = legs.get(option, Decimal(0)) + quantity
            else:
                shares += quantity
        engine = _Book(
            symbol=record.symbol,
            price=book.price_decimal(underlying),
            underlying_class=record.underlying_class,
            leverage=record.leverage,
            rates=self.rates,
            shares=shares,
        )
        initial = maintenance = paid = 0
        digits = MINOR_UNITS.get(book.currency, 2)
        for group in engine.groups(legs):
            i = round_up(group.initial, book.currency)
            m = round_up(group.maintenance, book.currency)
            f = min(round_up(group.fully_paid, book.currency), m)
            initial += int(i.scaleb(digits))
            maintenance += int(m.scaleb(digits))
            paid += int(f.scaleb(digits))
        if len(self.exact_cache) >= EXACT_CACHE_SIZE:
            self.exact_cache.clear()
        self.exact_cache[key] = (initial, maintenance, paid)
        return initial, maintenance, paid
