"""/api/v1/: every path answers with or without a trailing slash (never a redirect on POST)."""

from django.urls import include, re_path

from platform_core.accounts.api import MeApi, TokenApi
from platform_core.audit.approvals_api import (
    ApprovalApproveApi,
    ApprovalDetailApi,
    ApprovalListCreateApi,
    ApprovalRejectApi,
    ApprovalWithdrawApi,
)
from platform_core.audit.checkpoint_api import (
    CheckpointConsistencyApi,
    CheckpointDetailApi,
    CheckpointInclusionApi,
    CheckpointListApi,
)
from platform_core.audit.engagement_api import EngagementListCreateApi, EngagementRevokeApi
from platform_core.audit.notifications_api import (
    NotificationListApi,
    NotificationReadApi,
    WebhookDeliveryListApi,
    WebhookDisableApi,
    WebhookListCreateApi,
)
from platform_core.tenancy.api import MemberDetailApi, MemberListCreateApi

urlpatterns = [
    re_path(r"^ledger/", include("ledger.urls")),
    re_path(r"^risk/", include("risk.urls")),
    re_path(r"^auth/token/?$", TokenApi.as_view(), name="auth-token"),
    re_path(r"^me/?$", MeApi.as_view(), name="me"),
    re_path(r"^tenancy/members/?$", MemberListCreateApi.as_view(), name="members"),
    re_path(
        r"^tenancy/members/(?P<membership_id>[0-9]+)/?$",
        MemberDetailApi.as_view(),
        name="member-detail",
    ),
    re_path(r"^approvals/?$", ApprovalListCreateApi.as_view(), name="approvals"),
    re_path(
        r"^approvals/(?P<approval_id>[0-9]+)/?$",
        ApprovalDetailApi.as_view(),
        name="approval-detail",
    ),
    re_path(
        r"^approvals/(?P<approval_id>[0-9]+)/approve/?$",
        ApprovalApproveApi.as_view(),
        name="approval-approve",
    ),
    re_path(
        r"^approvals/(?P<approval_id>[0-9]+)/reject/?$",
        ApprovalRejectApi.as_view(),
        name="approval-reject",
    ),
    re_path(
        r"^approvals/(?P<approval_id>[0-9]+)/withdraw/?$",
        ApprovalWithdrawApi.as_view(),
        name="approval-withdraw",
    ),
    re_path(r"^audit/engagements/?$", EngagementListCreateApi.as_view(), name="engagements"),
    re_path(
        r"^audit/engagements/(?P<engagement_id>[0-9]+)/revoke/?$",
        EngagementRevokeApi.as_view(),
        name="engagement-revoke",
    ),
    re_path(r"^audit/checkpoints/?$", CheckpointListApi.as_view(), name="checkpoints"),
    re_path(
        r"^audit/checkpoints/(?P<checkpoint_id>[0-9]+)/?$",
        CheckpointDetailApi.as_view(),
        name="checkpoint-detail",
    ),
    re_path(
        r"^audit/checkpoints/(?P<checkpoint_id>[0-9]+)/inclusion/?$",
        CheckpointInclusionApi.as_view(),
        name="checkpoint-inclusion",
    ),
    re_path(
        r"^audit/checkpoints/(?P<checkpoint_id>[0-9]+)/consistency/?$",
        CheckpointConsistencyApi.as_view(),
        name="checkpoint-consistency",
    ),
    re_path(r"^notifications/?$", NotificationListApi.as_view(), name="notifications"),
    re_path(
        r"^notifications/(?P<notification_id>[0-9]+)/read/?$",
        NotificationReadApi.as_view(),
        name="notification-read",
    ),
    re_path(r"^webhooks/?$", WebhookListCreateApi.as_view(), name="webhooks"),
    re_path(
        r"^webhooks/(?P<endpoint_id>[0-9]+)/disable/?$",
        WebhookDisableApi.as_view(),
        name="webhook-disable",
    ),
    re_path(
        r"^webhooks/(?P<endpoint_id>[0-9]+)/deliveries/?$",
        WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
]
