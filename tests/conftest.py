"""Personas in two tenants, and the helpers every test file uses.

Acme and Globex each have one person per role. Tests say who does what to whom:
``acme.compliance`` reads ``globex.client``'s membership and gets a 404.
"""

from __future__ import annotations

import time
from base64 import b32encode
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from django.core.cache import cache
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from platform_core.accounts.models import User
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.roles import Role
from platform_core.tenancy.services import member_add, tenant_create

PASSWORD = "correct-horse-battery-9"


@dataclass
class Person:
    user: User
    membership: Membership
    device: TOTPDevice
    backup_codes: list[str]

    @property
    def email(self) -> str:
        return self.user.email

    def totp(self) -> pyotp.TOTP:
        """An independent RFC 6238 implementation, fed only the otpauth secret."""
        self.device.refresh_from_db()
        return pyotp.TOTP(b32encode(self.device.bin_key).decode())

    def otp(self, steps_ahead: int = 0) -> str:
        """A code for now (or a later 30 s step, still inside the device's tolerance)."""
        return self.totp().at(time.time() + 30 * steps_ahead)

    def fresh_otp(self) -> str:
        """A code the device has not accepted yet (TOTP codes are single use)."""
        self.device.refresh_from_db()
        now_step = int(time.time()) // 30
        for ahead in (0, 1):
            if now_step + ahead > self.device.last_t:
                return self.otp(ahead)
        raise AssertionError("both acceptable TOTP steps already used; use a backup code")


@dataclass
class TenantPeople:
    tenant: Tenant
    client: Person
    compliance: Person
    risk: Person
    operations: Person
    admin: Person
    auditor: Person


ROLE_ATTRS = {
    "client": Role.CLIENT,
    "compliance": Role.COMPLIANCE_OFFICER,
    "risk": Role.RISK_OFFICER,
    "operations": Role.OPERATIONS,
    "admin": Role.TENANT_ADMIN,
    "auditor": Role.AUDITOR,
}


def make_person(tenant: Tenant, email: str, role: str) -> Person:
    added = member_add(tenant=tenant, email=email, role=role, password=PASSWORD)
    device = TOTPDevice.objects.get(user=added.membership.user, confirmed=True)
    return Person(added.membership.user, added.membership, device, added.backup_codes)


def make_tenant_people(slug: str) -> TenantPeople:
    tenant = tenant_create(slug=slug, name=slug.title(), timezone="Asia/Shanghai", currency="CNY")
    people = {
        attr: make_person(tenant, f"{attr}@{slug}.example", role)
        for attr, role in ROLE_ATTRS.items()
    }
    return TenantPeople(tenant=tenant, **people)


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Login throttling lives in the cache; each test starts with a clean slate.
    cache.clear()


@pytest.fixture
def acme(db: Any) -> TenantPeople:
    return make_tenant_people("acme")


@pytest.fixture
def globex(db: Any) -> TenantPeople:
    return make_tenant_people("globex")


def sign_in(client: Client, person: Person, *, verify: bool = True) -> Client:
    """Password, then (optionally) a TOTP code, through the real pages."""
    response = client.post("/accounts/login/", {"email": person.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    if verify:
        response = client.post("/accounts/verify/", {"otp": person.fresh_otp()})
        assert response.status_code == 302, response.content
    return client


def api_token_for(client: Client, person: Person, tenant: str | None = None) -> str:
    body: dict[str, str] = {"email": person.email, "password": PASSWORD, "otp": person.fresh_otp()}
    if tenant:
        body["tenant"] = tenant
    response = client.post("/api/v1/auth/token", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["token"]


def assert_foreign_object_is_404(client: Client, url: str, **headers: str) -> None:
    """The one rule of tenancy: another tenant's object is a 404, the same as a missing one.

    ``url`` names an object of another tenant; the same URL with an id that exists nowhere
    must give the same status and the same body, so nothing tells the two apart.
    """
    foreign = client.get(url, **headers)
    assert foreign.status_code == 404, (url, foreign.status_code)
    missing_url = url.rstrip("/").rsplit("/", 1)[0] + "/999999999"
    missing = client.get(missing_url, **headers)
    assert missing.status_code == 404
    assert foreign.content == missing.content
