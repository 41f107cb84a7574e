"""The hash-chained audit trail: one chain per tenant, plus a platform chain (no tenant)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One decision of a person or a rule. Append-only: the database refuses UPDATE and DELETE.

    ``hash`` = SHA-256 over the canonical JSON of the event's fields and ``prev_hash``
    (see ``platform_core.audit.chain``); ``payload_digest`` = SHA-256 of the canonical
    JSON of ``payload``, the change itself.
    """

    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    seq = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    payload_digest = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["tenant_id", "seq"]
        constraints = [
            # nulls_distinct=False: the platform chain (tenant NULL) cannot fork either.
            models.UniqueConstraint(
                fields=["tenant", "seq"], name="auditevent_chain_seq", nulls_distinct=False
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "action", "occurred_at"], name="auditevent_action_idx"),
            models.Index(fields=["tenant", "object_type", "object_id"], name="auditevent_obj_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.seq} {self.action}"


class ApprovalRequest(models.Model):
    """A four-eyes request: one person (the maker) asks, another of ``approver_role`` decides.

    The action is a key of ``platform_core.hooks.approvable_actions``; on approval its service
    runs inside the approval's transaction and its result is kept here.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=100)
    params = models.JSONField(default=dict)
    reason = models.TextField()
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    maker_membership = models.ForeignKey(
        "tenancy.Membership", on_delete=models.PROTECT, related_name="+"
    )
    approver_role = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="approval_tenant_id_key"),
            models.CheckConstraint(
                condition=models.Q(status="pending") | models.Q(decided_at__isnull=False),
                name="approval_decided_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "status", "approver_role", "expires_at"],
                name="approval_inbox_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} #{self.pk} ({self.status})"


class Notification(models.Model):
    """A message to one member: in the portal, by e-mail, and to the tenant's webhooks.

    ``key`` is the sender's idempotency key, unique per tenant: sending the same notification
    twice records and sends it once. Subject and body are rendered once, in the recipient's
    language, and kept as sent.
    """

    class Channel(models.TextChoices):
        PORTAL = "portal", "Portal"
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    recipient = models.ForeignKey("tenancy.Membership", on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=255)
    kind = models.CharField(max_length=64)
    # The event id webhook receivers deduplicate on; random, so it reveals no volumes.
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    context = models.JSONField(default=dict)
    channels = models.JSONField(default=list)
    language = models.CharField(max_length=10)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="notification_key_once"),
            models.UniqueConstraint(fields=["tenant", "id"], name="notification_tenant_id_key"),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "recipient", "-created_at"], name="notification_inbox_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} to {self.recipient_id}"


class WebhookEndpoint(models.Model):
    """A URL a tenant registered to receive its notifications as signed POSTs.

    The secret signs every payload (HMAC-SHA256, see docs/webhooks.md). It is shown once, at
    registration, and kept because every later delivery is signed with it.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    disabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="webhookendpoint_tenant_id_key"),
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="webhookendpoint_status_idx")]

    def __str__(self) -> str:
        return f"{self.url} ({self.status})"


class NotificationDelivery(models.Model):
    """One notification on its way through one outside channel: e-mail, or one webhook endpoint.

    Holds the state (pending, delivered, failed, cancelled; attempts so far; when next); each
    attempt itself is logged, append-only, in ``NotificationAttempt``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    notification = models.ForeignKey(
        Notification, on_delete=models.PROTECT, related_name="deliveries"
    )
    channel = models.CharField(max_length=16, choices=Notification.Channel.choices)
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    target = models.CharField(max_length=2000)  # the address or URL when it was sent
    body = models.TextField(blank=True)  # webhooks: the exact JSON signed and sent, every attempt
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="delivery_tenant_id_key"),
            models.CheckConstraint(
                condition=models.Q(channel="webhook", endpoint__isnull=False)
                | models.Q(channel="email", endpoint__isnull=True),
                name="delivery_endpoint_iff_webhook",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "endpoint", "-created_at"], name="delivery_endpoint_idx"
            ),
            models.Index(fields=["tenant", "status", "next_attempt_at"], name="delivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} delivery #{self.pk} ({self.status})"


class NotificationAttempt(models.Model):
    """The delivery log: one row per attempt at a delivery. Append-only."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    delivery = models.ForeignKey(NotificationDelivery, on_delete=models.PROTECT, related_name="log")
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField()
    succeeded = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # HTTP, webhooks only
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField()
    retry_in_seconds = models.PositiveIntegerField(null=True, blank=True)  # None: no retry

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "delivery", "number"], name="notificationattempt_once"
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"


# --- auditors: engagements, reports, checkpoints ---------------------------------------------


class Engagement(models.Model):
    """A time-boxed, read-only grant to one auditor: which report types, over which dates.

    The auditor sees it only while ``access_from <= now < access_until`` and not revoked, and
    only with the django-guardian object permission ``audit.view_engagement`` given at grant.
    ``period_from``/``period_to`` bound the data (business dates, tenant time zone) any report
    made under it may cover.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    auditor = models.ForeignKey(  # checked by the composite (tenant_id, auditor_id) key
        "tenancy.Membership", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    scope = models.JSONField(default=list)  # report type keys
    period_from = models.DateField()
    period_to = models.DateField()
    access_from = models.DateTimeField()
    access_until = models.DateTimeField()
    reason = models.TextField(blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="engagement_tenant_id_key"),
            models.CheckConstraint(
                condition=models.Q(period_to__gte=models.F("period_from")),
                name="engagement_period_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(access_until__gt=models.F("access_from")),
                name="engagement_access_ordered",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "auditor"], name="engagement_auditor_idx")]

    def __str__(self) -> str:
        return f"engagement #{self.pk} of {self.auditor_id}"


class ReportRequest(models.Model):
    """One report job: its parameters, where it is (status, progress) and, once done, its files.

    ``key`` makes requests idempotent: the same engagement, type and period give one job.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    engagement = models.ForeignKey(  # checked by the composite key; null: made from the shell
        Engagement,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reports",
        db_constraint=False,
    )
    report_type = models.CharField(max_length=64)
    period_from = models.DateField()
    period_to = models.DateField()
    key = models.CharField(max_length=200)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_label = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="reportrequest_tenant_id_key"),
            models.UniqueConstraint(fields=["tenant", "key"], name="reportrequest_key_once"),
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="reportrequest_progress_percent"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "engagement", "-created_at"], name="reportrequest_engagement_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.report_type} {self.period_from}..{self.period_to} ({self.status})"


class ReportFile(models.Model):
    """One file of a finished report, exactly as issued: the signed PDF, an appendix, the
    manifest. Append-only; ``sha256`` is of ``content`` and is what the manifest lists."""

    class Kind(models.TextChoices):
        PDF = "pdf", "Signed PDF"
        CSV = "csv", "CSV appendix"
        JSON = "json", "JSON appendix"
        MANIFEST = "manifest", "SHA-256 manifest"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    request = models.ForeignKey(  # checked by the composite (tenant_id, request_id) key
        ReportRequest, on_delete=models.PROTECT, related_name="files", db_constraint=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="reportfile_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "request", "name"], name="reportfile_name_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"


class Checkpoint(models.Model):
    """A signed tree head: the RFC 6962 Merkle tree of one of a tenant's logs (its audit
    events, its sealed journal entries) at ``tree_size`` leaves. Append-only.

    ``statement`` is the canonical JSON that was signed, byte for byte; ``signature`` is over
    those bytes with the key of ``certificate`` (the tenant's document-signing certificate;
    see platform_core.audit.checkpoints).
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    log = models.CharField(max_length=32)
    tree_size = models.PositiveBigIntegerField()
    root_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    statement = models.TextField()
    algorithm = models.CharField(max_length=32)
    signature = models.TextField()
    certificate = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="checkpoint_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "log", "tree_size"], name="checkpoint_size_once"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "log", "-signed_at"], name="checkpoint_latest_idx")
        ]

    def __str__(self) -> str:
        return f"{self.log} checkpoint {self.tree_size} {self.root_hash[:12]}"
