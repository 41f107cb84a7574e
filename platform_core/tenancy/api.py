"""Members of the caller's tenant: list, read one, add one (idempotent)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent_write
from platform_core.api.pagination import PlatformPagination
from platform_core.api.views import TenantApiView
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_membership_by_id
from platform_core.tenancy.roles import STAFF_ROLES, Role
from platform_core.tenancy.selectors import membership_list
from platform_core.tenancy.services import member_add


class MembershipOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField(source="user.email")
    role = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class MemberListCreateApi(TenantApiView):
    allowed_roles = frozenset(STAFF_ROLES)
    pagination_class = PlatformPagination

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        role = serializers.ChoiceField(choices=Role.choices)

        class Meta:
            ref_name = "MemberCreateInput"

    class CreatedSerializer(MembershipOutputSerializer):
        user_created = serializers.BooleanField()

        class Meta:
            ref_name = "MemberCreated"

    @extend_schema(
        responses=MembershipOutputSerializer(many=True),
        parameters=[OpenApiParameter("role", str, enum=Role.values)],
    )
    def get(self, request: Request) -> Response:
        role = request.query_params.get("role")
        if role and role not in Role.values:
            raise serializers.ValidationError({"role": [f"{role!r} is not a role."]})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            membership_list(tenant=request.tenant, role=role), request, view=self
        )
        return paginator.get_paginated_response(MembershipOutputSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: CreatedSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        if request.membership.role != Role.TENANT_ADMIN:
            raise ApplicationError(403, "permission_denied", "Only a tenant admin adds members.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def write() -> tuple[int, dict[str, Any]]:
            added = member_add(
                tenant=request.tenant,
                actor=request.user,
                request=request._request,
                invite=True,
                **data.validated_data,
            )
            body = self.CreatedSerializer(
                {
                    "id": added.membership.pk,
                    "user": added.membership.user,
                    "role": added.membership.role,
                    "status": added.membership.status,
                    "created_at": added.membership.created_at,
                    "user_created": added.user_created,
                }
            ).data
            return status.HTTP_201_CREATED, dict(body)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="membership.create",
            request_fields=data.validated_data,
            write=write,
        )


class MemberDetailApi(TenantApiView):
    # Staff read any member of their tenant, a client only themselves (access_membership_by_id).
    allowed_roles = frozenset(STAFF_ROLES | {Role.CLIENT})

    @extend_schema(responses=MembershipOutputSerializer)
    def get(self, request: Request, membership_id: int) -> Response:
        membership = access_membership_by_id(
            tenant=request.tenant, actor_membership=request.membership, membership_id=membership_id
        )
        return Response(MembershipOutputSerializer(membership).data)
