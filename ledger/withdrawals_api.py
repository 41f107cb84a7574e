"""/api/v1/ledger/withdrawals: clients ask and cancel, operations approve or reject.

A client's token was issued against a verified one-time code, which is the step-up for the
API; a browser session calling the API needs a fresh step-up like the portal's form.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from ledger.models import WithdrawalRequest
from ledger.services import amount_parse
from ledger.withdrawals import (
    access_withdrawal_by_id,
    destination_mask,
    withdrawal_approve,
    withdrawal_cancel,
    withdrawal_list,
    withdrawal_reject,
    withdrawal_request,
)
from platform_core.accounts.models import ApiToken
from platform_core.accounts.services import step_up_is_fresh
from platform_core.api.idempotency import (
    IDEMPOTENCY_PARAMETER,
    idempotency_key_of,
    idempotent_write,
)
from platform_core.api.pagination import PlatformPagination
from platform_core.api.views import TenantApiView
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import CURRENCY_MINOR_UNITS
from platform_core.tenancy.roles import Role

STAFF_READERS = frozenset(
    {Role.OPERATIONS, Role.TENANT_ADMIN, Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER}
)


class WithdrawalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=WithdrawalRequest.Status.choices)
    account = serializers.IntegerField(source="account_id")
    amount = serializers.CharField(source="amount_shown")
    currency = serializers.CharField()
    destination = serializers.CharField()
    hold_id = serializers.IntegerField()
    approval_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "Withdrawal"


def withdrawal_body(withdrawal: WithdrawalRequest) -> dict[str, Any]:
    return dict(WithdrawalSerializer(withdrawal).data)


class WithdrawalInput(serializers.Serializer):
    amount = serializers.CharField(max_length=40)
    currency = serializers.ChoiceField(choices=sorted(CURRENCY_MINOR_UNITS))
    destination = serializers.CharField(
        max_length=64, help_text="The bank account to pay to; only its last 4 characters are kept."
    )

    class Meta:
        ref_name = "WithdrawalInput"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Parsed here, so a malformed request is a 400 that does not use the key up, and
        # "10.5" and "10.50" are one request.
        attrs["amount"] = amount_parse(attrs["amount"], currency=attrs["currency"])
        attrs["destination"] = destination_mask(attrs["destination"])
        return attrs


class WithdrawalNoteInput(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)

    class Meta:
        ref_name = "WithdrawalApproveInput"


class WithdrawalReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)

    class Meta:
        ref_name = "WithdrawalRejectInput"


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _require_step_up(request: Request) -> None:
    if not isinstance(request.auth, ApiToken) and not step_up_is_fresh(request._request):
        raise ApplicationError(
            403, "step_up_required", "Confirm with a fresh one-time code first (step-up)."
        )


class WithdrawalListCreateApi(TenantApiView):
    allowed_roles = STAFF_READERS | {Role.CLIENT}
    pagination_class = PlatformPagination

    @extend_schema(
        responses=WithdrawalSerializer(many=True),
        parameters=[OpenApiParameter("status", str, enum=WithdrawalRequest.Status.values)],
        description="A client's own withdrawals, or every withdrawal of the tenant for staff; "
        "newest first.",
    )
    def get(self, request: Request) -> Response:
        state = request.query_params.get("status") or None
        if state and state not in WithdrawalRequest.Status.values:
            raise serializers.ValidationError({"status": [f"{state!r} is not a status."]})
        owner = request.membership if request.membership.role == Role.CLIENT else None
        queryset = withdrawal_list(tenant=request.tenant, owner=owner, status=state)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(WithdrawalSerializer(page, many=True).data)

    @extend_schema(
        request=WithdrawalInput,
        responses={201: WithdrawalSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="A client asks to be paid out: the amount is held at once (422 "
        "insufficient_funds if it is not available).",
    )
    def post(self, request: Request) -> Response:
        if request.membership.role != Role.CLIENT:
            raise ApplicationError(
                403, "permission_denied", "Only a client may withdraw their money."
            )
        _require_step_up(request)
        fields = _validated(WithdrawalInput, request.data)
        key = idempotency_key_of(request)

        def write() -> tuple[int, dict[str, Any]]:
            withdrawal = withdrawal_request(
                tenant=request.tenant,
                membership=request.membership,
                actor=request.user,
                idempotency_key=key,
                request=request._request,
                **fields,
            )
            return status.HTTP_201_CREATED, withdrawal_body(withdrawal)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="ledger.withdrawal",
            # The requester too: two clients reusing one key must not see each other's answer.
            request_fields={**fields, "requester": request.membership.pk},
            write=write,
        )


class WithdrawalDetailApi(TenantApiView):
    allowed_roles = STAFF_READERS | {Role.CLIENT}

    @extend_schema(
        responses=WithdrawalSerializer,
        description="One withdrawal: a client reads only their own.",
    )
    def get(self, request: Request, withdrawal_id: int) -> Response:
        withdrawal = access_withdrawal_by_id(
            tenant=request.tenant, membership=request.membership, withdrawal_id=withdrawal_id
        )
        return Response(withdrawal_body(withdrawal))


class WithdrawalCancelApi(TenantApiView):
    allowed_roles = frozenset({Role.CLIENT})

    @extend_schema(
        request=None,
        responses={200: WithdrawalSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="The client takes back a pending withdrawal; the held amount is released "
        "(409 withdrawal_already_decided once it is paid, rejected or cancelled).",
    )
    def post(self, request: Request, withdrawal_id: int) -> Response:
        withdrawal = access_withdrawal_by_id(
            tenant=request.tenant, membership=request.membership, withdrawal_id=withdrawal_id
        )

        def write() -> tuple[int, dict[str, Any]]:
            cancelled = withdrawal_cancel(
                tenant=request.tenant,
                membership=request.membership,
                actor=request.user,
                withdrawal_id=withdrawal.pk,
                request=request._request,
            )
            return status.HTTP_200_OK, withdrawal_body(cancelled)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="ledger.withdrawal_cancel",
            request_fields={"withdrawal": withdrawal.pk},
            write=write,
        )


class WithdrawalApproveApi(TenantApiView):
    allowed_roles = frozenset({Role.OPERATIONS})

    @extend_schema(
        request=WithdrawalNoteInput,
        responses={200: WithdrawalSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Paid at once up to the tenant's four-eyes threshold; above it the first "
        "approval opens a four-eyes request (status awaiting_second_approval) and a second "
        "operations person's approval pays it.",
    )
    def post(self, request: Request, withdrawal_id: int) -> Response:
        withdrawal = access_withdrawal_by_id(
            tenant=request.tenant, membership=request.membership, withdrawal_id=withdrawal_id
        )
        fields = _validated(WithdrawalNoteInput, request.data or {})

        def write() -> tuple[int, dict[str, Any]]:
            decided = withdrawal_approve(
                tenant=request.tenant,
                actor=request.user,
                membership=request.membership,
                withdrawal_id=withdrawal.pk,
                note=fields["note"],
                request=request._request,
            )
            return status.HTTP_200_OK, withdrawal_body(decided)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="ledger.withdrawal_approve",
            request_fields={"withdrawal": withdrawal.pk, **fields},
            write=write,
        )


class WithdrawalRejectApi(TenantApiView):
    allowed_roles = frozenset({Role.OPERATIONS})

    @extend_schema(
        request=WithdrawalReasonInput,
        responses={200: WithdrawalSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Operations refuse a pending withdrawal with a reason the client is told; "
        "the held amount is released and an open four-eyes request for it is closed.",
    )
    def post(self, request: Request, withdrawal_id: int) -> Response:
        withdrawal = access_withdrawal_by_id(
            tenant=request.tenant, membership=request.membership, withdrawal_id=withdrawal_id
        )
        fields = _validated(WithdrawalReasonInput, request.data)

        def write() -> tuple[int, dict[str, Any]]:
            decided = withdrawal_reject(
                tenant=request.tenant,
                actor=request.user,
                membership=request.membership,
                withdrawal_id=withdrawal.pk,
                reason=fields["reason"],
                request=request._request,
            )
            return status.HTTP_200_OK, withdrawal_body(decided)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="ledger.withdrawal_reject",
            request_fields={"withdrawal": withdrawal.pk, **fields},
            write=write,
        )
