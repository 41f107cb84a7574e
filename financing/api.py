"""/api/v1/financing/: the client's credit lines, contracts, documents and repayments; the
credit staff's lines, grants (four eyes above the tenant's limit) and reviews.

Views parse, authorise and call ``financing.services``; every object is looked up in the
caller's tenant first (another tenant's id is the same 404 as a missing one), and a client
reaches only their own. Writes take an Idempotency-Key.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from financing import selectors, services
from financing.disclosures import REQUIRED_KINDS, access_signature_by_id, signature_current
from financing.models import CreditLine, FinancingContract, Tenor
from financing.policy import policy_terms_active
from ledger.rules import quantum
from platform_core.api.idempotency import (
    IDEMPOTENCY_PARAMETER,
    idempotency_key_of,
    idempotent_write,
)
from platform_core.api.pagination import PlatformPagination, paginated_response
from platform_core.api.views import TenantApiView
from platform_core.audit.models import ApprovalRequest
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership
from platform_core.tenancy.roles import Role

CREDIT_STAFF = frozenset({Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER})  # as the console page
STAFF_READERS = CREDIT_STAFF | {Role.OPERATIONS, Role.TENANT_ADMIN}
READERS = STAFF_READERS | {Role.CLIENT}
MONEY = {"max_digits": 20, "decimal_places": 2}
RATE = {"max_digits": 10, "decimal_places": 6}


def _own(request: Request) -> Membership | None:
    """The client's own membership (their objects only), or None for staff (the tenant's)."""
    return request.membership if request.membership.role == Role.CLIENT else None


# --- credit lines ----------------------------------------------------------------------------


class CreditLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    membership = serializers.IntegerField(source="membership_id")
    currency = serializers.CharField()
    limit = serializers.DecimalField(**MONEY)
    available = serializers.SerializerMethodField(help_text="limit less what is owed, if active")
    leverage_cap = serializers.DecimalField(max_digits=8, decimal_places=4)
    allowed_products = serializers.ListField(child=serializers.CharField())
    allowed_tenors = serializers.ListField(child=serializers.CharField())
    investor_class = serializers.CharField()
    risk_rating = serializers.CharField()
    rate_card_version = serializers.IntegerField(source="rate_card.version")
    status = serializers.CharField(help_text=", ".join(CreditLine.Status.values))
    review_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "FinancingCreditLine"

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_available(self, line: CreditLine) -> str:
        if line.status != CreditLine.Status.ACTIVE:
            return "0.00"
        available = services.credit_available(
            tenant=line.tenant, membership=line.membership, currency=line.currency
        )
        return format(available.quantize(quantum(line.currency)), "f")


class CreditLineGrantSerializer(serializers.Serializer):
    membership = serializers.IntegerField(help_text="the client's membership id")
    currency = serializers.CharField(max_length=3)
    limit = serializers.CharField(max_length=30)
    leverage_cap = serializers.CharField(max_length=20, help_text="gross value over equity")
    allowed_products = serializers.ListField(
        child=serializers.ChoiceField(choices=services.PRODUCTS)
    )
    allowed_tenors = serializers.ListField(child=serializers.ChoiceField(choices=Tenor.values))
    reason = serializers.CharField(max_length=1000, required=False, default="", allow_blank=True)

    class Meta:
        ref_name = "FinancingCreditLineGrant"


class CreditLineGrantedSerializer(CreditLineSerializer):
    approval_id = serializers.SerializerMethodField(
        help_text="the four-eyes request when the limit is above the tenant's; else null"
    )

    class Meta:
        ref_name = "FinancingCreditLineGranted"

    @extend_schema_field(OpenApiTypes.INT)
    def get_approval_id(self, line: CreditLine) -> int | None:
        return (
            ApprovalRequest.objects.filter(
                tenant=line.tenant,
                action=services.CREDIT_LINE_ACTIVATE,
                params__credit_line_id=line.pk,
            )
            .values_list("pk", flat=True)
            .first()
        )


class CreditLineListApi(TenantApiView):
    """A client's own lines; the credit staff's view of every line of the tenant."""

    allowed_roles = READERS
    pagination_class = PlatformPagination  # the schema shows the paged envelope

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=CreditLine.Status.values),
            OpenApiParameter("membership", int, description="staff: one client's lines"),
        ],
        responses=CreditLineSerializer(many=True),
        description="status=review lists the lines flagged for review (the client's risk "
        "rating changed): no new credit until a risk officer marks them reviewed.",
    )
    def get(self, request: Request) -> Response:
        lines = selectors.credit_line_list(tenant=request.tenant, membership=_own(request))
        state = request.query_params.get("status") or None
        if state is not None:
            if state not in CreditLine.Status.values:
                raise serializers.ValidationError({"status": [f"{state!r} is not a status."]})
            lines = lines.filter(status=state)
        client = request.query_params.get("membership") or None
        if client is not None:
            if not client.isdigit():
                raise serializers.ValidationError({"membership": ["A membership id."]})
            lines = lines.filter(membership_id=int(client))
        return paginated_response(
            request, self, lines.select_related("rate_card").order_by("-pk"), CreditLineSerializer
        )

    @extend_schema(
        request=CreditLineGrantSerializer,
        responses={201: CreditLineGrantedSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="A risk or compliance officer grants a line from the client's KYC profile. "
        "Above the rate card's four-eyes limit it is pending_approval (a reason is required) "
        "until a second risk officer approves approval_id through the approvals API.",
    )
    def post(self, request: Request) -> Response:
        if request.membership.role not in CREDIT_STAFF:
            raise ApplicationError(
                403, "permission_denied", "Only a risk or compliance officer may grant credit."
            )
        data = CreditLineGrantSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)

        def write() -> tuple[int, dict[str, Any]]:
            line = services.credit_line_grant(
                tenant=request.tenant,
                actor=request.user,
                actor_membership=request.membership,
                client_membership_id=fields["membership"],
                currency=fields["currency"].upper(),
                limit=fields["limit"],
                leverage_cap=fields["leverage_cap"],
                allowed_products=fields["allowed_products"],
                allowed_tenors=fields["allowed_tenors"],
                reason=fields["reason"],
                request=request._request,
            )
            return status.HTTP_201_CREATED, dict(CreditLineGrantedSerializer(line).data)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="financing.credit_line_grant",
            request_fields={**fields, "requester": request.membership.pk},
            write=write,
        )


def _line_of(request: Request, line_id: int) -> CreditLine:
    line = access_object_by_id(CreditLine, tenant=request.tenant, object_id=line_id)
    own = _own(request)
    if own is not None and line.membership_id != own.pk:
        return access_object_by_id(CreditLine, tenant=request.tenant, object_id=-1)
    return line


class CreditLineDetailApi(TenantApiView):
    allowed_roles = READERS

    @extend_schema(responses=CreditLineSerializer)
    def get(self, request: Request, line_id: int) -> Response:
        return Response(CreditLineSerializer(_line_of(request, line_id)).data)


class ReviewedInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)

    class Meta:
        ref_name = "FinancingCreditLineReviewedInput"


class CreditLineReviewedApi(TenantApiView):
    """A risk officer looked at a flagged line against the client's new rating."""

    allowed_roles = frozenset({Role.RISK_OFFICER})

    @extend_schema(
        request=ReviewedInputSerializer,
        responses={200: CreditLineSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="The line under review is active again; 409 credit_line_not_in_review "
        "when it is not under review.",
    )
    def post(self, request: Request, line_id: int) -> Response:
        line = _line_of(request, line_id)
        data = ReviewedInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data["reason"]

        def write() -> tuple[int, dict[str, Any]]:
            reviewed = services.credit_line_reviewed(
                tenant=request.tenant,
                actor=request.user,
                credit_line_id=line.pk,
                reason=reason,
                request=request._request,
            )
            return status.HTTP_200_OK, dict(CreditLineSerializer(reviewed).data)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="financing.credit_line_reviewed",
            request_fields={"line": line.pk, "reason": reason},
            write=write,
        )


# --- contracts -------------------------------------------------------------------------------


class ContractSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    membership = serializers.IntegerField(source="membership_id")
    credit_line = serializers.IntegerField(source="credit_line_id")
    tenor = serializers.CharField(help_text=", ".join(Tenor.values))
    currency = serializers.CharField()
    principal = serializers.DecimalField(**MONEY)
    outstanding = serializers.DecimalField(**MONEY, help_text="principal still owed")
    interest_owed = serializers.DecimalField(**MONEY, help_text="interest charged, not paid")
    interest_accrued = serializers.SerializerMethodField(
        help_text="interest accrued since the last charge, not charged yet (unrounded)"
    )
    owed = serializers.SerializerMethodField(help_text="outstanding + interest_owed")
    base_rate = serializers.DecimalField(**RATE)
    tenor_premium = serializers.DecimalField(**RATE)
    counterparty_premium = serializers.DecimalField(**RATE)
    hedge_cost = serializers.DecimalField(**RATE)
    rate = serializers.DecimalField(**RATE, help_text="the sum of the four components, annual")
    day_count = serializers.CharField()
    start_date = serializers.DateField()
    maturity_date = serializers.DateField()
    charging = serializers.CharField(help_text=", ".join(FinancingContract.Charging.values))
    status = serializers.CharField(help_text=", ".join(FinancingContract.Status.values))
    rolled_from = serializers.IntegerField(source="rolled_from_id", allow_null=True)
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "FinancingContract"

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_owed(self, contract: FinancingContract) -> str:
        owed = contract.outstanding + contract.interest_owed
        return format(owed.quantize(quantum(contract.currency)), "f")

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_interest_accrued(self, contract: FinancingContract) -> str:
        charged_until = (
            contract.charges.order_by("-period_end").values_list("period_end", flat=True).first()
        )
        accruals = contract.accruals.all()
        if charged_until:
            accruals = accruals.filter(period_end__gt=charged_until)
        return format(accruals.aggregate(total=Sum("amount"))["total"] or Decimal(0), "f")


class ContractListApi(TenantApiView):
    """A client's own contracts; staff's view of the tenant's."""

    allowed_roles = READERS
    pagination_class = PlatformPagination  # the schema shows the paged envelope

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=FinancingContract.Status.values)],
        responses=ContractSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        contracts = selectors.contract_list(tenant=request.tenant, membership=_own(request))
        state = request.query_params.get("status") or None
        if state is not None:
            if state not in FinancingContract.Status.values:
                raise serializers.ValidationError({"status": [f"{state!r} is not a status."]})
            contracts = contracts.filter(status=state)
        return paginated_response(request, self, contracts, ContractSerializer)


class ContractDetailApi(TenantApiView):
    allowed_roles = READERS

    @extend_schema(responses=ContractSerializer)
    def get(self, request: Request, contract_id: int) -> Response:
        contract = services.access_contract_by_id(
            tenant=request.tenant, membership=request.membership, contract_id=contract_id
        )
        return Response(ContractSerializer(contract).data)


class RepayInputSerializer(serializers.Serializer):
    amount = serializers.CharField(max_length=30, help_text="a decimal string, > 0")

    class Meta:
        ref_name = "FinancingRepayInput"


class ContractRepayApi(TenantApiView):
    """The client repays from their cash: interest charged first, then principal."""

    allowed_roles = frozenset({Role.CLIENT})

    @extend_schema(
        request=RepayInputSerializer,
        responses={200: ContractSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="400 invalid when the amount is more than is owed; 409 contract_closed; "
        "422 insufficient_funds when the cash is short. Nothing is written on a refusal.",
    )
    def post(self, request: Request, contract_id: int) -> Response:
        contract = services.access_contract_by_id(
            tenant=request.tenant, membership=request.membership, contract_id=contract_id
        )
        data = RepayInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount = data.validated_data["amount"]

        def write() -> tuple[int, dict[str, Any]]:
            repaid = services.contract_repay(
                tenant=request.tenant,
                membership=request.membership,
                actor=request.user,
                contract_id=contract.pk,
                amount=amount,
                idempotency_key=idempotency_key_of(request),
                request=request._request,
            )
            return status.HTTP_200_OK, dict(ContractSerializer(repaid).data)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="financing.repay",
            request_fields={"contract": contract.pk, "amount": amount},
            write=write,
        )


# --- documents -------------------------------------------------------------------------------


class SignedDocumentSerializer(serializers.Serializer):
    kind = serializers.CharField()
    signed = serializers.BooleanField(help_text="signed under the active policy")
    signature_id = serializers.IntegerField(allow_null=True)
    signed_at = serializers.DateTimeField(allow_null=True)
    document_version = serializers.CharField(allow_null=True)
    signed_sha256 = serializers.CharField(allow_null=True, help_text="of the sealed PDF")

    class Meta:
        ref_name = "FinancingSignedDocument"


class DisclosureStatusSerializer(serializers.Serializer):
    policy_name = serializers.CharField(allow_null=True)
    policy_version = serializers.CharField(allow_null=True)
    policy_digest = serializers.CharField(allow_null=True)
    missing = serializers.ListField(
        child=serializers.CharField(), help_text="to sign before drawing credit"
    )
    documents = SignedDocumentSerializer(many=True)

    class Meta:
        ref_name = "FinancingDisclosureStatus"


class DisclosureStatusApi(TenantApiView):
    """The client's documents under the active policy: signed or still to sign (signing is
    done in the portal, with the step-up code)."""

    allowed_roles = frozenset({Role.CLIENT})

    @extend_schema(responses=DisclosureStatusSerializer)
    def get(self, request: Request) -> Response:
        policy = policy_terms_active(tenant=request.tenant)
        documents = []
        for kind in REQUIRED_KINDS:
            record = signature_current(
                tenant=request.tenant, membership=request.membership, kind=kind
            )
            documents.append(
                {
                    "kind": kind,
                    "signed": record is not None,
                    "signature_id": record.pk if record else None,
                    "signed_at": record.signed_at if record else None,
                    "document_version": record.document_version if record else None,
                    "signed_sha256": record.signed_sha256 if record else None,
                }
            )
        body = {
            "policy_name": policy.name if policy else None,
            "policy_version": str(policy.version) if policy else None,
            "policy_digest": policy.digest if policy else None,
            "missing": [d["kind"] for d in documents if not d["signed"]],
            "documents": documents,
        }
        return Response(DisclosureStatusSerializer(body).data)


class SignedPdfApi(TenantApiView):
    """The sealed PDF of a signature: the client's own; the tenant's staff read every one."""

    allowed_roles = READERS

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="the signed file; X-Content-SHA256 carries its SHA-256",
            )
        }
    )
    def get(self, request: Request, signature_id: int) -> HttpResponse:
        record = access_signature_by_id(
            tenant=request.tenant, membership=request.membership, signature_id=signature_id
        )
        response = HttpResponse(bytes(record.signed_pdf), content_type="application/pdf")
        name = f"{record.kind}-signed-{record.seq}.pdf"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Content-SHA256"] = record.signed_sha256
        return response
