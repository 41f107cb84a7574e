"""Notifications API: a member's own messages; a tenant admin's webhook endpoints and their log."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent_write
from platform_core.api.pagination import PlatformPagination
from platform_core.api.views import TenantApiView
from platform_core.audit.notifications import (
    URL_MAX_LENGTH,
    access_webhook_endpoint_by_id,
    notification_list,
    notification_mark_read,
    webhook_delivery_list,
    webhook_endpoint_disable,
    webhook_endpoint_list,
    webhook_endpoint_register,
)
from platform_core.tenancy.roles import Role


class NotificationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    event_id = serializers.UUIDField()
    subject = serializers.CharField()
    body = serializers.CharField()
    context = serializers.JSONField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "Notification"


class WebhookEndpointOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    disabled_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "WebhookEndpoint"


class NotificationListApi(TenantApiView):
    """The caller's own in-portal messages, newest first."""

    pagination_class = PlatformPagination

    class FilterSerializer(serializers.Serializer):
        unread = serializers.BooleanField(required=False, default=False)

        class Meta:
            ref_name = "NotificationFilter"

    @extend_schema(
        responses=NotificationOutputSerializer(many=True),
        parameters=[OpenApiParameter("unread", bool, description="Only messages not yet read.")],
    )
    def get(self, request: Request) -> Response:
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            notification_list(
                tenant=request.tenant,
                membership=request.membership,
                unread=query.validated_data["unread"],
            ),
            request,
            view=self,
        )
        return paginator.get_paginated_response(NotificationOutputSerializer(page, many=True).data)


class NotificationReadApi(TenantApiView):
    """Mark one of the caller's messages read; anyone else's is a 404."""

    @extend_schema(
        request=None,
        responses=NotificationOutputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, notification_id: int) -> Response:
        def write() -> tuple[int, dict[str, Any]]:
            notification = notification_mark_read(
                tenant=request.tenant,
                membership=request.membership,
                notification_id=notification_id,
            )
            return status.HTTP_200_OK, dict(NotificationOutputSerializer(notification).data)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="notification.read",
            request_fields={"notification_id": int(notification_id)},
            write=write,
        )


class WebhookListCreateApi(TenantApiView):
    """The tenant's webhook endpoints; registering one shows its signing secret once."""

    allowed_roles = frozenset({Role.TENANT_ADMIN})
    pagination_class = PlatformPagination

    class InputSerializer(serializers.Serializer):
        url = serializers.URLField(max_length=URL_MAX_LENGTH)
        events = serializers.ListField(
            child=serializers.CharField(max_length=64), allow_empty=False, max_length=50
        )
        description = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default=""
        )

        class Meta:
            ref_name = "WebhookEndpointCreateInput"

    class CreatedSerializer(WebhookEndpointOutputSerializer):
        secret = serializers.CharField(help_text="Shown once: keep it to verify signatures.")

        class Meta:
            ref_name = "WebhookEndpointCreated"

    @extend_schema(responses=WebhookEndpointOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            webhook_endpoint_list(tenant=request.tenant), request, view=self
        )
        return paginator.get_paginated_response(
            WebhookEndpointOutputSerializer(page, many=True).data
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: CreatedSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def write() -> tuple[int, dict[str, Any]]:
            endpoint = webhook_endpoint_register(
                tenant=request.tenant,
                actor=request.user,
                request=request._request,
                **data.validated_data,
            )
            return status.HTTP_201_CREATED, dict(self.CreatedSerializer(endpoint).data)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="webhook.register",
            request_fields=data.validated_data,
            write=write,
        )


class WebhookDisableApi(TenantApiView):
    """Stop sending to an endpoint; its pending deliveries are cancelled."""

    allowed_roles = frozenset({Role.TENANT_ADMIN})

    @extend_schema(
        request=None,
        responses=WebhookEndpointOutputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        def write() -> tuple[int, dict[str, Any]]:
            endpoint = webhook_endpoint_disable(
                tenant=request.tenant,
                actor=request.user,
                endpoint_id=endpoint_id,
                request=request._request,
            )
            return status.HTTP_200_OK, dict(WebhookEndpointOutputSerializer(endpoint).data)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="webhook.disable",
            request_fields={"endpoint_id": int(endpoint_id)},
            write=write,
        )


class WebhookAttemptOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    attempted_at = serializers.DateTimeField()
    succeeded = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()
    retry_in_seconds = serializers.IntegerField(allow_null=True)

    class Meta:
        ref_name = "WebhookAttempt"


class WebhookDeliveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.UUIDField(source="notification.event_id")
    event_type = serializers.CharField(source="notification.kind")
    url = serializers.CharField(source="target")
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    log = WebhookAttemptOutputSerializer(many=True)

    class Meta:
        ref_name = "WebhookDelivery"


class WebhookDeliveryListApi(TenantApiView):
    """An endpoint's deliveries, newest first, each with every attempt made."""

    allowed_roles = frozenset({Role.TENANT_ADMIN})
    pagination_class = PlatformPagination

    @extend_schema(responses=WebhookDeliveryOutputSerializer(many=True))
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = access_webhook_endpoint_by_id(tenant=request.tenant, endpoint_id=endpoint_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            webhook_delivery_list(tenant=request.tenant, endpoint=endpoint), request, view=self
        )
        return paginator.get_paginated_response(
            WebhookDeliveryOutputSerializer(page, many=True).data
        )
