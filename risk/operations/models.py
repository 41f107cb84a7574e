"""The margin-call loop's tables: where each account stands on the ladder, its ratio history,
calls, notices, deleveraging and liquidation proposals, client debt, the crash switch and
disputes.

Every table is a tenant's (row security, ``tenant`` leading its keys). The ratio history is
append-only: it is the evidence a dispute is judged on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

MONEY: dict[str, Any] = {"max_digits": 28, "decimal_places": 4}
RATIO: dict[str, Any] = {"max_digits": 16, "decimal_places": 4}


class Status(models.TextChoices):
    """The ladder's rungs, from the policy's lines (ratio = equity / maintenance)."""

    HEALTHY = "healthy", _("Healthy")
    WARNING = "warning", _("Warning")
    MARGIN_CALL = "margin_call", _("Margin call")
    DELEVERAGE = "deleverage", _("Deleverage")
    LIQUIDATE = "liquidate", _("Liquidate")


SEVERITY = {
    Status.HEALTHY: 0,
    Status.WARNING: 1,
    Status.MARGIN_CALL: 2,
    Status.DELEVERAGE: 3,
    Status.LIQUIDATE: 4,
}


def _account_fk(**extra: Any) -> models.ForeignKey:
    return models.ForeignKey(  # checked by the composite (tenant_id, account_id) key
        "ledger.LedgerAccount",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        **extra,
    )


def _batch_tenant_fk() -> models.ForeignKey:
    """The tenant of a table the ladder writes by the ten thousand (decision 30).

    No key of its own: the composite (tenant_id, account_id) key to the tenant's ledger
    account already proves the tenant exists, and each key is a check per row at commit. No
    index of its own either: every index of the table leads with the tenant.
    """
    return models.ForeignKey(
        "tenancy.Tenant",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )


def _membership_fk(**extra: Any) -> models.ForeignKey:
    return models.ForeignKey(  # checked by the composite (tenant_id, membership_id) key
        "tenancy.Membership",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        **extra,
    )


class AccountLadder(models.Model):
    """Where one account stands now; ``episode`` counts its descents from healthy."""

    tenant = _batch_tenant_fk()
    account = _account_fk(db_index=False)  # (tenant, account, …) indexes serve
    membership = _membership_fk(null=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.HEALTHY)
    ratio = models.DecimalField(**RATIO, null=True)
    episode = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="accountladder_tenant_id_key"),
            models.UniqueConstraint(fields=["tenant", "account"], name="accountladder_one"),
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="accountladder_status_idx")]

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.status}"


class RatioMark(models.Model):
    """One change of an account's rung, as the sweep saw it (append-only)."""

    tenant = _batch_tenant_fk()
    account = _account_fk(db_index=False)  # (tenant, account, …) indexes serve
    previous = models.CharField(max_length=16, choices=Status.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    ratio = models.DecimalField(**RATIO, null=True)
    equity = models.DecimalField(**MONEY)
    maintenance = models.DecimalField(**MONEY)
    at = models.DateTimeField()
    sweep_id = models.CharField(max_length=64, blank=True)
    episode = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="ratiomark_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "account", "sweep_id"],
                condition=~models.Q(sweep_id=""),
                name="ratiomark_once_per_sweep",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "account", "at"], name="ratiomark_history_idx")]

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.previous} -> {self.status} at {self.ratio}"


class MarginCall(models.Model):
    """A call: the account fell below the call line; met by a deposit or a reduction."""

    class CallStatus(models.TextChoices):
        OPEN = "open", _("Open")
        MET = "met", _("Met")
        LIQUIDATED = "liquidated", _("Closed by liquidation")

    tenant = _batch_tenant_fk()
    account = _account_fk(db_index=False)  # (tenant, account, …) indexes serve
    membership = _membership_fk(null=True)
    episode = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.OPEN)
    stage = models.CharField(max_length=16, choices=Status.choices)
    currency = models.CharField(max_length=3)
    issued_at = models.DateTimeField()
    deadline_date = models.DateField()
    deadline_at = models.DateTimeField()
    ratio = models.DecimalField(**RATIO, null=True)
    equity = models.DecimalField(**MONEY)
    maintenance = models.DecimalField(**MONEY)
    target_ratio = models.DecimalField(**RATIO)
    deposit_needed = models.DecimalField(**MONEY)
    policy_name = models.CharField(max_length=100)
    policy_version = models.CharField(max_length=40)
    policy_digest = models.CharField(max_length=64, blank=True)
    hints = models.JSONField(default=dict, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="margincall_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "account"],
                condition=models.Q(status="open"),
                name="margincall_one_open_per_account",
            ),
            models.UniqueConstraint(
                fields=["tenant", "account", "episode"], name="margincall_one_per_episode"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "deadline_at"], name="margincall_open_idx")
        ]

    def __str__(self) -> str:
        return f"call {self.pk} on account {self.account_id} ({self.status})"


class MarginNotice(models.Model):
    """A notice to the client, stored once per key; delivered by the notification service."""

    class Step(models.TextChoices):
        WARNING = "warning", _("Warning")
        MARGIN_CALL = "margin_call", _("Margin call")
        DEADLINE_NEAR = "deadline_near", _("Deadline near")
        DELEVERAGE = "deleverage", _("Deleverage")
        LIQUIDATE = "liquidate", _("Liquidation")
        EXECUTED = "executed", _("Positions closed")
        MET = "met", _("Call met")

    tenant = _batch_tenant_fk()
    account = _account_fk(db_index=False)  # (tenant, account, …) indexes serve
    membership = _membership_fk()
    call = models.ForeignKey(
        MarginCall, on_delete=models.PROTECT, null=True, related_name="notices", db_constraint=False
    )
    step = models.CharField(max_length=16, choices=Step.choices)
    key = models.CharField(max_length=200)
    context = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    notification_id = models.BigIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="marginnotice_tenant_id_key"),
            models.UniqueConstraint(fields=["tenant", "key"], name="marginnotice_key_once"),
        ]
        indexes = [
            models.Index(fields=["tenant", "account", "created_at"], name="marginnotice_acct_idx")
        ]

    def __str__(self) -> str:
        return f"{self.step} notice {self.key}"


class CrashSwitch(models.Model):
    """The tenant's pause on automatic deleveraging and liquidation."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    engaged = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    changed_by_label = models.CharField(max_length=200, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="crashswitch_one_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"crash switch {'on' if self.engaged else 'off'}"


class Proposal(models.Model):
    """A plan to close whole strategy groups until the target ratio is restored."""

    class Kind(models.TextChoices):
        DELEVERAGE = "deleverage", _("Deleverage")
        LIQUIDATION = "liquidation", _("Liquidation")

    class ProposalStatus(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        QUEUED = "queued", _("Waiting for approval")
        EXECUTED = "executed", _("Executed")
        REJECTED = "rejected", _("Rejected")
        SUPERSEDED = "superseded", _("Superseded")

    OPEN = (ProposalStatus.PROPOSED, ProposalStatus.QUEUED)

    tenant = _batch_tenant_fk()
    account = _account_fk()
    membership = _membership_fk(null=True)
    call = models.ForeignKey(
        MarginCall,
        on_delete=models.PROTECT,
        null=True,
        related_name="proposals",
        db_constraint=False,
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=ProposalStatus.choices)
    currency = models.CharField(max_length=3)
    ratio_before = models.DecimalField(**RATIO, null=True)
    ratio_after = models.DecimalField(**RATIO, null=True)
    target_ratio = models.DecimalField(**RATIO)
    equity_before = models.DecimalField(**MONEY)
    maintenance_before = models.DecimalField(**MONEY)
    steps = models.JSONField(default=list)
    prices = models.JSONField(default=dict)
    policy_version = models.CharField(max_length=40, blank=True)
    paused_by_switch = models.BooleanField(default=False)
    approval_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_label = models.CharField(max_length=200, blank=True)
    fills = models.JSONField(default=list, blank=True)
    proceeds = models.DecimalField(**MONEY, default=Decimal(0))
    shortfall = models.DecimalField(**MONEY, default=Decimal(0))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="proposal_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "account"],
                condition=models.Q(status__in=["proposed", "queued"]),
                name="proposal_one_open_per_account",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="proposal_status_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} of account {self.account_id} ({self.status})"


class ClientDebt(models.Model):
    """What a liquidation could not cover: lent by the house, then written off under four eyes."""

    class DebtStatus(models.TextChoices):
        OPEN = "open", _("Open")
        WRITTEN_OFF = "written_off", _("Written off")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    account = _account_fk()
    proposal = models.ForeignKey(
        Proposal, on_delete=models.PROTECT, related_name="debts", db_constraint=False
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY)
    status = models.CharField(max_length=16, choices=DebtStatus.choices, default=DebtStatus.OPEN)
    loan_entry_id = models.BigIntegerField(null=True)
    writeoff_entries = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()
    written_off_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="clientdebt_tenant_id_key"),
            models.UniqueConstraint(fields=["tenant", "proposal"], name="clientdebt_one_per_plan"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="clientdebt_positive"),
        ]

    def __str__(self) -> str:
        return f"debt {self.amount} {self.currency} of account {self.account_id}"


class Dispute(models.Model):
    """A client's dispute of a liquidation, with the evidence frozen when it was opened."""

    class DisputeStatus(models.TextChoices):
        OPEN = "open", _("Open")
        UPHELD = "upheld", _("Upheld")
        DISMISSED = "dismissed", _("Dismissed")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    proposal = models.ForeignKey(
        Proposal, on_delete=models.PROTECT, related_name="disputes", db_constraint=False
    )
    membership = _membership_fk()
    statement = models.TextField()
    status = models.CharField(
        max_length=16, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    evidence = models.JSONField(default=dict)
    evidence_digest = models.CharField(max_length=64)
    resolution = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="dispute_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "proposal"],
                condition=models.Q(status="open"),
                name="dispute_one_open_per_liquidation",
            ),
        ]

    def __str__(self) -> str:
        return f"dispute {self.pk} of proposal {self.proposal_id} ({self.status})"
