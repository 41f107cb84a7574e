"""/api/v1/audit/checkpoints: signed tree heads, inclusion and consistency proofs, for auditors.

An auditor reads a log's checkpoints while an open engagement's scope names the log's report
type (``audit_trail`` for the audit log, ``journal`` for the journal); anything else is a 404.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api.pagination import PlatformPagination
from platform_core.api.views import TenantApiView
from platform_core.audit.checkpoints import (
    CheckpointError,
    consistency_proof_for,
    head_document,
    inclusion_proof_for,
)
from platform_core.audit.engagements import engagements_open_for
from platform_core.audit.models import Checkpoint
from platform_core.hooks import checkpoint_logs
from platform_core.tenancy.roles import Role

AUDITORS = frozenset({Role.AUDITOR})


class SignedHeadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    log = serializers.CharField()
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="hex SHA-256, RFC 6962 Merkle tree hash")
    signed_at = serializers.DateTimeField()
    statement = serializers.CharField(help_text="the canonical JSON that was signed")
    algorithm = serializers.CharField(help_text="ecdsa-sha256, rsa-pkcs1v15-sha256 or ed25519")
    signature = serializers.CharField(help_text="base64 signature over statement")
    certificate = serializers.CharField(help_text="PEM: the signer's certificate and chain")

    class Meta:
        ref_name = "SignedTreeHead"


_STEP = serializers.ListField(child=serializers.CharField(), help_text="hex hashes")
InclusionProofSerializer = inline_serializer(
    "InclusionProof",
    {
        "checkpoint": serializers.IntegerField(),
        "log": serializers.CharField(),
        "tree_size": serializers.IntegerField(),
        "root_hash": serializers.CharField(),
        "leaf_index": serializers.IntegerField(),
        "leaf_data": serializers.CharField(help_text="hex; the leaf hash is SHA-256(0x00||data)"),
        "leaf_hash": serializers.CharField(),
        "record": serializers.DictField(help_text="the audit event or journal seal behind it"),
        "path": _STEP,
    },
)
_END = inline_serializer(
    "ConsistencyEnd",
    {
        "checkpoint": serializers.IntegerField(allow_null=True),
        "tree_size": serializers.IntegerField(),
        "root_hash": serializers.CharField(),
    },
)
ConsistencyProofSerializer = inline_serializer(
    "ConsistencyProof",
    {"log": serializers.CharField(), "from": _END, "to": _END, "path": _STEP},
)


def readable_logs(request: Request) -> set[str]:
    engagements = engagements_open_for(tenant=request.tenant, membership=request.membership)
    scope = {key for engagement in engagements for key in engagement.scope}
    return {log.key for log in checkpoint_logs if log.scope in scope}


def access_checkpoint_by_id(request: Request, checkpoint_id: object) -> Checkpoint:
    try:
        pk = int(str(checkpoint_id))
    except (TypeError, ValueError, OverflowError):
        raise Http404("No checkpoint with this id.") from None
    checkpoint = Checkpoint.objects.filter(
        tenant=request.tenant, pk=pk, log__in=readable_logs(request)
    ).first()
    if checkpoint is None:
        raise Http404("No checkpoint with this id.")
    return checkpoint


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise serializers.ValidationError({name: ["Must be a whole number."]}) from None
    if number < 0:
        raise serializers.ValidationError({name: ["Must not be negative."]})
    return number


class CheckpointListApi(TenantApiView):
    allowed_roles = AUDITORS
    pagination_class = PlatformPagination

    @extend_schema(
        responses=SignedHeadSerializer(many=True),
        parameters=[OpenApiParameter("log", str, description="audit or journal")],
    )
    def get(self, request: Request) -> Response:
        logs = readable_logs(request)
        log = request.query_params.get("log")
        if log:
            if log not in checkpoint_logs:
                raise serializers.ValidationError(
                    {"log": [f"Known logs: {checkpoint_logs.keys()}"]}
                )
            logs &= {log}
        queryset = Checkpoint.objects.filter(tenant=request.tenant, log__in=logs).order_by(
            "log", "-tree_size"
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([head_document(c) for c in page])


class CheckpointDetailApi(TenantApiView):
    allowed_roles = AUDITORS

    @extend_schema(responses=SignedHeadSerializer)
    def get(self, request: Request, checkpoint_id: int) -> Response:
        return Response(head_document(access_checkpoint_by_id(request, checkpoint_id)))


class CheckpointInclusionApi(TenantApiView):
    allowed_roles = AUDITORS

    @extend_schema(
        responses=InclusionProofSerializer,
        parameters=[
            OpenApiParameter(
                "leaf_index",
                int,
                description="0-based: audit event seq - 1, or journal seal seq - 1 "
                "(default: the last leaf)",
            )
        ],
    )
    def get(self, request: Request, checkpoint_id: int) -> Response:
        checkpoint = access_checkpoint_by_id(request, checkpoint_id)
        index = _int_param(request, "leaf_index")
        if checkpoint.tree_size == 0:
            raise serializers.ValidationError({"leaf_index": ["This checkpoint's tree is empty."]})
        index = checkpoint.tree_size - 1 if index is None else index
        try:
            body: dict[str, Any] = inclusion_proof_for(
                tenant=request.tenant, checkpoint=checkpoint, leaf_index=index
            )
        except CheckpointError as exc:
            raise serializers.ValidationError({"leaf_index": [str(exc)]}) from None
        return Response(body)


class CheckpointConsistencyApi(TenantApiView):
    allowed_roles = AUDITORS

    @extend_schema(
        responses=ConsistencyProofSerializer,
        parameters=[
            OpenApiParameter(
                "from",
                int,
                description="an earlier checkpoint's id (default: the one before this)",
            )
        ],
    )
    def get(self, request: Request, checkpoint_id: int) -> Response:
        checkpoint = access_checkpoint_by_id(request, checkpoint_id)
        older_id = _int_param(request, "from")
        if older_id is None:
            older = (
                Checkpoint.objects.filter(
                    tenant=request.tenant, log=checkpoint.log, tree_size__lt=checkpoint.tree_size
                )
                .order_by("-tree_size")
                .first()
            )
        else:
            older = Checkpoint.objects.filter(
                tenant=request.tenant, log=checkpoint.log, pk=older_id
            ).first()
            if older is None:
                raise serializers.ValidationError(
                    {"from": ["No checkpoint of this log has this id."]}
                )
        try:
            body = consistency_proof_for(tenant=request.tenant, older=older, newer=checkpoint)
        except CheckpointError as exc:
            raise serializers.ValidationError({"from": [str(exc)]}) from None
        return Response(body)
