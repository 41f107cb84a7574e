"""The price oracle: median of fresh quotes, stale and jump guards, the crash signal, the feed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.test import override_settings

from risk.feed import FeedModel, feed_ticks, feed_write
from risk.hooks import crash_signal
from risk.models import Instrument, Quote
from risk.oracle import (
    OracleError,
    QuoteSample,
    crash_check,
    crash_detect,
    oracle_price,
    oracle_prices,
)
from tests.risk.factories import equity, quote

NOW = datetime(2026, 11, 26, 15, 0, 0, tzinfo=UTC)
RULES = {
    "freshness": timedelta(seconds=15),
    "jump_threshold": Decimal("0.20"),
    "stale_addon": Decimal("0.05"),
}


def q(source: str, price: str, seconds_ago: float) -> QuoteSample:
    return QuoteSample(source, Decimal(price), NOW - timedelta(seconds=seconds_ago))


def price_of(*quotes: QuoteSample):
    return oracle_price(symbol="XYZ", quotes=quotes, now=NOW, **RULES)


def test_the_price_is_the_median_of_each_sources_latest_fresh_quote():
    answer = price_of(
        q("a", "100.00", 1),
        q("b", "101.00", 2),
        q("c", "150.00", 3),  # one venue far off: outvoted, not averaged in
        q("a", "80.00", 5),  # a's older tick: only its latest counts
        q("a", "80.00", 6),
    )
    assert answer.price == Decimal("101.00")
    assert not answer.suspect
    assert answer.margin_price(1) == answer.margin_price(-1) == Decimal("101.00")


def test_an_even_number_of_sources_takes_the_middle_two():
    assert price_of(q("a", "100", 1), q("b", "102", 1)).price == Decimal("101")


def test_quotes_from_the_future_are_ignored():
    assert price_of(q("a", "100", 1), q("b", "500", -5)).price == Decimal("100")


def test_no_fresh_quote_is_suspect_and_priced_at_the_last_trusted_price_with_the_add_on():
    answer = price_of(q("a", "50.00", 40), q("b", "52.00", 41), q("c", "51.00", 42))
    assert answer.suspect and answer.reason == "stale"
    assert answer.price == Decimal("51.00")  # the median of the last window, never zero
    # In the platform's favour: lower where the client is long, higher where short.
    assert answer.margin_price(1) == Decimal("48.45")
    assert answer.margin_price(-1) == Decimal("53.55")
    assert answer.margin_price(0) == Decimal("51.00")
    assert answer.as_json()["reason"] == "stale"


def test_an_instrument_never_quoted_is_refused_by_name():
    with pytest.raises(OracleError, match="XYZ: has no quote"):
        price_of()


def test_a_jump_beyond_the_threshold_is_suspect_until_confirmed():
    trusted = [q("a", "100", 20), q("b", "100", 21), q("c", "100", 22)]
    jumped = price_of(*trusted, q("a", "130", 1), q("b", "131", 2), q("c", "129", 1))
    assert jumped.reason == "jump"
    assert jumped.price == Decimal("100") and jumped.observed == Decimal("130")
    # The worse of the adjusted trusted price and the jumped one, for each side.
    assert jumped.margin_price(1) == Decimal("95.00")
    assert jumped.margin_price(-1) == Decimal("130")
    down = price_of(*trusted, q("a", "70", 1), q("b", "71", 1))
    assert down.reason == "jump" and down.margin_price(1) == Decimal("70.5")
    within = price_of(*trusted, q("a", "119", 1), q("b", "119", 1))
    assert not within.suspect and within.price == Decimal("119")


@pytest.mark.django_db
def test_freshness_limits_are_per_kind_and_configurable():
    xyz = equity("XYZ")
    quote(xyz, "10.00", "10.02", at=NOW - timedelta(seconds=30))
    assert oracle_prices(instruments=[xyz], now=NOW)["XYZ"].reason == "stale"
    with override_settings(RISK_ORACLE={"freshness_seconds": {"equity": 60}}):
        answer = oracle_prices(instruments=[xyz], now=NOW)["XYZ"]
    assert not answer.suspect and answer.price == Decimal("10.01")


@pytest.mark.django_db
def test_quotes_are_append_only_in_the_database():
    xyz = equity("XYZ")
    quote(xyz, "10.00")
    with pytest.raises(DatabaseError), transaction.atomic():
        Quote.objects.update(price=Decimal("0.01"))
    with pytest.raises(DatabaseError), transaction.atomic():
        Quote.objects.all().delete()


# --- the crash signal ---------------------------------------------------------------------


def moves(*returns: str) -> dict[str, tuple[Decimal, Decimal]]:
    return {f"S{i}": (Decimal(100), Decimal(100) * (1 + Decimal(r))) for i, r in enumerate(returns)}


def test_a_market_wide_fall_beyond_the_threshold_is_a_crash():
    signal = crash_detect(
        moves=moves("-0.08", "-0.09", "-0.075", "-0.02", "-0.30"),
        threshold=Decimal("0.07"),
        window=timedelta(minutes=5),
        at=NOW,
    )
    assert signal is not None
    payload = signal.as_payload()
    assert payload["direction"] == "down" and payload["move"] == "-0.0800"
    assert payload["worst"] == {"symbol": "S4", "move": "-0.3000"}
    assert payload["instruments"] == 5 and payload["window_seconds"] == 300


def test_one_names_collapse_is_not_a_market_crash():
    assert (
        crash_detect(
            moves=moves("-0.60", "-0.01", "0.00", "0.01"),
            threshold=Decimal("0.07"),
            window=timedelta(minutes=5),
            at=NOW,
        )
        is None
    )


@pytest.mark.django_db
def test_crash_check_reads_the_quotes_and_tells_the_listeners_after_commit(
    django_capture_on_commit_callbacks,
):
    told = []
    crash_signal.connect(told.append)
    try:
        for symbol, before, after in (
            ("AAA", "100", "91"),
            ("BBB", "50", "46"),
            ("CCC", "20", "19"),
        ):
            instrument = equity(symbol)
            quote(instrument, before, before, at=NOW - timedelta(minutes=5, seconds=1))
            quote(instrument, after, after, at=NOW - timedelta(seconds=1))
        with django_capture_on_commit_callbacks(execute=True):
            signal = crash_check(now=NOW)
        calm = crash_check(now=NOW - timedelta(minutes=5))  # nothing before then: no signal
    finally:
        crash_signal.disconnect(told.append)
    assert signal is not None and signal.move == Decimal("-0.0800")
    assert told == [signal.as_payload()]
    assert calm is None


# --- the simulated feed -------------------------------------------------------------------

START = {"AAA": Decimal("100.00"), "BBB": Decimal("25.00")}


def test_the_feed_is_deterministic_for_a_seed():
    first = feed_ticks(seed=7, start=START, steps=200)
    assert first == feed_ticks(seed=7, start=START, steps=200)
    assert first != feed_ticks(seed=8, start=START, steps=200)
    assert len(first) == 200 * 2 * 3  # steps x symbols x sources
    assert all(t.price > 0 for t in first)


def _returns(model: FeedModel) -> list[float]:
    ticks = feed_ticks(seed=3, start=START, steps=3000, model=model)
    prices = [float(t.price) for t in ticks if t.symbol == "AAA" and t.source == "sim-a"]
    return [b / a - 1 for a, b in itertools.pairwise(prices)]


def test_the_feed_jumps():
    returns = _returns(FeedModel(jumps_per_year=500_000, jump_mean=-0.05, jump_sd=0.01))
    assert min(returns) < -0.03
    assert min(_returns(FeedModel(jumps_per_year=0))) > -0.01


def test_the_feeds_volatility_clusters():
    """Squared returns are autocorrelated: a large move is followed by large moves."""
    squared = [
        r * r
        for r in _returns(
            FeedModel(jumps_per_year=0, garch_alpha=0.2, garch_beta=0.75, source_noise=0)
        )
    ]
    mean = sum(squared) / len(squared)
    lag1 = sum((x - mean) * (y - mean) for x, y in itertools.pairwise(squared))
    spread = sum((x - mean) ** 2 for x in squared)
    assert lag1 / spread > 0.05


@pytest.mark.django_db
def test_the_feed_writes_quotes_the_oracle_prices_from():
    for symbol in START:
        equity(symbol)
    written = feed_write(seed=11, start=START, steps=30, start_at=NOW - timedelta(seconds=30))
    assert written == 30 * 2 * 3 == Quote.objects.count()
    prices = oracle_prices(instruments=list(Instrument.objects.all()), now=NOW)
    final = {t.symbol: t.price for t in feed_ticks(seed=11, start=START, steps=30) if t.step == 30}
    assert not prices["AAA"].suspect
    assert abs(prices["AAA"].price / final["AAA"] - 1) < Decimal("0.01")
