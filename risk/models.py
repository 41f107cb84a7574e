"""Reference data, prices and positions: the risk app's tables.

Instruments and quotes are global (market data is the same for every operator); positions are
a tenant's. Quotes are append-only in the database: a bad price is outvoted or superseded by
later quotes, never edited (``risk.oracle`` decides what is trusted).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models

from risk.engine.portfolio import KINDS, RIGHTS, UNDERLYING_CLASSES

PRICE: dict[str, Any] = {"max_digits": 24, "decimal_places": 8}
QUANTITY: dict[str, Any] = {"max_digits": 28, "decimal_places": 8}


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


class Instrument(models.Model):
    """Anything a client can hold: stock, ETF, index, or an option on one of them."""

    symbol = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=_choices(KINDS))
    # Options only: what the option is on, and its terms.
    underlying = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="options"
    )
    right = models.CharField(max_length=4, choices=_choices(RIGHTS), blank=True)
    strike = models.DecimalField(**PRICE, null=True, blank=True)
    expiry = models.DateField(null=True, blank=True)
    multiplier = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(1))
    exercise_style = models.CharField(
        max_length=8, choices=_choices(("american", "european")), default="american"
    )
    settlement = models.CharField(
        max_length=8, choices=_choices(("physical", "cash")), default="physical"
    )
    # Underlyings only: the class the rule books rate it by (leverage for leveraged ETFs).
    underlying_class = models.CharField(
        max_length=16, choices=_choices(UNDERLYING_CLASSES), default="equity"
    )
    leverage = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal(1))
    risk_tier = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    kind="option",
                    underlying__isnull=False,
                    strike__gt=0,
                    expiry__isnull=False,
                    right__in=RIGHTS,
                )
                | (
                    ~models.Q(kind="option")
                    & models.Q(underlying__isnull=True, strike__isnull=True, expiry__isnull=True)
                    & models.Q(right="")
                ),
                name="instrument_option_terms_iff_option",
            ),
            models.CheckConstraint(
                condition=models.Q(multiplier__gt=0), name="instrument_multiplier_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(leverage=0), name="instrument_leverage_not_zero"
            ),
        ]

    def __str__(self) -> str:
        return self.symbol


class Quote(models.Model):
    """One price observation from one source; the oracle takes the median of fresh ones."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="quotes")
    source = models.CharField(max_length=32)
    price = models.DecimalField(**PRICE)
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gt=0), name="quote_price_positive")
        ]
        indexes = [models.Index(fields=["instrument", "-at"], name="quote_latest_idx")]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.price} from {self.source} at {self.at:%H:%M:%S}"


class Position(models.Model):
    """What a client holds in one instrument, in one client-money account (short < 0)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(  # checked by the composite (tenant_id, account_id) key
        "ledger.LedgerAccount",
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "client_cash"},
        db_constraint=False,
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QUANTITY)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="position_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "account", "instrument"], name="position_one_per_instrument"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "instrument"], name="position_holders_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} {self.instrument_id} in account {self.account_id}"


# --- margin policies ------------------------------------------------------------------------


class MarginPolicyVersion(models.Model):
    """One version of a tenant's stored margin policy: a built-in base plus parameters.

    A draft may be changed; once active (after four-eyes approval) or retired its content is
    frozen by a database trigger, and ``digest`` (SHA-256 of the canonical content) is what
    agreements pin. One version per tenant is active at a time.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        ACTIVE = "active", "active"
        RETIRED = "retired", "retired"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    name = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    base = models.CharField(max_length=32)  # a built-in policy of the engine
    parameters = models.JSONField(default=dict)
    ladder = models.JSONField(default=dict)  # warning, margin_call, deleverage, liquidation
    call_deadline_business_days = models.PositiveSmallIntegerField(default=2)
    leverage_cap = models.DecimalField(max_digits=12, decimal_places=4)
    digest = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="marginpolicy_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "name", "version"], name="marginpolicy_name_version"
            ),
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(status="active"),
                name="marginpolicy_one_active",
            ),
            models.CheckConstraint(
                condition=models.Q(leverage_cap__gt=0), name="marginpolicy_leverage_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"


# --- the trading calendar -------------------------------------------------------------------


class TradingHoliday(models.Model):
    """A weekday a market is closed (global reference data; weekends are closed anyway)."""

    market = models.CharField(max_length=8)  # ISO 10383 MIC: XSHG, XSHE, XNYS
    day = models.DateField()
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "day"], name="tradingholiday_one_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.day} {self.name}"


class RiskSettings(models.Model):
    """A tenant's risk settings; without a row the market follows the tenant's timezone."""

    tenant = models.OneToOneField("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    market = models.CharField(max_length=8)

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.market}"


# --- orders and fills -----------------------------------------------------------------------


class Order(models.Model):
    """A client's order, filled at once by the simulated execution (append-only).

    Only orders that passed the pre-trade check and filled are stored: a refused order
    changes nothing. ``cash`` is the signed cash the fill moved (negative for a purchase).
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(  # checked by the composite (tenant_id, account_id) key
        "ledger.LedgerAccount", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    membership = models.ForeignKey(  # who placed it; checked by a composite key
        "tenancy.Membership", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QUANTITY)  # signed: buy > 0, sell < 0
    oracle_price = models.DecimalField(**PRICE)
    fill_price = models.DecimalField(**PRICE)
    cash = models.DecimalField(max_digits=28, decimal_places=4)
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=255)
    journal_entry_id = models.BigIntegerField(null=True)
    policy = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="order_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="order_idempotency_key"
            ),
            models.CheckConstraint(condition=~models.Q(quantity=0), name="order_quantity_nonzero"),
        ]
        indexes = [
            models.Index(fields=["tenant", "account", "-created_at"], name="order_account_idx")
        ]

    def __str__(self) -> str:
        return f"order {self.pk}: {self.quantity} {self.instrument_id} at {self.fill_price}"


# --- margin status (the live sweep) ---------------------------------------------------------

MARGIN_STATUSES = ("healthy", "warning", "margin_call", "deleverage", "liquidate")


class MarginStatus(models.Model):
    """The latest margin status of one client account (one row per account, updated)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        "ledger.LedgerAccount", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    status = models.CharField(max_length=12, choices=_choices(MARGIN_STATUSES))
    ratio = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    equity = models.DecimalField(max_digits=28, decimal_places=4)
    maintenance = models.DecimalField(max_digits=28, decimal_places=4)
    initial = models.DecimalField(max_digits=28, decimal_places=4)
    collateral_ratio = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    policy = models.CharField(max_length=100)
    policy_digest = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=300, blank=True)
    sweep_id = models.CharField(max_length=64)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="marginstatus_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "account"], name="marginstatus_one_per_account"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "ratio"], name="marginstatus_ratio_idx")]

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.status}"


class MarginStatusChange(models.Model):
    """Append-only history: each time an account's margin status changed."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        "ledger.LedgerAccount", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    previous = models.CharField(max_length=12, blank=True)
    status = models.CharField(max_length=12, choices=_choices(MARGIN_STATUSES))
    ratio = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    equity = models.DecimalField(max_digits=28, decimal_places=4)
    maintenance = models.DecimalField(max_digits=28, decimal_places=4)
    sweep_id = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "account", "-at"], name="marginchange_account_idx")
        ]

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.previous or '-'} -> {self.status}"
