"""Demo data for `make run`: one operator, Demo Capital, with a person in every role and a few
dozen clients across the whole loop. Idempotent: a second run changes nothing.

The platform creates the people; the domain apps seed their part through the steps the
settings name in order (``DEMO_SEED_STEPS``: dotted paths of ``demo_seed_step(*, tenant,
staff, clients)`` functions), so this module imports no domain app. Each step calls its app's
services with natural keys or idempotency keys, and skips what already exists.

The clients, by index in ``clients`` (each app's ``demo.py`` reads the same cast):

- 0: ``client@demo-capital.example``, the account the README points at (a margin call with
  hedge hints);
- 1..25 (``client01``..``client25``): onboarded and funded, with books from healthy to
  deleveraged;
- 26, 27: submitted, waiting for compliance (27 with a sanctions-screening hit);
- 28..30: still onboarding (a file half filled in).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from platform_core.accounts.models import User
from platform_core.accounts.services import backup_codes_issue, totp_device_create, user_create
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.roles import Role
from platform_core.tenancy.services import member_add, tenant_create

logger = logging.getLogger(__name__)

DEMO_TENANT_SLUG = "demo-capital"
DEMO_PASSWORD = "demo-Margin-2026"  # noqa: S105 - printed to the developer on purpose
DEMO_PEOPLE = [
    (Role.TENANT_ADMIN, "admin@demo-capital.example", "Li Na"),
    (Role.COMPLIANCE_OFFICER, "compliance@demo-capital.example", "Wang Fang"),
    (Role.RISK_OFFICER, "risk@demo-capital.example", "Chen Jie"),
    (Role.RISK_OFFICER, "risk2@demo-capital.example", "Gao Feng"),  # the second pair of eyes
    (Role.OPERATIONS, "operations@demo-capital.example", "Zhao Min"),
    (Role.AUDITOR, "auditor@demo-capital.example", "Sun Hao"),
    (Role.CLIENT, "client@demo-capital.example", "Zhang Wei"),
]
# client01..client30: names as they are on their identity documents.
DEMO_CLIENT_NAMES = [
    "Liu Yang", "Huang Lei", "Zhou Jing", "Wu Qiang", "Xu Li", "Zhu Tao", "Hu Xin", "Guo Ping",
    "He Jun", "Gao Yan", "Lin Feng", "Luo Hui", "Zheng Bo", "Liang Chen", "Song Lan",
    "Xie Gang", "Tang Yun", "Han Mei", "Feng Kai", "Deng Hua", "Cao Rui", "Peng Yu", "Zeng Ling",
    "Xiao Dan", "Tian Hong", "Dong Xue", "Viktor Aleksandrovich Morozov", "Pan Yi", "Yuan Hao",
    "Jiang Qing",
]  # fmt: skip
DEMO_CLIENT_COUNT = len(DEMO_CLIENT_NAMES)


def demo_client_email(number: int) -> str:
    return f"client{number:02d}@demo-capital.example"


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    otpauth_uri: str
    backup_codes: list[str]


DemoStep = Callable[..., None]


def demo_seed_steps(*, later: bool = False) -> list[DemoStep]:
    """The seed's steps, or with ``later`` the slow ones run after it (in the background)."""
    name = "DEMO_SEED_LATER_STEPS" if later else "DEMO_SEED_STEPS"
    return [import_string(path) for path in getattr(settings, name, [])]


def _person(tenant: Tenant, *, role: str, email: str, full_name: str) -> Membership:
    """The person's membership, created with the demo password, an authenticator and backup
    codes the first time."""
    membership = Membership.objects.filter(tenant=tenant, user__email=email).first()
    if membership is None:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = user_create(email=email, password=DEMO_PASSWORD, full_name=full_name)
        membership = member_add(
            tenant=tenant, email=email, role=role, actor_label="demo_seed"
        ).membership
    user = membership.user
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        totp_device_create(user=user, confirmed=True)
    if not StaticToken.objects.filter(device__user=user).exists():
        backup_codes_issue(user=user)
    return membership


def _login(membership: Membership) -> DemoLogin:
    user = membership.user
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
    assert device is not None
    codes = list(
        StaticToken.objects.filter(device__user=user).order_by("id").values_list("token", flat=True)
    )
    return DemoLogin(membership.role, user.email, DEMO_PASSWORD, device.config_url, codes)


def demo_seed(
    *,
    steps: list[DemoStep] | None = None,
    on_step: Callable[[str, float], None] | None = None,
    later: bool = False,
) -> tuple[list[DemoLogin], list[DemoLogin]]:
    """Seed Demo Capital; returns the logins of the staff and README client, then of the
    numbered clients."""
    with transaction.atomic():
        tenant = Tenant.objects.filter(slug=DEMO_TENANT_SLUG).first() or tenant_create(
            slug=DEMO_TENANT_SLUG,
            name="Demo Capital",
            timezone="Asia/Shanghai",
            currency="CNY",
            actor_label="demo_seed",
        )
    with rls_context(tenant=tenant):
        people = [
            _person(tenant, role=role, email=email, full_name=name)
            for role, email, name in DEMO_PEOPLE
        ]
        clients = [people[-1]] + [
            _person(tenant, role=Role.CLIENT, email=demo_client_email(number), full_name=name)
            for number, name in enumerate(DEMO_CLIENT_NAMES, start=1)
        ]
    # Staff by the local part of their e-mail: admin, compliance, risk, risk2, operations, auditor.
    staff = {m.user.email.split("@")[0]: m for m in people if m.role != Role.CLIENT}
    # One transaction per step, so what a step's services do after commit (the ledger's
    # listeners, the ladder after a sweep) has happened before the next step starts.
    for step in demo_seed_steps(later=later) if steps is None else steps:
        started = time.monotonic()
        with rls_context(tenant=tenant):
            step(tenant=tenant, staff=staff, clients=clients)
        took = time.monotonic() - started
        logger.info("demo step %s.%s: %.1f s", step.__module__, step.__name__, took)
        if on_step is not None:
            on_step(f"{step.__module__}.{step.__name__}", took)
    with rls_context(tenant=tenant):
        return [_login(m) for m in people], [_login(m) for m in clients[1:]]


def demo_tenant() -> Tenant | None:
    return Tenant.objects.filter(slug=DEMO_TENANT_SLUG).first()


def demo_feed_runner() -> Callable[..., Any] | None:
    """The simulated market feed the settings name (``DEMO_FEED``), if any."""
    path = getattr(settings, "DEMO_FEED", "")
    return import_string(path) if path else None
