"""The whole book as columns: every account's positions in a few NumPy arrays.

The live sweep margins every account at once, so it cannot hold one ``Portfolio`` per account.
A ``Book`` keeps:

- per instrument (``n_instruments``): ``price``, ``is_option``, ``is_call``, ``strike``,
  ``expiry_days`` (days after ``as_of``), ``multiplier``, ``underlying`` (the index of the
  instrument's underlying; an underlying points at itself), ``european``, ``volatility`` (of the
  instrument as an underlying, NaN when unknown), and the ``Instrument`` records themselves, which
  carry the rest (class, leverage, symbols) and the exact ``Decimal`` strikes and multipliers;
- per account (``n_accounts``): ``cash`` and ``loan``, and its ``account_ids`` (whatever the
  caller uses: database ids);
- per position, sorted by account, then underlying, then the caller's order: ``position_account``,
  ``position_instrument``, ``position_quantity`` (signed). Positions in one instrument are netted
  per account (the ledger holds net positions) and zero quantities dropped;
- per *slot*, one account's positions on one underlying (the engine's class group / strategy
  book): ``slot_account``, ``slot_underlying``, ``slot_start`` (positions ``slot_start[s]`` to
  ``slot_start[s + 1]``), and the account's slots ``account_slot_start``;
- an index from underlying to the slots holding it (``underlying_slot_start`` /
  ``underlying_slots``), so a price move re-margins only the accounts that hold the underlying.

Prices are float64 (``book_set_prices`` changes them in place). Where the engine needs a
``Decimal``, the float is read through its shortest ``repr`` (``Decimal(repr(50.1))`` is
``Decimal("50.1")``), which gives back the decimal the price came from for any price of up to
15 significant digits. Quantities, cash and loans are kept as floats too, and exactly as given
(``Decimal``) in ``cash_exact``/``loan_exact``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

from risk.engine.portfolio import Instrument, Portfolio, PortfolioError, Position

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class BookAccount:
    """One account as the caller hands it in: an id, cash, loan and net positions."""

    account_id: Any
    cash: Decimal
    loan: Decimal
    positions: Sequence[Position]


@dataclass
class Book:
    currency: str
    as_of: date
    instruments: list[Instrument]
    symbols: dict[str, int]
    price: FloatArray
    is_option: BoolArray
    is_call: BoolArray
    strike: FloatArray
    expiry_days: NDArray[np.int64]
    multiplier: FloatArray
    underlying: IndexArray
    european: BoolArray
    volatility: FloatArray
    account_ids: list[Any]
    cash: FloatArray
    loan: FloatArray
    cash_exact: list[Decimal]
    loan_exact: list[Decimal]
    position_account: IndexArray
    position_instrument: IndexArray
    position_quantity: FloatArray
    position_slot: IndexArray
    slot_account: IndexArray
    slot_underlying: IndexArray
    slot_start: IndexArray
    account_slot_start: IndexArray
    underlying_slot_start: IndexArray
    underlying_slots: IndexArray
    # Filled by the sweep: per-slot data that depend on the positions only (not on prices).
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n_accounts(self) -> int:
        return len(self.account_ids)

    @property
    def n_slots(self) -> int:
        return int(self.slot_account.size)

    def price_decimal(self, instrument: int) -> Decimal:
        """The instrument's current price as the decimal it was given as (see the module doc)."""
        return Decimal(repr(float(self.price[instrument])))

    def slots_of_underlyings(self, underlyings: Iterable[int]) -> IndexArray:
        """Every slot holding one of ``underlyings`` (instrument indices of underlyings)."""
        chunks = [
            self.underlying_slots[self.underlying_slot_start[u] : self.underlying_slot_start[u + 1]]
            for u in sorted(set(underlyings))
        ]
        if not chunks:
            return np.empty(0, dtype=np.intp)
        return np.sort(np.concatenate(chunks))

    def portfolio(
        self, account: int, *, parameters: Mapping[str, Decimal] | None = None
    ) -> Portfolio:
        """One account as a ``Portfolio`` at the book's current prices (for ``margin_compute``,
        the what-if and the client's page, which show the groups)."""
        first, last = self.account_slot_start[account], self.account_slot_start[account + 1]
        rows = np.arange(self.slot_start[first], self.slot_start[last])
        used: set[int] = set()
        positions = []
        for row in rows:
            instrument = int(self.position_instrument[row])
            used.add(instrument)
            used.add(int(self.underlying[instrument]))
            positions.append(
                Position(
                    self.instruments[instrument].symbol,
                    Decimal(repr(float(self.position_quantity[row]))),
                )
            )
        instruments = {}
        volatility = {}
        for index in sorted(used):
            record = self.instruments[index]
            instruments[record.symbol] = _with_price(record, self.price_decimal(index))
            if not np.isnan(self.volatility[index]):
                volatility[record.symbol] = Decimal(repr(float(self.volatility[index])))
        return Portfolio(
            currency=self.currency,
            as_of=self.as_of,
            cash=self.cash_exact[account],
            loan=self.loan_exact[account],
            instruments=instruments,
            positions=tuple(positions),
            volatility=volatility,
            parameters=dict(parameters or {}),
        )


def _with_price(instrument: Instrument, price: Decimal) -> Instrument:
    from dataclasses import replace

    return instrument if instrument.price == price else replace(instrument, price=price)


def book_build(
    *,
    currency: str,
    as_of: date,
    instruments: Sequence[Instrument],
    accounts: Sequence[BookAccount],
    volatility: Mapping[str, Decimal] | None = None,
) -> Book:
    """Lay out ``accounts`` (positions by symbol) over ``instruments`` as a ``Book``.

    The same checks as ``portfolio_parse``: an unknown symbol, an option whose underlying is
    missing or is itself an option, an expired option or a zero multiplier is a
    ``PortfolioError`` naming the field.
    """
    symbols: dict[str, int] = {}
    for index, instrument in enumerate(instruments):
        if instrument.symbol in symbols:
            raise PortfolioError(f"instruments[{index}].symbol", f"{instrument.symbol} twice")
        symbols[instrument.symbol] = index
    n = len(instruments)
    underlying = np.arange(n, dtype=np.intp)
    for index, instrument in enumerate(instruments):
        if instrument.is_option:
            if instrument.underlying not in symbols:
                raise PortfolioError(
                    f"instruments[{index}].underlying",
                    f"unknown underlying {instrument.underlying!r}",
                )
            underlying[index] = symbols[instrument.underlying]  # type: ignore[index]
            if instruments[underlying[index]].is_option:
                raise PortfolioError(
                    f"instruments[{index}].underlying", "an option's underlying cannot be an option"
                )
            if instrument.expiry is None or instrument.expiry < as_of:
                raise PortfolioError(
                    f"instruments[{index}].expiry", f"option {instrument.symbol} expired"
                )
            if instrument.multiplier <= 0 or instrument.strike is None or instrument.strike <= 0:
                raise PortfolioError(
                    f"instruments[{index}].multiplier",
                    f"option {instrument.symbol} needs a positive strike and multiplier",
                )
    vol = np.full(n, np.nan)
    for symbol, value in (volatility or {}).items():
        if symbol not in symbols:
            raise PortfolioError(f"volatility.{symbol}", f"unknown symbol {symbol!r}")
        vol[symbols[symbol]] = float(value)

    account_of: list[int] = []
    instrument_of: list[int] = []
    quantity_of: list[float] = []
    for a, account in enumerate(accounts):
        net: dict[int, Decimal] = {}
        for p, position in enumerate(account.positions):
            if position.symbol not in symbols:
                raise PortfolioError(
                    f"accounts[{a}].positions[{p}].symbol", f"unknown symbol {position.symbol!r}"
                )
            index = symbols[position.symbol]
            net[index] = net.get(index, Decimal(0)) + position.quantity
        for index, quantity in net.items():
            if quantity:
                account_of.append(a)
                instrument_of.append(index)
                quantity_of.append(float(quantity))
    return book_from_arrays(
        currency=currency,
        as_of=as_of,
        instruments=list(instruments),
        volatility=vol,
        account_ids=[account.account_id for account in accounts],
        cash=[account.cash for account in accounts],
        loan=[account.loan for account in accounts],
        position_account=np.asarray(account_of, dtype=np.intp),
        position_instrument=np.asarray(instrument_of, dtype=np.intp),
        position_quantity=np.asarray(quantity_of, dtype=np.float64),
        underlying=underlying,
    )


def book_from_arrays(
    *,
    currency: str,
    as_of: date,
    instruments: list[Instrument],
    account_ids: list[Any],
    cash: Sequence[Decimal],
    loan: Sequence[Decimal],
    position_account: IndexArray,
    position_instrument: IndexArray,
    position_quantity: FloatArray,
    volatility: FloatArray | None = None,
    underlying: IndexArray | None = None,
) -> Book:
    """The layout from arrays the caller already has (net positions, no zero quantities): the
    fast door for large books; ``book_build`` checks and nets, then comes here."""
    n = len(instruments)
    symbols = {instrument.symbol: index for index, instrument in enumerate(instruments)}
    if underlying is None:
        underlying = np.asarray(
            [symbols[i.underlying] if i.is_option else k for k, i in enumerate(instruments)],  # type: ignore[index]
            dtype=np.intp,
        )
    as_of_ordinal = as_of.toordinal()
    order = np.lexsort((underlying[position_instrument], position_account))
    position_account = np.asarray(position_account, dtype=np.intp)[order]
    position_instrument = np.asarray(position_instrument, dtype=np.intp)[order]
    position_quantity = np.asarray(position_quantity, dtype=np.float64)[order]
    position_underlying = underlying[position_instrument]
    n_accounts = len(account_ids)
    n_positions = position_account.size
    new_slot = np.ones(n_positions, dtype=bool)
    if n_positions:
        new_slot[1:] = (position_account[1:] != position_account[:-1]) | (
            position_underlying[1:] != position_underlying[:-1]
        )
    slot_first = np.flatnonzero(new_slot)
    position_slot = np.cumsum(new_slot) - 1
    slot_account = position_account[slot_first]
    slot_underlying = position_underlying[slot_first]
    slot_start = np.append(slot_first, n_positions).astype(np.intp)
    account_slot_start = np.searchsorted(slot_account, np.arange(n_accounts + 1)).astype(np.intp)
    by_underlying = np.argsort(slot_underlying, kind="stable").astype(np.intp)
    underlying_slot_start = np.searchsorted(
        slot_underlying[by_underlying], np.arange(n + 1)
    ).astype(np.intp)
    return Book(
        currency=currency,
        as_of=as_of,
        instruments=instruments,
        symbols=symbols,
        price=np.asarray([float(i.price) for i in instruments], dtype=np.float64),
        is_option=np.asarray([i.is_option for i in instruments], dtype=bool),
        is_call=np.asarray([i.right == "call" for i in instruments], dtype=bool),
        strike=np.asarray([float(i.strike or 0) for i in instruments], dtype=np.float64),
        expiry_days=np.asarray(
            [(i.expiry.toordinal() - as_of_ordinal) if i.expiry else 0 for i in instruments],
            dtype=np.int64,
        ),
        multiplier=np.asarray([float(i.multiplier) for i in instruments], dtype=np.float64),
        underlying=underlying,
        european=np.asarray([i.exercise_style == "european" for i in instruments], dtype=bool),
        volatility=np.full(n, np.nan) if volatility is None else volatility,
        account_ids=list(account_ids),
        cash=np.asarray([float(c) for c in cash], dtype=np.float64),
        loan=np.asarray([float(x) for x in loan], dtype=np.float64),
        cash_exact=list(cash),
        loan_exact=list(loan),
        position_account=position_account,
        position_instrument=position_instrument,
        position_quantity=position_quantity,
        position_slot=position_slot.astype(np.intp),
        slot_account=slot_account,
        slot_underlying=slot_underlying,
        slot_start=slot_start,
        account_slot_start=account_slot_start,
        underlying_slot_start=underlying_slot_start,
        underlying_slots=by_underlying,
    )


def book_from_portfolios(
    portfolios: Sequence[Portfolio], *, ids: Sequence[Any] | None = None
) -> Book:
    """One book from portfolios that share their instruments (same symbol, same record).

    A symbol priced differently by two portfolios is an error: a book has one price per
    instrument. The first portfolio's currency and date apply to all.
    """
    if not portfolios:
        raise PortfolioError("portfolios", "a book needs at least one portfolio")
    first = portfolios[0]
    instruments: dict[str, Instrument] = {}
    volatility: dict[str, Decimal] = {}
    for n, portfolio in enumerate(portfolios):
        if portfolio.currency != first.currency or portfolio.as_of != first.as_of:
            raise PortfolioError(f"portfolios[{n}]", "one currency and one date per book")
        for symbol, instrument in portfolio.instruments.items():
            if instruments.setdefault(symbol, instrument) != instrument:
                raise PortfolioError(f"portfolios[{n}].instruments.{symbol}", "differs")
        for symbol, value in portfolio.volatility.items():
            if volatility.setdefault(symbol, value) != value:
                raise PortfolioError(f"portfolios[{n}].volatility.{symbol}", "differs")
    accounts = [
        BookAccount(ids[n] if ids is not None else n, p.cash, p.loan, p.positions)
        for n, p in enumerate(portfolios)
    ]
    return book_build(
        currency=first.currency,
        as_of=first.as_of,
        instruments=list(instruments.values()),
        accounts=accounts,
        volatility=volatility,
    )


def book_set_prices(book: Book, prices: Mapping[int, float] | Mapping[str, float]) -> IndexArray:
    """Set new prices (by instrument index or symbol); returns the underlyings they move.

    Nothing is changed when one of them is refused (an unknown instrument, a price that is
    negative or not a finite number): the error names it as ``prices.<symbol or index>``.
    """
    updates = []
    for key, value in prices.items():
        if isinstance(key, str):
            if key not in book.symbols:
                raise PortfolioError(f"prices.{key}", f"unknown symbol {key!r}")
            index = book.symbols[key]
        else:
            index = int(key)
            if not 0 <= index < len(book.instruments):
                raise PortfolioError(f"prices.{key}", "no such instrument")
        number = float(value)
        if not np.isfinite(number) or number < 0:
            raise PortfolioError(f"prices.{key}", f"{value!r} is not a price")
        updates.append((index, number))
    moved = []
    for index, number in updates:
        book.price[index] = number
        moved.append(int(book.underlying[index]))
    return np.unique(np.asarray(moved, dtype=np.intp))
