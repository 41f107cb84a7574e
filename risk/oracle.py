"""The price oracle: which price the engine may trust for an instrument, and the crash signal.

Rules (ARCHITECTURE.md, issue 7 item 2):

- The oracle price is the median of *fresh* quotes, one per source (each source's latest), so
  one noisy or chatty source cannot move it. Fresh means no older than the instrument kind's
  limit (``freshness_seconds``).
- No fresh quote: the instrument is *suspect* (``stale``). The last trusted price is used —
  the median of the latest window of quotes that exists — with the configured add-on; never a
  silent zero. No quote at all is an ``OracleError`` naming the symbol.
- A fresh median that differs from the last trusted price by more than ``jump_threshold`` is
  suspect too (``jump``) until later quotes confirm it (the next window compares with this one).
- The add-on always goes against the client, in the platform's favour: a suspect price is
  lowered by ``stale_addon`` where the account is long and raised where it is short
  (``OraclePrice.margin_price``); after a jump the worse of the adjusted trusted price and the
  jumped price is taken.
- A market-wide move (the median return of all underlyings) beyond ``crash_threshold`` within
  ``crash_window_seconds`` is the *crash* signal (``crash_detect``; ``crash_check`` also tells
  ``risk.hooks.crash_signal``). The default 7% follows the first level of the US market-wide
  circuit breaker (NYSE Rule 7.12: a 7% decline of the S&P 500 halts trading).

Defaults are below; ``settings.RISK_ORACLE`` overrides any of them. The rules themselves are
pure functions of quotes (``oracle_price``, ``crash_detect``); ``oracle_prices`` and
``market_moves`` read the quotes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from risk.hooks import crash_signal
from risk.models import Instrument, Quote

DEFAULTS: dict[str, Any] = {
    "freshness_seconds": {"equity": 15, "etf": 15, "index": 15, "option": 60},
    "jump_threshold": "0.20",
    "stale_addon": "0.05",
    "crash_threshold": "0.07",
    "crash_window_seconds": 300,
    # How many recent quotes per instrument the oracle reads (enough for every source twice).
    "quotes_read": 64,
}
PRICE_PLACES = Decimal("0.00000001")


class OracleError(ValueError):
    """No price can be given for ``symbol`` (it has never been quoted)."""

    def __init__(self, symbol: str, problem: str) -> None:
        super().__init__(f"{symbol}: {problem}")
        self.symbol = symbol


@dataclass(frozen=True)
class OracleSettings:
    freshness: dict[str, timedelta]
    jump_threshold: Decimal
    stale_addon: Decimal
    crash_threshold: Decimal
    crash_window: timedelta
    quotes_read: int

    def freshness_of(self, kind: str) -> timedelta:
        return self.freshness.get(kind, self.freshness["equity"])


def oracle_settings() -> OracleSettings:
    """The defaults with ``settings.RISK_ORACLE`` laid over them."""
    raw = {**DEFAULTS, **getattr(settings, "RISK_ORACLE", {})}
    freshness = {**DEFAULTS["freshness_seconds"], **raw["freshness_seconds"]}
    return OracleSettings(
        freshness={kind: timedelta(seconds=s) for kind, s in freshness.items()},
        jump_threshold=Decimal(str(raw["jump_threshold"])),
        stale_addon=Decimal(str(raw["stale_addon"])),
        crash_threshold=Decimal(str(raw["crash_threshold"])),
        crash_window=timedelta(seconds=raw["crash_window_seconds"]),
        quotes_read=int(raw["quotes_read"]),
    )


@dataclass(frozen=True)
class QuoteSample:
    source: str
    price: Decimal
    at: datetime


@dataclass(frozen=True)
class OraclePrice:
    """The oracle's answer for one instrument.

    ``price`` is the trusted median (fresh, or the last trusted one when suspect); ``observed``
    the fresh median when there is one; ``reason`` is ``""``, ``"stale"`` or ``"jump"``.
    """

    symbol: str
    price: Decimal
    at: datetime
    reason: str = ""
    observed: Decimal | None = None
    addon: Decimal = Decimal(0)

    @property
    def suspect(self) -> bool:
        return bool(self.reason)

    def margin_price(self, exposure: int) -> Decimal:
        """The price to margin with: ``exposure`` > 0 if the account gains when it rises.

        A trusted price is used as it is. A suspect one gets the add-on against the account
        (lower where long, higher where short); after a jump the worse of that and the jumped
        price is taken. With no exposure either way the trusted price is used.
        """
        if not self.suspect or exposure == 0:
            return self.price
        direction = 1 if exposure > 0 else -1
        adjusted = (self.price * (1 - direction * self.addon)).quantize(PRICE_PLACES)
        candidates = [adjusted] if self.observed is None else [adjusted, self.observed]
        return min(candidates) if direction > 0 else max(candidates)

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "reason": self.reason,
            "trusted_price": format(self.price, "f"),
            "observed_price": None if self.observed is None else format(self.observed, "f"),
            "trusted_at": self.at.isoformat(),
        }


def _window_median(quotes: Sequence[QuoteSample], end: datetime, width: timedelta) -> Decimal:
    """The median of each source's latest quote in (end - width, end]."""
    latest: dict[str, QuoteSample] = {}
    for quote in quotes:
        if end - width < quote.at <= end:
            kept = latest.get(quote.source)
            if kept is None or quote.at > kept.at:
                latest[quote.source] = quote
    return Decimal(median(q.price for q in latest.values())).quantize(PRICE_PLACES)


def oracle_price(
    *,
    symbol: str,
    quotes: Iterable[QuoteSample],
    now: datetime,
    freshness: timedelta,
    jump_threshold: Decimal,
    stale_addon: Decimal,
) -> OraclePrice:
    """Apply the oracle's rules to ``symbol``'s recent quotes (any order; future ones ignored)."""
    known = sorted((q for q in quotes if q.at <= now), key=lambda q: q.at, reverse=True)
    if not known:
        raise OracleError(symbol, "has no quote; the oracle will not price it")
    fresh_start = now - freshness
    older = [q for q in known if q.at <= fresh_start]
    trusted_at = older[0].at if older else None
    trusted = _window_median(older, trusted_at, freshness) if trusted_at else None
    if known[0].at <= fresh_start:  # nothing fresh: the last trusted window, suspect
        assert trusted is not None and trusted_at is not None
        return OraclePrice(symbol, trusted, trusted_at, "stale", None, stale_addon)
    observed = _window_median(known, now, freshness)
    if trusted is not None and trusted_at is not None and trusted > 0:
        if abs(observed / trusted - 1) > jump_threshold:
            return OraclePrice(symbol, trusted, trusted_at, "jump", observed, stale_addon)
    return OraclePrice(symbol, observed, known[0].at)


def _oracle_read(
    instruments: Iterable[Instrument], now: datetime
) -> dict[str, OraclePrice | OracleError]:
    """Each instrument's oracle price or the reason there is none, from one query (each
    instrument's latest ``quotes_read`` quotes, by the ``quote_latest_idx`` index)."""
    config = oracle_settings()
    wanted = sorted(set(instruments), key=lambda i: i.symbol)
    samples: dict[int, list[QuoteSample]] = {i.pk: [] for i in wanted}
    if wanted:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT q.instrument_id, q.source, q.price, q.at
                FROM unnest(%s::bigint[]) AS wanted(id)
                CROSS JOIN LATERAL (
                    SELECT instrument_id, source, price, at FROM risk_quote
                    WHERE instrument_id = wanted.id AND at <= %s
                    ORDER BY at DESC LIMIT %s
                ) AS q
                """,
                [list(samples), now, config.quotes_read],
            )
            for instrument_id, source, price, at in cursor.fetchall():
                samples[instrument_id].append(QuoteSample(source, price, at))
    answers: dict[str, OraclePrice | OracleError] = {}
    for instrument in wanted:
        try:
            answers[instrument.symbol] = oracle_price(
                symbol=instrument.symbol,
                quotes=samples[instrument.pk],
                now=now,
                freshness=config.freshness_of(instrument.kind),
                jump_threshold=config.jump_threshold,
                stale_addon=config.stale_addon,
            )
        except OracleError as error:
            answers[instrument.symbol] = error
    return answers


def oracle_prices(
    *, instruments: Iterable[Instrument], now: datetime | None = None
) -> dict[str, OraclePrice]:
    """The oracle's price of each instrument, from the stored quotes (global market data).

    Raises ``OracleError`` for the first instrument, by symbol, that has no price.
    """
    prices = {}
    for symbol, answer in _oracle_read(instruments, now or timezone.now()).items():
        if isinstance(answer, OracleError):
            raise answer
        prices[symbol] = answer
    return prices


def oracle_prices_available(
    *, instruments: Iterable[Instrument], now: datetime | None = None
) -> dict[str, OraclePrice]:
    """The oracle's price of each instrument that has one (the sweep's read of the book)."""
    return {
        symbol: answer
        for symbol, answer in _oracle_read(instruments, now or timezone.now()).items()
        if not isinstance(answer, OracleError)
    }


# --- the crash signal ---------------------------------------------------------------------


@dataclass(frozen=True)
class CrashSignal:
    move: Decimal  # the market's median return over the window
    threshold: Decimal
    window: timedelta
    instruments: int
    at: datetime
    worst: tuple[str, Decimal] = field(default=("", Decimal(0)))

    @property
    def direction(self) -> str:
        return "down" if self.move < 0 else "up"

    def as_payload(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "move": format(self.move, "f"),
            "threshold": format(self.threshold, "f"),
            "window_seconds": int(self.window.total_seconds()),
            "instruments": self.instruments,
            "at": self.at.isoformat(),
            "worst": {"symbol": self.worst[0], "move": format(self.worst[1], "f")},
        }


RETURN_PLACES = Decimal("0.0001")


def crash_detect(
    *,
    moves: Mapping[str, tuple[Decimal, Decimal]],
    threshold: Decimal,
    window: timedelta,
    at: datetime,
) -> CrashSignal | None:
    """The crash signal when the median of the underlyings' returns reaches ``threshold``.

    ``moves`` maps each underlying to (price at the window's start, price now). The median,
    not the mean, so one instrument's own collapse is not a market crash.
    """
    returns = {s: after / before - 1 for s, (before, after) in moves.items() if before > 0}
    if not returns:
        return None
    move = Decimal(median(returns.values())).quantize(RETURN_PLACES)
    if abs(move) < threshold:
        return None
    sign = -1 if move < 0 else 1
    worst = max(returns.items(), key=lambda item: sign * item[1])
    return CrashSignal(
        move=move,
        threshold=threshold,
        window=window,
        instruments=len(returns),
        at=at,
        worst=(worst[0], worst[1].quantize(RETURN_PLACES)),
    )


def _source_median(rows: Iterable[Quote]) -> Decimal | None:
    latest: dict[str, Decimal] = {}
    for row in rows:  # newest first
        latest.setdefault(row.source, row.price)
    return Decimal(median(latest.values())) if latest else None


def market_moves(
    *, now: datetime, window: timedelta, freshness: timedelta
) -> dict[str, tuple[Decimal, Decimal]]:
    """Each quoted underlying's price at ``now - window`` and now (medians across sources)."""
    moves = {}
    start = now - window
    for instrument in Instrument.objects.exclude(kind="option").order_by("pk"):
        quotes = Quote.objects.filter(instrument=instrument).order_by("-at")
        after = _source_median(quotes.filter(at__lte=now, at__gt=now - freshness)[:32])
        before = _source_median(quotes.filter(at__lte=start, at__gt=start - freshness)[:32])
        if after is not None and before is not None:
            moves[instrument.symbol] = (before, after)
    return moves


def crash_check(*, now: datetime | None = None) -> CrashSignal | None:
    """Detect a market-wide move over the configured window and tell the crash listeners."""
    now = now or timezone.now()
    config = oracle_settings()
    signal = crash_detect(
        moves=market_moves(
            now=now, window=config.crash_window, freshness=config.freshness_of("equity")
        ),
        threshold=config.crash_threshold,
        window=config.crash_window,
        at=now,
    )
    if signal is not None:
        crash_signal.send(signal.as_payload())
    return signal
