"""/api/v1/margin/: the client's margin calls with their hints; the risk staff's deleveraging
and liquidation proposals, and the four-eyes request to execute one by hand.

Views parse, authorise and call ``risk.operations`` selectors and services; every object is
looked up in the caller's tenant first (another tenant's id is the same 404 as a missing one)
and a client reaches only their own calls. The second risk officer approves an execution
request through the approvals API (``POST /api/v1/approvals/{id}/approve``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent_write
from platform_core.api.pagination import PlatformPagination, paginated_response
from platform_core.api.views import TenantApiView
from platform_core.tenancy.roles import Role
from risk.operations import selectors
from risk.operations.models import MarginCall, Proposal
from risk.operations.services import proposal_execution_request

STAFF = frozenset({Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER})  # as the console pages
CALL_READERS = STAFF | {Role.CLIENT}
RATIO = {"max_digits": 16, "decimal_places": 4, "coerce_to_string": True}
MONEY = {"max_digits": 28, "decimal_places": 4, "coerce_to_string": True}


def _status_filter(request: Request, queryset: QuerySet, values: list[str]) -> QuerySet:
    wanted = request.query_params.get("status") or None
    if wanted is None:
        return queryset
    if wanted not in values:
        raise serializers.ValidationError({"status": [f"{wanted!r} is not a status."]})
    return queryset.filter(status=wanted)


class MarginCallSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    status = serializers.CharField()
    stage = serializers.CharField()
    currency = serializers.CharField()
    issued_at = serializers.DateTimeField(help_text="when the call was priced")
    deadline_date = serializers.DateField()
    deadline_at = serializers.DateTimeField()
    ratio = serializers.DecimalField(**RATIO, allow_null=True)
    target_ratio = serializers.DecimalField(**RATIO)
    deposit_needed = serializers.DecimalField(**MONEY, help_text="at the call's prices")
    policy = serializers.SerializerMethodField()
    hints = serializers.JSONField(
        help_text="deposit, groups to close and hedges with the ratio each leaves, priced at "
        "hints_priced_at (prices may have moved since the call was issued)"
    )
    hints_priced_at = serializers.SerializerMethodField()
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_reason = serializers.CharField()

    class Meta:
        ref_name = "MarginCall"

    def get_policy(self, call: MarginCall) -> str:
        return f"{call.policy_name} v{call.policy_version}"

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_hints_priced_at(self, call: MarginCall) -> Any:
        priced = parse_datetime(str(call.hints.get("computed_at") or ""))
        return priced.isoformat() if priced else None


class MarginCallListApi(TenantApiView):
    """A client's own margin calls; the risk and compliance staff's view of the tenant's."""

    allowed_roles = CALL_READERS
    pagination_class = PlatformPagination  # the schema shows the paged envelope

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=MarginCall.CallStatus.values)],
        responses=MarginCallSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        calls = selectors.call_list(tenant=request.tenant, membership=request.membership)
        calls = _status_filter(request, calls, MarginCall.CallStatus.values)
        return paginated_response(request, self, calls, MarginCallSerializer)


class MarginCallDetailApi(TenantApiView):
    allowed_roles = CALL_READERS

    @extend_schema(responses=MarginCallSerializer)
    def get(self, request: Request, call_id: int) -> Response:
        call = selectors.access_call_by_id(
            tenant=request.tenant, call_id=call_id, membership=request.membership
        )
        return Response(MarginCallSerializer(call).data)


class ProposalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    call = serializers.IntegerField(source="call_id", allow_null=True)
    kind = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    ratio_before = serializers.DecimalField(**RATIO, allow_null=True)
    ratio_after = serializers.DecimalField(**RATIO, allow_null=True)
    target_ratio = serializers.DecimalField(**RATIO)
    equity_before = serializers.DecimalField(**MONEY)
    maintenance_before = serializers.DecimalField(**MONEY)
    steps = serializers.JSONField(help_text="whole strategy groups, riskiest first")
    prices = serializers.JSONField(help_text="the marks the plan was made on")
    policy_version = serializers.CharField()
    paused_by_switch = serializers.BooleanField()
    approval = serializers.IntegerField(
        source="approval_id", allow_null=True, help_text="the latest execution request"
    )
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField(source="decided_by_label")
    fills = serializers.JSONField()
    proceeds = serializers.DecimalField(**MONEY)
    shortfall = serializers.DecimalField(**MONEY)

    class Meta:
        ref_name = "MarginProposal"


class ProposalListApi(TenantApiView):
    """The tenant's deleveraging and liquidation proposals, newest first."""

    allowed_roles = STAFF
    pagination_class = PlatformPagination  # the schema shows the paged envelope

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=Proposal.ProposalStatus.values)],
        responses=ProposalSerializer(many=True),
        description="status=queued lists what the crash switch holds for a person.",
    )
    def get(self, request: Request) -> Response:
        proposals = selectors.proposal_list(tenant=request.tenant)
        proposals = _status_filter(request, proposals, Proposal.ProposalStatus.values)
        return paginated_response(request, self, proposals, ProposalSerializer)


class ProposalDetailApi(TenantApiView):
    allowed_roles = STAFF

    @extend_schema(responses=ProposalSerializer)
    def get(self, request: Request, proposal_id: int) -> Response:
        proposal = selectors.access_proposal_by_id(tenant=request.tenant, proposal_id=proposal_id)
        return Response(ProposalSerializer(proposal).data)


class ExecutionRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)

    class Meta:
        ref_name = "MarginExecutionRequest"


class ExecutionRequestedSerializer(serializers.Serializer):
    approval_id = serializers.IntegerField(source="pk")
    expires_at = serializers.DateTimeField()

    class Meta:
        ref_name = "MarginExecutionRequested"


class ProposalExecutionRequestApi(TenantApiView):
    """A risk officer asks to execute an open proposal by hand (four eyes)."""

    allowed_roles = frozenset({Role.RISK_OFFICER})

    @extend_schema(
        request=ExecutionRequestSerializer,
        responses={201: ExecutionRequestedSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Returns the approval request; another risk officer (another person) "
        "approves it with POST /api/v1/approvals/{approval_id}/approve within an hour, and the "
        "proposal executes inside that approval at the prices then. 409 proposal_decided when "
        "it is no longer open, 409 approval_pending when a request already waits.",
    )
    def post(self, request: Request, proposal_id: int) -> Response:
        proposal = selectors.access_proposal_by_id(tenant=request.tenant, proposal_id=proposal_id)
        data = ExecutionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data["reason"]

        def write() -> tuple[int, dict[str, Any]]:
            approval = proposal_execution_request(
                tenant=request.tenant,
                actor=request.user,
                membership=request.membership,
                proposal_id=proposal.pk,
                reason=reason,
                request=request._request,
            )
            return status.HTTP_201_CREATED, dict(ExecutionRequestedSerializer(approval).data)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="risk_operations.execution_request",
            request_fields={"proposal": proposal.pk, "reason": reason},
            write=write,
        )
