"""The console's four-eyes inbox: decide what your role may decide, follow what you asked."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from platform_core.audit.approvals import (
    approval_inbox,
    approval_list,
    approval_request_approve,
    approval_request_reject,
    approval_request_withdraw,
)
from platform_core.audit.models import ApprovalRequest
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.roles import STAFF_ROLES
from platform_core.views import role_required


@role_required(frozenset(STAFF_ROLES))
def approvals_inbox(request: HttpRequest) -> HttpResponse:
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    return render(
        request,
        "console/approvals.html",
        {
            "inbox": approval_inbox(tenant=tenant, role=membership.role)[:100],
            "mine": approval_list(tenant=tenant, maker=request.user)[:50],
        },
    )


@require_POST
@role_required(frozenset(STAFF_ROLES))
def approval_decide(request: HttpRequest, approval_id: int) -> HttpResponse:
    # Another tenant's request is a 404 whatever the form says.
    access_object_by_id(ApprovalRequest, tenant=request.tenant, object_id=approval_id)  # type: ignore[attr-defined]
    decision = request.POST.get("decision")
    common = {
        "tenant": request.tenant,  # type: ignore[attr-defined]
        "actor": request.user,
        "approval_id": approval_id,
        "reason": request.POST.get("reason", ""),
        "request": request,
    }
    try:
        if decision == "approve":
            approval_request_approve(membership=request.membership, **common)  # type: ignore[attr-defined]
            messages.success(request, _("Approved; the action has run."))
        elif decision == "reject":
            approval_request_reject(membership=request.membership, **common)  # type: ignore[attr-defined]
            messages.success(request, _("Rejected."))
        elif decision == "withdraw":
            approval_request_withdraw(**common)
            messages.success(request, _("Withdrawn."))
        else:
            messages.error(request, _("Choose approve, reject or withdraw."))
    except ApplicationError as refusal:
        details = " ".join(" ".join(problems) for problems in refusal.fields.values())
        messages.error(request, f"{refusal.message} {details}".strip())
    return HttpResponseRedirect(reverse("console-approvals"))
