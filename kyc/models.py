"""KYC tables: client profiles (PII sealed per client), documents, suitability, risk ratings,
cases with their checklists and information requests, monitoring rules, alerts and reports.

Personal data lives only in ``sealed`` binary columns, encrypted with the client's data key
(``kyc.crypto``); erasing that key (``ClientDataKey.wrapped_key`` emptied) makes the
append-only copies unreadable too. Every table is tenant-owned with row-level security.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import UserObjectPermissionBase


class ClientDataKey(models.Model):
    """A client's data key, wrapped by a master key. Emptying it shreds the client's data."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    membership = models.ForeignKey(
        "tenancy.Membership", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    master_key_id = models.CharField(max_length=64)
    wrapped_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "membership"], name="kyc_datakey_one"),
            models.UniqueConstraint(fields=["tenant", "id"], name="kyc_datakey_tenant_id_key"),
        ]
        indexes = [models.Index(fields=["tenant", "master_key_id"], name="kyc_datakey_master")]

    def __str__(self) -> str:
        return f"ClientDataKey #{self.pk}"


class ClientProfile(models.Model):
    """One client's file: the wizard's answers (sealed) and what compliance decided."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted")
        MORE_INFO = "more_info", _("More information requested")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    membership = models.ForeignKey(
        "tenancy.Membership", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # The wizard's answers by step, as sealed JSON; the steps done so far, in plain.
    sealed = models.BinaryField(default=b"")
    steps_done = models.JSONField(default=list)
    is_pep = models.BooleanField(default=False)
    is_corporate = models.BooleanField(default=False)
    investor_class = models.CharField(max_length=2, blank=True)
    professional = models.BooleanField(default=False)
    risk_rating = models.CharField(max_length=8, blank=True)
    next_review_on = models.DateField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "membership"], name="kyc_profile_one"),
            models.UniqueConstraint(fields=["tenant", "id"], name="kyc_profile_tenant_id_key"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status"], name="kyc_profile_status"),
            models.Index(fields=["tenant", "next_review_on"], name="kyc_profile_review"),
        ]

    def __str__(self) -> str:
        return f"ClientProfile #{self.pk}"


class ProfileSnapshot(models.Model):
    """What the client submitted, sealed, each time they submitted (append-only)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    profile = models.ForeignKey(
        ClientProfile, on_delete=models.PROTECT, related_name="snapshots", db_constraint=False
    )
    sealed = models.BinaryField()
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "profile"], name="kyc_snapshot_profile")]

    def __str__(self) -> str:
        return f"ProfileSnapshot #{self.pk}"


class ProfileDocument(models.Model):
    """An uploaded document, its bytes sealed with the client's data key (append-only)."""

    class Kind(models.TextChoices):
        IDENTITY = "identity", _("Identity document")
        ADDRESS = "address", _("Proof of address")
        FUNDS = "funds", _("Proof of source of funds")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    profile = models.ForeignKey(
        ClientProfile, on_delete=models.PROTECT, related_name="documents", db_constraint=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    sealed = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "profile", "kind"], name="kyc_doc_profile")]

    def __str__(self) -> str:
        return f"ProfileDocument #{self.pk}"


class SuitabilityAssessment(models.Model):
    """A questionnaire's outcome (append-only): the class and what it allows."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    profile = models.ForeignKey(
        ClientProfile, on_delete=models.PROTECT, related_name="assessments", db_constraint=False
    )
    questionnaire_version = models.CharField(max_length=16)
    answers = models.JSONField()
    score = models.PositiveIntegerField()
    investor_class = models.CharField(max_length=2)
    allowed_risk_levels = models.JSONField()
    leverage_cap = models.DecimalField(max_digits=6, decimal_places=2)
    professional = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "profile", "id"], name="kyc_suit_profile")]

    def __str__(self) -> str:
        return f"SuitabilityAssessment #{self.pk}"


class RiskRatingConfig(models.Model):
    """A tenant's factor weights, band thresholds and review intervals (years)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    weights = models.JSONField(default=dict)
    medium_from = models.PositiveSmallIntegerField(default=30)
    high_from = models.PositiveSmallIntegerField(default=60)
    review_years_low = models.PositiveSmallIntegerField(default=3)
    review_years_medium = models.PositiveSmallIntegerField(default=2)
    review_years_high = models.PositiveSmallIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="kyc_riskconfig_one"),
        ]

    def __str__(self) -> str:
        return f"RiskRatingConfig #{self.pk}"


class RiskRating(models.Model):
    """One rating of a client (append-only): the band, the score and the reasons."""

    class Level(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    profile = models.ForeignKey(
        ClientProfile, on_delete=models.PROTECT, related_name="ratings", db_constraint=False
    )
    level = models.CharField(max_length=8, choices=Level.choices)
    score = models.PositiveSmallIntegerField()
    factors = models.JSONField()
    reasons = models.JSONField()
    next_review_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "profile", "id"], name="kyc_rating_profile")]

    def __str__(self) -> str:
        return f"RiskRating #{self.pk}"


class KycCase(models.Model):
    """Compliance's work on one client: onboarding, a periodic review, or monitoring alerts."""

    class Kind(models.TextChoices):
        ONBOARDING = "onboarding", _("Onboarding")
        REVIEW = "review", _("Periodic review")
        ALERT = "alert", _("Monitoring alert")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        INFO_REQUESTED = "info_requested", _("Information requested")
        PENDING_APPROVAL = "pending_approval", _("Awaiting a senior approver")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        CLOSED = "closed", _("Closed")

    OPEN_STATUSES = ("open", "info_requested", "pending_approval")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    profile = models.ForeignKey(
        ClientProfile, on_delete=models.PROTECT, related_name="cases", db_constraint=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approval_id = models.BigIntegerField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="kyc_case_tenant_id_key"),
        ]
        indexes = [models.Index(fields=["tenant", "status", "opened_at"], name="kyc_case_queue")]
        permissions = [("work_kyccase", "Can work a KYC case assigned to them")]

    def __str__(self) -> str:
        return f"KycCase #{self.pk}"


class KycCaseUserObjectPermission(UserObjectPermissionBase):
    """Assignment of a case (django-guardian, direct foreign key)."""

    content_object = models.ForeignKey(KycCase, on_delete=models.CASCADE)


class CaseCheck(models.Model):
    """One item of a case's checklist; a pending one blocks approval."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        KycCase, on_delete=models.PROTECT, related_name="checks", db_constraint=False
    )
    code = models.CharField(max_length=32)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    note = models.TextField(blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "case", "code"], name="kyc_check_one"),
        ]

    def __str__(self) -> str:
        return f"CaseCheck #{self.pk}"


class InfoRequest(models.Model):
    """Compliance asks the client for more; open until the client resubmits."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        KycCase, on_delete=models.PROTECT, related_name="info_requests", db_constraint=False
    )
    message = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "case"], name="kyc_inforeq_case")]

    def __str__(self) -> str:
        return f"InfoRequest #{self.pk}"


# --- transaction monitoring -----------------------------------------------------------------


class MonitoringRule(models.Model):
    """One version of a rule: its parameters and score. Published versions are immutable (the
    database refuses changing them); a change is a new draft version, back-tested, published."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=32)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    params = models.JSONField()
    score = models.PositiveSmallIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "code", "version"], name="kyc_rule_one_version"
            ),
            models.UniqueConstraint(fields=["tenant", "id"], name="kyc_rule_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "code"],
                condition=models.Q(status="published"),
                name="kyc_rule_one_published",
            ),
        ]

    def __str__(self) -> str:
        return f"MonitoringRule #{self.pk}"


class MonitoringAlert(models.Model):
    """A rule fired for a client: the rule version, the evidence, the outcome. One per
    (rule version, dedupe key), so replaying an entry never raises it twice."""

    class Outcome(models.TextChoices):
        APPROVE = "approve", _("Approve")
        REVIEW = "review", _("Review")
        BLOCK_AND_REVIEW = "block_and_review", _("Block and review")
        DECLINE = "decline", _("Decline")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_CASE = "in_case", _("In a case")
        CLOSED = "closed", _("Closed")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(
        MonitoringRule, on_delete=models.PROTECT, related_name="alerts", db_constraint=False
    )
    rule_code = models.CharField(max_length=32)
    rule_version = models.PositiveIntegerField()
    membership = models.ForeignKey(
        "tenancy.Membership", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    entry_id = models.BigIntegerField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=128)
    score = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    evidence = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    case = models.ForeignKey(
        KycCase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="alerts",
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "rule", "dedupe_key"], name="kyc_alert_once"),
            models.UniqueConstraint(fields=["tenant", "id"], name="kyc_alert_tenant_id_key"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"], name="kyc_alert_queue"),
            models.Index(fields=["tenant", "membership"], name="kyc_alert_client"),
        ]

    def __str__(self) -> str:
        return f"MonitoringAlert #{self.pk}"


class SuspiciousTransactionReport(models.Model):
    """A suspicious-transaction report drafted from a case; exported for filing."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        FILED = "filed", _("Filed")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        KycCase, on_delete=models.PROTECT, related_name="reports", db_constraint=False
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    narrative = models.TextField()
    alerts = models.JSONField()
    total_amount = models.DecimalField(max_digits=28, decimal_places=4, default=Decimal(0))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="kyc_str_tenant_id_key"),
        ]

    def __str__(self) -> str:
        return f"SuspiciousTransactionReport #{self.pk}"
