"""Reads of the margin-call loop, always for one tenant; a client sees only their own."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped
from risk.operations.models import (
    ClientDebt,
    CrashSwitch,
    Dispute,
    MarginCall,
    MarginNotice,
    Proposal,
    RatioMark,
)


def _own(queryset: QuerySet[Any], membership: Membership | None, field: str) -> QuerySet[Any]:
    if membership is not None and membership.role == Role.CLIENT:
        return queryset.filter(**{field: membership.pk})
    return queryset


def _by_id(queryset: QuerySet[Any], object_id: object, what: str) -> Any:
    try:
        return queryset.get(pk=int(str(object_id)))
    except (queryset.model.DoesNotExist, ValueError, OverflowError):
        raise Http404(f"No {what} with this id.") from None


def crash_switch_state(*, tenant: Tenant) -> CrashSwitch | None:
    return tenant_scoped(CrashSwitch, tenant=tenant).first()


def call_list(
    *, tenant: Tenant, membership: Membership | None = None, status: str | None = None
) -> QuerySet[MarginCall]:
    queryset = _own(tenant_scoped(MarginCall, tenant=tenant), membership, "membership_id")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-issued_at", "-pk")


def access_call_by_id(
    *, tenant: Tenant, call_id: object, membership: Membership | None = None
) -> MarginCall:
    return _by_id(call_list(tenant=tenant, membership=membership), call_id, "margin call")


def proposal_list(
    *, tenant: Tenant, membership: Membership | None = None, status: str | None = None
) -> QuerySet[Proposal]:
    queryset = _own(tenant_scoped(Proposal, tenant=tenant), membership, "membership_id")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-pk")


def access_proposal_by_id(
    *, tenant: Tenant, proposal_id: object, membership: Membership | None = None
) -> Proposal:
    return _by_id(proposal_list(tenant=tenant, membership=membership), proposal_id, "proposal")


def proposal_approval(*, tenant: Tenant, proposal: Proposal) -> Any:
    """The approval request for executing ``proposal`` by hand, if one was made (the latest)."""
    from platform_core.audit.models import ApprovalRequest

    if not proposal.approval_id:
        return None
    return (
        tenant_scoped(ApprovalRequest, tenant=tenant)
        .select_related("maker")
        .filter(pk=proposal.approval_id)
        .first()
    )


def notice_list(*, tenant: Tenant, account_id: int) -> QuerySet[MarginNotice]:
    return (
        tenant_scoped(MarginNotice, tenant=tenant)
        .filter(account_id=account_id)
        .order_by("created_at", "pk")
    )


def debt_list(*, tenant: Tenant, status: str | None = None) -> QuerySet[ClientDebt]:
    queryset = tenant_scoped(ClientDebt, tenant=tenant)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-pk")


def dispute_list(*, tenant: Tenant, membership: Membership | None = None) -> QuerySet[Dispute]:
    return _own(tenant_scoped(Dispute, tenant=tenant), membership, "membership_id").order_by(
        "-created_at", "-pk"
    )


def access_dispute_by_id(
    *, tenant: Tenant, dispute_id: object, membership: Membership | None = None
) -> Dispute:
    return _by_id(dispute_list(tenant=tenant, membership=membership), dispute_id, "dispute")


def dispute_evidence(*, tenant: Tenant, proposal: Proposal) -> dict[str, Any]:
    """The evidence bundle of an executed deleveraging or liquidation: the prices planned on and
    filled at, the policy version, the account's ratio history and every notice with when it
    was stored and sent."""
    marks = tenant_scoped(RatioMark, tenant=tenant).filter(account_id=proposal.account_id)
    if proposal.decided_at is not None:
        marks = marks.filter(at__lte=proposal.decided_at)
    notices = notice_list(tenant=tenant, account_id=proposal.account_id)
    if proposal.decided_at is not None:
        notices = notices.filter(created_at__lte=proposal.decided_at)
    call = proposal.call
    return {
        "proposal": {
            "id": proposal.pk,
            "kind": proposal.kind,
            "status": proposal.status,
            "created_at": proposal.created_at.isoformat(),
            "executed_at": proposal.decided_at.isoformat() if proposal.decided_at else None,
            "executed_by": proposal.decided_by_label,
            "ratio_before": None if proposal.ratio_before is None else str(proposal.ratio_before),
            "target_ratio": str(proposal.target_ratio),
            "steps": proposal.steps,
            "paused_by_switch": proposal.paused_by_switch,
        },
        "policy_version": proposal.policy_version,
        "prices_planned": proposal.prices,
        "fills": proposal.fills,
        "net_cash": str(proposal.proceeds),
        "shortfall": str(proposal.shortfall),
        "call": None
        if call is None
        else {
            "id": call.pk,
            "issued_at": call.issued_at.isoformat(),
            "deadline": call.deadline_date.isoformat(),
            "deadline_at": call.deadline_at.isoformat(),
            "policy": f"{call.policy_name} v{call.policy_version}",
            "policy_digest": call.policy_digest,
            "deposit_needed": str(call.deposit_needed),
        },
        "ratio_history": [
            {
                "at": m.at.isoformat(),
                "previous": m.previous,
                "status": m.status,
                "ratio": None if m.ratio is None else str(m.ratio),
                "equity": str(m.equity),
                "maintenance": str(m.maintenance),
                "sweep_id": m.sweep_id,
            }
            for m in marks.order_by("at", "pk")
        ],
        "notices": [
            {
                "step": n.step,
                "key": n.key,
                "stored_at": n.created_at.isoformat(),
                "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                "notification_id": n.notification_id,
            }
            for n in notices
        ],
    }
