"""Live sweep end to end: a stored book margined from the database and its statuses stored.

python -m bench sweep [ACCOUNTS]     # default 10,000 accounts x 8 positions

The book of ``python -m bench risk`` (100 underlyings with 36 options each; covered calls,
collars, verticals, iron condors, naked puts, stock; a third of the positions options), stored:
client accounts opened and funded through the ledger's services (``account_create``,
``transfer_post``), positions inserted in bulk (``order_place`` runs a pre-trade check per
order, which is what the benchmark is not about), three venues quoting every instrument, and a
loan per financed account from a registered loan source. Each run is ``margin_sweep`` for the
whole tenant, timed end to end: reading accounts, positions, quotes and loans, the vectorised
engine, and writing ``MarginStatus`` / ``MarginStatusChange`` in one transaction. The
operations loop's listeners are set aside, so only risk's work is timed. Beside it, the
single-portfolio path (what ``sweep_compute`` did before) on a sample, extrapolated.
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from bench.risk import _book_arrays, _chain
from ledger.models import LedgerAccount
from ledger.services import account_create, transfer_post
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context
from risk.hooks import LoanSource, loan_sources, margin_status_changed
from risk.models import Instrument, MarginStatus, Position, Quote
from risk.selectors import loans_of, policy_active
from risk.sweep import _account_compute, margin_sweep, margin_sweep_moved

ACCOUNTS = 10_000
SOURCES = ("venue-a", "venue-b", "venue-c")
SAMPLE = 200


def _instruments() -> tuple[list[Instrument], dict[str, Instrument]]:
    engine_instruments, _ = _chain(np.random.default_rng(7))
    rows = {}
    for record in engine_instruments:  # underlyings come first
        rows[record.symbol] = Instrument(
            symbol=record.symbol,
            kind=record.kind,
            underlying=rows.get(record.underlying) if record.underlying else None,
            right=record.right or "",
            strike=record.strike,
            expiry=record.expiry,
            multiplier=record.multiplier,
        )
        rows[record.symbol].save()
    return engine_instruments, rows


def _quote(rows: dict[str, Instrument], prices: dict[str, Decimal], at: Any) -> None:
    Quote.objects.bulk_create(
        (
            Quote(instrument=rows[symbol], source=source, price=price, at=at)
            for symbol, price in prices.items()
            for source in SOURCES
        ),
        batch_size=5000,
    )


def _seed(count: int) -> tuple[Tenant, dict[int, Decimal], dict[str, Instrument], list[Any]]:
    from platform_core.accounts.models import User

    started = time.perf_counter()
    engine_instruments, rows = _instruments()
    _quote(rows, {i.symbol: i.price for i in engine_instruments}, timezone.now())
    arrays = _book_arrays(count)
    tenant = Tenant.objects.create(
        slug="bench", name="Bench", timezone="America/New_York", base_currency="USD"
    )
    users = User.objects.bulk_create(
        (User(email=f"c{n}@bench.example") for n in range(count)), batch_size=5000
    )
    keys = itertools.count()
    loans: dict[int, Decimal] = {}
    with rls_context(tenant=tenant):
        members = Membership.objects.bulk_create(
            (Membership(tenant=tenant, user=u, role="client") for u in users), batch_size=5000
        )
        bank = account_create(tenant=tenant, kind="custodian_bank", currency="USD")
        accounts = []
        for n, member in enumerate(members):
            account = account_create(
                tenant=tenant, kind="client_cash", currency="USD", owner_id=member.pk
            )
            cash = max(arrays["cash"][n], Decimal(0)) + 1000
            transfer_post(
                tenant=tenant,
                debit_account=bank.pk,
                credit_account=account.pk,
                amount=cash,
                currency="USD",
                entry_type="deposit",
                idempotency_key=f"bench-deposit-{next(keys)}",
            )
            if arrays["loan"][n]:
                loans[account.pk] = arrays["loan"][n]
            accounts.append(account)
        symbols = [i.symbol for i in arrays["instruments"]]
        Position.objects.bulk_create(
            (
                Position(
                    tenant=tenant,
                    account=accounts[int(a)],
                    instrument=rows[symbols[int(i)]],
                    quantity=Decimal(repr(float(q))),
                )
                for a, i, q in zip(
                    arrays["position_account"],
                    arrays["position_instrument"],
                    arrays["position_quantity"],
                    strict=True,
                )
            ),
            batch_size=5000,
        )
    print(f"seeded {count:,} accounts in {time.perf_counter() - started:.1f} s")
    return tenant, loans, rows, engine_instruments


def _timed_sweep(label: str, tenant: Tenant, **kwargs: Any) -> Any:
    with rls_context(tenant=tenant):
        started = time.perf_counter()
        cpu = time.process_time()
        with transaction.atomic():
            outcome = margin_sweep(tenant=tenant, **kwargs)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"{label:<44} {wall:7.2f} s wall {cpu:7.2f} s CPU  "
        f"{outcome.computed:,} margined, {outcome.failed} failed, {len(outcome.changes):,} changes"
    )
    return outcome


def run(args: list[str]) -> None:
    count = int(args[0]) if args else ACCOUNTS
    print(f"load before: {os.getloadavg()[0]:.2f}")
    tenant, loans, rows, engine_instruments = _seed(count)
    source = LoanSource(
        key="bench.loans",
        loans=lambda *, tenant, accounts: {a.pk: loans[a.pk] for a in accounts if a.pk in loans},
    )
    loan_sources.register(source)
    listeners = list(margin_status_changed._listeners)
    for listener in listeners:
        margin_status_changed.disconnect(listener)
    try:
        # A fresh tick first: quotes older than the oracle's freshness limit are suspect, and an
        # account holding a suspect price is margined on its own (its add-on's direction).
        now = timezone.now()
        _quote(rows, {i.symbol: i.price for i in engine_instruments}, now)
        _timed_sweep("full sweep, first (statuses inserted)", tenant, now=now)
        _timed_sweep("full sweep, same prices (nothing changes)", tenant, now=now)
        later = now + timedelta(seconds=1)
        _quote(
            rows,
            {
                i.symbol: (i.price * Decimal("0.93")).quantize(Decimal("0.01")) or Decimal("0.01")
                for i in engine_instruments
            },
            later,
        )
        _timed_sweep("full sweep after a 7% fall (statuses updated)", tenant, now=later)
        moved = engine_instruments[0]  # S000, held by about 1 account in 12
        tick = later + timedelta(seconds=1)
        _quote(
            rows, {moved.symbol: (moved.price * Decimal("0.90")).quantize(Decimal("0.01"))}, tick
        )
        with rls_context(tenant=tenant):
            started = time.perf_counter()
            with transaction.atomic():
                outcome = margin_sweep_moved(
                    tenant=tenant, instrument_ids=[rows[moved.symbol].pk], now=tick
                )
            print(
                f"{'incremental: the holders of one underlying':<44} "
                f"{time.perf_counter() - started:7.2f} s wall  {outcome.computed:,} margined"
            )
            accounts = list(
                LedgerAccount.objects.filter(tenant=tenant, kind="client_cash").order_by("pk")[
                    :SAMPLE
                ]
            )
            stored = policy_active(tenant=tenant)
            owed = loans_of(tenant=tenant, accounts=accounts)
            started = time.perf_counter()
            for account in accounts:
                _account_compute(
                    tenant=tenant,
                    account=account,
                    stored=stored,
                    now=tick,
                    loan=owed.get(account.pk, Decimal(0)),
                )
            per = (time.perf_counter() - started) / len(accounts)
            statuses = MarginStatus.objects.filter(tenant=tenant).count()
        print(
            f"{'single path (before), per account':<44} {per * 1000:7.2f} ms, "
            f"{per * count:,.1f} s for the book extrapolated"
        )
        print(f"statuses stored: {statuses:,}; load after: {os.getloadavg()[0]:.2f}")
    finally:
        loan_sources.unregister(source.key)
        for listener in listeners:
            margin_status_changed.connect(listener)
