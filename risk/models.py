"""Reference data, prices and positions: the risk app's tables.

Instruments and quotes are global (market data is the same for every operator); positions are
a tenant's. Quotes are append-only in the database: a bad price is outvoted or superseded by
later quotes, never edited (``risk.oracle`` decides what is trusted).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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
