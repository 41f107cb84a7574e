"""Four-eyes approvals: one mechanism for every high-impact action.

A maker asks (``approval_request_create``); a different person holding the action's approver
role approves or rejects with a reason; on approval the action's registered service runs inside
the approval's transaction, so either both happen or neither. Every step is an audit event.
Apps register their actions in ``platform_core.hooks.approvable_actions``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from platform_core.audit.models import ApprovalRequest, Notification
from platform_core.audit.notifications import notification_send
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.hooks import ApprovableAction, approvable_actions
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped


def canonical_mailbox(email: str) -> str:
    """``a.b+tag@x`` and ``a.b@x`` are one mailbox: sub-addresses are the same person."""
    local, _, domain = email.lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def same_person(first: Any, second: Any) -> bool:
    """One account, two accounts with one person reference, or one mailbox under aliases."""
    if first.pk == second.pk:
        return True
    if first.person_ref and first.person_ref == second.person_ref:
        return True
    return canonical_mailbox(first.email) == canonical_mailbox(second.email)


def _action(key: str) -> ApprovableAction:
    spec = approvable_actions.get(key)
    if spec is None:
        raise ApplicationError(
            400,
            "invalid",
            "The request has invalid fields.",
            {"action": [f"Unknown action {key!r}."]},
        )
    return spec


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            400, "invalid", "The request has invalid fields.", {"reason": ["A reason is required."]}
        )
    return reason


def approval_request_create(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    action: str,
    params: dict[str, Any],
    reason: str,
    request: HttpRequest | None = None,
) -> ApprovalRequest:
    spec = _action(action)
    reason = _reason(reason)
    if membership.role not in spec.maker_roles:
        raise ApplicationError(403, "permission_denied", "Your role may not request this action.")
    if spec.validate is not None:
        try:
            params = spec.validate(tenant=tenant, params=params)
        except ValidationError as exc:
            fields = exc.message_dict if hasattr(exc, "message_dict") else {"params": exc.messages}
            raise ApplicationError(
                400,
                "invalid",
                "The request has invalid fields.",
                {f"params.{k}": v for k, v in fields.items()},
            ) from None
    with transaction.atomic():
        approval = ApprovalRequest.objects.create(
            tenant=tenant,
            action=action,
            params=params,
            reason=reason,
            maker=actor,
            maker_membership=membership,
            approver_role=spec.approver_role,
            expires_at=timezone.now() + spec.expires_after,
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="approval.requested",
            object_type="approval",
            object_id=approval.pk,
            reason=reason,
            payload={"action": action, "params": params, "approver_role": spec.approver_role},
            request=request,
        )
        approvers = Membership.objects.filter(
            tenant=tenant, role=spec.approver_role, status=Membership.Status.ACTIVE
        ).exclude(user=actor)
        for approver in approvers.select_related("user").order_by("pk"):
            if same_person(approver.user, actor):
                continue
            notification_send(
                tenant=tenant,
                recipient=approver,
                kind="approval.requested",
                context={
                    "approval_id": approval.pk,
                    "action": action,
                    "maker": actor.email,
                    "reason": reason,
                },
                key=f"approval:{approval.pk}:requested:{approver.pk}",
                channels=[Notification.Channel.PORTAL, Notification.Channel.EMAIL],
            )
    return approval


def _pending_for_decision(*, tenant: Tenant, approval_id: Any) -> ApprovalRequest:
    approval = access_object_by_id(ApprovalRequest, tenant=tenant, object_id=approval_id)
    approval = ApprovalRequest.objects.select_for_update().get(pk=approval.pk)
    if approval.status != ApprovalRequest.Status.PENDING:
        raise ApplicationError(
            409, "approval_already_decided", f"This request is already {approval.status}."
        )
    if timezone.now() >= approval.expires_at:
        raise ApplicationError(409, "approval_expired", "This request has expired.")
    return approval


def _decide(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    approval_id: Any,
    reason: str,
    approve: bool,
    request: HttpRequest | None,
) -> ApprovalRequest:
    reason = _reason(reason)
    with transaction.atomic():
        approval = _pending_for_decision(tenant=tenant, approval_id=approval_id)
        if membership.role != approval.approver_role:
            raise ApplicationError(
                403, "approver_role_required", f"Only a {approval.approver_role} may decide this."
            )
        if same_person(actor, approval.maker):
            raise ApplicationError(
                403, "maker_cannot_decide", "The person who asked cannot decide their own request."
            )
        if approve:
            spec = approvable_actions.get(approval.action)
            if spec is None:
                raise ApplicationError(
                    409, "action_unavailable", "This action is no longer offered."
                )
            approval.result = spec.execute(
                tenant=tenant, params=approval.params, maker=approval.maker, approver=actor
            )
        approval.status = (
            ApprovalRequest.Status.APPROVED if approve else ApprovalRequest.Status.REJECTED
        )
        approval.decided_by = actor
        approval.decided_at = timezone.now()
        approval.decision_reason = reason
        approval.save(
            update_fields=["status", "decided_by", "decided_at", "decision_reason", "result"]
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="approval.approved" if approve else "approval.rejected",
            object_type="approval",
            object_id=approval.pk,
            reason=reason,
            payload={"action": approval.action, "result": approval.result},
            request=request,
        )
        notification_send(
            tenant=tenant,
            recipient=approval.maker_membership,
            kind="approval.decided",
            context={
                "approval_id": approval.pk,
                "action": approval.action,
                "approved": approve,
                "reason": reason,
            },
            key=f"approval:{approval.pk}:decided",
            channels=[Notification.Channel.PORTAL, Notification.Channel.EMAIL],
        )
    return approval


def approval_request_approve(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    approval_id: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> ApprovalRequest:
    return _decide(
        tenant=tenant,
        actor=actor,
        membership=membership,
        approval_id=approval_id,
        reason=reason,
        approve=True,
        request=request,
    )


def approval_request_reject(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    approval_id: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> ApprovalRequest:
    return _decide(
        tenant=tenant,
        actor=actor,
        membership=membership,
        approval_id=approval_id,
        reason=reason,
        approve=False,
        request=request,
    )


def approval_request_withdraw(
    *,
    tenant: Tenant,
    actor: Any,
    approval_id: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> ApprovalRequest:
    """The maker takes their request back before anyone decides it."""
    reason = _reason(reason)
    with transaction.atomic():
        approval = _pending_for_decision(tenant=tenant, approval_id=approval_id)
        if approval.maker_id != actor.pk:
            raise ApplicationError(
                403, "permission_denied", "Only the maker may withdraw a request."
            )
        approval.status = ApprovalRequest.Status.WITHDRAWN
        approval.decided_by = actor
        approval.decided_at = timezone.now()
        approval.decision_reason = reason
        approval.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="approval.withdrawn",
            object_type="approval",
            object_id=approval.pk,
            reason=reason,
            request=request,
        )
    return approval


def approvals_expire(*, tenant: Tenant) -> int:
    """Mark pending requests past their deadline as expired (each one audited)."""
    with transaction.atomic():
        overdue = list(
            tenant_scoped(ApprovalRequest, tenant=tenant)
            .select_for_update(skip_locked=True)
            .filter(status=ApprovalRequest.Status.PENDING, expires_at__lte=timezone.now())
            .order_by("pk")
        )
        for approval in overdue:
            approval.status = ApprovalRequest.Status.EXPIRED
            approval.decided_at = timezone.now()
            approval.save(update_fields=["status", "decided_at"])
            audit_record(
                tenant=tenant,
                actor=None,
                actor_label="system:approvals_expire",
                action="approval.expired",
                object_type="approval",
                object_id=approval.pk,
            )
    return len(overdue)


# --- reads ---------------------------------------------------------------------------------


def approval_inbox(*, tenant: Tenant, role: str) -> QuerySet[ApprovalRequest]:
    """Pending, unexpired requests that ``role`` may decide, oldest first."""
    return (
        tenant_scoped(ApprovalRequest, tenant=tenant)
        .filter(
            status=ApprovalRequest.Status.PENDING,
            approver_role=role,
            expires_at__gt=timezone.now(),
        )
        .select_related("maker")
        .order_by("created_at", "pk")
    )


def approval_list(
    *, tenant: Tenant, status: str | None = None, maker: Any = None
) -> QuerySet[ApprovalRequest]:
    queryset = tenant_scoped(ApprovalRequest, tenant=tenant).select_related("maker", "decided_by")
    if status:
        queryset = queryset.filter(status=status)
    if maker is not None:
        queryset = queryset.filter(maker=maker)
    return queryset.order_by("-created_at", "-pk")
