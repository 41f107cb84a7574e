"""The platform's own report types: ``audit_trail`` and ``access_log`` (registered in apps.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from platform_core.audit import transparency
from platform_core.audit.checkpoints import checkpoint_log_get
from platform_core.audit.models import AuditEvent, Checkpoint
from platform_core.audit.report_content import (
    ReportAppendix,
    ReportBody,
    ReportPeriod,
    ReportSection,
    bar_chart_svg,
)
from platform_core.audit.selectors import audit_chain_verify
from platform_core.hooks import ReportType
from platform_core.tenancy.models import Tenant

# What an auditor's access and the engagements around it write to the trail.
ACCESS_ACTION_PREFIXES = ("auditor.", "engagement.", "report.")


def _events_in(*, tenant: Tenant, period: ReportPeriod) -> Any:
    return AuditEvent.objects.filter(
        tenant=tenant, occurred_at__gte=period.start, occurred_at__lt=period.end
    )


def _by_day_chart(events: Any, *, period: ReportPeriod, title: str) -> str:
    days = (
        events.annotate(day=TruncDate("occurred_at", tzinfo=period.zone))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    rows = [(row["day"].isoformat(), row["n"]) for row in days]
    if not rows:
        return ""
    return bar_chart_svg(
        labels=[day[5:] for day, _n in rows], values=[n for _d, n in rows], title=title
    )


def audit_trail_build(
    *, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix
) -> ReportBody:
    checked, broken = audit_chain_verify(tenant_id=tenant.pk)
    events = _events_in(tenant=tenant, period=period)
    columns = [
        "seq",
        "occurred_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "reason",
        "payload_digest",
        "prev_hash",
        "hash",
    ]
    appendix.csv(
        "events",
        columns,
        events.order_by("seq")
        .values_list(
            "seq",
            "occurred_at",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "reason",
            "payload_digest",
            "prev_hash",
            "hash",
        )
        .iterator(chunk_size=5000),
    )
    counts = Counter(dict(events.values_list("action").annotate(n=Count("id")).order_by()))
    total = sum(counts.values())

    checkpoints = list(
        Checkpoint.objects.filter(
            tenant=tenant, signed_at__gte=period.start, signed_at__lt=period.end
        ).order_by("log", "tree_size")
    )
    exceptions: list[list[str]] = []
    if broken is not None:
        exceptions.append([_("Chain broken"), str(broken)])
    checkpoint_rows = []
    leaves_by_log: dict[str, list[bytes]] = {}
    for checkpoint in checkpoints:
        if checkpoint.log not in leaves_by_log:
            log = checkpoint_log_get(checkpoint.log)
            leaves_by_log[checkpoint.log] = [
                transparency.leaf_hash(d) for d in log.leaves(tenant=tenant)
            ]
        leaves = leaves_by_log[checkpoint.log]
        now_root = (
            transparency.root_of(leaves[: checkpoint.tree_size]).hex()
            if checkpoint.tree_size <= len(leaves)
            else ""
        )
        matches = now_root == checkpoint.root_hash
        if not matches:
            exceptions.append(
                [
                    _("Checkpoint %(id)s") % {"id": checkpoint.pk},
                    _("The %(log)s log's first %(size)s records no longer give the signed root.")
                    % {"log": checkpoint.log, "size": checkpoint.tree_size},
                ]
            )
        checkpoint_rows.append(
            [
                str(checkpoint.pk),
                checkpoint.log,
                checkpoint.signed_at.astimezone(period.zone).strftime("%Y-%m-%d %H:%M"),
                str(checkpoint.tree_size),
                checkpoint.root_hash,
                _("yes") if matches else _("NO"),
            ]
        )
    appendix.json(
        "checkpoints",
        [
            {
                "id": c.pk,
                "log": c.log,
                "tree_size": c.tree_size,
                "root_hash": c.root_hash,
                "statement": c.statement,
                "algorithm": c.algorithm,
                "signature": c.signature,
            }
            for c in checkpoints
        ],
    )
    head = AuditEvent.objects.filter(tenant=tenant).order_by("-seq").first()
    return ReportBody(
        empty=total == 0 and not checkpoints,
        summary=[
            (_("Chain"), _("intact") if broken is None else _("BROKEN: %(b)s") % {"b": broken}),
            (_("Events in the chain"), str(checked)),
            (_("Chain head"), f"#{head.seq} {head.hash}" if head else "—"),
            (_("Events in the period"), str(total)),
            (_("Checkpoints in the period"), str(len(checkpoints))),
        ],
        sections=[
            ReportSection(
                title=_("Exceptions"),
                columns=[_("What"), _("Finding")],
                rows=exceptions,
            ),
            ReportSection(
                title=_("Events by action"),
                columns=[_("Action"), _("Events")],
                rows=[[action, str(n)] for action, n in sorted(counts.items())],
                numeric=[1],
                chart_svg=_by_day_chart(events, period=period, title=_("Events per day")),
            ),
            ReportSection(
                title=_("Signed checkpoints"),
                text=_(
                    "Each checkpoint is a signed head of an RFC 6962 Merkle tree over the log. "
                    "'Matches' says whether today's records still give the signed root."
                ),
                columns=[_("Id"), _("Log"), _("Signed"), _("Size"), _("Root"), _("Matches")],
                rows=checkpoint_rows,
                numeric=[3],
            ),
        ],
    )


def access_log_build(
    *, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix
) -> ReportBody:
    events = _events_in(tenant=tenant, period=period).filter(
        action__regex=r"^(" + "|".join(p.rstrip(".") for p in ACCESS_ACTION_PREFIXES) + r")\."
    )
    appendix.csv(
        "access",
        ["seq", "occurred_at", "actor", "action", "object_type", "object_id", "ip", "payload"],
        (
            (
                e.seq,
                e.occurred_at,
                e.actor_label,
                e.action,
                e.object_type,
                e.object_id,
                e.ip_address,
                e.payload,
            )
            for e in events.order_by("seq").iterator(chunk_size=5000)
        ),
    )
    by_person = list(
        events.values("actor_label", "action")
        .annotate(n=Count("id"))
        .order_by("actor_label", "action")
    )
    rows = [
        [
            e.occurred_at.astimezone(period.zone).strftime("%Y-%m-%d %H:%M:%S"),
            e.actor_label or "—",
            e.action,
            f"{e.object_type} {e.object_id}".strip(),
            str(e.payload.get("name") or e.payload.get("page") or ""),
        ]
        for e in events.order_by("-seq")[:400]
    ]
    return ReportBody(
        empty=not by_person,
        summary=[
            (_("Accesses and grants in the period"), str(sum(r["n"] for r in by_person))),
            (_("People"), str(len({r["actor_label"] for r in by_person}))),
        ],
        sections=[
            ReportSection(
                title=_("By person and action"),
                columns=[_("Person"), _("Action"), _("Count")],
                rows=[[r["actor_label"] or "—", r["action"], str(r["n"])] for r in by_person],
                numeric=[2],
            ),
            ReportSection(
                title=_("Latest accesses"),
                columns=[_("When"), _("Who"), _("Action"), _("Object"), _("Page or file")],
                rows=rows,
            ),
        ],
    )


AUDIT_TRAIL = ReportType(
    key="audit_trail",
    title=gettext_lazy("Audit trail: chain and checkpoints"),
    description=gettext_lazy(
        "Whether the audit chain is intact, its events and signed checkpoints."
    ),
    build=audit_trail_build,
)
ACCESS_LOG = ReportType(
    key="access_log",
    title=gettext_lazy("Access log"),
    description=gettext_lazy("Every auditor view and download, engagement grant and report job."),
    build=access_log_build,
)
