"""Every write of the screening app: list imports, screenings, hit decisions, whitelists.

Public services for the kyc app (keyword-only): ``subject_screen``, ``subject_blocking_reasons``,
``subject_summary``, ``screening_hit_clear``, ``screening_hit_confirm``, ``whitelist_add``,
``subjects_rescreen``. Clients are known by ``ref`` only; their names come from the subject
source (``kyc.screening.hooks``) when a screening runs and are never stored here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kyc.screening import formats
from kyc.screening.hooks import screening_changed, subject_source
from kyc.screening.matching import (
    ALGORITHM,
    Scored,
    Subject,
    SubjectIndex,
    ascii_form,
    blocking_keys,
    candidates_shortlist,
    chunked,
    name_variants,
    score_candidates,
)
from kyc.screening.models import (
    Band,
    DeltaScreening,
    ListEntity,
    ListSource,
    ListVersion,
    ScreeningHit,
    ScreeningResult,
    ScreeningRun,
    ScreeningSettings,
    WhitelistEntry,
)
from kyc.screening.selectors import (
    Thresholds,
    access_hit_by_id,
    candidates_by_ids,
    list_candidate_ids,
    list_candidates,
    list_versions_current,
    screening_thresholds,
    subject_latest_run,
)
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
SCORE_QUANTUM = Decimal("0.001")
BAND_ORDER = {Band.CLEAR: 0, Band.REVIEW: 1, Band.HIT: 2}
HIT_CLEAR_ACTION = "screening.hit_clear"
# A version changing more entities than this is screened as a full re-screen of every client.
FULL_RESCREEN_ABOVE = 20_000
# Clients screened per transaction by a re-screen: a few statements per batch, not per client.
RESCREEN_BATCH = 200


def _score(value: float) -> Decimal:
    return Decimal(str(value)).quantize(SCORE_QUANTUM, rounding=ROUND_HALF_UP)


def band_for(score: Decimal, thresholds: Thresholds) -> str:
    if score >= thresholds.match:
        return Band.HIT
    if score >= thresholds.review:
        return Band.REVIEW
    return Band.CLEAR


def _invalid(field_name: str, message: str) -> ApplicationError:
    return ApplicationError(
        400, "invalid", _("The request has invalid fields."), {field_name: [message]}
    )


# --- list import ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    version: ListVersion
    created: bool


STAGE_COLUMNS = (
    "key",
    "schema",
    "caption",
    "names",
    "weak_aliases",
    "birth_dates",
    "countries",
    "topics",
    "programs",
    "content_hash",
)


def _stage_records(
    cursor: Any, records: Iterable[formats.ListRecord], progress: Progress | None
) -> int:
    count = 0
    columns = ", ".join(STAGE_COLUMNS)
    with cursor.cursor.copy(f"COPY screening_stage ({columns}) FROM STDIN") as copy:
        for record in records:
            copy.write_row(
                (
                    record.key,
                    record.schema,
                    record.caption,
                    list(record.names),
                    list(record.weak_aliases),
                    list(record.birth_dates),
                    list(record.countries),
                    list(record.topics),
                    list(record.programs),
                    record.content_hash,
                )
            )
            count += 1
            if progress is not None and count % 5000 == 0:
                progress(count, 0)
    return count


def _index_entities(version: ListVersion, progress: Progress | None, total: int) -> None:
    """Blocking keys and trigram names for the entities this version added or changed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM screening_listnamekey k USING screening_listentity e "
            "WHERE k.entity_id = e.id AND e.changed_in_id = %s",
            [version.pk],
        )
        cursor.execute(
            "DELETE FROM screening_listentityname n USING screening_listentity e "
            "WHERE n.entity_id = e.id AND e.changed_in_id = %s",
            [version.pk],
        )
    rows = (
        ListEntity.objects.filter(changed_in=version, delisted_in__isnull=True)
        .values_list("pk", "names")
        .iterator(chunk_size=5000)
    )
    done = 0
    # One COPY at a time per connection: keys and names are written chunk by chunk.
    for chunk in chunked(rows, 10_000):
        keys = [(key, pk) for pk, names in chunk for key in blocking_keys(names)]
        norms = [
            (pk, form)
            for pk, names in chunk
            for form in {ascii_form(n)[:300] for n in name_variants(names)} - {""}
        ]
        with connection.cursor() as cursor:
            with cursor.cursor.copy(
                "COPY screening_listnamekey (key, entity_id) FROM STDIN"
            ) as copy:
                for row in keys:
                    copy.write_row(row)
            with cursor.cursor.copy(
                "COPY screening_listentityname (entity_id, norm) FROM STDIN"
            ) as copy:
                for row in norms:
                    copy.write_row(row)
        done += len(chunk)
        if progress is not None:
            progress(done, total)


def list_import(
    *,
    path: Path,
    fmt: str,
    source_name: str,
    aliases: Path | None = None,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Import one list file as a new version of ``source_name``, all or nothing.

    The version is the file's SHA-256 (with the alias file's): importing the file that is
    already the list's latest version changes nothing. Entities are compared by their content
    hash, so the version records what was added, changed and delisted; the delta screening
    then looks only at those. A malformed line raises ``ListFormatError`` naming it.
    """
    source_name = source_name.strip()
    if not source_name:
        raise _invalid("list", _("A list name is required."))
    content_hash = formats.file_sha256(path, aliases)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"screening.import:{source_name}"]
            )
        source, _created = ListSource.objects.get_or_create(
            name=source_name, defaults={"format": fmt}
        )
        latest = source.versions.order_by("-seq").first()
        if latest is not None and latest.content_hash == content_hash:
            return ImportOutcome(version=latest, created=False)
        with connection.cursor() as cursor:
            # Dropped at commit; dropped here too when an outer transaction imports twice.
            cursor.execute("DROP TABLE IF EXISTS pg_temp.screening_stage")
            cursor.execute(
                """
                CREATE TEMP TABLE screening_stage (
                    key text, schema text, caption text, names text[], weak_aliases text[],
                    birth_dates text[], countries text[], topics text[], programs text[],
                    content_hash text
                ) ON COMMIT DROP
                """
            )
            count = _stage_records(cursor, formats.read_file(path, fmt, aliases=aliases), progress)
            cursor.execute("CREATE INDEX ON screening_stage (key)")
            cursor.execute("ANALYZE screening_stage")
            cursor.execute(
                "SELECT key FROM screening_stage GROUP BY key HAVING count(*) > 1 LIMIT 1"
            )
            duplicate = cursor.fetchone()
            if duplicate:
                raise formats.ListFormatError(
                    0, f"entity id {duplicate[0]!r} appears more than once", file=path.name
                )
            cursor.execute(
                """
                SELECT
                    count(*) FILTER (WHERE e.id IS NULL OR e.delisted_in_id IS NOT NULL),
                    count(*) FILTER (WHERE e.delisted_in_id IS NULL
                                     AND e.content_hash <> s.content_hash)
                FROM screening_stage s
                LEFT JOIN screening_listentity e ON e.source_id = %s AND e.key = s.key
                """,
                [source.pk],
            )
            added, changed = cursor.fetchone()
            cursor.execute(
                """
                SELECT count(*) FROM screening_listentity e
                WHERE e.source_id = %s AND e.delisted_in_id IS NULL
                  AND NOT EXISTS (SELECT 1 FROM screening_stage s WHERE s.key = e.key)
                """,
                [source.pk],
            )
            removed = cursor.fetchone()[0]
            version = ListVersion.objects.create(
                source=source,
                seq=(latest.seq + 1) if latest else 1,
                content_hash=content_hash,
                file_name=path.name[:255],
                entity_count=count,
                added_count=added,
                changed_count=changed,
                removed_count=removed,
            )
            cursor.execute(
                """
                INSERT INTO screening_listentity (
                    source_id, key, schema, caption, names, weak_aliases, birth_dates, countries,
                    topics, programs, content_hash, listed_in_id, changed_in_id, delisted_in_id)
                SELECT %s, key, schema, caption, names, weak_aliases, birth_dates, countries,
                       topics, programs, content_hash, %s, %s, NULL FROM screening_stage
                ON CONFLICT (source_id, key) DO UPDATE SET
                    schema = EXCLUDED.schema, caption = EXCLUDED.caption,
                    names = EXCLUDED.names, weak_aliases = EXCLUDED.weak_aliases,
                    birth_dates = EXCLUDED.birth_dates, countries = EXCLUDED.countries,
                    topics = EXCLUDED.topics, programs = EXCLUDED.programs,
                    content_hash = EXCLUDED.content_hash, changed_in_id = EXCLUDED.changed_in_id,
                    delisted_in_id = NULL
                WHERE screening_listentity.content_hash <> EXCLUDED.content_hash
                   OR screening_listentity.delisted_in_id IS NOT NULL
                """,
                [source.pk, version.pk, version.pk],
            )
            cursor.execute(
                """
                UPDATE screening_listentity e SET delisted_in_id = %s, changed_in_id = %s
                WHERE e.source_id = %s AND e.delisted_in_id IS NULL
                  AND NOT EXISTS (SELECT 1 FROM screening_stage s WHERE s.key = e.key)
                """,
                [version.pk, version.pk, source.pk],
            )
        _index_entities(version, progress, added + changed)
        transaction.on_commit(lambda: _delta_schedule(version.pk))
    return ImportOutcome(version=version, created=True)


def _delta_schedule(version_id: int) -> None:
    from kyc.screening.tasks import list_version_delta_screen_task

    try:
        list_version_delta_screen_task.delay(version_id)
    except Exception:  # the broker being down must not undo an import; the command can rerun it
        logger.exception("screening: could not queue the delta screening of version %s", version_id)


# --- screening one subject -------------------------------------------------------------------


def _active_whitelists(*, tenant: Any, refs: list[str]) -> dict[str, dict[int, str]]:
    """{ref: {entity id: entity hash}} of the subjects' unexpired whitelist entries."""
    rows = WhitelistEntry.objects.filter(
        tenant=tenant, subject_ref__in=refs, expires_at__gt=timezone.now()
    ).values_list("subject_ref", "entity_id", "entity_hash")
    out: dict[str, dict[int, str]] = {}
    for ref, entity_id, entity_hash in rows:
        out.setdefault(ref, {})[entity_id] = entity_hash
    return out


def _latest_bands(*, tenant: Any, refs: list[str]) -> dict[str, str]:
    rows = (
        ScreeningRun.objects.filter(tenant=tenant, subject_ref__in=refs)
        .order_by("subject_ref", "-id")
        .distinct("subject_ref")
        .values_list("subject_ref", "band")
    )
    return dict(rows)


def _check_subject(subject: Subject) -> None:
    if not subject.ref or len(subject.ref) > 64:
        raise _invalid("ref", _("A subject reference of at most 64 characters is required."))
    if not any(name.strip() for name in subject.names):
        raise _invalid("names", _("A subject needs at least one name."))


def subject_screen(
    *, tenant: Tenant, subject: Subject, reason: str, actor: Any = None
) -> ScreeningRun:
    """Screen one client against the current lists and store the run (``subjects_screen``)."""
    return subjects_screen(tenant=tenant, subjects=[subject], reason=reason, actor=actor)[0]


def subjects_scored(subjects: list[Subject]) -> dict[str, list[Scored]]:
    """Each subject's shortlisted candidates scored, the candidates' rows read once."""
    ids_by_ref = {s.ref: list_candidate_ids(names=s.names) for s in subjects}
    entities = {
        c.entity_id: c for c in candidates_by_ids({i for ids in ids_by_ref.values() for i in ids})
    }
    scored = {}
    for subject in subjects:
        found = [entities[i] for i in ids_by_ref[subject.ref] if i in entities]
        scored[subject.ref] = score_candidates(subject, candidates_shortlist(subject.names, found))
    return scored


def subjects_screen(
    *, tenant: Tenant, subjects: Iterable[Subject], reason: str, actor: Any = None
) -> list[ScreeningRun]:
    """Screen clients against the current lists and store one run each, whatever its result.

    Every scored candidate is stored with its score and features; a candidate at or above the
    review threshold becomes (or stays) a hit; an officer's earlier decision on a hit stands only
    while neither the listed entity nor the client's screened data changed. A new hit or a
    changed band is an alert: an audit event and the ``screening_changed`` listeners. The batch
    is read and written in a few statements and one transaction (the full re-screen's unit).
    """
    subjects = list(subjects)
    for subject in subjects:
        _check_subject(subject)
    refs = [s.ref for s in subjects]
    if len(set(refs)) != len(refs):
        raise _invalid("ref", _("A client appears twice in one screening batch."))
    if not subjects:
        return []
    thresholds = screening_thresholds(tenant=tenant)
    scored_by_ref = subjects_scored(subjects)
    versions = list_versions_current()
    actor_row = actor if getattr(actor, "pk", None) else None
    with rls_context(tenant=tenant), transaction.atomic():
        previous = _latest_bands(tenant=tenant, refs=refs)
        whitelists = _active_whitelists(tenant=tenant, refs=refs)
        runs: list[ScreeningRun] = []
        outcomes: list[list[tuple[Scored, Decimal, str, bool]]] = []
        for subject in subjects:
            whitelist = whitelists.get(subject.ref, {})
            results = []
            run_band = Band.CLEAR
            top = Decimal("0.000")
            for item in scored_by_ref[subject.ref]:
                score = _score(item.score)
                band = band_for(score, thresholds)
                entity = item.candidate
                whitelisted = whitelist.get(entity.entity_id) == entity.content_hash
                if not whitelisted:
                    top = max(top, score)
                    if BAND_ORDER[band] > BAND_ORDER[run_band]:
                        run_band = band
                results.append((item, score, band, whitelisted))
            outcomes.append(results)
            runs.append(
                ScreeningRun(
                    tenant=tenant,
                    subject_ref=subject.ref,
                    subject_digest=subject.digest(),
                    reason=reason[:64],
                    actor=actor_row,
                    algorithm=ALGORITHM,
                    list_versions=versions,
                    match_threshold=thresholds.match,
                    review_threshold=thresholds.review,
                    band=run_band,
                    top_score=top,
                    candidate_count=len(results),
                )
            )
        ScreeningRun.objects.bulk_create(runs)
        ScreeningResult.objects.bulk_create(
            [
                ScreeningResult(
                    tenant=tenant,
                    run=run,
                    entity_id=item.candidate.entity_id,
                    entity_hash=item.candidate.content_hash,
                    score=score,
                    band=band,
                    features=item.features,
                    matched_name=item.matched_name,
                    whitelisted=whitelisted,
                )
                for run, results in zip(runs, outcomes, strict=True)
                for item, score, band, whitelisted in results
            ],
            batch_size=5000,
        )
        new_hits = _hits_update(
            tenant=tenant,
            runs=runs,
            results={
                run.subject_ref: [(i, s, b) for i, s, b, w in results if not w and b != Band.CLEAR]
                for run, results in zip(runs, outcomes, strict=True)
            },
        )
        for run in runs:
            previous_band = previous.get(run.subject_ref)
            created = new_hits.get(run.subject_ref, [])
            if created or (previous_band is not None and previous_band != run.band):
                _alert(
                    tenant=tenant,
                    actor=actor,
                    reason=reason,
                    run=run,
                    previous_band=previous_band,
                    new_hit_ids=created,
                )
    return runs


def _alert(
    *,
    tenant: Any,
    actor: Any,
    reason: str,
    run: ScreeningRun,
    previous_band: str | None,
    new_hit_ids: list[int],
) -> None:
    payload = {
        "tenant_id": tenant.pk,
        "subject_ref": run.subject_ref,
        "run_id": run.pk,
        "band": run.band,
        "previous_band": previous_band,
        "new_hit_ids": new_hit_ids,
    }
    audit_record(
        tenant=tenant,
        actor=actor,
        actor_label="" if actor else "screening",
        action="screening.alert",
        object_type="screening_run",
        object_id=run.pk,
        reason=reason,
        payload=payload,
    )
    screening_changed.send(payload)


def _hits_update(
    *,
    tenant: Any,
    runs: list[ScreeningRun],
    results: dict[str, list[tuple[Scored, Decimal, str]]],
) -> dict[str, list[int]]:
    """Open or refresh hits for the runs' review and hit candidates; return the new ids."""
    run_by_ref = {run.subject_ref: run for run in runs}
    existing: dict[str, dict[int, ScreeningHit]] = {}
    rows = ScreeningHit.objects.filter(tenant=tenant, subject_ref__in=list(run_by_ref))
    for hit in rows.order_by("id"):
        existing.setdefault(hit.subject_ref, {})[hit.entity_id] = hit  # the latest per entity
    refreshed: list[ScreeningHit] = []
    standing: list[ScreeningHit] = []
    created: list[ScreeningHit] = []
    for ref, run in run_by_ref.items():
        hits = existing.get(ref, {})
        for item, score, band in results.get(ref, []):
            hit = hits.get(item.candidate.entity_id)
            same_data = (
                hit is not None
                and hit.entity_hash == item.candidate.content_hash
                and hit.subject_digest == run.subject_digest
            )
            if hit is not None and hit.status == ScreeningHit.Status.OPEN:
                hit.last_run = run
                hit.score = score
                hit.band = band
                hit.entity_hash = item.candidate.content_hash
                hit.subject_digest = run.subject_digest
                refreshed.append(hit)
            elif hit is not None and same_data:
                # Decided on exactly this data: the officer's decision stands.
                hit.last_run = run
                standing.append(hit)
            else:
                created.append(
                    ScreeningHit(
                        tenant=tenant,
                        subject_ref=ref,
                        entity_id=item.candidate.entity_id,
                        entity_hash=item.candidate.content_hash,
                        subject_digest=run.subject_digest,
                        first_run=run,
                        last_run=run,
                        band=band,
                        score=score,
                    )
                )
    ScreeningHit.objects.bulk_update(
        refreshed, ["last_run", "score", "band", "entity_hash", "subject_digest"]
    )
    ScreeningHit.objects.bulk_update(standing, ["last_run"])
    ScreeningHit.objects.bulk_create(created)
    new_ids: dict[str, list[int]] = {}
    for hit in created:
        new_ids.setdefault(hit.subject_ref, []).append(hit.pk)
    # An open hit on an entity the list no longer carries is moot.
    stale = [
        hit
        for ref, hits in existing.items()
        for hit in hits.values()
        if hit.status == ScreeningHit.Status.OPEN and hit.last_run_id != run_by_ref[ref].pk
    ]
    delisted = set(
        ListEntity.objects.filter(
            pk__in=[hit.entity_id for hit in stale], delisted_in__isnull=False
        ).values_list("pk", flat=True)
    )
    for hit in stale:
        if hit.entity_id not in delisted:
            continue
        hit.status = ScreeningHit.Status.CLEARED
        hit.decided_at = timezone.now()
        hit.decision_reason = "delisted"
        hit.save(update_fields=["status", "decided_at", "decision_reason"])
        audit_record(
            tenant=tenant,
            actor=None,
            actor_label="screening",
            action="screening.hit_delisted",
            object_type="screening_hit",
            object_id=hit.pk,
            reason=_("The listed entity was removed from its list."),
        )
    return new_ids


# --- what the kyc app asks -------------------------------------------------------------------


def subject_blocking_reasons(*, tenant: Tenant, ref: str) -> list[str]:
    """Why the client may not be approved now; empty when screening allows it.

    Blocks while the client was never screened, the profile changed since the last run, a list
    version arrived that was not screened against this tenant's clients yet, a hit at or above
    the match threshold is open, or a hit was confirmed.
    """
    reasons: list[str] = []
    with rls_context(tenant=tenant):
        run = subject_latest_run(tenant=tenant, ref=ref)
        if run is None:
            return [_("The client has not been screened against the sanctions and PEP lists.")]
        if subject_source.registered:
            subject = next(iter(subject_source.subjects(tenant, [ref])), None)
            if subject is not None and subject.digest() != run.subject_digest:
                reasons.append(_("The client's details changed since the last screening."))
        pending = (
            ListVersion.objects.filter(imported_at__gt=run.created_at)
            .exclude(pk__in=DeltaScreening.objects.filter(tenant=tenant).values("version_id"))
            .select_related("source")
            .order_by("pk")
        )
        for version in pending:
            reasons.append(
                _("List %(list)s version %(seq)s has not been screened yet.")
                % {"list": version.source.name, "seq": version.seq}
            )
        hits = ScreeningHit.objects.filter(tenant=tenant, subject_ref=ref).select_related("entity")
        for hit in hits.filter(status=ScreeningHit.Status.OPEN, band=Band.HIT).order_by("-score"):
            reasons.append(
                _("Open screening hit %(id)s: %(name)s (score %(score)s).")
                % {"id": hit.pk, "name": hit.entity.caption, "score": hit.score}
            )
        for hit in hits.filter(status=ScreeningHit.Status.CONFIRMED).order_by("pk"):
            reasons.append(
                _("Confirmed screening match %(id)s: %(name)s.")
                % {"id": hit.pk, "name": hit.entity.caption}
            )
    return reasons


def subject_summary(*, tenant: Tenant, ref: str) -> dict[str, Any]:
    """The latest screening in brief, for the risk rating and the case page.

    ``band`` is None when never screened; ``pep`` and ``sanction`` say whether an open or
    confirmed hit carries those list topics.
    """
    with rls_context(tenant=tenant):
        run = subject_latest_run(tenant=tenant, ref=ref)
        hits = ScreeningHit.objects.filter(tenant=tenant, subject_ref=ref).exclude(
            status=ScreeningHit.Status.CLEARED
        )
        topics = {t for row in hits.values_list("entity__topics", flat=True) for t in row}
        return {
            "band": run.band if run else None,
            "run_id": run.pk if run else None,
            "screened_at": run.created_at if run else None,
            "highest_score": run.top_score if run else None,
            "open_hits": hits.filter(status=ScreeningHit.Status.OPEN).count(),
            "open_strong_hits": hits.filter(status=ScreeningHit.Status.OPEN, band=Band.HIT).count(),
            "confirmed_hits": hits.filter(status=ScreeningHit.Status.CONFIRMED).count(),
            "pep": any(t.startswith("role.pep") or t == "role.rca" for t in topics),
            "sanction": any(t.startswith("sanction") for t in topics),
        }


# --- hit decisions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HitClearOutcome:
    """``hit`` is cleared, or, for a strong hit, ``approval`` waits for a second officer."""

    hit: ScreeningHit
    approval: Any = None


def _open_hit(*, tenant: Any, hit_id: Any) -> ScreeningHit:
    hit = access_hit_by_id(tenant=tenant, hit_id=hit_id)
    hit = ScreeningHit.objects.select_for_update().get(pk=hit.pk)
    if hit.status != ScreeningHit.Status.OPEN:
        raise ApplicationError(
            409,
            "hit_already_decided",
            _("This hit is already %(status)s.") % {"status": hit.status},
        )
    return hit


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", _("A reason is required."))
    return reason


def _decide(
    *, tenant: Any, hit: ScreeningHit, status: str, actor: Any, reason: str, request: Any = None
) -> ScreeningHit:
    hit.status = status
    hit.decided_by = actor if getattr(actor, "pk", None) else None
    hit.decided_at = timezone.now()
    hit.decision_reason = reason
    hit.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    audit_record(
        tenant=tenant,
        actor=actor,
        action=f"screening.hit_{status}",
        object_type="screening_hit",
        object_id=hit.pk,
        reason=reason,
        payload={
            "subject_ref": hit.subject_ref,
            "entity_id": hit.entity_id,
            "entity_hash": hit.entity_hash,
            "score": hit.score,
            "band": hit.band,
        },
        request=request,
    )
    return hit


def screening_hit_clear(
    *,
    tenant: Tenant,
    actor: Any,
    hit_id: Any,
    reason: str,
    membership: Any = None,
    whitelist_days: int | None = None,
    request: Any = None,
) -> HitClearOutcome:
    """Clear a hit as a false positive (optionally whitelisting the pair for some days).

    A hit scored at or above the tenant's strong threshold needs a second officer: this makes
    the four-eyes request (``membership`` is the maker's) and leaves the hit open until it is
    approved.
    """
    reason = _reason(reason)
    if whitelist_days is not None and not 1 <= int(whitelist_days) <= 3660:
        raise _invalid("whitelist_days", _("Whitelist for 1 to 3660 days."))
    with rls_context(tenant=tenant), transaction.atomic():
        hit = _open_hit(tenant=tenant, hit_id=hit_id)
        if hit.score >= screening_thresholds(tenant=tenant).strong:
            from platform_core.audit.approvals import approval_request_create

            if membership is None:
                raise _invalid("membership", _("A strong hit is cleared through four eyes."))
            approval = approval_request_create(
                tenant=tenant,
                actor=actor,
                membership=membership,
                action=HIT_CLEAR_ACTION,
                params={"hit_id": hit.pk, "whitelist_days": whitelist_days},
                reason=reason,
                request=request,
            )
            return HitClearOutcome(hit=hit, approval=approval)
        hit = _decide(
            tenant=tenant,
            hit=hit,
            status=ScreeningHit.Status.CLEARED,
            actor=actor,
            reason=reason,
            request=request,
        )
        if whitelist_days:
            _whitelist_create(
                tenant=tenant,
                actor=actor,
                hit=hit,
                reason=reason,
                expires_at=timezone.now() + timedelta(days=int(whitelist_days)),
            )
    return HitClearOutcome(hit=hit)


def hit_clear_approved(
    *, tenant: Any, params: dict[str, Any], maker: Any, approver: Any
) -> dict[str, Any]:
    """The four-eyes action's service: runs inside the approval's transaction."""
    with rls_context(tenant=tenant):
        hit = _open_hit(tenant=tenant, hit_id=params["hit_id"])
        reason = _("Cleared with four eyes (requested by %(maker)s).") % {
            "maker": getattr(maker, "email", "")
        }
        _decide(
            tenant=tenant,
            hit=hit,
            status=ScreeningHit.Status.CLEARED,
            actor=approver,
            reason=reason,
        )
        days = params.get("whitelist_days")
        if days:
            _whitelist_create(
                tenant=tenant,
                actor=approver,
                hit=hit,
                reason=reason,
                expires_at=timezone.now() + timedelta(days=int(days)),
            )
    return {"hit_id": hit.pk, "status": hit.status}


def hit_clear_validate(*, tenant: Any, params: dict[str, Any]) -> dict[str, Any]:
    from django.core.exceptions import ValidationError

    with rls_context(tenant=tenant):
        hit = ScreeningHit.objects.filter(
            tenant=tenant, pk=params.get("hit_id"), status=ScreeningHit.Status.OPEN
        ).first()
    if hit is None:
        raise ValidationError({"hit_id": [_("No open hit with this id.")]})
    return {"hit_id": hit.pk, "whitelist_days": params.get("whitelist_days")}


def screening_hit_confirm(
    *, tenant: Tenant, actor: Any, hit_id: Any, reason: str, request: Any = None
) -> ScreeningHit:
    """Confirm a hit as a true match: the client stays blocked from approval."""
    reason = _reason(reason)
    with rls_context(tenant=tenant), transaction.atomic():
        hit = _open_hit(tenant=tenant, hit_id=hit_id)
        return _decide(
            tenant=tenant,
            hit=hit,
            status=ScreeningHit.Status.CONFIRMED,
            actor=actor,
            reason=reason,
            request=request,
        )


# --- whitelist -------------------------------------------------------------------------------


def _whitelist_create(
    *, tenant: Any, actor: Any, hit: ScreeningHit, reason: str, expires_at: datetime
) -> WhitelistEntry:
    return whitelist_add(
        tenant=tenant,
        actor=actor,
        subject_ref=hit.subject_ref,
        entity_id=hit.entity_id,
        reason=reason,
        expires_at=expires_at,
    )


def whitelist_add(
    *,
    tenant: Tenant,
    actor: Any,
    subject_ref: str,
    entity_id: int,
    reason: str,
    expires_at: datetime,
) -> WhitelistEntry:
    """Whitelist a client-entity pair until ``expires_at`` (or until the entity changes)."""
    reason = _reason(reason)
    if expires_at <= timezone.now():
        raise _invalid("expires_at", _("The expiry must be in the future."))
    if expires_at > timezone.now() + timedelta(days=3660):
        raise _invalid("expires_at", _("A whitelist entry lasts at most ten years."))
    entity = ListEntity.objects.filter(pk=entity_id).first()
    if entity is None:
        raise _invalid("entity_id", _("No listed entity with this id."))
    with rls_context(tenant=tenant), transaction.atomic():
        entry = WhitelistEntry.objects.create(
            tenant=tenant,
            subject_ref=subject_ref,
            entity=entity,
            entity_hash=entity.content_hash,
            reason=reason,
            expires_at=expires_at,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="screening.whitelist_added",
            object_type="screening_whitelist",
            object_id=entry.pk,
            reason=reason,
            payload={
                "subject_ref": subject_ref,
                "entity_id": entity.pk,
                "expires_at": expires_at.isoformat(),
            },
        )
    return entry


def screening_settings_set(
    *,
    tenant: Tenant,
    actor: Any,
    match_threshold: Decimal,
    review_threshold: Decimal,
    strong_threshold: Decimal,
    reason: str,
) -> ScreeningSettings:
    """Set the tenant's thresholds: 0 < review ≤ match ≤ strong ≤ 1."""
    reason = _reason(reason)
    values = {}
    for name, value in (
        ("match_threshold", match_threshold),
        ("review_threshold", review_threshold),
        ("strong_threshold", strong_threshold),
    ):
        try:
            number = Decimal(str(value)).quantize(SCORE_QUANTUM)
        except ArithmeticError:
            raise _invalid(name, _("Enter a number between 0 and 1.")) from None
        if not Decimal(0) < number <= Decimal(1):
            raise _invalid(name, _("Enter a number between 0 and 1."))
        values[name] = number
    if not values["review_threshold"] <= values["match_threshold"] <= values["strong_threshold"]:
        raise _invalid("review_threshold", _("Review ≤ match ≤ strong threshold."))
    with rls_context(tenant=tenant), transaction.atomic():
        row, _created = ScreeningSettings.objects.update_or_create(tenant=tenant, defaults=values)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="screening.thresholds_set",
            object_type="screening_settings",
            object_id=row.pk,
            reason=reason,
            payload={k: str(v) for k, v in values.items()},
        )
    return row


# --- delta and full re-screens ---------------------------------------------------------------


@dataclass
class DeltaOutcome:
    tenants: int = 0
    subjects_indexed: int = 0
    entities_checked: int = 0
    subjects_rescreened: int = 0
    refs: dict[int, list[str]] = field(default_factory=dict)


def list_version_delta_screen(
    *, version_id: int, tenants: Iterable[Tenant] | None = None, progress: Progress | None = None
) -> DeltaOutcome:
    """Screen a version's new and changed entities against every client of every tenant.

    The clients' names are indexed in memory (from the subject source); a client who may be
    one of the entities, or who has a hit on a changed or delisted one, is screened again in
    full, which stores a new run. Idempotent per tenant and version.
    """
    version = ListVersion.objects.get(pk=version_id)
    changed = list(
        ListEntity.objects.filter(changed_in=version).values_list("pk", "delisted_in_id")
    )
    live_ids = [pk for pk, delisted in changed if delisted is None]
    # A first import or a rewritten list: screening each client once is cheaper.
    everyone = len(live_ids) > FULL_RESCREEN_ABOVE
    entities = [] if everyone else candidates_by_ids(live_ids)
    outcome = DeltaOutcome(entities_checked=len(changed))
    for tenant in tenants if tenants is not None else Tenant.objects.order_by("pk"):
        with rls_context(tenant=tenant):
            if DeltaScreening.objects.filter(tenant=tenant, version=version).exists():
                continue
            subjects = (
                list(subject_source.subjects(tenant, None)) if subject_source.registered else []
            )
        index = SubjectIndex(subjects)
        thresholds = screening_thresholds(tenant=tenant)
        refs: set[str] = set()
        if everyone:
            refs.update(index.subjects)
        for entity in entities:
            possible = index.candidates(entity.names)
            for subject in possible:
                if subject.ref in refs:
                    continue
                best = score_candidates(subject, [entity])
                if best and _score(best[0].score) >= thresholds.review:
                    refs.add(subject.ref)
        with rls_context(tenant=tenant):
            refs.update(
                ScreeningHit.objects.filter(tenant=tenant, entity_id__in=[pk for pk, _d in changed])
                .exclude(status=ScreeningHit.Status.CLEARED)
                .values_list("subject_ref", flat=True)
            )
        missing = [ref for ref in sorted(refs) if ref not in index.subjects]
        found = {ref: index.subjects[ref] for ref in refs if ref in index.subjects}
        if missing and subject_source.registered:
            with rls_context(tenant=tenant):
                found.update((s.ref, s) for s in subject_source.subjects(tenant, missing))
        done = 0
        for batch in chunked([found[ref] for ref in sorted(found)], RESCREEN_BATCH):
            subjects_screen(tenant=tenant, subjects=batch, reason="list_delta")
            done += len(batch)
            if progress is not None:
                progress(done, len(found))
        with rls_context(tenant=tenant):
            DeltaScreening.objects.create(
                tenant=tenant,
                version=version,
                subjects_indexed=len(index),
                entities_checked=len(changed),
                subjects_rescreened=done,
            )
        outcome.tenants += 1
        outcome.subjects_indexed += len(index)
        outcome.subjects_rescreened += done
        outcome.refs[tenant.pk] = sorted(refs)
    return outcome


def subjects_rescreen(
    *,
    tenant: Tenant,
    refs: Iterable[str] | None = None,
    reason: str = "rescreen",
    actor: Any = None,
    progress: Progress | None = None,
) -> int:
    """Screen the tenant's clients (all, or ``refs``) again, storing a new run for each."""
    with rls_context(tenant=tenant):
        subjects = list(subject_source.subjects(tenant, refs))
    done = 0
    for batch in chunked(subjects, RESCREEN_BATCH):
        subjects_screen(tenant=tenant, subjects=batch, reason=reason, actor=actor)
        done += len(batch)
        if progress is not None:
            progress(done, len(subjects))
    return len(subjects)


def screening_preview(*, subject: Subject, limit: int = 10) -> list[Scored]:
    """Score a name against the lists without storing anything (the ``screen`` command)."""
    _check_subject(subject)
    shortlist = candidates_shortlist(subject.names, list_candidates(names=subject.names))
    return score_candidates(subject, shortlist)[:limit]
