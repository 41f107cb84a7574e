"""/api/v1/audit/engagements: the tenant admin grants, lists and revokes auditor engagements."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent_write
from platform_core.api.pagination import PlatformPagination
from platform_core.api.views import TenantApiView
from platform_core.audit.engagements import engagement_grant, engagement_list, engagement_revoke
from platform_core.audit.models import Engagement
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership
from platform_core.tenancy.roles import Role

ADMINS = frozenset({Role.TENANT_ADMIN})


class EngagementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    auditor = serializers.IntegerField(source="auditor_id", help_text="the auditor's membership")
    auditor_email = serializers.EmailField(source="auditor.user.email")
    scope = serializers.ListField(child=serializers.CharField())
    period_from = serializers.DateField()
    period_to = serializers.DateField()
    access_from = serializers.DateTimeField()
    access_until = serializers.DateTimeField()
    reason = serializers.CharField()
    granted_by = serializers.EmailField(source="granted_by.email")
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "Engagement"


def _body(engagement: Engagement) -> dict[str, Any]:
    return dict(EngagementSerializer(engagement).data)


class EngagementListCreateApi(TenantApiView):
    allowed_roles = ADMINS
    pagination_class = PlatformPagination

    class InputSerializer(serializers.Serializer):
        auditor = serializers.IntegerField(help_text="the auditor's membership id")
        scope = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1)
        period_from = serializers.DateField()
        period_to = serializers.DateField()
        access_from = serializers.DateTimeField()
        access_until = serializers.DateTimeField()
        reason = serializers.CharField(max_length=2000, required=False, default="")

        class Meta:
            ref_name = "EngagementGrantInput"

    @extend_schema(responses=EngagementSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(engagement_list(tenant=request.tenant), request, self)
        return paginator.get_paginated_response(EngagementSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: EngagementSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        try:
            auditor = access_object_by_id(
                Membership, tenant=request.tenant, object_id=fields["auditor"]
            )
        except Http404:
            raise serializers.ValidationError(
                {"auditor": ["No auditor membership with this id."]}
            ) from None
        fields["auditor"] = auditor

        def write() -> tuple[int, dict[str, Any]]:
            engagement = engagement_grant(
                tenant=request.tenant, actor=request.user, request=request._request, **fields
            )
            return status.HTTP_201_CREATED, _body(engagement)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="engagement.grant",
            request_fields=data.validated_data,
            write=write,
        )


class EngagementRevokeApi(TenantApiView):
    allowed_roles = ADMINS

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

        class Meta:
            ref_name = "EngagementRevokeInput"

    @extend_schema(
        request=InputSerializer,
        responses={200: EngagementSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, engagement_id: int) -> Response:
        access_object_by_id(Engagement, tenant=request.tenant, object_id=engagement_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def write() -> tuple[int, dict[str, Any]]:
            engagement = engagement_revoke(
                tenant=request.tenant,
                actor=request.user,
                engagement_id=engagement_id,
                reason=data.validated_data["reason"],
                request=request._request,
            )
            return status.HTTP_200_OK, _body(engagement)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="engagement.revoke",
            request_fields={"engagement": engagement_id, **data.validated_data},
            write=write,
        )
