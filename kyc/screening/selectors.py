"""Reads: candidate generation in PostgreSQL, and tenant-scoped screening state."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from kyc.screening.matching import Candidate, ascii_form, blocking_keys, key_weight, name_variants
from kyc.screening.models import (
    ListEntity,
    ListSource,
    ListVersion,
    ScreeningHit,
    ScreeningRun,
    ScreeningSettings,
    WhitelistEntry,
)
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.selectors import tenant_scoped

# Candidate generation reads at most about this many postings per screening, rarest keys
# first, so its cost does not grow with the list: a key shared by more entities ("mohammed",
# "wang") only counts when the rarer keys of the name leave room for it.
POSTINGS_BUDGET = 6_000
MAX_CANDIDATES = 40
TRIGRAM_CANDIDATES = 10
TRIGRAM_THRESHOLD = 0.55
# The trigram index is the fallback for a short name whose every token is misspelt (no key
# finds anything): over a million names one trigram search costs 0.1-0.7 s, so it never runs
# for a name the keys already answer, nor for a long name.
TRIGRAM_MAX_LETTERS = 14
# The entity count only scales the keys' rarity; a minute-old figure is as good as a fresh one.
TOTAL_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class Thresholds:
    match: Decimal
    review: Decimal
    strong: Decimal


DEFAULT_THRESHOLDS = Thresholds(Decimal("0.700"), Decimal("0.500"), Decimal("0.900"))


def screening_thresholds(*, tenant: Any) -> Thresholds:
    row = ScreeningSettings.objects.filter(tenant=tenant).first()
    if row is None:
        return DEFAULT_THRESHOLDS
    return Thresholds(row.match_threshold, row.review_threshold, row.strong_threshold)


_total_cache: dict[str, tuple[float, int]] = {}


def list_key_total() -> int:
    """About how many entities are indexed (planner statistics, not a count of a big table)."""
    alias = connection.alias + ":" + str(connection.settings_dict.get("NAME"))
    cached = _total_cache.get(alias)
    if cached is not None and time.monotonic() - cached[0] < TOTAL_TTL_SECONDS:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class "
            "WHERE oid = 'screening_listentity'::regclass"
        )
        estimate = cursor.fetchone()[0]
        if estimate <= 0:
            cursor.execute("SELECT count(*) FROM screening_listentity")
            estimate = cursor.fetchone()[0]
    total = max(int(estimate), 1)
    if estimate > 10_000:  # small lists (tests) change fast, so only big ones are cached
        _total_cache[alias] = (time.monotonic(), total)
    return total


def keys_within_budget(frequency: dict[str, int], budget: int) -> list[str]:
    """The rarest keys whose postings together fit ``budget`` (at least the rarest one if it
    fits alone); ties by key so the choice is stable."""
    chosen: list[str] = []
    spent = 0
    for key, count in sorted(frequency.items(), key=lambda item: (item[1], item[0])):
        if spent + count > budget:
            break
        chosen.append(key)
        spent += count
    return chosen


def _trigram_forms(names: list[str]) -> list[str]:
    forms = sorted({ascii_form(n) for n in name_variants(names)} - {""})
    return [f for f in forms if len(f.replace(" ", "")) <= TRIGRAM_MAX_LETTERS][:4]


def list_candidate_ids(*, names: Iterable[str], limit: int = MAX_CANDIDATES) -> list[int]:
    """The listed entities most likely to be ``names``: shared keys ranked by rarity; when no
    key finds anything, the nearest short names by trigram similarity."""
    names = list(names)
    keys = sorted(blocking_keys(names))
    ids: dict[int, float] = {}
    with connection.cursor() as cursor:
        if keys:
            # A key's count stops at the budget: beyond it, it cannot be read anyway.
            cursor.execute(
                """
                SELECT q.key, (SELECT count(*) FROM (
                    SELECT 1 FROM screening_listnamekey k WHERE k.key = q.key LIMIT %s) x)
                FROM unnest(%s::text[]) AS q(key)
                """,
                [POSTINGS_BUDGET + 1, keys],
            )
            frequency = {key: count for key, count in cursor.fetchall() if count}
            total = list_key_total()
            chosen = keys_within_budget(frequency, POSTINGS_BUDGET)
            if chosen:
                weights = [key_weight(k, frequency[k], total) for k in chosen]
                cursor.execute(
                    """
                    SELECT k.entity_id, sum(q.w) AS rank
                    FROM unnest(%s::text[], %s::float8[]) AS q(key, w)
                    JOIN screening_listnamekey k ON k.key = q.key
                    GROUP BY k.entity_id ORDER BY rank DESC, k.entity_id LIMIT %s
                    """,
                    [chosen, weights, limit],
                )
                ids.update({row[0]: row[1] for row in cursor.fetchall()})
            elif len(spelled := [k for k in frequency if not k.startswith("p:")]) >= 2:
                # Only common keys: an entity must share the two rarest spelled ones (a token's
                # sound-alike key would let one common token count twice).
                first, second = sorted(spelled, key=lambda k: (frequency[k], k))[:2]
                cursor.execute(
                    """
                    SELECT entity_id FROM screening_listnamekey WHERE key = %s
                    INTERSECT
                    SELECT entity_id FROM screening_listnamekey WHERE key = %s
                    ORDER BY 1 LIMIT %s
                    """,
                    [first, second, limit],
                )
                ids.update({row[0]: 0.0 for row in cursor.fetchall()})
        forms = [] if ids else _trigram_forms(names)
        if forms:
            cursor.execute(
                "SELECT set_config('pg_trgm.similarity_threshold', %s, true)",
                [str(TRIGRAM_THRESHOLD)],
            )
            for form in forms:
                cursor.execute(
                    """
                    SELECT entity_id FROM screening_listentityname
                    WHERE norm %% %s GROUP BY entity_id
                    ORDER BY max(similarity(norm, %s)) DESC, entity_id LIMIT %s
                    """,
                    [form, form, TRIGRAM_CANDIDATES],
                )
                for (entity_id,) in cursor.fetchall():
                    ids.setdefault(entity_id, 0.0)
    return list(ids)


def candidates_by_ids(ids: Iterable[int]) -> list[Candidate]:
    rows = ListEntity.objects.filter(pk__in=list(ids), delisted_in__isnull=True).values_list(
        "pk",
        "content_hash",
        "schema",
        "caption",
        "names",
        "weak_aliases",
        "birth_dates",
        "countries",
        "topics",
    )
    return [
        Candidate(
            entity_id=pk,
            content_hash=content_hash,
            schema=schema,
            caption=caption,
            names=tuple(names),
            weak_aliases=tuple(weak),
            birth_dates=tuple(dates),
            countries=tuple(countries),
            topics=tuple(topics),
        )
        for pk, content_hash, schema, caption, names, weak, dates, countries, topics in rows
    ]


def list_candidates(*, names: Iterable[str], limit: int = MAX_CANDIDATES) -> list[Candidate]:
    return candidates_by_ids(list_candidate_ids(names=names, limit=limit))


def list_versions_current() -> dict[str, int]:
    """{list name: latest version seq}, recorded on every run."""
    latest: dict[str, int] = {}
    for name, seq in ListVersion.objects.order_by("source__name", "seq").values_list(
        "source__name", "seq"
    ):
        latest[name] = seq
    return latest


def list_source_list() -> QuerySet[ListSource]:
    return ListSource.objects.order_by("name")


# --- tenant-scoped ---------------------------------------------------------------------------


def subject_latest_run(*, tenant: Any, ref: str) -> ScreeningRun | None:
    return (
        tenant_scoped(ScreeningRun, tenant=tenant).filter(subject_ref=ref).order_by("-id").first()
    )


def subject_hits(*, tenant: Any, ref: str) -> QuerySet[ScreeningHit]:
    return tenant_scoped(ScreeningHit, tenant=tenant).filter(subject_ref=ref).order_by("-id")


def hit_queue(*, tenant: Any, band: str | None = None) -> QuerySet[ScreeningHit]:
    """Open hits, strongest first (band ``hit`` blocks approvals, ``review`` is the queue)."""
    hits = tenant_scoped(ScreeningHit, tenant=tenant).filter(status=ScreeningHit.Status.OPEN)
    if band:
        hits = hits.filter(band=band)
    return hits.select_related("entity").order_by("-score", "id")


def access_hit_by_id(*, tenant: Any, hit_id: Any) -> ScreeningHit:
    """The tenant's hit, or the same 404 for a missing one and another tenant's."""
    return access_object_by_id(ScreeningHit, tenant=tenant, object_id=hit_id)


def hits_in_period(*, tenant: Any, start: Any, end: Any) -> QuerySet[ScreeningHit]:
    """Hits raised or decided in ``[start, end)`` and hits still open at ``end`` (raised
    before it, undecided then): what a compliance report over the period accounts for."""
    raised_before_end = Q(created_at__lt=end)
    touched = Q(created_at__gte=start) | Q(decided_at__gte=start, decided_at__lt=end)
    open_at_end = Q(decided_at__isnull=True) | Q(decided_at__gte=end)
    return (
        tenant_scoped(ScreeningHit, tenant=tenant)
        .filter(raised_before_end & (touched | open_at_end))
        .select_related("entity__source", "decided_by")
        .order_by("created_at", "id")
    )


def whitelist_in_period(*, tenant: Any, start: Any, end: Any) -> QuerySet[WhitelistEntry]:
    """Whitelist entries made in ``[start, end)``, oldest first."""
    return (
        tenant_scoped(WhitelistEntry, tenant=tenant)
        .filter(created_at__gte=start, created_at__lt=end)
        .select_related("entity__source", "created_by")
        .order_by("created_at", "id")
    )
