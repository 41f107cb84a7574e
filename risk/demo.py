"""The risk app's part of the demo (``DEMO_SEED_STEPS``) and the simulated market feed that
keeps it moving under ``make run`` (``DEMO_FEED``).

The seed:

- instruments: four stocks, two ETFs and listed options on them (about six weeks out);
- the house margin policy (Cboe strategy-based, the default ladder) drafted by one risk
  officer and activated through the four-eyes approval by the other;
- two hours ago, at that day's prices, the approved clients placed their orders through the
  pre-trade check and the simulated fills: long books, covered calls, collars, spreads, iron
  condors, a protective put, and short TSLA sized from each client's deposit;
- since then TSLA rose 25% in small steps (each within the oracle's jump guard), the rest
  moved a little; the live sweep at today's prices puts the short sellers on the ladder:
  healthy, warning, margin call (the README client among them) and deleverage.

The feed (``demo_feed_run``): every second, a step of the seeded random walk of
``risk.feed`` for each underlying from its last price, the options repriced from their
underlying (Black-Scholes), quotes from three venues, then the incremental sweep of the
holders in every open tenant.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

import numpy as np
from django.db import transaction
from django.utils import timezone

from ledger.models import LedgerAccount
from platform_core.audit.approvals import approval_request_approve, approval_request_create
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.selectors import tenant_scoped
from risk.engine.pricing import black_scholes
from risk.feed import SOURCES, TICK, FeedModel, feed_ticks
from risk.models import Instrument, MarginPolicyVersion, Order, Quote
from risk.orders import order_place
from risk.policies import ACTIVATE_ACTION, policy_version_create
from risk.selectors import policy_active
from risk.sweep import margin_sweep, margin_sweep_moved

logger = logging.getLogger(__name__)

POLICY_NAME = "house"
VOLATILITY = 0.25
RATE = 0.02
# Underlyings: kind, class, price two hours ago, price now.
UNDERLYINGS: dict[str, tuple[str, str, str, str]] = {
    "AAPL": ("equity", "equity", "228.00", "231.40"),
    "MSFT": ("equity", "equity", "415.00", "410.20"),
    "NVDA": ("equity", "equity", "138.00", "141.10"),
    "TSLA": ("equity", "equity", "250.00", "312.50"),
    "SPY": ("etf", "broad_index", "590.00", "592.60"),
    "QQQ": ("etf", "broad_index", "505.00", "507.90"),
}
# Options: (underlying, right, strike).
OPTIONS = [
    ("AAPL", "call", "240"),
    ("AAPL", "put", "210"),
    ("AAPL", "call", "250"),
    ("MSFT", "put", "400"),
    ("SPY", "call", "600"),
    ("SPY", "call", "610"),
    ("QQQ", "put", "470"),
    ("QQQ", "put", "480"),
    ("QQQ", "call", "540"),
    ("QQQ", "call", "550"),
]
PATH_STEPS = 12  # price sets between the orders and now


@dataclass(frozen=True)
class Leg:
    symbol: str  # an underlying, or "AAPL call 240"
    quantity: int


def _short_tsla(multiple: str) -> tuple[str, Decimal]:
    return ("short", Decimal(multiple))


# The books by client index: a list of legs, in the order they are placed (long legs before
# the short ones they cover), or ("short", s): sell TSLA short for s times the deposit.
BOOKS: dict[int, list[Leg] | tuple[str, Decimal]] = {
    0: _short_tsla("1.65"),
    1: [Leg("AAPL", 300), Leg("SPY", 150)],
    2: [Leg("MSFT", 200), Leg("QQQ", 100)],
    3: [Leg("NVDA", 800), Leg("SPY", 100)],
    4: [Leg("SPY", 200), Leg("QQQ", 100)],
    5: [Leg("AAPL", 400), Leg("NVDA", 500)],
    6: [Leg("AAPL", 500), Leg("AAPL call 240", -5)],
    7: [Leg("AAPL", 700), Leg("AAPL call 240", -7)],
    8: [Leg("AAPL", 500), Leg("AAPL put 210", 5), Leg("AAPL call 250", -5)],
    9: [Leg("AAPL", 800), Leg("AAPL put 210", 8), Leg("AAPL call 250", -8)],
    10: [Leg("SPY", 150), Leg("SPY call 600", 5), Leg("SPY call 610", -5)],
    11: [Leg("SPY call 600", 10), Leg("SPY call 610", -10)],
    12: [
        Leg("QQQ put 470", 4),
        Leg("QQQ call 550", 4),
        Leg("QQQ put 480", -4),
        Leg("QQQ call 540", -4),
    ],
    13: [
        Leg("QQQ put 470", 8),
        Leg("QQQ call 550", 8),
        Leg("QQQ put 480", -8),
        Leg("QQQ call 540", -8),
        Leg("QQQ", 100),
    ],
    14: [Leg("MSFT", 400), Leg("MSFT put 400", 4)],
    15: _short_tsla("1.20"),
    16: _short_tsla("1.20"),
    17: _short_tsla("1.50"),
    18: _short_tsla("1.50"),
    19: _short_tsla("1.50"),
    20: _short_tsla("1.65"),
    21: _short_tsla("1.65"),
    22: _short_tsla("1.80"),
    23: _short_tsla("1.80"),
    24: [Leg("NVDA", 600), Leg("MSFT", 150)],
    25: [Leg("QQQ", 250), Leg("AAPL", 200)],
}


def option_symbol(underlying: str, right: str, strike: str, expiry: date) -> str:
    return f"{underlying} {expiry:%y%m%d}{right[0].upper()}{strike}"


def demo_expiry(today: date) -> date:
    """The third Friday of the first month whose third Friday is at least 30 days away."""
    year, month = today.year, today.month
    while True:
        first = date(year, month, 1)
        friday = first + timedelta(days=(4 - first.weekday()) % 7 + 14)
        if (friday - today).days >= 30:
            return friday
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def instruments_ensure(today: date) -> dict[str, Instrument]:
    """The demo's instruments by their short name ("AAPL", "AAPL call 240"): the underlyings,
    and their options (the listed ones are reused when they exist)."""
    found: dict[str, Instrument] = {}
    for symbol, (kind, klass, _before, _now) in UNDERLYINGS.items():
        found[symbol], _ = Instrument.objects.get_or_create(
            symbol=symbol, defaults={"kind": kind, "underlying_class": klass}
        )
    expiry = demo_expiry(today)
    for underlying, right, strike in OPTIONS:
        existing = (
            Instrument.objects.filter(
                kind="option",
                underlying=found[underlying],
                right=right,
                strike=Decimal(strike),
                expiry__gt=today,
            )
            .order_by("expiry")
            .first()
        )
        found[f"{underlying} {right} {strike}"] = existing or Instrument.objects.create(
            symbol=option_symbol(underlying, right, strike, expiry),
            kind="option",
            underlying=found[underlying],
            right=right,
            strike=Decimal(strike),
            expiry=expiry,
            multiplier=Decimal(100),
        )
    return found


def option_price(option: Instrument, spot: float, at: datetime) -> Decimal:
    years = max((option.expiry - at.date()).days, 0) / 365.0
    value = black_scholes(
        spot, float(option.strike), years, VOLATILITY, RATE, 0.0, option.right == "call"
    )
    return max(Decimal(f"{float(value):.6f}").quantize(TICK), TICK)


def quotes_write(
    prices: Mapping[Instrument, Decimal], at: datetime, *, noise: float = 0.0002
) -> None:
    """One quote per venue for each underlying's price and for its options (repriced)."""
    rng = np.random.default_rng(int(at.timestamp() * 1000) % (2**32))
    rows = []
    options = Instrument.objects.filter(
        kind="option", underlying__in=list(prices), expiry__gte=at.date()
    ).select_related("underlying")
    everything = dict(prices)
    for option in options:
        everything[option] = option_price(option, float(prices[option.underlying]), at)
    for instrument, price in everything.items():
        for source in SOURCES:
            jitter = Decimal(f"{1 + rng.normal(0.0, noise):.8f}")
            quoted = max((price * jitter).quantize(TICK), TICK)
            rows.append(Quote(instrument=instrument, source=source, price=quoted, at=at))
    Quote.objects.bulk_create(rows, batch_size=2000)


def policy_ensure(*, tenant: Tenant, staff: Mapping[str, Membership]) -> MarginPolicyVersion:
    """The house policy, drafted by one risk officer and activated by the other."""
    active = policy_active(tenant=tenant)
    if active is not None:
        return active
    maker, checker = staff["risk"], staff["risk2"]
    draft = (
        tenant_scoped(MarginPolicyVersion, tenant=tenant)
        .filter(name=POLICY_NAME, status=MarginPolicyVersion.Status.DRAFT)
        .order_by("-version")
        .first()
    ) or policy_version_create(
        tenant=tenant,
        actor=maker.user,
        name=POLICY_NAME,
        base="cboe-strategy",
        leverage_cap="4",
    )
    approval = approval_request_create(
        tenant=tenant,
        actor=maker.user,
        membership=maker,
        action=ACTIVATE_ACTION,
        params={"policy_id": draft.pk},
        reason="House policy for the demo book: Cboe strategy-based, the default ladder.",
    )
    approval_request_approve(
        tenant=tenant,
        actor=checker.user,
        membership=checker,
        approval_id=approval.pk,
        reason="Checked the rates and the ladder against the credit committee's minutes.",
    )
    active = policy_active(tenant=tenant)
    assert active is not None
    return active


def order_key(membership: Membership, number: int) -> str:
    return f"demo:order:{membership.user.email}:{number}"


def _legs(index: int, account: LedgerAccount, prices: Mapping[str, Decimal]) -> list[Leg]:
    book = BOOKS[index]
    if isinstance(book, list):
        return book
    multiple = book[1]
    shares = (account.balance * multiple / prices["TSLA"]).to_integral_value(ROUND_FLOOR)
    return [Leg("TSLA", -int(shares))]


def _path(start: Decimal, end: Decimal, steps: int) -> list[Decimal]:
    """Log-linear steps from ``start`` to ``end`` (the last is ``end``)."""
    ratio = math.log(float(end) / float(start))
    return [
        Decimal(f"{float(start) * math.exp(ratio * k / steps):.2f}") for k in range(1, steps + 1)
    ]


def demo_seed_step(
    *, tenant: Tenant, staff: dict[str, Membership], clients: list[Membership]
) -> None:
    policy_ensure(tenant=tenant, staff=staff)
    if tenant_scoped(Order, tenant=tenant).filter(idempotency_key__startswith="demo:").exists():
        return  # the book is placed; the feed moves it from here
    now = timezone.now()
    entry = now - timedelta(hours=2)
    found = instruments_ensure(timezone.localdate(now))
    before = {symbol: Decimal(row[2]) for symbol, row in UNDERLYINGS.items()}
    after = {symbol: Decimal(row[3]) for symbol, row in UNDERLYINGS.items()}
    underlyings = {found[s]: price for s, price in before.items()}
    quotes_write(underlyings, entry - timedelta(seconds=5))
    accounts = {
        a.owner_id: a
        for a in tenant_scoped(LedgerAccount, tenant=tenant).filter(
            kind=LedgerAccount.Kind.CLIENT_CASH, owner__in=clients
        )
    }
    for index in sorted(BOOKS):
        membership = clients[index]
        account = accounts[membership.pk]
        for number, leg in enumerate(_legs(index, account, before), start=1):
            order_place(
                tenant=tenant,
                account=account,
                membership=membership,
                actor=membership.user,
                instrument=found[leg.symbol],
                quantity=Decimal(leg.quantity),
                idempotency_key=order_key(membership, number),
                now=entry,
            )
    # Since then: small steps to today's prices, the last two inside the freshness window.
    paths = {s: _path(before[s], after[s], PATH_STEPS) for s in UNDERLYINGS}
    step = (now - timedelta(seconds=20) - entry) / PATH_STEPS
    for k in range(PATH_STEPS):
        at = entry + step * (k + 1)
        quotes_write({found[s]: paths[s][k] for s in UNDERLYINGS}, at)
    quotes_write({found[s]: after[s] for s in UNDERLYINGS}, now)
    margin_sweep(tenant=tenant, now=now)


# --- the simulated market feed ------------------------------------------------------------------


def _latest_prices(instruments: Iterable[Instrument]) -> dict[Instrument, Decimal]:
    latest = {}
    for instrument in instruments:
        rows = list(Quote.objects.filter(instrument=instrument).order_by("-at")[: len(SOURCES)])
        if rows:
            latest[instrument] = sorted(r.price for r in rows)[len(rows) // 2]
    return latest


def demo_feed_tick(*, step: int, seed: int = 2026, model: FeedModel | None = None) -> int:
    """One second of market: the next quotes of every quoted underlying and its options, then
    the incremental sweep of their holders in each open tenant. Returns the accounts margined."""
    now = timezone.now()
    underlyings = (
        Instrument.objects.exclude(kind="option")
        .filter(quotes__at__gte=now - timedelta(days=1))
        .distinct()
    )
    start = _latest_prices(underlyings)
    if not start:
        return 0
    by_symbol = {i.symbol: i for i in start}
    ticks = feed_ticks(
        seed=seed + step,
        start={i.symbol: p for i, p in start.items()},
        steps=1,
        sources=("walk",),
        model=model,
    )
    with transaction.atomic():
        quotes_write({by_symbol[t.symbol]: t.price for t in ticks}, now)
    moved = sorted({i.pk for i in start})
    computed = 0
    for tenant in Tenant.objects.exclude(status=Tenant.Status.CLOSED).order_by("pk"):
        with rls_context(tenant=tenant):
            computed += margin_sweep_moved(tenant=tenant, instrument_ids=moved, now=now).computed
    return computed


def demo_feed_run(*, interval: float = 1.0, ticks: int | None = None) -> None:
    """Tick every ``interval`` seconds (forever, or ``ticks`` times)."""
    step = 0
    while ticks is None or step < ticks:
        started = time.monotonic()
        step += 1
        try:
            demo_feed_tick(step=step, seed=int(time.time()))
        except Exception:  # one bad tick (a migration running, a lock) must not stop the feed
            logger.exception("demo feed tick %s failed", step)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
