"""Auditor engagements: granting, revoking, and the one way an auditor reaches anything.

An engagement is visible to its auditor only while it is open (``access_from <= now <
access_until``, not revoked) and only with the django-guardian object permission
``audit.view_engagement`` given at grant and removed at revocation. Everything an auditor
opens (reports, files) is reached through an open engagement whose scope names its report
type; anything else is the same 404 as a missing object.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from platform_core.audit.models import Engagement, ReportFile, ReportRequest
from platform_core.audit.report_content import ReportPeriod
from platform_core.audit.services import audit_record
from platform_core.hooks import report_types
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.roles import Role

ENGAGEMENT_PERMISSION = "audit.view_engagement"


def engagement_grant(
    *,
    tenant: Tenant,
    actor: Any,
    auditor: Membership,
    scope: list[str],
    period_from: date,
    period_to: date,
    access_from: datetime,
    access_until: datetime,
    reason: str = "",
    request: HttpRequest | None = None,
) -> Engagement:
    """Give ``auditor`` read access to ``scope``'s reports over the period, for a time."""
    errors: dict[str, list[str]] = {}
    if auditor.tenant_id != tenant.pk or auditor.role != Role.AUDITOR or not auditor.is_active:
        errors["auditor"] = ["Engagements are granted to an active auditor of this tenant."]
    unknown = sorted(set(scope) - set(report_types.keys()))
    if not scope:
        errors["scope"] = ["Name at least one report type."]
    elif unknown:
        errors["scope"] = [
            f"Unknown report types: {', '.join(unknown)}. Known: {', '.join(report_types.keys())}."
        ]
    if period_to < period_from:
        errors["period_to"] = ["The period ends before it starts."]
    if access_until <= access_from:
        errors["access_until"] = ["Access must end after it starts."]
    elif access_until <= timezone.now():
        errors["access_until"] = ["Access would already be over."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        engagement = Engagement.objects.create(
            tenant=tenant,
            auditor=auditor,
            scope=sorted(set(scope)),
            period_from=period_from,
            period_to=period_to,
            access_from=access_from,
            access_until=access_until,
            reason=reason,
            granted_by=actor,
        )
        assign_perm(ENGAGEMENT_PERMISSION, auditor.user, engagement)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="engagement.granted",
            object_type="engagement",
            object_id=engagement.pk,
            reason=reason,
            payload={
                "auditor_membership": auditor.pk,
                "scope": engagement.scope,
                "period_from": period_from.isoformat(),
                "period_to": period_to.isoformat(),
                "access_from": access_from,
                "access_until": access_until,
            },
            request=request,
        )
    return engagement


def engagement_revoke(
    *,
    tenant: Tenant,
    actor: Any,
    engagement_id: object,
    reason: str,
    request: HttpRequest | None = None,
) -> Engagement:
    """End an engagement now; its auditor sees nothing of it afterwards. Idempotent."""
    with transaction.atomic():
        engagement = access_object_by_id(Engagement, tenant=tenant, object_id=engagement_id)
        engagement = Engagement.objects.select_for_update().get(pk=engagement.pk)
        if engagement.revoked_at is not None:
            return engagement
        engagement.revoked_at = timezone.now()
        engagement.revoked_by = actor
        engagement.save(update_fields=["revoked_at", "revoked_by"])
        remove_perm(ENGAGEMENT_PERMISSION, engagement.auditor.user, engagement)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="engagement.revoked",
            object_type="engagement",
            object_id=engagement.pk,
            reason=reason,
            request=request,
        )
    return engagement


def engagement_list(*, tenant: Tenant) -> QuerySet[Engagement]:
    """Every engagement of the tenant (for its admins), newest first."""
    return (
        Engagement.objects.filter(tenant=tenant)
        .select_related("auditor__user", "granted_by")
        .order_by("-pk")
    )


def engagement_is_open(engagement: Engagement, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return engagement.revoked_at is None and engagement.access_from <= now < engagement.access_until


def engagements_open_for(*, tenant: Tenant, membership: Membership) -> QuerySet[Engagement]:
    """The auditor's open engagements that they hold the object permission on."""
    now = timezone.now()
    if membership.role != Role.AUDITOR or not membership.is_active:
        return Engagement.objects.none()
    mine = Engagement.objects.filter(
        tenant=tenant,
        auditor=membership,
        revoked_at__isnull=True,
        access_from__lte=now,
        access_until__gt=now,
    )
    return get_objects_for_user(
        membership.user, ENGAGEMENT_PERMISSION, klass=mine, accept_global_perms=False
    ).order_by("-pk")


def access_engagement_by_id(
    *, tenant: Tenant, membership: Membership, engagement_id: object
) -> Engagement:
    """An open engagement of this auditor, or the one 404."""
    try:
        pk = int(str(engagement_id))
    except (TypeError, ValueError, OverflowError):
        raise Http404("No engagement with this id.") from None
    engagement = engagements_open_for(tenant=tenant, membership=membership).filter(pk=pk).first()
    if engagement is None:
        raise Http404("No engagement with this id.")
    return engagement


def engagement_allows(*, engagement: Engagement, report_type: str, period: ReportPeriod) -> None:
    """Refuse a report outside the engagement: a type not in scope is a 404, dates a
    ``ReportError`` the requester reads."""
    from platform_core.audit.reports import ReportError

    if report_type not in engagement.scope:
        raise Http404("No such report type in this engagement.")
    if period.date_from < engagement.period_from or period.date_to > engagement.period_to:
        raise ReportError(
            f"The engagement covers {engagement.period_from} to {engagement.period_to}; "
            f"{period.date_from} to {period.date_to} is outside it."
        )


def access_report_by_id(
    *, tenant: Tenant, membership: Membership, report_id: object
) -> ReportRequest:
    """A report of one of the auditor's open engagements, within its scope; else a 404."""
    try:
        pk = int(str(report_id))
    except (TypeError, ValueError, OverflowError):
        raise Http404("No report with this id.") from None
    engagements = engagements_open_for(tenant=tenant, membership=membership)
    report = (
        ReportRequest.objects.filter(tenant=tenant, pk=pk, engagement__in=engagements)
        .select_related("engagement")
        .first()
    )
    if report is None or report.engagement is None:
        raise Http404("No report with this id.")
    if report.report_type not in report.engagement.scope:
        raise Http404("No report with this id.")
    return report


def access_report_file_by_id(
    *, tenant: Tenant, membership: Membership, file_id: object
) -> ReportFile:
    try:
        pk = int(str(file_id))
    except (TypeError, ValueError, OverflowError):
        raise Http404("No file with this id.") from None
    file = ReportFile.objects.filter(tenant=tenant, pk=pk).defer("content").first()
    if file is None:
        raise Http404("No file with this id.")
    access_report_by_id(tenant=tenant, membership=membership, report_id=file.request_id)
    return file


def engagement_reports(*, tenant: Tenant, engagement: Engagement) -> QuerySet[ReportRequest]:
    return ReportRequest.objects.filter(
        tenant=tenant, engagement=engagement, report_type__in=engagement.scope
    ).order_by("-pk")


def auditor_viewed(
    *,
    tenant: Tenant,
    request: HttpRequest,
    page: str,
    object_type: str = "",
    object_id: object = "",
    payload: dict[str, Any] | None = None,
) -> None:
    """Record that an auditor opened a page or downloaded a file (the tenant sees it)."""
    audit_record(
        tenant=tenant,
        actor=request.user,
        action="auditor.downloaded" if page == "download" else "auditor.viewed",
        object_type=object_type,
        object_id=object_id,
        payload={"page": page, **(payload or {})},
        request=request,
    )
