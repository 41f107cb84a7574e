"""Sanctions screening: a million list entries, one screening's latency, delta and re-screens.

Data: the shared real fixtures (UN persons untreated, the FtM clusters, OFAC SDN + aliases)
plus generated persons and companies in Latin, Cyrillic, Arabic and Han script, written as
FollowTheMoney lines and loaded through the real importer (COPY into staging, then keys).
Reported:
- the import time of the list;
- p50/p95 latency of one screening (candidate generation in PostgreSQL + logic-v2 scoring),
  without storing (``screening_preview``) and with storing a run (``subject_screen``);
- recall@0.70 of the 683 treated UN names against their untreated records among the million;
- the delta: 1,000 newly listed entities against 100,000 clients (index in memory, then the
  possible matches re-screened and stored);
- a full re-screen of 100,000 clients in batches (``subjects_rescreen``), measured, or
  extrapolated from ``--sample`` clients (printed as such).

Options: ``--entities N`` (default 1,000,000), ``--subjects N`` (100,000), ``--sample N``
(clients of the full re-screen; the default, every client, measures it; fewer extrapolates).
Needs the shared fixtures folder.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from django.db import connection

SANCTIONS = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "sanctions"
SEED = 20261126
COUNTRIES = ["ru", "cn", "ir", "sy", "kp", "ae", "tr", "de", "fr", "us", "gb", "af", "iq", "by"]


def _option(argv: list[str], name: str, default: int) -> int:
    if name in argv:
        return int(argv[argv.index(name) + 1].replace("_", "").replace(",", ""))
    return default


def _pools() -> dict[str, tuple[list[str], list[str]]]:
    from faker.providers.person.ar_AA import Provider as Arabic
    from faker.providers.person.de_DE import Provider as German
    from faker.providers.person.en_US import Provider as English
    from faker.providers.person.es_ES import Provider as Spanish
    from faker.providers.person.ru_RU import Provider as Russian
    from faker.providers.person.tr_TR import Provider as Turkish
    from faker.providers.person.zh_CN import Provider as Chinese

    def names(provider: Any, first: str, last: str) -> tuple[list[str], list[str]]:
        return sorted(set(getattr(provider, first))), sorted(set(getattr(provider, last)))

    return {
        "en": names(English, "first_names", "last_names"),
        "de": names(German, "first_names", "last_names"),
        "es": names(Spanish, "first_names", "last_names"),
        "tr": names(Turkish, "first_names", "last_names"),
        "ru": names(Russian, "first_names_male", "last_names_male"),
        "ar": names(Arabic, "first_names", "last_names"),
        "zh": names(Chinese, "first_names", "last_names"),
    }


SCRIPT_MIX = ["en", "en", "de", "es", "tr", "ru", "ru", "ar", "ar", "zh", "zh"]
ORG_WORDS = (
    "Aurora Baltic Cedar Delta Eastern Falcon Granite Horizon Imperial Jade Kestrel Lotus "
    "Meridian Nova Orion Pioneer Quantum Rubin Sapphire Titan Ural Vostok Zenith Amur Caspian "
    "Sahara Tiber Pamir Altai Kama Volga Yenisei Harbin Canton Fujian Sichuan Tabriz Shiraz"
).split()
ORG_KINDS = "Trading Shipping Logistics Petroleum Metals Holdings Engineering Aviation".split()
ORG_FORMS = ["LLC", "Corp", "Ltd", "JSC", "GmbH", "FZE", "Co"]


def _person_name(rnd: random.Random, pools: dict[str, Any], script: str) -> str:
    first, last = pools[script]
    if script == "zh":
        return rnd.choice(last) + rnd.choice(first)
    if rnd.random() < 0.25:
        return f"{rnd.choice(first)} {rnd.choice(first)} {rnd.choice(last)}"
    return f"{rnd.choice(first)} {rnd.choice(last)}"


def _generated(rnd: random.Random, pools: dict[str, Any], key: str) -> dict[str, Any]:
    if rnd.random() < 0.12:
        name = (
            f"{rnd.choice(ORG_WORDS)} {rnd.choice(ORG_WORDS)} {rnd.choice(ORG_KINDS)} "
            f"{rnd.choice(ORG_FORMS)}"
        )
        props = {"name": [name], "country": [rnd.choice(COUNTRIES)], "topics": ["sanction"]}
        return {"id": key, "schema": "Company", "properties": props, "target": True}
    script = rnd.choice(SCRIPT_MIX)
    names = [_person_name(rnd, pools, script)]
    if rnd.random() < 0.3:
        names.append(_person_name(rnd, pools, rnd.choice(SCRIPT_MIX)))
    props = {
        "name": names,
        "birthDate": [
            f"{rnd.randint(1940, 2000)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        ],
        "nationality": [rnd.choice(COUNTRIES)],
        "topics": [rnd.choice(["sanction", "sanction", "role.pep", "crime"])],
    }
    return {"id": key, "schema": "Person", "properties": props, "target": True}


def _un_rows(name: str) -> list[dict[str, str]]:
    import csv

    with open(SANCTIONS / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _subject_from_row(ref: str, row: dict[str, str]) -> Any:
    from kyc.screening.matching import Subject

    value = row["date_of_birth"].strip()
    try:
        birth_date = date.fromisoformat(value[:10]) if len(value) >= 10 else None
    except ValueError:  # the treated copy shifts some dates into impossible days
        birth_date = None
    year = int(value) if len(value) == 4 and value.isdigit() else None
    country = row["nationality"].strip().lower()
    return Subject(
        ref=ref,
        names=(row["full_name"],),
        birth_date=birth_date,
        birth_year=year,
        countries=(country,) if len(country) == 2 else (),
    )


def _write_list(path: Path, total: int, pools: dict[str, Any]) -> int:
    rnd = random.Random(SEED)
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        for i, row in enumerate(_un_rows("positives_un_untreated.csv")):
            props = {"name": [row["full_name"]], "topics": ["sanction"]}
            if row["date_of_birth"]:
                props["birthDate"] = [row["date_of_birth"]]
            if row["nationality"]:
                props["nationality"] = [row["nationality"]]
            entity = {"id": f"un-{i}", "schema": "Person", "properties": props, "target": True}
            out.write(json.dumps(entity, ensure_ascii=False) + "\n")
            written += 1
        for fixture in ("zala.ftm.json", "t1.ftm.json"):
            for line in open(SANCTIONS / fixture, encoding="utf-8"):
                out.write(line if line.endswith("\n") else line + "\n")
                written += 1
        for n in range(total - written):
            out.write(json.dumps(_generated(rnd, pools, f"gen-{n}"), ensure_ascii=False) + "\n")
    return total


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(argv: list[str]) -> None:
    from kyc.screening.hooks import subject_source
    from kyc.screening.matching import Subject, matcher_warm_up
    from kyc.screening.models import ListEntity, ScreeningRun
    from kyc.screening.services import (
        list_import,
        list_version_delta_screen,
        screening_preview,
        subject_screen,
        subjects_rescreen,
    )
    from platform_core.tenancy.models import Tenant
    from platform_core.tenancy.owner import owner_connection
    from platform_core.tenancy.rls import rls_context

    if not SANCTIONS.is_dir():
        print(f"the shared fixtures are not at {SANCTIONS.resolve()}; nothing to measure")
        return
    entities = _option(argv, "--entities", 1_000_000)
    subject_count = _option(argv, "--subjects", 100_000)
    sample = _option(argv, "--sample", subject_count)
    pools = _pools()
    workdir = Path(tempfile.mkdtemp(prefix="bench-screening-"))

    print(f"screening benchmark: {entities:,} list entries, {subject_count:,} clients")
    started = time.perf_counter()
    list_path = workdir / "list.ftm.json"
    _write_list(list_path, entities, pools)
    print(f"  generated the list file in {time.perf_counter() - started:.0f} s")

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r  importing: {done:,} / {total or entities:,}")
            sys.stderr.flush()

    started = time.perf_counter()
    outcome = list_import(path=list_path, fmt="ftm", source_name="bench", progress=progress)
    list_import(
        path=SANCTIONS / "ofactest_sdn.csv",
        fmt="ofac",
        source_name="ofac-sdn",
        aliases=SANCTIONS / "ofactest_alt.csv",
    )
    imported = time.perf_counter() - started
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    listed = ListEntity.objects.count()
    print(
        f"  import: {outcome.version.entity_count:,} entities in {imported:.0f} s "
        f"({listed:,} screenable entities in the database)"
    )
    started = time.perf_counter()
    with owner_connection():
        with connection.cursor() as cursor:
            for table in (
                "screening_listentity",
                "screening_listnamekey",
                "screening_listentityname",
            ):
                cursor.execute(f"VACUUM ANALYZE {table}")
            cursor.execute("SELECT count(*) FROM screening_listnamekey")
            keys = cursor.fetchone()[0]
    print(
        f"  vacuum analyze (autovacuum's job in production): "
        f"{time.perf_counter() - started:.0f} s; {keys:,} blocking keys"
    )

    started = time.perf_counter()
    matcher_warm_up()
    print(f"  matcher warm-up (once per worker): {time.perf_counter() - started:.1f} s")

    # --- latency and recall ---
    treated = _un_rows("positives_un_treated.csv")
    keys_by_pk = dict(ListEntity.objects.filter(key__startswith="un-").values_list("pk", "key"))
    latencies: list[float] = []
    cpu: list[float] = []  # this process's CPU only: less sensitive to a shared machine
    found = 0
    for i, row in enumerate(treated):
        subject = _subject_from_row(f"t{i}", row)
        begin, begin_cpu = time.perf_counter(), time.process_time()
        scored = screening_preview(subject=subject, limit=40)
        latencies.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
        if any(
            keys_by_pk.get(s.candidate.entity_id) == f"un-{i}" and s.score >= 0.70 for s in scored
        ):
            found += 1
    rnd = random.Random(SEED + 1)
    for _ in range(300):
        script = rnd.choice(SCRIPT_MIX)
        subject = Subject(
            ref="x", names=(_person_name(rnd, pools, script),), birth_date=date(1980, 1, 1)
        )
        begin, begin_cpu = time.perf_counter(), time.process_time()
        screening_preview(subject=subject, limit=40)
        latencies.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
    print(
        f"  one screening (candidates + logic-v2, not stored), {len(latencies)} queries: "
        f"p50 {_percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p95 {_percentile(latencies, 0.95) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.0f} ms; Python CPU p50 "
        f"{_percentile(cpu, 0.5) * 1000:.1f} ms, p95 {_percentile(cpu, 0.95) * 1000:.1f} ms"
    )
    # The load average says how shared the machine was while measuring.
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"  recall@0.70 of treated UN names among {listed:,} entries: "
        f"{found}/{len(treated)} = {found / len(treated):.1%}"
    )

    # --- clients, stored screenings, delta, full re-screen ---
    tenant = Tenant.objects.create(
        slug="bench-screening", name="Bench", timezone="UTC", base_currency="USD"
    )
    rnd = random.Random(SEED + 2)
    clients = {
        str(n): Subject(
            ref=str(n),
            names=(_person_name(rnd, pools, rnd.choice(SCRIPT_MIX)),),
            birth_date=date(rnd.randint(1940, 2004), rnd.randint(1, 12), rnd.randint(1, 28)),
            countries=(rnd.choice(COUNTRIES),),
        )
        for n in range(subject_count)
    }

    def source(tenant_arg: Any, refs: Any) -> Any:
        if refs is None:
            return iter(clients.values())
        return (clients[r] for r in refs if r in clients)

    subject_source.unregister()
    subject_source.register(source)
    try:
        stored: list[float] = []
        for ref in list(clients)[-200:]:
            begin = time.perf_counter()
            subject_screen(tenant=tenant, subject=clients[ref], reason="bench")
            stored.append(time.perf_counter() - begin)
        print(
            f"  one screening stored (run + results + hits), {len(stored)} clients: "
            f"p50 {_percentile(stored, 0.5) * 1000:.1f} ms, "
            f"p95 {_percentile(stored, 0.95) * 1000:.1f} ms"
        )

        def rescreen_progress(done: int, total: int) -> None:
            if sys.stderr.isatty():
                sys.stderr.write(f"\r  full re-screen: {done:,} / {total:,}")
                sys.stderr.flush()

        refs = list(clients)[: min(sample, subject_count)]
        begin_all = time.perf_counter()
        subjects_rescreen(tenant=tenant, refs=refs, reason="bench", progress=rescreen_progress)
        elapsed = time.perf_counter() - begin_all
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        if len(refs) == subject_count:
            print(f"  full re-screen of {subject_count:,} clients: MEASURED {elapsed / 60:.1f} min")
        else:
            print(
                f"  full re-screen of {subject_count:,} clients: EXTRAPOLATED from {len(refs):,} "
                f"measured in {elapsed:.0f} s: {elapsed / len(refs) * subject_count / 60:.1f} min"
            )
        print(f"  load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        # The delta: 1,000 new entities, 25 of them being existing clients.
        planted = rnd.sample(list(clients.values()), 25)
        delta_path = workdir / "delta.ftm.json"
        with open(delta_path, "w", encoding="utf-8") as out:
            for n in range(975):
                out.write(json.dumps(_generated(rnd, pools, f"new-{n}"), ensure_ascii=False) + "\n")
            for n, client in enumerate(planted):
                entity = {
                    "id": f"planted-{n}",
                    "schema": "Person",
                    "properties": {
                        "name": list(client.names),
                        "birthDate": [client.birth_date.isoformat()],
                        "nationality": list(client.countries),
                        "topics": ["sanction"],
                    },
                    "target": True,
                }
                out.write(json.dumps(entity, ensure_ascii=False) + "\n")
        # Imported without its queued delta, so the delta itself is what gets timed.
        from kyc.screening import services

        scheduled = services._delta_schedule
        services._delta_schedule = lambda version_id: None
        try:
            version = list_import(path=delta_path, fmt="ftm", source_name="bench-delta").version
        finally:
            services._delta_schedule = scheduled
        begin = time.perf_counter()
        delta = list_version_delta_screen(version_id=version.pk, tenants=[tenant])
        delta_time = time.perf_counter() - begin
        with rls_context(tenant=tenant):
            flagged = {
                ref
                for ref in ScreeningRun.objects.filter(
                    tenant=tenant, reason="list_delta", band="hit"
                ).values_list("subject_ref", flat=True)
            }
        caught = sum(1 for c in planted if c.ref in flagged)
        print(
            f"  delta: {version.added_count:,} new entities against {delta.subjects_indexed:,} "
            f"clients in {delta_time:.1f} s; {delta.subjects_rescreened} clients re-screened, "
            f"{caught}/{len(planted)} planted listings caught as hits"
        )
    finally:
        subject_source.unregister()
