"""The live sweep: every account of a ``Book`` margined at once, and re-margined incrementally.

``sweep_full(book, policy)`` margins every slot (one account's positions on one underlying) and
sums them per account; ``sweep_remark(book, state, prices)`` sets new prices and re-margins only
the slots on the underlyings that moved (through the book's underlying → slots index), updating
the account totals by the difference. Both give, per account, what ``margin_compute`` gives for
that account's portfolio: requirements to the minor unit (each group rounded up once), equity,
excess and the contract's ratios.

Policies:

- ``cboe-strategy``: ``sweep_cboe.CboeSweep`` (closed forms for the common shapes, the exact
  engine, cached, for the rest);
- ``span-like`` and ``finra-pm``: the scenario grid of ``scenario.py`` over every position of the
  book in one pass (``scenario_profit``/``group_loss`` with one group per slot), the per-product
  parameters computed once per underlying exactly as the single-portfolio policy computes them;
- ``cn-rzrq``: ``sweep_rzrq.RzrqSweep`` (the loan is attributed across an account's holdings,
  so a price move re-margins the whole accounts that hold the underlying).

Units: requirements are int64 arrays in the currency's minor unit; equity and market values are
float64 (sums of quantity x price x multiplier; ``account_figures`` turns one account's into
``Decimal``). The per-slot requirement is exact (integers; scenario losses taken to the millionth
as ``scenario._decimal`` takes them, with a ``Decimal`` recomputation where a float lands within
a rounding step of a half-millionth).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

from risk.engine.book import Book, FloatArray, IndexArray, book_set_prices
from risk.engine.cboe import rates_read
from risk.engine.parameters import PolicyParameters
from risk.engine.portfolio import Portfolio, PortfolioError
from risk.engine.result import MINOR_UNITS, MarginResult
from risk.engine.scenario import (
    _FINRA_FRACTIONS,
    DAYS_PER_YEAR,
    ScenarioBook,
    _finra_range,
    _span_product,
    contract_units,
    group_loss,
    scenario_profit,
    short_option_notional,
    span_scenarios,
)
from risk.engine.sweep_cboe import CboeSweep
from risk.engine.sweep_rzrq import RzrqSweep

IntArray = NDArray[np.int64]
SWEEP_POLICIES = ("cboe-strategy", "span-like", "finra-pm", "cn-rzrq")
_MICRO = 1_000_000
_CHUNK_ROWS = 16_384


@dataclass
class SweepState:
    """The latest margin of every account of a book under one policy.

    Per slot (``slot_*``) and per account: ``initial``, ``maintenance`` and ``fully_paid`` (V in
    the margin ratio) in minor units; ``long_value``, ``short_value`` and ``equity`` in currency
    units (float64).
    """

    policy: str
    parameters: dict[str, Decimal]
    scale: int  # minor units per currency unit
    slot_initial: IntArray
    slot_maintenance: IntArray
    slot_fully_paid: IntArray
    initial: IntArray
    maintenance: IntArray
    fully_paid: IntArray
    long_value: FloatArray
    short_value: FloatArray
    equity: FloatArray
    engine: Any = field(default=None, repr=False)

    @property
    def excess_initial(self) -> FloatArray:
        return self.equity - self.initial / self.scale

    @property
    def excess_maintenance(self) -> FloatArray:
        return self.equity - self.maintenance / self.scale

    @property
    def margin_ratio(self) -> FloatArray:
        """(equity - V) / (maintenance - V); NaN where the contract says null."""
        paid = self.fully_paid / self.scale
        denominator = self.maintenance / self.scale - paid
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (self.equity - paid) / denominator
        return np.where(denominator > 0, ratio, np.nan)


def _account_sums(book: Book, per_slot: IntArray) -> IntArray:
    """Per account, the sum of its slots' values (int64: exact, unlike a float bincount)."""
    total = np.zeros(book.n_accounts, np.int64)
    np.add.at(total, book.slot_account, per_slot)
    return total


def _account_slots(book: Book, accounts: IndexArray) -> IndexArray:
    slots, _ = _rows_of(book.account_slot_start[accounts], book.account_slot_start[accounts + 1])
    return slots


def _rows_of(starts: IndexArray, ends: IndexArray) -> tuple[IndexArray, IndexArray]:
    """The rows ``starts[i]:ends[i]`` concatenated, and for each row its ``i``."""
    lengths = ends - starts
    rows = np.repeat(starts - np.cumsum(np.r_[0, lengths[:-1]]), lengths) + np.arange(lengths.sum())
    return rows.astype(np.intp), np.repeat(np.arange(starts.size), lengths).astype(np.intp)


def _values(book: Book, accounts: IndexArray | None = None) -> tuple[FloatArray, FloatArray]:
    """(long, short) market value per account (all, or ``accounts`` in the order given)."""
    if accounts is None:
        rows = np.arange(book.position_account.size)
        owner, size = book.position_account, book.n_accounts
    else:
        rows, owner = _rows_of(
            book.slot_start[book.account_slot_start[accounts]],
            book.slot_start[book.account_slot_start[accounts + 1]],
        )
        size = accounts.size
    instrument = book.position_instrument[rows]
    value = book.position_quantity[rows] * book.price[instrument] * book.multiplier[instrument]
    long = np.bincount(owner, weights=np.where(value > 0, value, 0.0), minlength=size)
    short = np.bincount(owner, weights=np.where(value < 0, -value, 0.0), minlength=size)
    return long.astype(np.float64), short.astype(np.float64)


# --- scenario policies ------------------------------------------------------------------------


def _rational(value: Decimal) -> tuple[int, int]:
    numerator, denominator = value.as_integer_ratio()
    return int(numerator), int(denominator)


def _to_micro(values: FloatArray) -> NDArray[Any]:
    """``scenario._decimal`` in millionths: the float taken to the nearest millionth, half to
    even on its exact binary value (recomputed in ``Decimal`` where the float product is near a
    half)."""
    scaled = values * _MICRO
    if values.size and np.abs(values).max() > 9e12:  # beyond int64 millionths: in Decimal
        return np.asarray(
            [
                int(
                    Decimal(float(v)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
                    * _MICRO
                )
                for v in values
            ],
            dtype=object,
        )
    out = np.rint(scaled).astype(np.int64)
    near = np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-3
    for at in np.flatnonzero(near):
        out[at] = int(
            Decimal(float(values[at])).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
            * _MICRO
        )
    return out


def _ceil_div(numerator: NDArray[Any], denominator: Any) -> IntArray:
    """ceil(max(n, 0) / d), exact on int64 or on Python integers (object arrays)."""
    clipped = np.where(numerator > 0, numerator, 0)
    return np.asarray(-((-clipped) // denominator), dtype=np.int64)


def _widen(bound: float, *arrays: NDArray[Any]) -> list[NDArray[Any]]:
    """The arrays as they are when products up to ``bound`` fit in int64, else as Python
    integers (object arrays), so the rational arithmetic below never overflows."""
    if bound < 2.0**62:
        return list(arrays)
    return [np.asarray(a).astype(object) for a in arrays]


class ScenarioSweep:
    """``span-like`` or ``finra-pm`` over slots of a book."""

    def __init__(self, book: Book, policy: str, parameters: Mapping[str, Decimal]) -> None:
        self.book = book
        self.policy = policy
        instruments = {i.symbol: i for i in book.instruments}
        volatility = {
            book.instruments[k].symbol: Decimal(repr(float(v)))
            for k, v in enumerate(book.volatility)
            if not np.isnan(v)
        }
        # A portfolio holding every instrument, so parameter names are checked as the
        # single-portfolio policy checks them.
        view = Portfolio(
            currency=book.currency,
            as_of=book.as_of,
            cash=Decimal(0),
            loan=Decimal(0),
            instruments=instruments,
            positions=(),
            volatility=volatility,
            parameters=dict(parameters),
        )
        n = len(book.instruments)
        held = np.unique(book.slot_underlying)
        with_options = np.zeros(n, bool)
        with_options[
            book.underlying[book.position_instrument[book.is_option[book.position_instrument]]]
        ] = True
        self.rate = 0.0
        self.dividend = np.zeros(n)
        digits = MINOR_UNITS.get(book.currency, 2)
        self.scale = 10**digits
        self.per_minor = _MICRO // self.scale
        if policy == "span-like":
            per_symbol = (
                "price_scan",
                "price_scan_floor",
                "volatility_scan",
                "volatility_scan_floor",
                "extreme_multiple",
                "extreme_weight",
                "short_option_minimum",
                "dividend_yield",
            )
            parameters_read = PolicyParameters(
                view,
                policy="span-like",
                names=(
                    *per_symbol,
                    "price_scan_sigmas",
                    "margin_period_days",
                    "lookahead_days",
                    "initial_ratio",
                    "rate",
                ),
                per_symbol=per_symbol,
            )
            self.lookahead = parameters_read.value("lookahead_days", Decimal(1), low=Decimal(0))
            self.initial_ratio = _rational(
                parameters_read.value("initial_ratio", Decimal("1.10"), low=Decimal(1))
            )
            self.price_scan = np.zeros(n)
            self.volatility_shift = np.zeros(n)
            self.extreme_multiple = np.zeros(n)
            self.extreme_weight = np.zeros(n)
            self.minimum_numerator = np.zeros(n, np.int64)
            self.minimum_denominator = np.ones(n, np.int64)
            for u in held:
                product = _span_product(
                    view, book.instruments[u], parameters_read, options=bool(with_options[u])
                )
                self.price_scan[u] = float(product.price_scan)
                self.volatility_shift[u] = float(product.volatility_shift)
                self.extreme_multiple[u] = float(product.extreme_multiple)
                self.extreme_weight[u] = float(product.extreme_weight)
                a, b = _rational(product.short_option_minimum)
                if max(a, b) >= 2**31:
                    raise PortfolioError(
                        f"parameters.short_option_minimum.{book.instruments[u].symbol}",
                        "too many decimal places",
                    )
                self.minimum_numerator[u], self.minimum_denominator[u] = a, b
        else:
            parameters_read = PolicyParameters(
                view,
                policy="finra-pm",
                names=("range_down", "range_up", "minimum_per_contract", "rate", "dividend_yield"),
                per_symbol=("range_down", "range_up", "dividend_yield"),
            )
            self.minimum_per_contract = _rational(
                parameters_read.value("minimum_per_contract", Decimal("0.375"), low=Decimal(0))
            )
            self.down, self.up = np.zeros(n), np.zeros(n)
            for u in held:
                down, up = _finra_range(book.instruments[u], parameters_read)
                self.down[u], self.up[u] = float(down), float(up)
        self.rate = float(
            parameters_read.value("rate", Decimal(0), low=Decimal(-1), high=Decimal(1))
        )
        for u in held:
            self.dividend[u] = float(
                parameters_read.value(
                    "dividend_yield",
                    Decimal(0),
                    symbol=book.instruments[u].symbol,
                    low=Decimal(-1),
                    high=Decimal(1),
                )
            )
        missing = held[with_options[held] & np.isnan(book.volatility[held])]
        if missing.size:
            symbol = book.instruments[int(missing[0])].symbol
            raise PortfolioError(f"volatility.{symbol}", f"the volatility of {symbol} is needed")

    def _rows(self, slots: IndexArray) -> tuple[ScenarioBook, IndexArray]:
        book = self.book
        rows, group = _rows_of(book.slot_start[slots], book.slot_start[slots + 1])
        instrument = book.position_instrument[rows]
        underlying = book.underlying[instrument]
        option = book.is_option[instrument]
        scenario = ScenarioBook(
            group=group,
            quantity=book.position_quantity[rows],
            multiplier=book.multiplier[instrument],
            price=book.price[instrument],
            spot=book.price[underlying],
            is_option=option,
            is_call=book.is_call[instrument] & option,
            american=option & ~book.european[instrument],
            strike=np.where(option, book.strike[instrument], 0.0),
            years=np.where(option, book.expiry_days[instrument] / DAYS_PER_YEAR, 0.0),
            volatility=np.where(option, book.volatility[underlying], 0.0),
            rate=np.full(rows.size, self.rate),
            dividend_yield=self.dividend[underlying],
        )
        return scenario, underlying

    def _losses(self, slots: IndexArray) -> tuple[FloatArray, FloatArray]:
        """Per slot: the worst scenario loss, and the short option notional (span-like) or the
        option contract units (finra-pm)."""
        scenario, underlying = self._rows(slots)
        groups = slots.size
        if self.policy == "span-like":
            profit = span_scenarios(
                scenario,
                self.price_scan[underlying],
                self.volatility_shift[underlying],
                self.extreme_multiple[underlying],
                self.extreme_weight[underlying],
                float(self.lookahead) / DAYS_PER_YEAR,
            )
            loss = group_loss(scenario.group, profit, groups).max(axis=1)
            return loss, short_option_notional(scenario, groups)
        fractions = _FINRA_FRACTIONS[None, :]
        moves = np.where(
            fractions < 0,
            fractions * self.down[underlying][:, None],
            fractions * self.up[underlying][:, None],
        )
        profit = scenario_profit(
            scenario, moves, np.repeat(scenario.volatility[:, None], fractions.size, axis=1)
        )
        loss = group_loss(scenario.group, profit, groups).max(axis=1)
        return loss, contract_units(scenario, groups)

    def compute(self, slots: IndexArray) -> tuple[IntArray, IntArray, IntArray]:
        groups = slots.size
        # Slots are revalued in chunks of about _CHUNK_ROWS positions: the scenario arrays
        # (rows x 16) then stay in the processor's cache instead of streaming through memory.
        lengths = self.book.slot_start[slots + 1] - self.book.slot_start[slots]
        bounds = np.searchsorted(
            np.cumsum(lengths), np.arange(_CHUNK_ROWS, lengths.sum(), _CHUNK_ROWS)
        )
        parts = [self._losses(chunk) for chunk in np.split(slots, bounds) if chunk.size]
        loss = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
        amount = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
        scan = _to_micro(loss)
        if self.policy == "span-like":
            slot_underlying = self.book.slot_underlying[slots]
            notional = _to_micro(amount)
            numerator = self.minimum_numerator[slot_underlying]
            denominator = self.minimum_denominator[slot_underlying]
            c, d = self.initial_ratio
            bound = (
                float(max(np.abs(scan).max(initial=0), np.abs(notional).max(initial=0)))
                * float(max(numerator.max(initial=1), denominator.max(initial=1)))
                * float(max(c, d))
                * float(self.per_minor)
            )
            scan, notional, numerator, denominator = _widen(
                bound, scan, notional, numerator, denominator
            )
            # max(scan, minimum), as a fraction over the minimum rate's denominator
            over = np.maximum(scan * denominator, numerator * notional)
            maintenance = _ceil_div(over, denominator * self.per_minor)
            initial = _ceil_div(over * c, denominator * (d * self.per_minor))
        else:
            units = _to_micro(amount)
            a, b = self.minimum_per_contract
            bound = float(max(np.abs(scan).max(initial=0), np.abs(units).max(initial=0))) * float(
                max(a, b) * self.per_minor
            )
            scan, units = _widen(bound, scan, units)
            over = np.maximum(scan * b, units * a)
            maintenance = _ceil_div(over, b * self.per_minor)
            initial = maintenance.copy()
        return initial, maintenance, np.zeros(groups, np.int64)


# --- the sweep --------------------------------------------------------------------------------


def _engine(book: Book, policy: str, parameters: Mapping[str, Decimal]) -> Any:
    if policy == "cboe-strategy":
        view = Portfolio(
            currency=book.currency,
            as_of=book.as_of,
            cash=Decimal(0),
            loan=Decimal(0),
            instruments={i.symbol: i for i in book.instruments},
            positions=(),
            parameters=dict(parameters),
        )
        return CboeSweep(book, rates_read(view))
    if policy in ("span-like", "finra-pm"):
        return ScenarioSweep(book, policy, parameters)
    if policy == "cn-rzrq":
        return RzrqSweep(book, dict(parameters))
    raise PortfolioError(
        "policy", f"{policy!r} has no book sweep; choose one of {', '.join(SWEEP_POLICIES)}"
    )


def sweep_full(
    book: Book, policy: str = "cboe-strategy", parameters: Mapping[str, Decimal] | None = None
) -> SweepState:
    """Margin every account of ``book`` under ``policy`` (with the policy's ``parameters``)."""
    engine = _engine(book, policy, parameters or {})
    slots = np.arange(book.n_slots, dtype=np.intp)
    initial, maintenance, paid = engine.compute(slots)
    n = book.n_accounts
    long, short = _values(book)
    state = SweepState(
        policy=policy,
        parameters=dict(parameters or {}),
        scale=10 ** MINOR_UNITS.get(book.currency, 2),
        slot_initial=initial,
        slot_maintenance=maintenance,
        slot_fully_paid=paid,
        initial=_account_sums(book, initial),
        maintenance=_account_sums(book, maintenance),
        fully_paid=_account_sums(book, paid),
        long_value=long,
        short_value=short,
        equity=book.cash - book.loan + long - short,
        engine=engine,
    )
    if hasattr(engine, "account_extra"):  # groups of the account, not of a slot (cn-rzrq)
        extra_initial, extra_maintenance = engine.account_extra(np.arange(n))
        state.initial += extra_initial
        state.maintenance += extra_maintenance
    return state


def sweep_remark(
    book: Book, state: SweepState, prices: Mapping[int, float] | Mapping[str, float]
) -> IndexArray:
    """Apply new ``prices`` (by instrument index or symbol) and re-margin only the holders of the
    underlyings that moved. Returns the indices of the accounts re-margined."""
    moved = book_set_prices(book, prices)
    slots = book.slots_of_underlyings(int(u) for u in moved)
    if not slots.size:
        return np.empty(0, dtype=np.intp)
    if getattr(state.engine, "whole_accounts", False):  # every slot of the accounts touched
        slots = _account_slots(book, np.unique(book.slot_account[slots]))
    initial, maintenance, paid = state.engine.compute(slots)
    owners = book.slot_account[slots]
    for total, per_slot, new in (
        (state.initial, state.slot_initial, initial),
        (state.maintenance, state.slot_maintenance, maintenance),
        (state.fully_paid, state.slot_fully_paid, paid),
    ):
        np.add.at(total, owners, new - per_slot[slots])
        per_slot[slots] = new
    accounts = np.unique(owners)
    long, short = _values(book, accounts)
    state.long_value[accounts] = long
    state.short_value[accounts] = short
    state.equity[accounts] = book.cash[accounts] - book.loan[accounts] + long - short
    return accounts


def ladder_line(ratio: FloatArray, ladder: Sequence[tuple[str, Decimal]]) -> NDArray[np.int64]:
    """Per account, the index in ``ladder`` ((name, margin ratio) lines) of the lowest line its
    ratio is under, -1 for none. The ratio is taken to the contract's four places first, as
    ``margin_compute`` prints it; an account without a ratio (NaN) is under no line."""
    rounded = np.round(ratio, 4)
    line = np.full(ratio.shape, -1, dtype=np.int64)
    for index, (_, threshold) in sorted(enumerate(ladder), key=lambda item: -item[1][1]):
        under = ~np.isnan(rounded) & (np.nan_to_num(rounded, nan=np.inf) < float(threshold))
        line[under] = index  # from the highest line to the lowest: the lowest wins
    return line


@dataclass(frozen=True)
class AccountFigures:
    """One account's figures as the contract states them (``Decimal``, ratios to 4 places)."""

    account_id: Any
    equity: Decimal
    initial_requirement: Decimal
    maintenance_requirement: Decimal
    excess_initial: Decimal
    excess_maintenance: Decimal
    margin_ratio: Decimal | None
    collateral_ratio: Decimal | None


def account_result(book: Book, state: SweepState, account: int) -> MarginResult:
    """One account's sweep as the engine's ``MarginResult`` (what ``margin_compute`` returns for
    its portfolio, without the groups: a caller that shows them margins the one portfolio).
    Equity and market values are recomputed exactly, in ``Decimal``, from the positions."""
    first = book.slot_start[book.account_slot_start[account]]
    last = book.slot_start[book.account_slot_start[account + 1]]
    long = short = Decimal(0)
    for row in range(int(first), int(last)):
        instrument = int(book.position_instrument[row])
        value = (
            Decimal(repr(float(book.position_quantity[row])))
            * book.price_decimal(instrument)
            * book.instruments[instrument].multiplier
        )
        if value > 0:
            long += value
        else:
            short -= value
    cash, loan = book.cash_exact[account], book.loan_exact[account]
    digits = MINOR_UNITS.get(book.currency, 2)
    return MarginResult(
        policy=state.policy,
        currency=book.currency,
        equity=cash - loan + long - short,
        initial_requirement=Decimal(int(state.initial[account])).scaleb(-digits),
        maintenance_requirement=Decimal(int(state.maintenance[account])).scaleb(-digits),
        groups=[],
        long_market_value=long,
        short_market_value=short,
        fully_paid_value=Decimal(int(state.fully_paid[account])).scaleb(-digits),
        cash=cash,
        loan=loan,
    )


def account_figures(book: Book, state: SweepState, account: int) -> AccountFigures:
    """The sweep's figures for one account in ``Decimal`` (equity recomputed exactly from the
    positions, so the ratio is the one ``margin_compute`` would print)."""
    result = account_result(book, state, account)
    return AccountFigures(
        account_id=book.account_ids[account],
        equity=result.equity,
        initial_requirement=result.initial_requirement,
        maintenance_requirement=result.maintenance_requirement,
        excess_initial=result.excess_initial,
        excess_maintenance=result.excess_maintenance,
        margin_ratio=result.margin_ratio,
        collateral_ratio=result.collateral_ratio,
    )
