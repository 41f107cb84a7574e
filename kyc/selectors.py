"""Tenant-scoped KYC reads, including what the apps to the right ask about a client."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, QuerySet

from kyc.models import (
    CaseCheck,
    ClientProfile,
    InfoRequest,
    KycCase,
    RiskRating,
    SuitabilityAssessment,
)
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped


def profile_for(*, tenant: Tenant, membership: Membership) -> ClientProfile | None:
    return tenant_scoped(ClientProfile, tenant=tenant).filter(membership=membership).first()


def _approved(tenant: Tenant, membership: Membership) -> ClientProfile | None:
    profile = profile_for(tenant=tenant, membership=membership)
    if profile is None or profile.status != ClientProfile.Status.APPROVED:
        return None
    return profile


def investor_class_for(*, tenant: Tenant, membership: Membership) -> str | None:
    """ "C1".."C5" for an approved client; None otherwise."""
    profile = _approved(tenant, membership)
    return (profile.investor_class or None) if profile else None


def suitability_for(*, tenant: Tenant, membership: Membership) -> dict[str, Any] | None:
    """The approved client's suitability: class, allowed product risk levels, leverage cap
    (Decimal), professional flag, and the assessment it comes from; None when not approved."""
    profile = _approved(tenant, membership)
    if profile is None:
        return None
    assessment = (
        tenant_scoped(SuitabilityAssessment, tenant=tenant)
        .filter(profile=profile)
        .order_by("-pk")
        .first()
    )
    if assessment is None:
        return None
    return {
        "investor_class": assessment.investor_class,
        "allowed_risk_levels": list(assessment.allowed_risk_levels),
        "leverage_cap": assessment.leverage_cap,
        "professional": assessment.professional,
        "questionnaire_version": assessment.questionnaire_version,
        "assessed_at": assessment.created_at,
    }


def risk_rating_for(*, tenant: Tenant, membership: Membership) -> str | None:
    """ "low" / "medium" / "high" for an approved client; None otherwise."""
    profile = _approved(tenant, membership)
    return (profile.risk_rating or None) if profile else None


def latest_assessment(*, profile: ClientProfile) -> SuitabilityAssessment | None:
    """The client's latest questionnaire outcome, approved or not."""
    return (
        tenant_scoped(SuitabilityAssessment, tenant=profile.tenant)
        .filter(profile=profile)
        .order_by("-pk")
        .first()
    )


def latest_rating(*, profile: ClientProfile) -> RiskRating | None:
    return (
        tenant_scoped(RiskRating, tenant=profile.tenant)
        .filter(profile=profile)
        .order_by("-pk")
        .first()
    )


def case_queue(
    *, tenant: Tenant, status: str | None = None, assignee: Any = None
) -> QuerySet[KycCase]:
    queryset = tenant_scoped(KycCase, tenant=tenant).select_related("assignee", "profile")
    if status:
        queryset = queryset.filter(status=status)
    else:
        queryset = queryset.filter(status__in=KycCase.OPEN_STATUSES)
    if assignee is not None:
        queryset = queryset.filter(assignee=assignee)
    return queryset.order_by("opened_at", "pk")


def case_checks(*, case: KycCase) -> QuerySet[CaseCheck]:
    return tenant_scoped(CaseCheck, tenant=case.tenant).filter(case=case).order_by("pk")


def open_info_requests(*, profile: ClientProfile) -> QuerySet[InfoRequest]:
    return (
        tenant_scoped(InfoRequest, tenant=profile.tenant)
        .filter(case__profile=profile, answered_at__isnull=True)
        .order_by("pk")
    )


def monitoring_hold_for(*, tenant: Tenant, membership: Membership) -> list[dict[str, Any]]:
    """Open monitoring alerts whose outcome is ``block_and_review`` or ``decline`` for this
    client (empty when none): apps to the right refuse new financing or trades while any is
    open. Each item: alert id, rule code and version, outcome, raised at."""
    from kyc.models import MonitoringAlert

    alerts = (
        tenant_scoped(MonitoringAlert, tenant=tenant)
        .filter(
            membership=membership,
            outcome__in=("block_and_review", "decline"),
            status__in=("open", "in_case"),
        )
        .order_by("pk")
    )
    return [
        {
            "alert": a.pk,
            "rule": a.rule_code,
            "version": a.rule_version,
            "outcome": a.outcome,
            "raised_at": a.created_at,
        }
        for a in alerts
    ]


# --- the console's overview and the screening hits ------------------------------------------


def kyc_overview(*, tenant: Tenant, today: date, soon_days: int = 30) -> dict[str, Any]:
    """What needs compliance's action: cases by status, unresolved screening hits by band,
    open monitoring alerts by outcome, periodic reviews due (overdue and within ``soon_days``)."""
    from kyc.models import MonitoringAlert
    from kyc.screening.selectors import hit_queue

    cases = dict(
        tenant_scoped(KycCase, tenant=tenant)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    hits = dict(hit_queue(tenant=tenant).order_by().values_list("band").annotate(n=Count("pk")))
    alerts = dict(
        tenant_scoped(MonitoringAlert, tenant=tenant)
        .filter(status__in=(MonitoringAlert.Status.OPEN, MonitoringAlert.Status.IN_CASE))
        .values_list("outcome")
        .annotate(n=Count("pk"))
        .values_list("outcome", "n")
    )
    approved = tenant_scoped(ClientProfile, tenant=tenant).filter(
        status=ClientProfile.Status.APPROVED, next_review_on__isnull=False
    )
    return {
        "cases": {status: cases.get(status, 0) for status in KycCase.Status.values},
        "open_cases": sum(cases.get(s, 0) for s in KycCase.OPEN_STATUSES),
        "unassigned_cases": tenant_scoped(KycCase, tenant=tenant)
        .filter(status__in=KycCase.OPEN_STATUSES, assignee__isnull=True)
        .count(),
        "hits": hits,
        "open_hits": sum(hits.values()),
        "alerts": alerts,
        "open_alerts": sum(alerts.values()),
        "holding_alerts": sum(alerts.get(o, 0) for o in ("block_and_review", "decline")),
        "reviews_overdue": approved.filter(next_review_on__lte=today).count(),
        "reviews_soon": approved.filter(
            next_review_on__gt=today, next_review_on__lte=today + timedelta(days=soon_days)
        ).count(),
    }


def profiles_by_ref(*, tenant: Tenant, refs: Iterable[str]) -> dict[str, ClientProfile]:
    """The profiles screening names by ``subject_ref`` (the profile id as a string)."""
    ids = [int(ref) for ref in refs if str(ref).isdigit()]
    profiles = tenant_scoped(ClientProfile, tenant=tenant).filter(pk__in=ids)
    return {str(p.pk): p for p in profiles.select_related("tenant", "membership")}


def hit_explanation(*, tenant: Tenant, hit: Any) -> dict[str, Any]:
    """Why a hit scored what it did: the features and matched name of its latest run's result
    for that entity (the scorer's own explanation, stored with every run)."""
    from kyc.screening.models import ScreeningResult

    result = (
        tenant_scoped(ScreeningResult, tenant=tenant)
        .filter(run_id=hit.last_run_id, entity_id=hit.entity_id)
        .order_by("-score", "pk")
        .first()
    )
    if result is None:
        return {"matched_name": "", "features": []}
    features = [
        {"name": name, "score": value.get("score"), "detail": value.get("detail", "")}
        if isinstance(value, dict)
        else {"name": name, "score": value, "detail": ""}
        for name, value in sorted(result.features.items())
    ]
    return {"matched_name": result.matched_name, "features": features}


def case_for_profile(*, profile: ClientProfile) -> KycCase | None:
    """The profile's open case, else its latest one."""
    cases = tenant_scoped(KycCase, tenant=profile.tenant).filter(profile=profile)
    return cases.filter(status__in=KycCase.OPEN_STATUSES).order_by("-pk").first() or (
        cases.order_by("-pk").first()
    )


def hit_clear_pending(*, tenant: Tenant, hit: Any) -> Any:
    """The four-eyes request to clear ``hit`` that still waits for a second officer, if any."""
    from django.utils import timezone

    from kyc.screening.services import HIT_CLEAR_ACTION
    from platform_core.audit.models import ApprovalRequest

    return (
        tenant_scoped(ApprovalRequest, tenant=tenant)
        .filter(
            action=HIT_CLEAR_ACTION,
            status=ApprovalRequest.Status.PENDING,
            params__hit_id=hit.pk,
            expires_at__gt=timezone.now(),
        )
        .order_by("-pk")
        .first()
    )
