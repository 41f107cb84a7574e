"""Financing: the rate card, funding pools, signed disclosures, credit lines, contracts and
interest.

Append-only in the database (trigger + no privilege for the application role): the rate-card
versions, the rendered documents a client reads, the signature records (hash-chained per
tenant, with the signed PDF), pledges, daily interest accruals and interest charges. Credit
lines, pools and contracts change state only through ``financing.services``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

MONEY: dict[str, Any] = {"max_digits": 28, "decimal_places": 4}
RATE: dict[str, Any] = {"max_digits": 12, "decimal_places": 8}  # annual, 0.05 = 5 %
# Accrued interest is kept unrounded to 10 places and rounded once, when it is charged.
ACCRUAL: dict[str, Any] = {"max_digits": 32, "decimal_places": 10}


def _tenant() -> models.ForeignKey:
    return models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")


def _membership() -> models.ForeignKey:
    # Checked by the composite (tenant_id, membership_id) key in the migration.
    return models.ForeignKey(
        "tenancy.Membership", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )


def _tenant_id_key(name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(fields=["tenant", "id"], name=f"{name}_tenant_id_key")


class Tenor(models.TextChoices):
    INTRADAY = "intraday", _("Intraday")
    OVERNIGHT = "overnight", _("Overnight (rolling)")
    TERM = "term", _("Term")
    REPO = "repo", _("Repo (against pledged securities)")


class RateCard(models.Model):
    """One version of a tenant's financing terms in one currency (the newest is current)."""

    tenant = _tenant()
    currency = models.CharField(max_length=3)
    version = models.PositiveIntegerField()
    base_rate = models.DecimalField(**RATE)
    # {"intraday": "0.0010", "overnight": "0.0050", "term": "0.0150", "repo": "0.0000"}
    tenor_premiums = models.JSONField()
    # {"low": "0.0000", "medium": "0.0100", "high": "0.0300"}
    rating_premiums = models.JSONField()
    hedge_cost_rate = models.DecimalField(**RATE)
    # A credit line above this limit needs a second person (four eyes).
    credit_four_eyes_above = models.DecimalField(**MONEY)
    # The liquidity buffer's target, as a share of the loans outstanding.
    buffer_target_share = models.DecimalField(max_digits=6, decimal_places=4)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            _tenant_id_key("ratecard"),
            models.UniqueConstraint(
                fields=["tenant", "currency", "version"], name="ratecard_one_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.currency} rate card v{self.version}"


class FundingPool(models.Model):
    """A source of lendable money: the house's own, or an institution's with its cost."""

    class Kind(models.TextChoices):
        HOUSE = "house", _("House")
        INSTITUTIONAL = "institutional", _("Institutional")

    tenant = _tenant()
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    limit = models.DecimalField(**MONEY)
    cost_rate = models.DecimalField(**RATE)  # what the money costs the house, annual
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            _tenant_id_key("fundingpool"),
            models.UniqueConstraint(fields=["tenant", "name"], name="fundingpool_name_unique"),
            models.CheckConstraint(condition=models.Q(limit__gte=0), name="fundingpool_limit"),
        ]

    def __str__(self) -> str:
        return self.name


class DisclosureDocument(models.Model):
    """A document rendered for one client to read: exactly these bytes are what they sign."""

    class Kind(models.TextChoices):
        RISK_DISCLOSURE = "risk_disclosure", _("Risk disclosure")
        CREDIT_AGREEMENT = "credit_agreement", _("Credit agreement")

    tenant = _tenant()
    membership = _membership()
    kind = models.CharField(max_length=32, choices=Kind.choices)
    language = models.CharField(max_length=10)
    template_version = models.CharField(max_length=32)
    policy_name = models.CharField(max_length=64)
    policy_version = models.CharField(max_length=32)
    policy_digest = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64)
    pdf = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [_tenant_id_key("disclosuredocument")]
        indexes = [
            models.Index(fields=["tenant", "membership", "kind"], name="disclosuredoc_client_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def document_version(self) -> str:
        return f"{self.kind}/{self.template_version}/{self.policy_name}@{self.policy_version}"


class SignatureRecord(models.Model):
    """The evidence of one signature, chained per tenant, with the sealed PDF.

    ``record_digest`` covers every evidence field; ``record_hash`` chains it:
    SHA-256(prev_hash ":" seq ":" record_digest ":" signed_sha256).
    """

    tenant = _tenant()
    seq = models.PositiveBigIntegerField()
    prev_hash = models.CharField(max_length=64)
    record_digest = models.CharField(max_length=64)
    record_hash = models.CharField(max_length=64)
    document = models.ForeignKey(
        DisclosureDocument, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    membership = _membership()
    kind = models.CharField(max_length=32, choices=DisclosureDocument.Kind.choices)
    document_sha256 = models.CharField(max_length=64)
    document_version = models.CharField(max_length=200)
    language = models.CharField(max_length=10)
    policy_name = models.CharField(max_length=64)
    policy_version = models.CharField(max_length=32)
    policy_digest = models.CharField(max_length=64)
    signer = models.JSONField()  # identity snapshot: user, e-mail, profile name, typed name
    authentication = models.JSONField()  # method, device, when the second factor was passed
    intent_text = models.TextField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    signed_at = models.DateTimeField()
    signed_pdf = models.BinaryField()
    signed_sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [
            _tenant_id_key("signaturerecord"),
            models.UniqueConstraint(fields=["tenant", "seq"], name="signaturerecord_seq_unique"),
        ]
        indexes = [
            models.Index(fields=["tenant", "membership", "kind"], name="signature_client_idx")
        ]

    def __str__(self) -> str:
        return f"signature #{self.seq} ({self.kind})"


class CreditLine(models.Model):
    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", _("Waiting for a second approval")
        ACTIVE = "active", _("Active")
        REVIEW = "review", _("Under review")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    tenant = _tenant()
    membership = _membership()
    currency = models.CharField(max_length=3)
    limit = models.DecimalField(**MONEY)
    leverage_cap = models.DecimalField(max_digits=8, decimal_places=4)
    allowed_products = models.JSONField()  # instrument kinds: ["stock", "etf", ...]
    allowed_tenors = models.JSONField()  # Tenor values
    rate_card = models.ForeignKey(
        RateCard, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    investor_class = models.CharField(max_length=32, blank=True)
    risk_rating = models.CharField(max_length=16)
    status = models.CharField(max_length=20, choices=Status.choices)
    review_reason = models.CharField(max_length=500, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _tenant_id_key("creditline"),
            models.CheckConstraint(condition=models.Q(limit__gt=0), name="creditline_limit"),
            models.CheckConstraint(
                condition=models.Q(leverage_cap__gte=1), name="creditline_leverage_cap"
            ),
            # One live line per client and currency.
            models.UniqueConstraint(
                fields=["tenant", "membership", "currency"],
                condition=~models.Q(status="closed"),
                name="creditline_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"credit line #{self.pk} {self.limit} {self.currency}"


class FinancingContract(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        REPAID = "repaid", _("Repaid")
        ROLLED = "rolled", _("Rolled over")
        OVERDUE = "overdue", _("Overdue")

    class Charging(models.TextChoices):
        MONTHLY = "monthly", _("Monthly")
        MATURITY = "maturity", _("At maturity")

    tenant = _tenant()
    credit_line = models.ForeignKey(
        CreditLine, on_delete=models.PROTECT, related_name="contracts", db_constraint=False
    )
    membership = _membership()
    pool = models.ForeignKey(
        FundingPool, on_delete=models.PROTECT, related_name="contracts", db_constraint=False
    )
    rolled_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    tenor = models.CharField(max_length=16, choices=Tenor.choices)
    currency = models.CharField(max_length=3)
    principal = models.DecimalField(**MONEY)
    outstanding = models.DecimalField(**MONEY)  # principal still owed
    interest_owed = models.DecimalField(**MONEY, default=Decimal(0))  # charged, not yet paid
    base_rate = models.DecimalField(**RATE)
    tenor_premium = models.DecimalField(**RATE)
    counterparty_premium = models.DecimalField(**RATE)
    hedge_cost = models.DecimalField(**RATE)
    rate = models.DecimalField(**RATE)
    day_count = models.CharField(max_length=16)
    start_date = models.DateField()
    maturity_date = models.DateField()
    charging = models.CharField(max_length=16, choices=Charging.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    signature = models.ForeignKey(  # the disclosure signature the drawdown relied on
        SignatureRecord, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    draw_key = models.CharField(max_length=300, blank=True)  # the drawdown's idempotency key
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            _tenant_id_key("financingcontract"),
            models.CheckConstraint(
                condition=models.Q(principal__gt=0, outstanding__gte=0, interest_owed__gte=0),
                name="financingcontract_amounts",
            ),
            models.CheckConstraint(
                condition=models.Q(maturity_date__gte=models.F("start_date")),
                name="financingcontract_dates",
            ),
            models.UniqueConstraint(
                fields=["tenant", "draw_key"],
                condition=~models.Q(draw_key=""),
                name="financingcontract_draw_once",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "membership", "status"], name="contract_client_idx"),
            models.Index(fields=["tenant", "pool", "status"], name="contract_pool_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tenor} contract #{self.pk}"

    @property
    def rate_components(self) -> list[tuple[str, Decimal]]:
        return [
            ("base_rate", self.base_rate),
            ("tenor_premium", self.tenor_premium),
            ("counterparty_premium", self.counterparty_premium),
            ("hedge_cost", self.hedge_cost),
        ]


class Pledge(models.Model):
    """Securities pledged for a repo contract, valued with a haircut when pledged."""

    tenant = _tenant()
    contract = models.ForeignKey(
        FinancingContract, on_delete=models.PROTECT, related_name="pledges", db_constraint=False
    )
    instrument = models.ForeignKey("risk.Instrument", on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(max_digits=28, decimal_places=8)
    price = models.DecimalField(max_digits=24, decimal_places=8)
    haircut = models.DecimalField(max_digits=6, decimal_places=4)
    collateral_value = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            _tenant_id_key("pledge"),
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0, haircut__gte=0, haircut__lt=1),
                name="pledge_terms",
            ),
        ]

    def __str__(self) -> str:
        return f"pledge of {self.quantity} {self.instrument_id}"


class InterestAccrual(models.Model):
    """Interest of one contract for the calendar days [period_start, period_end), recorded on
    one business date; unrounded (rounded once, when charged)."""

    tenant = _tenant()
    contract = models.ForeignKey(
        FinancingContract, on_delete=models.PROTECT, related_name="accruals", db_constraint=False
    )
    business_date = models.DateField()
    period_start = models.DateField()
    period_end = models.DateField()
    days = models.PositiveIntegerField()
    principal = models.DecimalField(**MONEY)
    rate = models.DecimalField(**RATE)
    day_count = models.CharField(max_length=16)
    amount = models.DecimalField(**ACCRUAL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            _tenant_id_key("interestaccrual"),
            models.UniqueConstraint(
                fields=["tenant", "contract", "business_date"], name="interestaccrual_once_a_day"
            ),
        ]

    def __str__(self) -> str:
        return f"interest on #{self.contract_id} for {self.business_date}"


class InterestCharge(models.Model):
    """Accrued interest up to ``period_end`` charged to the client (one ledger entry)."""

    tenant = _tenant()
    contract = models.ForeignKey(
        FinancingContract, on_delete=models.PROTECT, related_name="charges", db_constraint=False
    )
    period_end = models.DateField()
    accrued = models.DecimalField(**ACCRUAL)
    amount = models.DecimalField(**MONEY)
    capitalised = models.BooleanField(default=False)  # added to the loan: the cash was short
    entry_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            _tenant_id_key("interestcharge"),
            models.UniqueConstraint(
                fields=["tenant", "contract", "period_end"], name="interestcharge_once"
            ),
        ]

    def __str__(self) -> str:
        return f"interest charged on #{self.contract_id} to {self.period_end}"
