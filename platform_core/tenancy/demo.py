"""Demo data for `make run`: one operator with a person in every role. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from platform_core.accounts.services import backup_codes_issue, totp_device_create
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_set
from platform_core.tenancy.roles import Role
from platform_core.tenancy.services import member_add, tenant_create

DEMO_TENANT_SLUG = "demo-capital"
DEMO_PASSWORD = "demo-Margin-2026"  # noqa: S105 - printed to the developer on purpose
DEMO_PEOPLE = [
    (Role.TENANT_ADMIN, "admin@demo-capital.example"),
    (Role.COMPLIANCE_OFFICER, "compliance@demo-capital.example"),
    (Role.RISK_OFFICER, "risk@demo-capital.example"),
    (Role.OPERATIONS, "operations@demo-capital.example"),
    (Role.AUDITOR, "auditor@demo-capital.example"),
    (Role.CLIENT, "client@demo-capital.example"),
]


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    otpauth_uri: str
    backup_codes: list[str]


def demo_seed() -> list[DemoLogin]:
    with transaction.atomic():
        tenant = Tenant.objects.filter(slug=DEMO_TENANT_SLUG).first() or tenant_create(
            slug=DEMO_TENANT_SLUG,
            name="Demo Capital",
            timezone="Asia/Shanghai",
            currency="CNY",
            actor_label="demo_seed",
        )
        logins = []
        rls_set(tenant=tenant)
        for role, email in DEMO_PEOPLE:
            membership = Membership.objects.filter(tenant=tenant, user__email=email).first()
            if membership is None:
                membership = member_add(
                    tenant=tenant,
                    email=email,
                    role=role,
                    password=DEMO_PASSWORD,
                    actor_label="demo_seed",
                ).membership
            user = membership.user
            device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
            if device is None:
                device = totp_device_create(user=user, confirmed=True)
            codes = list(
                StaticToken.objects.filter(device__user=user).values_list("token", flat=True)
            ) or backup_codes_issue(user=user)
            logins.append(DemoLogin(role, email, DEMO_PASSWORD, device.config_url, codes))
    return logins
