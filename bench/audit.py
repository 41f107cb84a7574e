"""Audit trail: events appended per second (1 and 4 writers, one tenant) and verified per second."""

from __future__ import annotations

import statistics
import threading
import time

from django.db import connections

from platform_core.audit.selectors import audit_chain_verify
from platform_core.audit.services import audit_record
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.services import tenant_create

EVENTS = 2000


def _append(tenant, count: int, latencies: list[float]) -> None:
    try:
        for n in range(count):
            started = time.perf_counter()
            with rls_context(tenant=tenant):
                audit_record(tenant=tenant, actor=None, action="bench.event", payload={"n": n})
            latencies.append(time.perf_counter() - started)
    finally:
        connections.close_all()


def _report(label: str, events: int, seconds: float, latencies: list[float]) -> None:
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"{label:<28} {events / seconds:8.0f} events/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")


def run(args: list[str]) -> None:
    solo = tenant_create(slug="bench-solo", name="Solo", timezone="UTC", currency="USD")
    latencies: list[float] = []
    started = time.perf_counter()
    _append(solo, EVENTS, latencies)
    _report("append, 1 writer", EVENTS, time.perf_counter() - started, latencies)

    shared = tenant_create(slug="bench-shared", name="Shared", timezone="UTC", currency="USD")
    latencies = []
    writers = [
        threading.Thread(target=_append, args=(shared, EVENTS // 4, latencies)) for _ in range(4)
    ]
    started = time.perf_counter()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    _report("append, 4 writers, 1 chain", EVENTS, time.perf_counter() - started, latencies)

    started = time.perf_counter()
    with rls_context(tenant=solo):
        checked, broken = audit_chain_verify(tenant_id=solo.pk)
    seconds = time.perf_counter() - started
    assert broken is None and checked == EVENTS + 1
    print(f"{'verify':<28} {checked / seconds:8.0f} events/s")
