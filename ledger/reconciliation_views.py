"""Console pages for reconciliation: operations run it, read the breaks and resolve them.

Compliance officers and tenant admins may read; only operations run and resolve.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ledger.models import ReconciliationBreak
from ledger.reconciliation import (
    RESOLUTIONS,
    access_reconciliation_by_id,
    reconciliation_break_list,
    reconciliation_break_resolve,
    reconciliation_list,
    reconciliation_run,
    statement_import,
)
from ledger.statements import MAX_STATEMENT_BYTES
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import CURRENCY_MINOR_UNITS
from platform_core.tenancy.roles import Role
from platform_core.views import role_required

READ_ROLES = frozenset({Role.OPERATIONS, Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN})
ACT_ROLES = frozenset({Role.OPERATIONS})


def _refusal_text(refusal: ApplicationError) -> str:
    details = " ".join(" ".join(problems) for problems in refusal.fields.values())
    return f"{refusal.message} {details}".strip()


@role_required(READ_ROLES)
def reconciliation_index(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    return render(
        request,
        "ledger/reconciliation_list.html",
        {
            "runs": reconciliation_list(tenant=tenant).select_related("statement")[:60],
            "open_breaks": reconciliation_break_list(
                tenant=tenant, status=ReconciliationBreak.Status.OPEN
            )[:200],
            "currencies": sorted(CURRENCY_MINOR_UNITS),
            "today": timezone.localdate(timezone=ZoneInfo(tenant.timezone)),
            "may_act": request.membership.role in ACT_ROLES,  # type: ignore[attr-defined]
        },
    )


@require_POST
@role_required(ACT_ROLES)
def reconciliation_run_view(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    try:
        business_date = date.fromisoformat(request.POST.get("business_date", ""))
    except ValueError:
        messages.error(request, _("Give the business date as YYYY-MM-DD."))
        return HttpResponseRedirect(reverse("console-reconciliation"))
    upload = request.FILES.get("statement")
    if upload is not None and (upload.size or 0) > MAX_STATEMENT_BYTES:
        messages.error(request, _("The statement file is too large."))
        return HttpResponseRedirect(reverse("console-reconciliation"))
    try:
        # The statement and the runs are kept together or not at all.
        with transaction.atomic():
            statement = None
            if upload is not None:
                statement = statement_import(
                    tenant=tenant,
                    data=upload.read(),
                    filename=upload.name or "",
                    actor=request.user,
                    request=request,
                )
            runs = reconciliation_run(
                tenant=tenant,
                business_date=business_date,
                currency=request.POST.get("currency") or None,
                statement=statement,
                actor=request.user,
            )
    except ApplicationError as refusal:
        messages.error(request, _refusal_text(refusal))
        return HttpResponseRedirect(reverse("console-reconciliation"))
    if not runs:
        messages.info(request, _("No client money to reconcile."))
        return HttpResponseRedirect(reverse("console-reconciliation"))
    messages.success(request, _("Reconciled."))
    return HttpResponseRedirect(reverse("console-reconciliation-detail", args=[runs[-1].pk]))


@role_required(READ_ROLES)
def reconciliation_detail(request: HttpRequest, reconciliation_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    run = access_reconciliation_by_id(tenant=tenant, reconciliation_id=reconciliation_id)
    breaks = list(reconciliation_break_list(tenant=tenant, reconciliation=run))
    labels = dict(ReconciliationBreak.Resolution.choices)
    return render(
        request,
        "ledger/reconciliation_detail.html",
        {
            "run": run,
            "breaks": [
                (brk, [(code, labels[code]) for code in RESOLUTIONS[brk.kind]]) for brk in breaks
            ],
            "matches": run.matches.select_related("statement_line", "entry").order_by("pk"),
            "may_act": request.membership.role in ACT_ROLES,  # type: ignore[attr-defined]
        },
    )


@require_POST
@role_required(ACT_ROLES)
def reconciliation_break_resolve_view(request: HttpRequest, break_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    # Another tenant's break is a 404 whatever the form says.
    brk = access_object_by_id(ReconciliationBreak, tenant=tenant, object_id=break_id)
    try:
        reconciliation_break_resolve(
            tenant=tenant,
            actor=request.user,
            break_id=brk.pk,
            resolution=request.POST.get("resolution", ""),
            reason=request.POST.get("reason", ""),
            correction_entry_id=request.POST.get("correction_entry") or None,
            request=request,
        )
        messages.success(request, _("Break resolved."))
    except ApplicationError as refusal:
        messages.error(request, _refusal_text(refusal))
    except Http404:  # the break is this tenant's (checked above): the named entry is not
        messages.error(request, _("No journal entry with this id."))
    return HttpResponseRedirect(
        reverse("console-reconciliation-detail", args=[brk.reconciliation_id])
    )
