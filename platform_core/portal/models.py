"""The portal's own tables: the ratio history its charts draw, and which tenant is whose
paper-trading sandbox.

Risk keeps an account's latest margin (``MarginStatus``) and a mark per change of rung
(``risk.operations.RatioMark``), not a series; the dashboard's ratio line needs one, so it is
sampled here (``services.ratio_samples_record``). It is display data, derived from risk's
records, so old samples may be pruned; the evidence of a dispute stays risk's ``RatioMark``.
"""

from __future__ import annotations

from typing import Any

from django.db import models

MONEY: dict[str, Any] = {"max_digits": 28, "decimal_places": 4}


class RatioSample(models.Model):
    """An account's margin ratio at one moment (equity / maintenance, the contract's ratio)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(  # checked by the composite (tenant_id, account_id) key
        "ledger.LedgerAccount", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    at = models.DateTimeField()
    ratio = models.DecimalField(max_digits=16, decimal_places=4, null=True)
    equity = models.DecimalField(**MONEY)
    maintenance = models.DecimalField(**MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "account", "at"], name="ratiosample_once"),
        ]

    def __str__(self) -> str:
        return f"account {self.account_id} at {self.at:%Y-%m-%d %H:%M:%S}: {self.ratio}"


class SandboxLink(models.Model):
    """A live tenant's paper-trading tenant: same engine, prices and rules, simulated money.

    The sandbox is a tenant of its own, so its ledger, positions and orders are walled off from
    real client money by row security like any other tenant's; a client trades there through a
    client membership of their own, and an API token issued for that membership can reach
    nothing else.
    """

    tenant = models.OneToOneField("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    sandbox = models.OneToOneField("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(tenant=models.F("sandbox")), name="sandboxlink_not_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} -> sandbox {self.sandbox_id}"
