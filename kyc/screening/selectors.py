"""Reads: candidate generation in PostgreSQL, and tenant-scoped screening state."""

from __future__ import annotations

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

# Keys shared by more entities than this are too common to find candidates by alone
# ("mohammed", "ali"); they still add to the rank of entities found by rarer keys.
COMMON_KEY_POSTINGS = 20_000
MAX_CANDIDATES = 40
TRIGRAM_CANDIDATES = 10
TRIGRAM_THRESHOLD = 0.55


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


def list_key_total() -> int:
    """About how many entities are indexed (planner statistics, not a count of a big table)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class "
            "WHERE oid = 'screening_listentity'::regclass"
        )
        estimate = cursor.fetchone()[0]
        if estimate <= 0:
            cursor.execute("SELECT count(*) FROM screening_listentity")
            estimate = cursor.fetchone()[0]
    return max(int(estimate), 1)


def list_candidate_ids(*, names: Iterable[str], limit: int = MAX_CANDIDATES) -> list[int]:
    """The listed entities most likely to be ``names``: shared keys ranked by rarity, plus
    the nearest names by trigram similarity (typos in short names, run-together names)."""
    names = list(names)
    keys = sorted(blocking_keys(names))
    ids: dict[int, float] = {}
    with connection.cursor() as cursor:
        if keys:
            cursor.execute(
                """
                SELECT q.key, (SELECT count(*) FROM (
                    SELECT 1 FROM screening_listnamekey k WHERE k.key = q.key LIMIT %s) x)
                FROM unnest(%s::text[]) AS q(key)
                """,
                [COMMON_KEY_POSTINGS, keys],
            )
            frequency = {key: count for key, count in cursor.fetchall() if count}
            total = list_key_total()
            rare = [k for k, n in frequency.items() if n < COMMON_KEY_POSTINGS]
            common = [k for k, n in frequency.items() if n >= COMMON_KEY_POSTINGS]
            weights = {k: key_weight(k, n, total) for k, n in frequency.items()}
            if rare:
                cursor.execute(
                    """
                    SELECT k.entity_id, sum(q.w) AS rank
                    FROM unnest(%s::text[], %s::float8[]) AS q(key, w)
                    JOIN screening_listnamekey k ON k.key = q.key
                    GROUP BY k.entity_id ORDER BY rank DESC, k.entity_id LIMIT %s
                    """,
                    [rare, [weights[k] for k in rare], limit],
                )
                ids.update({row[0]: row[1] for row in cursor.fetchall()})
            elif len(common) >= 2:
                # Only common keys: an entity must share at least two of them.
                cursor.execute(
                    """
                    SELECT k.entity_id FROM screening_listnamekey k
                    WHERE k.key = ANY(%s) GROUP BY k.entity_id
                    HAVING count(*) >= 2 ORDER BY count(*) DESC, k.entity_id LIMIT %s
                    """,
                    [common, limit],
                )
                ids.update({row[0]: 0.0 for row in cursor.fetchall()})
        forms = sorted({ascii_form(n) for n in name_variants(names)} - {""})
        if forms:
            cursor.execute(
                "SELECT set_config('pg_trgm.similarity_threshold', %s, true)",
                [str(TRIGRAM_THRESHOLD)],
            )
            for form in forms[:4]:
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
