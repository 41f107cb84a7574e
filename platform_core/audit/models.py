"""The hash-chained audit trail: one chain per tenant, plus a platform chain (no tenant)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
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
                condition=models.Q(status="pending")
                | models.Q(decided_at__isnull=False),
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
