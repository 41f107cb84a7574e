"""A simulated market feed for the demo and the tests: seeded, so one seed is one history.

Each underlying follows a random walk in log price whose variance clusters as in GARCH(1,1)
(Bollerslev 1986: a large move raises the next step's variance, which decays back to its long
run level), plus rare jumps (Merton 1976: a Poisson count of normally sized log jumps). Several
sources quote each step around the true price with their own small noise, as separate venues
would. The path is computed in float64 (a simulation, not money); quotes are stored as
``Decimal`` rounded to the cent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import transaction

from risk.models import Instrument, Quote

SOURCES = ("sim-a", "sim-b", "sim-c")
TICK = Decimal("0.01")
SECONDS_PER_YEAR = 252 * 6.5 * 3600


@dataclass(frozen=True)
class FeedModel:
    """Per-step parameters, annualised where it says so."""

    volatility: float = 0.30  # long-run annual volatility
    garch_alpha: float = 0.08  # weight of the last squared shock
    garch_beta: float = 0.90  # persistence of the variance
    jumps_per_year: float = 8.0
    jump_mean: float = -0.02  # log size; crashes are more frequent than melt-ups
    jump_sd: float = 0.05
    source_noise: float = 0.0002  # each source's relative noise around the true price


@dataclass(frozen=True)
class Tick:
    step: int
    symbol: str
    source: str
    price: Decimal


def feed_ticks(
    *,
    seed: int,
    start: Mapping[str, Decimal],
    steps: int,
    interval: timedelta = timedelta(seconds=1),
    sources: Sequence[str] = SOURCES,
    model: FeedModel | None = None,
) -> list[Tick]:
    """The quotes of ``steps`` steps for every symbol of ``start``; equal seeds, equal ticks."""
    model = model or FeedModel()
    rng = np.random.default_rng(seed)
    symbols = sorted(start)
    dt = interval.total_seconds() / SECONDS_PER_YEAR
    long_run = model.volatility**2 * dt  # per-step variance
    omega = long_run * (1 - model.garch_alpha - model.garch_beta)
    log_price = np.log(np.array([float(start[s]) for s in symbols]))
    variance = np.full(len(symbols), long_run)
    shock = np.zeros(len(symbols))
    ticks = []
    for step in range(1, steps + 1):
        variance = omega + model.garch_alpha * shock**2 + model.garch_beta * variance
        shock = rng.standard_normal(len(symbols)) * np.sqrt(variance)
        jumps = rng.poisson(model.jumps_per_year * dt, len(symbols))
        jump_size = np.where(
            jumps > 0, rng.normal(model.jump_mean, model.jump_sd, len(symbols)) * jumps, 0.0
        )
        log_price = log_price + shock - variance / 2 + jump_size
        noise = rng.normal(0.0, model.source_noise, (len(sources), len(symbols)))
        for s_index, source in enumerate(sources):
            for i, symbol in enumerate(symbols):
                price = math.exp(log_price[i]) * (1 + noise[s_index, i])
                quoted = Decimal(f"{price:.6f}").quantize(TICK)
                ticks.append(Tick(step, symbol, source, max(quoted, TICK)))
    return ticks


def feed_write(
    *,
    seed: int,
    start: Mapping[str, Decimal],
    steps: int,
    start_at: datetime,
    interval: timedelta = timedelta(seconds=1),
    sources: Sequence[str] = SOURCES,
    model: FeedModel | None = None,
    sweep: bool = False,
) -> int:
    """Store the simulated quotes (global market data) from ``start_at``; returns the count.

    ``sweep``: once the quotes are committed, queue the incremental margin sweep for the
    instruments they moved (``risk.tasks.margin_sweep_moved_task``), as a live feed does.
    """
    instruments = {i.symbol: i for i in Instrument.objects.filter(symbol__in=list(start))}
    unknown = sorted(set(start) - set(instruments))
    if unknown:
        raise ValueError(f"unknown instruments: {', '.join(unknown)}")
    rows = [
        Quote(
            instrument=instruments[tick.symbol],
            source=tick.source,
            price=tick.price,
            at=start_at + interval * tick.step,
        )
        for tick in feed_ticks(
            seed=seed, start=start, steps=steps, interval=interval, sources=sources, model=model
        )
    ]
    Quote.objects.bulk_create(rows, batch_size=2000)
    if sweep:
        from risk.tasks import margin_sweep_moved_task

        ids = sorted({i.pk for i in instruments.values()})
        transaction.on_commit(lambda: margin_sweep_moved_task.delay(ids))
    return len(rows)
