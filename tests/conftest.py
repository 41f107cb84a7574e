"""Personas in two tenants, and the helpers every test file uses.

Acme and Globex each have one person per role. Tests say who does what to whom:
``acme.compliance`` reads ``globex.client``'s membership and gets a 404.
"""

from __future__ import annotations

import re
import time
from base64 import b32encode
from dataclasses import dataclass
from typing import Any

import psycopg
import pyotp
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from platform_core.accounts.models import User
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context, rls_set
from platform_core.tenancy.roles import Role
from platform_core.tenancy.services import member_add, tenant_create

# --- the database: built by the owner, tested as the application role ---------------------
#
# The suite runs connected as the application role (no table ownership, no BYPASSRLS, no
# UPDATE/DELETE/TRUNCATE on append-only tables), as production does. Creating, migrating,
# flushing and dropping the test database are the owner's job.

_LOGIN_KEYS = ("USER", "PASSWORD", "HOST", "PORT")
# Taken before any fixture swaps the connection to the owner (the dicts are shared).
APP_LOGIN = {key: settings.DATABASES["default"].get(key, "") for key in _LOGIN_KEYS}


def _login(alias: str, login: dict[str, Any]) -> None:
    connection = connections[alias]
    connection.close()
    connection.settings_dict.update({key: login.get(key, "") for key in _LOGIN_KEYS})


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    _login("default", settings.DATABASE_OWNER)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Any:
    _login("default", APP_LOGIN)
    if "reporting" in connections:
        # A test mirror shares the primary's settings; give the reporting alias its own login.
        reporting = connections["reporting"]
        reporting.settings_dict = {
            **connections["default"].settings_dict,
            **{key: settings.DATABASES["reporting"].get(key, "") for key in _LOGIN_KEYS},
        }
    yield
    _login("default", settings.DATABASE_OWNER)  # the owner drops the test database


def _flush_as_owner(self: DatabaseOperations, sql_list: list[str]) -> None:
    """Transactional tests end with TRUNCATE, which the application role may not run."""
    with psycopg.connect(**owner_connection_params()) as owner_db:
        guarded = [
            row[0]
            for row in owner_db.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname LIKE '%%\\_append\\_only\\_truncate'"
            ).fetchall()
        ]
        for table in guarded:  # append-only tables refuse TRUNCATE even to the owner
            owner_db.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only_truncate")
        for sql in sql_list:
            owner_db.execute(sql)
        for table in guarded:
            owner_db.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only_truncate")


DatabaseOperations.execute_sql_flush = _flush_as_owner  # type: ignore[method-assign]


def owner_connection_params() -> dict[str, Any]:
    owner = settings.DATABASE_OWNER
    params = {
        "dbname": connections["default"].settings_dict["NAME"],
        "user": owner["USER"],
        "password": owner.get("PASSWORD") or None,
        "host": owner.get("HOST") or None,
        "port": owner.get("PORT") or None,
    }
    return {k: v for k, v in params.items() if v is not None}


def as_owner(*statements: tuple[str, list[Any]] | str, tenant: Any = None) -> list[Any]:
    """Run SQL as the schema owner on its own connection (committed data only).

    What an attacker with the owner's rights, or a careless operator, could do behind the
    application's back; tests use it to prove such edits are caught. FORCE ROW LEVEL
    SECURITY binds the owner too, so ``tenant`` picks whose rows it sees.
    """
    results = []
    with psycopg.connect(**owner_connection_params(), autocommit=True) as owner_db:
        if tenant is not None:
            owner_db.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant.pk)])
        for statement in statements:
            sql, params = (statement, []) if isinstance(statement, str) else statement
            cursor = owner_db.execute(sql, params)
            results.append(cursor.fetchall() if cursor.description else None)
    return results


def as_tenant(tenant: Any) -> Any:
    """Read or write as ``tenant`` in test code (row-level security hides everything else)."""
    return rls_context(tenant=tenant)


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
    with as_tenant(tenant):
        added = member_add(tenant=tenant, email=email, role=role, password=PASSWORD)
    device = TOTPDevice.objects.get(user=added.membership.user, confirmed=True)
    return Person(added.membership.user, added.membership, device, added.backup_codes)


def make_invited_person(slug: str, email: str, role: str) -> User:
    """A person invited by e-mail to a new tenant, who chose ``PASSWORD`` and has no device."""
    tenant = tenant_create(slug=slug, name=slug.title(), timezone="UTC", currency="USD")
    with as_tenant(tenant):
        user = member_add(tenant=tenant, email=email, role=role, invite=True).membership.user
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


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
    """Acme and its people; the test's own queries then act as Acme (``as_tenant`` for others).

    Requests made by the test client set and restore their own context, so this only
    decides what the test's assertions can see.
    """
    people = make_tenant_people("acme")
    if connection.in_atomic_block:  # transactional tests open their own contexts
        rls_set(tenant=people.tenant)
    return people


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


_PER_REQUEST = [
    re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]*'),
    re.compile(rb'("X-CSRFToken": ")[^"]*'),
]


def comparable_body(response: Any) -> bytes:
    """A response body without what differs on every request anyway: CSRF tokens, and the
    page's own address (pages repeat it in their language switcher)."""
    content = response.content.replace(response.request["PATH_INFO"].encode(), b"<path>")
    for pattern in _PER_REQUEST:
        content = pattern.sub(rb"\1", content)
    return content


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
    assert comparable_body(foreign) == comparable_body(missing)
