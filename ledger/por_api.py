"""/api/v1/ledger/proof-of-reserves: published roots for the tenant's members, and each
client's own inclusion proof (../shared/contracts/proof-of-reserves.md)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ledger.proof_of_reserves import (
    por_proof_for,
    por_root,
    por_root_document,
    por_snapshot_list,
)
from platform_core.api.pagination import PlatformPagination
from platform_core.api.views import TenantApiView

CURRENCY_PARAMETER = OpenApiParameter(
    "currency",
    str,
    description="ISO 4217 code of the tree; may be left out when the snapshot has only one.",
)
SNAPSHOT_PARAMETER = OpenApiParameter(
    "snapshot", str, OpenApiParameter.PATH, description="The snapshot id, e.g. 2026-11-26."
)


class ReserveRootSerializer(serializers.Serializer):
    snapshot = serializers.CharField()
    tenant = serializers.CharField(help_text="the tenant's slug")
    currency = serializers.CharField()
    taken_at = serializers.CharField(help_text="the cut-off instant, ISO 8601 in UTC")
    leaf_count = serializers.IntegerField(help_text="a power of two, padding included")
    root_hash = serializers.CharField(help_text="SHA-256, hexadecimal")
    total_liabilities = serializers.IntegerField(help_text="in the currency's minor unit")
    reserves = serializers.IntegerField(
        help_text="the custodian bank balance at the same cut-off, in the minor unit"
    )
    statement = serializers.CharField(
        help_text="whether reserves cover total_liabilities, in words"
    )

    class Meta:
        ref_name = "ProofOfReservesRoot"


class ReservePathStepSerializer(serializers.Serializer):
    hash = serializers.CharField()
    sum = serializers.IntegerField()

    class Meta:
        ref_name = "ProofOfReservesPathStep"


class ReserveProofSerializer(serializers.Serializer):
    snapshot = serializers.CharField()
    currency = serializers.CharField()
    account_ref = serializers.CharField(help_text="your ledger account id")
    salt = serializers.CharField(help_text="32 bytes, hexadecimal; yours for this snapshot only")
    balance = serializers.IntegerField(help_text="your balance in the currency's minor unit")
    index = serializers.IntegerField(help_text="bit k: your node is a right child at level k")
    path = ReservePathStepSerializer(many=True, help_text="siblings, leaf level first")
    root_hash = serializers.CharField()
    total_liabilities = serializers.IntegerField()

    class Meta:
        ref_name = "ProofOfReservesProof"


class ReserveRootListApi(TenantApiView):
    pagination_class = PlatformPagination

    @extend_schema(responses=ReserveRootSerializer(many=True), operation_id="por_roots_list")
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            por_snapshot_list(tenant=request.tenant), request, view=self
        )
        roots = [por_root_document(row, tenant=request.tenant) for row in page]
        return paginator.get_paginated_response(ReserveRootSerializer(roots, many=True).data)


class ReserveRootApi(TenantApiView):
    @extend_schema(
        responses=ReserveRootSerializer,
        parameters=[SNAPSHOT_PARAMETER, CURRENCY_PARAMETER],
        operation_id="por_root_retrieve",
    )
    def get(self, request: Request, snapshot: str) -> Response:
        root = por_root(
            tenant=request.tenant,
            snapshot=snapshot,
            currency=request.query_params.get("currency") or None,
        )
        return Response(ReserveRootSerializer(root).data)


class ReserveMyProofApi(TenantApiView):
    """Any member may ask; only a client with an account in the tree gets a proof (else 404)."""

    @extend_schema(
        responses=ReserveProofSerializer,
        parameters=[SNAPSHOT_PARAMETER, CURRENCY_PARAMETER],
        operation_id="por_my_proof_retrieve",
    )
    def get(self, request: Request, snapshot: str) -> Response:
        proof = por_proof_for(
            tenant=request.tenant,
            snapshot=snapshot,
            membership=request.membership,
            currency=request.query_params.get("currency") or None,
        )
        return Response(ReserveProofSerializer(proof).data)
