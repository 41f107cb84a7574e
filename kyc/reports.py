"""The kyc app's report type for auditors: ``kyc_aml`` (registered in ``KycConfig.ready()``).

Over a period: KYC cases (opened, approved, rejected, by the client's risk rating, four-eyes
approvals), screening hits and their dispositions (open, cleared, confirmed: who and when) and
the whitelist entries made, monitoring alerts by rule and version with their outcomes, and the
suspicious-transaction reports drafted and filed.

The PDF carries totals and exceptions; every row is in the appendix. Clients appear only by
their KYC file number (``client_ref``, the profile id screening also uses), never by a
decrypted name; free text that may name a person (alert evidence, report narratives) goes in
as a SHA-256 the platform's own records can be matched against.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Q, Subquery
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kyc.models import (
    ClientProfile,
    KycCase,
    MonitoringAlert,
    RiskRating,
    SuspiciousTransactionReport,
)
from kyc.screening import selectors as screening_selectors
from platform_core.audit.models import AuditEvent
from platform_core.audit.report_content import (
    ReportAppendix,
    ReportBody,
    ReportPeriod,
    ReportSection,
    amount_text,
    bar_chart_svg,
)
from platform_core.hooks import ReportType
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.selectors import tenant_scoped


def _digest(value: Any) -> str:
    """SHA-256 of a JSON value or text (canonical JSON: sorted keys, no spaces)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _in(period: ReportPeriod, moment: Any) -> bool:
    return moment is not None and period.start <= moment < period.end


def _local(period: ReportPeriod, moment: Any) -> str:
    return moment.astimezone(period.zone).strftime("%Y-%m-%d %H:%M") if moment else ""


def _email(user: Any) -> str:
    return getattr(user, "email", "") if user is not None else ""


def _rating_label(level: str) -> str:
    if not level:
        return _("not rated")
    return str(RiskRating.Level(level).label)


# --- cases ----------------------------------------------------------------------------------


def _cases(*, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix) -> dict[str, Any]:
    rating_then = (
        RiskRating.objects.filter(
            tenant=tenant, profile=OuterRef("profile_id"), created_at__lt=period.end
        )
        .order_by("-created_at", "-id")
        .values("level")[:1]
    )
    cases = list(
        tenant_scoped(KycCase, tenant=tenant)
        .filter(
            Q(opened_at__gte=period.start, opened_at__lt=period.end)
            | Q(decided_at__gte=period.start, decided_at__lt=period.end)
        )
        .annotate(rating=Subquery(rating_then))
        .select_related("decided_by")
        .order_by("opened_at", "id")
    )
    opened = [c for c in cases if _in(period, c.opened_at)]
    decided = [c for c in cases if _in(period, c.decided_at)]
    approved = [c for c in decided if c.status == KycCase.Status.APPROVED]
    rejected = [c for c in decided if c.status == KycCase.Status.REJECTED]
    four_eyes = [c for c in approved if c.approval_id is not None]
    still_open = [c for c in cases if c.status in KycCase.OPEN_STATUSES]
    appendix.csv(
        "cases",
        [
            "case",
            "client_ref",
            "kind",
            "status",
            "risk_rating",
            "opened_at",
            "decided_at",
            "decided_by",
            "four_eyes_approval",
            "decision_reason",
        ],
        [
            [
                c.pk,
                c.profile_id,
                c.kind,
                c.status,
                c.rating or "",
                c.opened_at,
                c.decided_at,
                _email(c.decided_by),
                c.approval_id,
                c.decision_reason,
            ]
            for c in cases
        ],
    )
    groups = {
        "opened": {c.pk for c in opened},
        "approved": {c.pk for c in approved},
        "rejected": {c.pk for c in rejected},
        "four_eyes": {c.pk for c in four_eyes},
    }
    by_rating: dict[str, Counter[str]] = {}
    for case in cases:
        counts = by_rating.setdefault(case.rating or "", Counter())
        for name, members in groups.items():
            counts[name] += case.pk in members
    order = {"high": 0, "medium": 1, "low": 2, "": 3}
    return {
        "count": len(cases),
        "opened": len(opened),
        "approved": len(approved),
        "rejected": len(rejected),
        "four_eyes": len(four_eyes),
        "open": still_open,
        "by_rating": [
            [
                _rating_label(level),
                str(counts["opened"]),
                str(counts["approved"]),
                str(counts["rejected"]),
                str(counts["four_eyes"]),
            ]
            for level, counts in sorted(by_rating.items(), key=lambda item: order.get(item[0], 9))
        ],
    }


# --- screening ------------------------------------------------------------------------------


def _screening(*, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix) -> dict[str, Any]:
    hits = list(
        screening_selectors.hits_in_period(tenant=tenant, start=period.start, end=period.end)
    )
    raised = [h for h in hits if _in(period, h.created_at)]
    cleared = [h for h in hits if h.status == "cleared" and _in(period, h.decided_at)]
    confirmed = [h for h in hits if h.status == "confirmed" and _in(period, h.decided_at)]
    # Open at the end of the period: undecided then (decided later, or not yet).
    open_at_end = [h for h in hits if h.decided_at is None or h.decided_at >= period.end]
    appendix.csv(
        "screening-hits",
        [
            "hit",
            "client_ref",
            "list",
            "entity_key",
            "entity_caption",
            "band",
            "score",
            "status",
            "raised_at",
            "decided_at",
            "decided_by",
            "decision_reason",
        ],
        [
            [
                h.pk,
                h.subject_ref,
                h.entity.source.name,
                h.entity.key,
                h.entity.caption,  # the listed party: public list data, not the client
                h.band,
                h.score,
                h.status,
                h.created_at,
                h.decided_at,
                _email(h.decided_by),
                h.decision_reason,
            ]
            for h in hits
        ],
    )
    whitelist = list(
        screening_selectors.whitelist_in_period(tenant=tenant, start=period.start, end=period.end)
    )
    appendix.csv(
        "whitelist",
        [
            "entry",
            "client_ref",
            "list",
            "entity_key",
            "reason",
            "expires_at",
            "created_by",
            "created_at",
        ],
        [
            [
                w.pk,
                w.subject_ref,
                w.entity.source.name,
                w.entity.key,
                w.reason,
                w.expires_at,
                _email(w.created_by),
                w.created_at,
            ]
            for w in whitelist
        ],
    )
    return {
        "count": len(hits) + len(whitelist),
        "raised": len(raised),
        "cleared": cleared,
        "confirmed": confirmed,
        "open_at_end": open_at_end,
        "whitelist": len(whitelist),
        "by_band": Counter(h.band for h in raised),
    }


# --- monitoring and reports filed -----------------------------------------------------------


def _client_refs(*, tenant: Tenant, membership_ids: set[int]) -> dict[int, int]:
    """Membership id -> KYC file number (profile id)."""
    return dict(
        tenant_scoped(ClientProfile, tenant=tenant)
        .filter(membership_id__in=membership_ids)
        .values_list("membership_id", "pk")
    )


def _alerts(*, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix) -> dict[str, Any]:
    alerts = list(
        tenant_scoped(MonitoringAlert, tenant=tenant)
        .filter(created_at__gte=period.start, created_at__lt=period.end)
        .order_by("created_at", "id")
    )
    refs = _client_refs(tenant=tenant, membership_ids={a.membership_id for a in alerts})
    appendix.csv(
        "alerts",
        [
            "alert",
            "client_ref",
            "rule",
            "rule_version",
            "entry",
            "score",
            "outcome",
            "status",
            "case",
            "created_at",
            "evidence_sha256",
        ],
        [
            [
                a.pk,
                refs.get(a.membership_id, ""),
                a.rule_code,
                a.rule_version,
                a.entry_id,
                a.score,
                a.outcome,
                a.status,
                a.case_id,
                a.created_at,
                _digest(a.evidence),
            ]
            for a in alerts
        ],
    )
    by_rule: dict[tuple[str, int], Counter[str]] = {}
    for alert in alerts:
        counts = by_rule.setdefault((alert.rule_code, alert.rule_version), Counter())
        counts["total"] += 1
        counts[alert.outcome] += 1
        counts["open"] += alert.status == MonitoringAlert.Status.OPEN
    return {"count": len(alerts), "by_rule": by_rule}


def _reports_filed(
    *, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix
) -> dict[str, Any]:
    filings = {
        event.object_id: event
        for event in AuditEvent.objects.filter(
            tenant=tenant, action="kyc.str_filed", object_type="kyc_str"
        ).order_by("seq")
    }
    filed_in_period = {
        object_id for object_id, event in filings.items() if _in(period, event.occurred_at)
    }
    reports = list(
        tenant_scoped(SuspiciousTransactionReport, tenant=tenant)
        .filter(
            Q(created_at__gte=period.start, created_at__lt=period.end)
            | Q(pk__in=[int(i) for i in filed_in_period if i.isdigit()])
        )
        .select_related("case", "created_by")
        .order_by("created_at", "id")
    )
    rows = []
    for report in reports:
        filing = filings.get(str(report.pk))
        rows.append(
            [
                report.pk,
                report.case_id,
                report.case.profile_id,
                report.status,
                len(report.alerts or []),
                report.total_amount,
                report.created_at,
                _email(report.created_by),
                filing.occurred_at if filing else "",
                filing.actor_label if filing else "",
                filing.reason if filing else "",
                _digest(report.narrative),
            ]
        )
    appendix.csv(
        "suspicious-transaction-reports",
        [
            "report",
            "case",
            "client_ref",
            "status",
            "alerts",
            "total_amount",
            "drafted_at",
            "drafted_by",
            "filed_at",
            "filed_by",
            "authority_reference",
            "narrative_sha256",
        ],
        rows,
    )
    filed = [r for r in reports if str(r.pk) in filed_in_period]
    # Not filed by the end of the period (filed later, or not yet).
    drafts = [
        r
        for r in reports
        if str(r.pk) not in filings or filings[str(r.pk)].occurred_at >= period.end
    ]
    return {
        "count": len(reports),
        "drafted": sum(1 for r in reports if _in(period, r.created_at)),
        "filed": len(filed),
        "drafts": drafts,
        "filed_amount": sum((r.total_amount for r in filed), Decimal(0)),
    }


# --- the report -----------------------------------------------------------------------------


def kyc_aml_build(*, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix) -> ReportBody:
    cases = _cases(tenant=tenant, period=period, appendix=appendix)
    screening = _screening(tenant=tenant, period=period, appendix=appendix)
    alerts = _alerts(tenant=tenant, period=period, appendix=appendix)
    reports = _reports_filed(tenant=tenant, period=period, appendix=appendix)

    exceptions: list[list[str]] = []
    for case in cases["open"]:
        exceptions.append(
            [
                _("Case #%(id)s") % {"id": case.pk},
                str(case.profile_id),
                _("Still open (%(status)s), opened %(at)s")
                % {"status": case.get_status_display(), "at": _local(period, case.opened_at)},
            ]
        )
    for hit in screening["open_at_end"]:
        exceptions.append(
            [
                _("Screening hit #%(id)s") % {"id": hit.pk},
                hit.subject_ref,
                _("Undecided at the end of the period (band %(band)s, score %(score)s)")
                % {"band": hit.band, "score": hit.score},
            ]
        )
    for hit in screening["confirmed"]:
        exceptions.append(
            [
                _("Screening hit #%(id)s") % {"id": hit.pk},
                hit.subject_ref,
                _("Confirmed as a true match by %(who)s on %(at)s")
                % {"who": _email(hit.decided_by), "at": _local(period, hit.decided_at)},
            ]
        )
    for report in reports["drafts"]:
        exceptions.append(
            [
                _("Suspicious-transaction report #%(id)s") % {"id": report.pk},
                str(report.case.profile_id),
                _("Drafted %(at)s, not filed") % {"at": _local(period, report.created_at)},
            ]
        )

    decisions = [
        [
            _("Hit #%(id)s") % {"id": hit.pk},
            hit.subject_ref,
            str(hit.get_status_display()),
            _email(hit.decided_by),
            _local(period, hit.decided_at),
        ]
        for hit in sorted(
            screening["cleared"] + screening["confirmed"], key=lambda h: (h.decided_at, h.pk)
        )
    ]
    rules = sorted(alerts["by_rule"].items())
    outcomes = [choice for choice, _label in MonitoringAlert.Outcome.choices]
    chart = ""
    if rules:
        chart = bar_chart_svg(
            labels=[f"{code} v{version}" for (code, version), _c in rules],
            values=[counts["total"] for _key, counts in rules],
            title=_("Alerts by rule version"),
        )
    empty = not (cases["count"] or screening["count"] or alerts["count"] or reports["count"])
    return ReportBody(
        empty=empty,
        summary=[
            (_("KYC cases opened"), str(cases["opened"])),
            (_("KYC cases approved"), str(cases["approved"])),
            (_("KYC cases rejected"), str(cases["rejected"])),
            (_("Approvals under four eyes"), str(cases["four_eyes"])),
            (_("Screening hits raised"), str(screening["raised"])),
            (_("Screening hits cleared"), str(len(screening["cleared"]))),
            (_("Screening hits confirmed"), str(len(screening["confirmed"]))),
            (_("Screening hits open at the end"), str(len(screening["open_at_end"]))),
            (_("Whitelist entries made"), str(screening["whitelist"])),
            (_("Monitoring alerts"), str(alerts["count"])),
            (_("Suspicious-transaction reports filed"), str(reports["filed"])),
            (_("Exceptions"), str(len(exceptions))),
        ],
        sections=[
            ReportSection(
                title=_("Exceptions"),
                text=_(
                    "Cases still open, screening hits undecided at the end of the period or "
                    "confirmed as true matches, and reports drafted but not filed."
                ),
                columns=[_("Item"), _("Client ref."), _("Finding")],
                rows=exceptions,
            ),
            ReportSection(
                title=_("KYC cases by risk rating"),
                text=_(
                    "The client's rating at the end of the period. Every case is in the cases "
                    "appendix; clients appear by their KYC file number only."
                ),
                columns=[
                    _("Risk rating"),
                    _("Opened"),
                    _("Approved"),
                    _("Rejected"),
                    _("Four eyes"),
                ],
                rows=cases["by_rating"],
                numeric=[1, 2, 3, 4],
            ),
            ReportSection(
                title=_("Screening hits raised by band"),
                columns=[_("Band"), _("Hits")],
                rows=[[band, str(n)] for band, n in sorted(screening["by_band"].items())],
                numeric=[1],
            ),
            ReportSection(
                title=_("Screening decisions"),
                text=_("Every hit and whitelist entry is in the appendix with its reason."),
                columns=[_("Hit"), _("Client ref."), _("Decision"), _("By"), _("When")],
                rows=decisions,
            ),
            ReportSection(
                title=_("Monitoring alerts by rule and version"),
                columns=[
                    _("Rule"),
                    _("Version"),
                    _("Alerts"),
                    *[str(MonitoringAlert.Outcome(o).label) for o in outcomes],
                    _("Still open"),
                ],
                rows=[
                    [
                        code,
                        str(version),
                        str(counts["total"]),
                        *[str(counts[o]) for o in outcomes],
                        str(counts["open"]),
                    ]
                    for (code, version), counts in rules
                ],
                numeric=list(range(1, 4 + len(outcomes))),
                chart_svg=chart,
            ),
            ReportSection(
                title=_("Suspicious-transaction reports"),
                columns=[_("Drafted"), _("Filed"), _("Amount filed")],
                rows=[
                    [
                        str(reports["drafted"]),
                        str(reports["filed"]),
                        amount_text(reports["filed_amount"]),
                    ]
                ],
                numeric=[0, 1, 2],
            ),
        ],
    )


KYC_AML = ReportType(
    key="kyc_aml",
    title=gettext_lazy("KYC and AML"),
    description=gettext_lazy(
        "KYC cases and their decisions, screening hits and their dispositions, monitoring "
        "alerts by rule version, suspicious-transaction reports filed."
    ),
    build=kyc_aml_build,
)

REPORT_TYPES = (KYC_AML,)
