"""/api/v1/approvals: the four-eyes inbox and decisions, for staff of the tenant."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent_write
from platform_core.api.pagination import PlatformPagination
from platform_core.api.views import TenantApiView
from platform_core.audit.approvals import (
    approval_inbox,
    approval_list,
    approval_request_approve,
    approval_request_create,
    approval_request_reject,
    approval_request_withdraw,
)
from platform_core.audit.models import ApprovalRequest
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.roles import STAFF_ROLES


class ApprovalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    params = serializers.JSONField()
    reason = serializers.CharField()
    maker = serializers.EmailField(source="maker.email")
    approver_role = serializers.CharField()
    status = serializers.ChoiceField(choices=ApprovalRequest.Status.choices)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    decided_by = serializers.EmailField(source="decided_by.email", allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()
    result = serializers.JSONField(allow_null=True)

    class Meta:
        ref_name = "Approval"


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)

    class Meta:
        ref_name = "ApprovalDecisionInput"


def _body(approval: ApprovalRequest) -> dict[str, Any]:
    return dict(ApprovalSerializer(approval).data)


class ApprovalListCreateApi(TenantApiView):
    allowed_roles = frozenset(STAFF_ROLES)
    pagination_class = PlatformPagination

    class InputSerializer(serializers.Serializer):
        action = serializers.CharField(max_length=100)
        params = serializers.DictField(required=False, default=dict)
        reason = serializers.CharField(max_length=2000)

        class Meta:
            ref_name = "ApprovalRequestInput"

    @extend_schema(
        responses=ApprovalSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "box",
                str,
                enum=["inbox", "mine", "all"],
                description="inbox: pending requests your role decides (default); "
                "mine: requests you made; all: every request of the tenant.",
            ),
            OpenApiParameter("status", str, enum=ApprovalRequest.Status.values),
        ],
    )
    def get(self, request: Request) -> Response:
        box = request.query_params.get("box", "inbox")
        state = request.query_params.get("status") or None
        if box not in {"inbox", "mine", "all"}:
            raise serializers.ValidationError({"box": ["Use inbox, mine or all."]})
        if state and state not in ApprovalRequest.Status.values:
            raise serializers.ValidationError({"status": [f"{state!r} is not a status."]})
        if box == "inbox":
            queryset = approval_inbox(tenant=request.tenant, role=request.membership.role)
        else:
            maker = request.user if box == "mine" else None
            queryset = approval_list(tenant=request.tenant, status=state, maker=maker)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ApprovalSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: ApprovalSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def write() -> tuple[int, dict[str, Any]]:
            approval = approval_request_create(
                tenant=request.tenant,
                actor=request.user,
                membership=request.membership,
                request=request._request,
                **data.validated_data,
            )
            return status.HTTP_201_CREATED, _body(approval)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="approval.create",
            request_fields=data.validated_data,
            write=write,
        )


class ApprovalDetailApi(TenantApiView):
    allowed_roles = frozenset(STAFF_ROLES)

    @extend_schema(responses=ApprovalSerializer)
    def get(self, request: Request, approval_id: int) -> Response:
        approval = access_object_by_id(
            ApprovalRequest, tenant=request.tenant, object_id=approval_id
        )
        return Response(_body(approval))


def _decision_api(verb: str, service: Any) -> type[TenantApiView]:
    class ApprovalDecisionApi(TenantApiView):
        allowed_roles = frozenset(STAFF_ROLES)

        @extend_schema(
            request=ReasonSerializer,
            responses={200: ApprovalSerializer},
            parameters=[IDEMPOTENCY_PARAMETER],
            operation_id=f"approvals_{verb}",
        )
        def post(self, request: Request, approval_id: int) -> Response:
            # Another tenant's request is a 404 whatever the body says.
            access_object_by_id(ApprovalRequest, tenant=request.tenant, object_id=approval_id)
            data = ReasonSerializer(data=request.data)
            data.is_valid(raise_exception=True)

            def write() -> tuple[int, dict[str, Any]]:
                kwargs: dict[str, Any] = {
                    "tenant": request.tenant,
                    "actor": request.user,
                    "approval_id": approval_id,
                    "reason": data.validated_data["reason"],
                    "request": request._request,
                }
                if verb != "withdraw":
                    kwargs["membership"] = request.membership
                return status.HTTP_200_OK, _body(service(**kwargs))

            return idempotent_write(
                request=request,
                tenant=request.tenant,
                operation=f"approval.{verb}",
                request_fields={"approval": approval_id, **data.validated_data},
                write=write,
            )

    ApprovalDecisionApi.__name__ = f"Approval{verb.title()}Api"
    ApprovalDecisionApi.__qualname__ = ApprovalDecisionApi.__name__
    return ApprovalDecisionApi


ApprovalApproveApi = _decision_api("approve", approval_request_approve)
ApprovalRejectApi = _decision_api("reject", approval_request_reject)
ApprovalWithdrawApi = _decision_api("withdraw", approval_request_withdraw)
