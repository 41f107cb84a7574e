"""Stored results of externally triggered writes, so that a replay writes nothing."""

from __future__ import annotations

from django.db import models


class IdempotencyRecord(models.Model):
    """The first outcome of a request made under an ``Idempotency-Key``, per tenant.

    ``request_fields`` is the request in canonical form (validated, normalised values),
    so that a replay is recognised by meaning, not by bytes.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=255)
    operation = models.CharField(max_length=100)
    request_fields = models.JSONField()
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_tenant_key"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.key}"
