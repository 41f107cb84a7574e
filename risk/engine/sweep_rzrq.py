"""``cn-rzrq`` for many accounts at once.

The same groups as ``rzrq.cn_rzrq``, computed for every account together: per long position the
part of its value not bought with the loan that its haircut (折算率) does not count, the loan
attributed to the highest-haircut holdings first (ties by symbol); per short position the lending
margin and the liquidation line's share of its value; per account the financing group (loan x the
financing margin ratio; loan and overdraft x the line's excess over 1), which depends on no price
and is computed once, in ``Decimal``.

Arithmetic is exact integers: values in 1e-4 units (whole shares x prices of four decimals),
rates in 1e-4, products in 1e-8, each group rounded up once to the minor unit. An account whose
numbers do not fit (more decimals, amounts beyond 1e10) is margined by ``margin_compute`` itself,
its total carried on its first slot. Because the loan is attributed across every long position
of an account, a price move re-margins the whole account (``whole_accounts``).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from risk.engine.book import Book, IndexArray
from risk.engine.policies import margin_compute
from risk.engine.portfolio import Portfolio, PortfolioError
from risk.engine.result import MINOR_UNITS, round_up
from risk.engine.rzrq import ELIGIBLE_KINDS, rzrq_parameters

IntArray = NDArray[np.int64]
UNITS = 10_000  # prices, values and rates in 1e-4
_MAX_VALUE_UNITS = 10**14  # 1e10 of the currency: products stay below 1e18


def _units(value: Decimal) -> int | None:
    scaled = value * UNITS
    return int(scaled) if scaled == scaled.to_integral_value() else None


def _money_units(book: Book) -> tuple[IntArray, NDArray[np.bool_], IntArray, NDArray[np.bool_]]:
    """Loans and cash in 1e-4 units, and whether each fits; computed once per book (they do not
    move with prices)."""
    if "rzrq_money" not in book.cache:
        columns = []
        for amounts in (book.loan_exact, book.cash_exact):
            units = [_units(x) for x in amounts]
            columns.append(np.asarray([u or 0 for u in units], dtype=np.int64))
            columns.append(
                np.asarray([u is not None and abs(u) < _MAX_VALUE_UNITS for u in units], bool)
            )
        book.cache["rzrq_money"] = tuple(columns)
    loan, loan_ok, cash, cash_ok = book.cache["rzrq_money"]
    return loan, loan_ok, cash, cash_ok


class RzrqSweep:
    whole_accounts = True

    def __init__(self, book: Book, parameters: dict[str, Decimal]) -> None:
        self.book = book
        self.parameters = parameters
        view = Portfolio(
            currency=book.currency,
            as_of=book.as_of,
            cash=Decimal(0),
            loan=Decimal(0),
            instruments={i.symbol: i for i in book.instruments},
            positions=(),
            parameters=dict(parameters),
        )
        read = rzrq_parameters(view)
        held = np.unique(book.position_instrument)
        for index in held.tolist():
            instrument = book.instruments[index]
            if instrument.kind not in ELIGIBLE_KINDS:
                raise PortfolioError(
                    f"instruments[{index}].kind",
                    f"{instrument.symbol} is an {instrument.kind}: 融资融券 covers shares and ETFs",
                )
        digits = MINOR_UNITS.get(book.currency, 2)
        self.per_minor = 10 ** (8 - digits)
        self.scale = 10**digits
        haircuts = [
            (read.default_haircut.get(i.kind, Decimal(0)) if i.haircut is None else i.haircut)
            for i in book.instruments
        ]
        rates = [
            _units(r) for r in (read.lending_ratio, read.liquidation - 1, *(h for h in haircuts))
        ]
        self.rates_ok = all(r is not None for r in rates)
        self.lending = rates[0] or 0
        self.excess_line = rates[1] or 0
        self.haircut = np.asarray([r or 0 for r in rates[2:]], dtype=np.int64)
        order = sorted(range(len(book.instruments)), key=lambda k: book.instruments[k].symbol)
        self.symbol_rank = np.empty(len(book.instruments), dtype=np.int64)
        self.symbol_rank[order] = np.arange(len(book.instruments))
        self.loan_units, self.loan_ok, cash_units, cash_ok = _money_units(book)
        # The financing group has no price in it: once, in integers where the loan, the cash and
        # the ratios fit, else in Decimal, exactly as the policy computes it.
        self.extra_initial = np.zeros(book.n_accounts, np.int64)
        self.extra_maintenance = np.zeros(book.n_accounts, np.int64)
        financing, excess = _units(read.financing_ratio), _units(read.liquidation - 1)
        fits = self.loan_ok & cash_ok
        fits &= financing is not None and excess is not None
        owed = self.loan_units + np.maximum(-cash_units, 0)
        has = (self.loan_units > 0) | (cash_units < 0)
        quick = np.flatnonzero(fits & has)
        self.extra_initial[quick] = self._round(self.loan_units[quick] * (financing or 0))
        self.extra_maintenance[quick] = self._round(owed[quick] * (excess or 0))
        for account in np.flatnonzero(~fits).tolist():
            loan, money = book.loan_exact[account], book.cash_exact[account]
            overdraft = max(-money, Decimal(0))
            if loan > 0 or overdraft > 0:
                initial = round_up(loan * read.financing_ratio, book.currency)
                maintenance = round_up((loan + overdraft) * (read.liquidation - 1), book.currency)
                self.extra_initial[account] = int(initial.scaleb(digits))
                self.extra_maintenance[account] = int(maintenance.scaleb(digits))
        self.exact_calls = 0

    def account_extra(self, accounts: IndexArray) -> tuple[IntArray, IntArray]:
        return self.extra_initial[accounts], self.extra_maintenance[accounts]

    def _round(self, value: IntArray) -> IntArray:
        return (np.maximum(value, 0) + (self.per_minor - 1)) // self.per_minor

    def compute(self, slots: IndexArray) -> tuple[IntArray, IntArray, IntArray]:
        """Per slot (one position each); ``slots`` must hold every slot of their accounts."""
        book = self.book
        rows = book.slot_start[slots]  # one position a slot: stock and ETFs only
        instrument = book.position_instrument[rows]
        account = book.position_account[rows]
        quantity = book.position_quantity[rows]
        price = book.price[instrument] * book.multiplier[instrument]
        price_units = np.rint(price * UNITS)
        fits = np.abs(price * UNITS - price_units) <= 1e-6 * np.maximum(1.0, price_units)
        fits &= quantity == np.rint(quantity)
        value = np.rint(quantity) * price_units  # float: exact while below 2**53
        fits &= np.abs(value) < _MAX_VALUE_UNITS
        value_units = np.where(fits, value, 0).astype(np.int64)
        bad_account = np.zeros(book.n_accounts, bool)
        bad_account[account[~fits]] = True
        bad_account[account] |= ~self.loan_ok[account] | (not self.rates_ok)

        initial = np.zeros(slots.size, np.int64)
        maintenance = np.zeros(slots.size, np.int64)
        long = np.flatnonzero(value_units > 0)
        # the loan goes to the highest haircut first, ties by symbol, within each account
        order = long[
            np.lexsort(
                (
                    self.symbol_rank[instrument[long]],
                    -self.haircut[instrument[long]],
                    account[long],
                )
            )
        ]
        owner = account[order]
        worth = value_units[order]
        running = np.cumsum(worth)
        first = np.r_[True, owner[1:] != owner[:-1]] if order.size else np.zeros(0, bool)
        start = np.maximum.accumulate(np.where(first, np.arange(order.size), 0))
        before = running - worth - np.where(start > 0, running[start - 1], 0)
        financed = np.clip(self.loan_units[owner] - before, 0, worth)
        owned = worth - financed
        initial[order] = self._round(owned * (UNITS - self.haircut[instrument[order]]))
        short = np.flatnonzero(value_units < 0)
        initial[short] = self._round(-value_units[short] * self.lending)
        maintenance[short] = self._round(-value_units[short] * self.excess_line)

        for a in np.flatnonzero(bad_account[account]).tolist():
            initial[a], maintenance[a] = 0, 0
        for acc in np.unique(account[bad_account[account]]).tolist():
            self.exact_calls += 1
            result = margin_compute(book.portfolio(acc, parameters=self.parameters), "cn-rzrq")
            digits = MINOR_UNITS.get(book.currency, 2)
            mine = np.flatnonzero(account == acc)
            initial[mine[0]] = (
                int(result.initial_requirement.scaleb(digits)) - self.extra_initial[acc]
            )
            maintenance[mine[0]] = (
                int(result.maintenance_requirement.scaleb(digits)) - self.extra_maintenance[acc]
            )
        return initial, maintenance, np.zeros(slots.size, np.int64)
