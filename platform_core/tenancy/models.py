"""Tenants (licensed operators) and the memberships that give people a role in one."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from platform_core.tenancy.roles import STAFF_ROLES, Role

# ISO 4217 codes the platform books in, with their minor units (decimal places).
CURRENCY_MINOR_UNITS: dict[str, int] = {
    "CNY": 2,
    "HKD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "SGD": 2,
    "JPY": 0,
    "CHF": 2,
    "AUD": 2,
    "CAD": 2,
}


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Asia/Shanghai).")


def validate_currency(value: str) -> None:
    if value not in CURRENCY_MINOR_UNITS:
        supported = ", ".join(sorted(CURRENCY_MINOR_UNITS))
        raise ValidationError(f"{value!r} is not a supported currency ({supported}).")


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    base_currency = models.CharField(max_length=3, validators=[validate_currency])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # A withdrawal above this needs a second operations person (four eyes). The figure is in
    # the base currency, but a withdrawal in another currency is compared with it as is, with
    # no conversion: set it for the currency most withdrawals are made in.
    withdrawal_four_eyes_above = models.DecimalField(
        max_digits=28,
        decimal_places=4,
        default=Decimal(50000),
        help_text=_(
            "Withdrawals above this amount need a second operations person. In the base "
            "currency; amounts in other currencies are compared as is, without conversion."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    """A person's role in one tenant. Clients are memberships too (the ledger's `owner`)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REVOKED = "revoked", _("Revoked")

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_one_per_tenant"),
            models.UniqueConstraint(fields=["tenant", "id"], name="membership_tenant_id_key"),
        ]
        indexes = [models.Index(fields=["tenant", "role", "status"], name="membership_role_idx")]
        permissions = [
            ("review_client", "Can review a client's file assigned to them"),
            ("assign_client", "Can assign clients to staff"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.tenant_id}:{self.role}"

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


# Direct foreign-key object-permission tables (django-guardian): the generic
# tables cast primary keys to text, which defeats the index on busy tables.
class MembershipUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Membership, on_delete=models.CASCADE)


class MembershipGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Membership, on_delete=models.CASCADE)
