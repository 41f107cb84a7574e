"""Withdrawals: a client asks to be paid out; operations pay or refuse; the client may cancel.

The amount is held at once (client_cash → custodian_bank, entry type ``withdrawal``), so the
client cannot spend it twice while it waits. Approval posts the hold; rejection and
cancellation void it. Each step is one transaction with its audit event, and the client's
notification is recorded in it and sent after commit.

Four eyes: a withdrawal above the tenant's ``withdrawal_four_eyes_above`` needs a second
operations person. The first approval opens a ``ledger.withdrawal_release`` request in the
platform's approvals; only someone else of the operations role can approve it, and then the
hold is posted. The threshold is in the tenant's base currency, but a withdrawal in another
currency is compared with it as is, without conversion: the ledger has no exchange rates, and
a rule that moved with a price feed could not be audited. A tenant paying out in several
currencies sets the figure for the currency where it matters most.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from ledger.hooks import withdrawal_gates
from ledger.models import Hold, LedgerAccount, WithdrawalRequest
from ledger.rules import quantum
from ledger.services import amount_parse, hold_post, hold_reserve, hold_void, invalid
from platform_core.audit.approvals import (
    approval_request_approve,
    approval_request_create,
    approval_request_reject,
    approval_request_withdraw,
    same_person,
)
from platform_core.audit.chain import canonical_json
from platform_core.audit.models import ApprovalRequest
from platform_core.audit.notifications import NotificationKind, notification_send
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import CURRENCY_MINOR_UNITS, Membership, Tenant
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped

RELEASE_ACTION = "ledger.withdrawal_release"
Status = WithdrawalRequest.Status

# Registered in LedgerConfig.ready(); the templates are templates/notifications/<key>/.
WITHDRAWAL_CONTEXT = frozenset({"withdrawal_id", "amount", "currency", "destination", "reason"})
NOTIFICATION_KINDS = (
    NotificationKind(
        "withdrawal.requested", "The client's withdrawal was received and held.", WITHDRAWAL_CONTEXT
    ),
    NotificationKind(
        "withdrawal.paid", "The client's withdrawal was paid out.", WITHDRAWAL_CONTEXT
    ),
    NotificationKind(
        "withdrawal.rejected", "Operations refused the client's withdrawal.", WITHDRAWAL_CONTEXT
    ),
    NotificationKind(
        "withdrawal.cancelled", "The client cancelled their withdrawal.", WITHDRAWAL_CONTEXT
    ),
)

_DESTINATION = re.compile(r"[A-Za-z0-9*]{4,34}")


def destination_mask(value: str) -> str:
    """The client's bank account as people may see it: ``****`` and its last four characters.

    Accepts an account number or IBAN (spaces and hyphens ignored) or an already masked one.
    """
    compact = re.sub(r"[\s-]", "", value or "")
    if not _DESTINATION.fullmatch(compact) or not compact[-4:].isalnum():
        raise invalid(
            {"destination": ["Give the bank account to pay to (4 to 34 letters and digits)."]}
        )
    return f"****{compact[-4:].upper()}"


def _request_hash(*, requester: int, currency: str, amount: Any, destination: str) -> str:
    document = {
        "requester": requester,
        "currency": currency,
        "amount": format(amount.normalize(), "f"),
        "destination": destination,
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def _key_lock(*, tenant: Tenant, key: str) -> None:
    """Two submissions with one key queue here; the second finds the first's withdrawal."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"withdrawal:{tenant.pk}:{key}"],
        )


def _money(value: Any, currency: str) -> str:
    return format(value.quantize(quantum(currency)), "f")


def _notify(*, tenant: Tenant, withdrawal: WithdrawalRequest, event: str) -> None:
    owner_id = withdrawal.account.owner_id
    assert owner_id is not None  # a client_cash account always has its owner
    owner = Membership.objects.select_related("user").get(tenant=tenant, pk=owner_id)
    notification_send(
        tenant=tenant,
        recipient=owner,
        kind=f"withdrawal.{event}",
        context={
            "withdrawal_id": withdrawal.pk,
            "amount": _money(withdrawal.amount, withdrawal.currency),
            "currency": withdrawal.currency,
            "destination": withdrawal.destination,
            "reason": withdrawal.reason,
        },
        key=f"withdrawal:{withdrawal.pk}:{event}",
    )


def _audit(
    *,
    tenant: Tenant,
    actor: Any,
    withdrawal: WithdrawalRequest,
    action: str,
    request: HttpRequest | None,
    reason: str = "",
    **payload: Any,
) -> None:
    audit_record(
        tenant=tenant,
        actor=actor,
        action=f"ledger.withdrawal_{action}",
        object_type="withdrawal",
        object_id=withdrawal.pk,
        reason=reason,
        payload={
            "amount": withdrawal.amount,
            "currency": withdrawal.currency,
            "account": withdrawal.account_id,
            "hold": withdrawal.hold_id,
            **payload,
        },
        request=request,
    )


def _require(membership: Membership, role: str, message: str) -> None:
    if membership.role != role:
        raise ApplicationError(403, "permission_denied", message)


# --- the client asks -----------------------------------------------------------------------


def _gates_check(*, tenant: Tenant, membership: Membership, currency: str, amount: Any) -> None:
    """The registered withdrawal gates, in key order; the first refusal refuses the request."""
    for gate in sorted(withdrawal_gates, key=lambda g: g.key):
        refusal = gate.check(tenant=tenant, membership=membership, currency=currency, amount=amount)
        if refusal:
            raise ApplicationError(422, "withdrawal_held", refusal)


def withdrawal_request(
    *,
    tenant: Tenant,
    membership: Membership,
    actor: Any,
    currency: str,
    amount: Any,
    destination: str,
    idempotency_key: str,
    request: HttpRequest | None = None,
) -> WithdrawalRequest:
    """Hold ``amount`` of the client's money in ``currency`` for payment to their bank.

    Idempotent by key (scoped to the tenant): the same key and request return the first
    withdrawal, the same key with another request is a 409. A withdrawal the client cannot
    fund (holds counted) is a 422 and writes nothing.
    """
    _require(membership, Role.CLIENT, "Only a client may withdraw their money.")
    if currency not in CURRENCY_MINOR_UNITS:
        raise invalid({"currency": [f"{currency!r} is not a supported currency."]})
    amount = amount_parse(amount, currency=currency)
    masked = destination_mask(destination)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 255:
        raise invalid({"idempotency_key": ["A key of 1 to 255 characters is required."]})
    digest = _request_hash(
        requester=membership.pk, currency=currency, amount=amount, destination=masked
    )
    with transaction.atomic():
        _key_lock(tenant=tenant, key=key)
        existing = WithdrawalRequest.objects.filter(tenant=tenant, idempotency_key=key).first()
        if existing is not None:
            if existing.request_hash != digest:
                raise ApplicationError(
                    409,
                    "idempotency_conflict",
                    "This key was already used for a different withdrawal.",
                    {"idempotency_key": ["used before with other content"]},
                )
            return existing
        _gates_check(tenant=tenant, membership=membership, currency=currency, amount=amount)
        account = (
            tenant_scoped(LedgerAccount, tenant=tenant)
            .filter(kind="client_cash", owner=membership, currency=currency)
            .first()
        )
        if account is None:
            raise invalid({"currency": [f"You have no account in {currency}."]})
        bank = (
            tenant_scoped(LedgerAccount, tenant=tenant)
            .filter(kind="custodian_bank", currency=currency)
            .first()
        )
        if bank is None:
            raise ApplicationError(
                409,
                "account_missing",
                f"Withdrawals in {currency} are not possible: there is no custodian bank "
                f"account in {currency}.",
            )
        hold = hold_reserve(
            tenant=tenant,
            debit_account=account.pk,
            credit_account=bank.pk,
            amount=amount,
            currency=currency,
            entry_type="withdrawal",
            memo=f"withdrawal to {masked}",
        )
        withdrawal = WithdrawalRequest.objects.create(
            tenant=tenant,
            account=account,
            amount=amount,
            currency=currency,
            destination=masked,
            hold=hold,
            requested_by=actor,
            idempotency_key=key,
            request_hash=digest,
        )
        _audit(
            tenant=tenant,
            actor=actor,
            withdrawal=withdrawal,
            action="requested",
            request=request,
            destination=masked,
        )
        _notify(tenant=tenant, withdrawal=withdrawal, event="requested")
    return withdrawal


# --- operations decide ---------------------------------------------------------------------


def _pending_for_decision(*, tenant: Tenant, withdrawal_id: Any) -> WithdrawalRequest:
    withdrawal = access_object_by_id(WithdrawalRequest, tenant=tenant, object_id=withdrawal_id)
    withdrawal = (
        WithdrawalRequest.objects.select_for_update(of=("self",))
        .select_related("account", "approval")
        .get(pk=withdrawal.pk)
    )
    if not withdrawal.is_pending:
        raise ApplicationError(
            409,
            "withdrawal_already_decided",
            f"This withdrawal is already {withdrawal.status}.",
        )
    return withdrawal


def _open_approval(withdrawal: WithdrawalRequest) -> ApprovalRequest | None:
    """The four-eyes request that still waits for a second person, if any (one past its
    deadline waits no more, even before the expiry task marks it)."""
    approval = withdrawal.approval
    if (
        approval is None
        or approval.status != ApprovalRequest.Status.PENDING
        or approval.expires_at <= timezone.now()
    ):
        return None
    return approval


def _withdrawal_pay(
    *,
    tenant: Tenant,
    withdrawal: WithdrawalRequest,
    approver: Any,
    request: HttpRequest | None,
) -> WithdrawalRequest:
    hold = hold_post(tenant=tenant, hold_id=withdrawal.hold_id, actor=approver)
    withdrawal.status = Status.PAID
    withdrawal.decided_by = approver
    withdrawal.decided_at = timezone.now()
    withdrawal.save(update_fields=["status", "decided_by", "decided_at"])
    _audit(
        tenant=tenant,
        actor=approver,
        withdrawal=withdrawal,
        action="paid",
        request=request,
        entry=hold.entry_id,
        first_approved_by=withdrawal.first_approved_by_id,
    )
    _notify(tenant=tenant, withdrawal=withdrawal, event="paid")
    return withdrawal


def withdrawal_approve(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    withdrawal_id: Any,
    note: str = "",
    request: HttpRequest | None = None,
) -> WithdrawalRequest:
    """An operations person approves: paid at once up to the tenant's threshold; above it, a
    four-eyes request for a second operations person (who may also approve it here).
    """
    _require(membership, Role.OPERATIONS, "Only operations may approve a withdrawal.")
    with transaction.atomic():
        current = access_object_by_id(WithdrawalRequest, tenant=tenant, object_id=withdrawal_id)
        approval = _open_approval(current)
        if approval is not None:
            # The second person's approval: the platform checks they are not the first. It
            # locks the approval, then (in the release) the withdrawal: locks are always
            # taken in that order.
            approval_request_approve(
                tenant=tenant,
                actor=actor,
                membership=membership,
                approval_id=approval.pk,
                reason=note.strip() or "second approval from the withdrawal queue",
                request=request,
            )
            current.refresh_from_db()
            return current
        withdrawal = _pending_for_decision(tenant=tenant, withdrawal_id=current.pk)
        if _open_approval(withdrawal) is not None:
            raise ApplicationError(
                409, "withdrawal_changed", "Someone approved this withdrawal meanwhile."
            )
        if withdrawal.amount <= tenant.withdrawal_four_eyes_above:
            return _withdrawal_pay(
                tenant=tenant, withdrawal=withdrawal, approver=actor, request=request
            )
        # Marked first, so the action's validation knows the request comes from here.
        withdrawal.status = Status.AWAITING_SECOND_APPROVAL
        withdrawal.first_approved_by = actor
        withdrawal.approval = None
        withdrawal.save(update_fields=["status", "first_approved_by", "approval"])
        threshold = _money(tenant.withdrawal_four_eyes_above, withdrawal.currency)
        approval = approval_request_create(
            tenant=tenant,
            actor=actor,
            membership=membership,
            action=RELEASE_ACTION,
            params={"withdrawal_id": withdrawal.pk},
            reason=(
                f"Withdrawal #{withdrawal.pk} of "
                f"{_money(withdrawal.amount, withdrawal.currency)} {withdrawal.currency} to "
                f"{withdrawal.destination} is above {threshold}. {note}"
            ).strip(),
            request=request,
        )
        withdrawal.approval = approval
        withdrawal.save(update_fields=["approval"])
        _audit(
            tenant=tenant,
            actor=actor,
            withdrawal=withdrawal,
            action="referred",
            request=request,
            approval=approval.pk,
            threshold=tenant.withdrawal_four_eyes_above,
        )
    return withdrawal


def withdrawal_release_validate(*, tenant: Tenant, params: dict[str, Any]) -> dict[str, Any]:
    """Only ``withdrawal_approve`` asks for a release (the approval must be the one it links)."""
    try:
        withdrawal_id = int(params.get("withdrawal_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError({"withdrawal_id": ["A withdrawal id is required."]}) from None
    withdrawal = tenant_scoped(WithdrawalRequest, tenant=tenant).filter(pk=withdrawal_id).first()
    if withdrawal is None:
        raise ValidationError({"withdrawal_id": ["No withdrawal with this id in this tenant."]})
    if withdrawal.status != Status.AWAITING_SECOND_APPROVAL or withdrawal.approval_id is not None:
        raise ValidationError(
            {"withdrawal_id": ["Approve the withdrawal in the withdrawal queue instead."]}
        )
    return {"withdrawal_id": withdrawal_id}


def withdrawal_release_execute(
    *, tenant: Tenant, params: dict[str, Any], maker: Any, approver: Any
) -> dict[str, Any]:
    """The second operations person approved: post the held amount."""
    withdrawal = _pending_for_decision(tenant=tenant, withdrawal_id=params["withdrawal_id"])
    if (
        withdrawal.status != Status.AWAITING_SECOND_APPROVAL
        or withdrawal.first_approved_by_id != maker.pk
    ):
        raise ApplicationError(
            409, "withdrawal_not_awaiting", "This withdrawal no longer waits for this approval."
        )
    if same_person(approver, withdrawal.requested_by):
        raise ApplicationError(
            403, "requester_cannot_approve", "Nobody approves their own withdrawal."
        )
    withdrawal = _withdrawal_pay(
        tenant=tenant, withdrawal=withdrawal, approver=approver, request=None
    )
    return {
        "withdrawal_id": withdrawal.pk,
        "entry_id": Hold.objects.get(pk=withdrawal.hold_id).entry_id,
        "amount": _money(withdrawal.amount, withdrawal.currency),
        "currency": withdrawal.currency,
    }


def withdrawal_reject(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    withdrawal_id: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> WithdrawalRequest:
    """Operations refuse the withdrawal: the hold is released and the client told why.

    A four-eyes request still open for it is closed too: withdrawn by the person who opened
    it, rejected by anyone else of operations.
    """
    _require(membership, Role.OPERATIONS, "Only operations may reject a withdrawal.")
    reason = (reason or "").strip()
    if not reason:
        raise invalid({"reason": ["Say why the withdrawal is rejected."]})
    with transaction.atomic():
        current = access_object_by_id(WithdrawalRequest, tenant=tenant, object_id=withdrawal_id)
        approval = _open_approval(current)
        if approval is not None:  # the approval first: the lock order of the release
            common = {"tenant": tenant, "actor": actor, "approval_id": approval.pk}
            if approval.maker_id == actor.pk:
                approval_request_withdraw(**common, reason=reason, request=request)
            else:
                approval_request_reject(
                    **common, membership=membership, reason=reason, request=request
                )
        withdrawal = _pending_for_decision(tenant=tenant, withdrawal_id=current.pk)
        return _withdrawal_release(
            tenant=tenant,
            withdrawal=withdrawal,
            actor=actor,
            status=Status.REJECTED,
            reason=reason,
            request=request,
        )


def _withdrawal_release(
    *,
    tenant: Tenant,
    withdrawal: WithdrawalRequest,
    actor: Any,
    status: str,
    reason: str,
    request: HttpRequest | None,
) -> WithdrawalRequest:
    hold_void(tenant=tenant, hold_id=withdrawal.hold_id)
    withdrawal.status = status
    withdrawal.decided_by = actor
    withdrawal.decided_at = timezone.now()
    withdrawal.reason = reason
    withdrawal.save(update_fields=["status", "decided_by", "decided_at", "reason"])
    _audit(
        tenant=tenant,
        actor=actor,
        withdrawal=withdrawal,
        action=status,
        request=request,
        reason=reason,
    )
    _notify(tenant=tenant, withdrawal=withdrawal, event=status)
    return withdrawal


# --- the client changes their mind ---------------------------------------------------------


def withdrawal_cancel(
    *,
    tenant: Tenant,
    membership: Membership,
    actor: Any,
    withdrawal_id: Any,
    reason: str = "",
    request: HttpRequest | None = None,
) -> WithdrawalRequest:
    """The client takes back a pending withdrawal: the hold is released.

    A four-eyes request still open for it stays with its approvers, and approving it is then
    refused (the withdrawal no longer waits for it).
    """
    _require(membership, Role.CLIENT, "Only the client may cancel their withdrawal.")
    access_withdrawal_by_id(tenant=tenant, membership=membership, withdrawal_id=withdrawal_id)
    with transaction.atomic():
        withdrawal = _pending_for_decision(tenant=tenant, withdrawal_id=withdrawal_id)
        return _withdrawal_release(
            tenant=tenant,
            withdrawal=withdrawal,
            actor=actor,
            status=Status.CANCELLED,
            reason=(reason or "").strip() or "cancelled by the client",
            request=request,
        )


# --- reads ---------------------------------------------------------------------------------


def access_withdrawal_by_id(
    *, tenant: Tenant, membership: Membership, withdrawal_id: Any
) -> WithdrawalRequest:
    """Staff reach any withdrawal of the tenant; a client only their own (others are a 404)."""
    withdrawal = access_object_by_id(WithdrawalRequest, tenant=tenant, object_id=withdrawal_id)
    if membership.role == Role.CLIENT and withdrawal.account.owner_id != membership.pk:
        raise Http404(f"No {WithdrawalRequest._meta.verbose_name} with this id.")
    return withdrawal


def withdrawal_list(
    *, tenant: Tenant, owner: Membership | None = None, status: str | None = None
) -> QuerySet[WithdrawalRequest]:
    """Newest first; ``owner``: one client's only."""
    queryset = tenant_scoped(WithdrawalRequest, tenant=tenant).select_related("account", "approval")
    if owner is not None:
        queryset = queryset.filter(account__owner=owner)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-pk")


def withdrawal_queue(*, tenant: Tenant) -> QuerySet[WithdrawalRequest]:
    """What operations still have to decide, oldest first."""
    return (
        tenant_scoped(WithdrawalRequest, tenant=tenant)
        .filter(status__in=WithdrawalRequest.PENDING)
        .select_related("account__owner__user", "approval__maker", "first_approved_by")
        .order_by("created_at", "pk")
    )
