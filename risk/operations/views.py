"""The margin-call loop's pages. Console: calls, the proposals queue, the crash switch, debts
and disputes. Portal: the client's calls with their countdown and hints, their closed
positions and the dispute form. Parse, authorise, call, render."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from platform_core.audit.approvals import approval_request_approve, approval_request_create
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from platform_core.views import role_required
from risk.operations import selectors
from risk.operations.models import ClientDebt, MarginCall, Proposal
from risk.operations.services import (
    WRITEOFF_ACTION,
    crash_switch_engage,
    crash_switch_release,
    dispute_open,
    dispute_resolve,
    proposal_execution_request,
    proposal_reject,
)

READERS = frozenset({Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER})
RISK = frozenset({Role.RISK_OFFICER})
CLIENT = frozenset({Role.CLIENT})


def _refusal_text(refusal: ApplicationError) -> str:
    details = " ".join(" ".join(problems) for problems in refusal.fields.values())
    return f"{refusal.message} {details}".strip()


# --- console ---------------------------------------------------------------------------------


@role_required(READERS)
def console_margin_calls(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    return render(
        request,
        "risk_operations/console_calls.html",
        {
            "switch": selectors.crash_switch_state(tenant=tenant),
            "calls": selectors.call_list(tenant=tenant, status=MarginCall.CallStatus.OPEN)[:200],
            "queue": selectors.proposal_list(tenant=tenant).filter(status__in=Proposal.OPEN)[:200],
            "executed": selectors.proposal_list(
                tenant=tenant, status=Proposal.ProposalStatus.EXECUTED
            )[:50],
            "debts": selectors.debt_list(tenant=tenant, status=ClientDebt.DebtStatus.OPEN)[:100],
            "disputes": selectors.dispute_list(tenant=tenant)[:50],
            "may_act": request.membership.role in RISK,  # type: ignore[attr-defined]
        },
    )


@require_POST
@role_required(RISK)
def console_crash_switch(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    reason = request.POST.get("reason", "")
    try:
        if request.POST.get("action") == "engage":
            crash_switch_engage(tenant=tenant, actor=request.user, reason=reason, request=request)
            messages.success(request, _("Automatic deleveraging and liquidation are paused."))
        else:
            crash_switch_release(tenant=tenant, actor=request.user, reason=reason, request=request)
            messages.success(request, _("Automatic deleveraging and liquidation resumed."))
    except ApplicationError as refusal:
        messages.error(request, _refusal_text(refusal))
    return HttpResponseRedirect(reverse("console-margin-calls"))


@role_required(READERS)
def console_margin_proposal(request: HttpRequest, proposal_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    proposal = selectors.access_proposal_by_id(tenant=tenant, proposal_id=proposal_id)
    approval = selectors.proposal_approval(tenant=tenant, proposal=proposal)
    return render(
        request,
        "risk_operations/console_proposal.html",
        {
            "proposal": proposal,
            "approval": approval,
            "approval_pending": approval is not None
            and approval.status == "pending"
            and approval.expires_at > timezone.now(),
            "switch": selectors.crash_switch_state(tenant=tenant),
            "may_act": request.membership.role in RISK,  # type: ignore[attr-defined]
        },
    )


@require_POST
@role_required(RISK)
def console_margin_proposal_decide(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """Ask for execution (the maker), approve a pending request (a second risk officer), or
    reject the proposal."""
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    proposal = selectors.access_proposal_by_id(tenant=tenant, proposal_id=proposal_id)
    action = request.POST.get("action")
    common = {
        "tenant": tenant,
        "actor": request.user,
        "membership": membership,
        "reason": request.POST.get("reason", ""),
        "request": request,
    }
    try:
        if action == "request":
            proposal_execution_request(proposal_id=proposal.pk, **common)
            messages.success(
                request,
                _("Proposal #%(id)s: its execution waits for a second risk officer.")
                % {"id": proposal.pk},
            )
        elif action == "approve" and proposal.approval_id:
            approval_request_approve(approval_id=proposal.approval_id, **common)
            proposal.refresh_from_db()
            messages.success(
                request,
                _("Proposal #%(id)s: %(status)s.")
                % {"id": proposal.pk, "status": proposal.get_status_display()},
            )
        else:
            decided = proposal_reject(proposal_id=proposal.pk, **common)
            messages.success(
                request,
                _("Proposal #%(id)s: %(status)s.")
                % {"id": decided.pk, "status": decided.get_status_display()},
            )
    except ApplicationError as refusal:
        messages.error(request, _refusal_text(refusal))
    return HttpResponseRedirect(reverse("console-margin-proposal", args=[proposal.pk]))


@require_POST
@role_required(RISK)
def console_margin_debt_writeoff(request: HttpRequest, debt_id: int) -> HttpResponse:
    """Ask for the four-eyes write-off of a client's debt (a tenant admin decides)."""
    from platform_core.tenancy.access import access_object_by_id

    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    debt = access_object_by_id(ClientDebt, tenant=tenant, object_id=debt_id)
    try:
        approval = approval_request_create(
            tenant=tenant,
            actor=request.user,
            membership=membership,
            action=WRITEOFF_ACTION,
            params={"debt_id": debt.pk},
            reason=request.POST.get("reason", ""),
            request=request,
        )
    except ApplicationError as refusal:
        messages.error(request, _refusal_text(refusal))
    else:
        messages.success(
            request,
            _("Write-off requested (four-eyes request #%(id)s).") % {"id": approval.pk},
        )
    return HttpResponseRedirect(reverse("console-margin-calls"))


@role_required(READERS)
def console_margin_dispute(request: HttpRequest, dispute_id: int) -> HttpResponse:
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    dispute = selectors.access_dispute_by_id(tenant=tenant, dispute_id=dispute_id)
    if request.method == "POST":
        try:
            dispute = dispute_resolve(
                tenant=tenant,
                actor=request.user,
                membership=membership,
                dispute_id=dispute.pk,
                outcome=request.POST.get("outcome", ""),
                resolution=request.POST.get("resolution", ""),
                request=request,
            )
        except ApplicationError as refusal:
            messages.error(request, _refusal_text(refusal))
        else:
            messages.success(request, _("The dispute is resolved."))
            return HttpResponseRedirect(reverse("console-margin-dispute", args=[dispute.pk]))
    return render(
        request,
        "risk_operations/console_dispute.html",
        {"dispute": dispute, "proposal": dispute.proposal},
    )


# --- portal ----------------------------------------------------------------------------------


@role_required(CLIENT)
def portal_margin_calls(request: HttpRequest) -> HttpResponse:
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    calls = list(selectors.call_list(tenant=tenant, membership=membership)[:50])
    now = timezone.now()
    for call in calls:
        left = max(int((call.deadline_at - now).total_seconds()), 0)
        call.seconds_left, call.hours_left = left, left // 3600  # type: ignore[attr-defined]
        # The hints are priced when computed, the call when issued: both are shown with their
        # times, and the difference named when prices moved in between.
        priced = parse_datetime(str(call.hints.get("computed_at") or ""))
        call.hints_priced_at = priced  # type: ignore[attr-defined]
        call.hints_deposit_moved = (
            bool(call.hints)
            and Decimal(  # type: ignore[attr-defined]
                str(call.hints.get("deposit") or 0)
            )
            != call.deposit_needed
        )
    return render(
        request,
        "risk_operations/portal_calls.html",
        {
            "calls": calls,
            "executed": selectors.proposal_list(
                tenant=tenant, membership=membership, status=Proposal.ProposalStatus.EXECUTED
            )[:50],
            "disputes": selectors.dispute_list(tenant=tenant, membership=membership)[:50],
            "switch": selectors.crash_switch_state(tenant=tenant),
        },
    )


@role_required(CLIENT)
def portal_margin_dispute_new(request: HttpRequest, proposal_id: int) -> HttpResponse:
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    proposal = selectors.access_proposal_by_id(
        tenant=tenant, proposal_id=proposal_id, membership=membership
    )
    error: Any = None
    if request.method == "POST":
        try:
            dispute_open(
                tenant=tenant,
                membership=membership,
                proposal_id=proposal.pk,
                statement=request.POST.get("statement", ""),
                request=request,
            )
        except ApplicationError as refusal:
            error = _refusal_text(refusal)
        else:
            messages.success(request, _("Your dispute is filed; the risk team will answer it."))
            return HttpResponseRedirect(reverse("portal-margin-calls"))
    return render(
        request,
        "risk_operations/portal_dispute.html",
        {"proposal": proposal, "error": error},
        status=400 if error else 200,
    )
