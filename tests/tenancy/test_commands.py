"""Operator commands: tenant_create and member_add, with clear refusals that change nothing."""

from __future__ import annotations

import json
from io import StringIO

import pyotp
import pytest
from django.core.management import CommandError, call_command

from platform_core.accounts.models import User
from platform_core.audit.models import AuditEvent
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context, rls_set
from platform_core.tenancy.roles import Role

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def tenant():
    run(
        "tenant_create",
        "orient",
        "--name",
        "Orient Securities",
        "--timezone",
        "Asia/Shanghai",
        "--currency",
        "cny",
    )
    tenant = Tenant.objects.get(slug="orient")
    rls_set(tenant=tenant)  # the test reads as Orient
    return tenant


def test_tenant_create_creates_and_audits(tenant):
    assert (tenant.name, tenant.timezone, tenant.base_currency) == (
        "Orient Securities",
        "Asia/Shanghai",
        "CNY",
    )
    assert AuditEvent.objects.filter(tenant=tenant, action="tenant.created").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["orient", "--name", "Again", "--timezone", "UTC", "--currency", "USD"], "already exists"),
        (
            ["new-one", "--name", "X", "--timezone", "Mars/Olympus", "--currency", "USD"],
            "IANA time zone",
        ),
        (
            ["new-one", "--name", "X", "--timezone", "UTC", "--currency", "XYZ"],
            "not a supported currency",
        ),
        (["Bad Slug", "--name", "X", "--timezone", "UTC", "--currency", "USD"], "slug"),
    ],
)
def test_tenant_create_refuses_bad_input_and_changes_nothing(tenant, args, message):
    tenants, events = Tenant.objects.count(), AuditEvent.objects.count()
    with pytest.raises(CommandError, match=message):
        run("tenant_create", *args)
    assert (Tenant.objects.count(), AuditEvent.objects.count()) == (tenants, events)


@pytest.mark.parametrize("role", Role.values)
def test_member_add_json_for_every_role(tenant, role):
    result = json.loads(
        run(
            "member_add",
            "--tenant",
            "orient",
            "--email",
            f"{role}@orient.example",
            "--role",
            role,
            "--json",
        )
    )
    membership = Membership.objects.get(pk=result["membership_id"])
    assert (membership.tenant, membership.role, membership.user.email) == (
        tenant,
        role,
        f"{role}@orient.example",
    )
    assert membership.user.check_password(result["initial_password"])
    # The otpauth URI works in any RFC 6238 implementation.
    totp = pyotp.parse_uri(result["otpauth_uri"])
    from platform_core.accounts.services import otp_verify

    assert otp_verify(user=membership.user, token=totp.now()).device is not None
    assert len(result["backup_codes"]) == 10


def test_member_add_prints_readable_output_with_a_given_password(tenant):
    out = run(
        "member_add",
        "--tenant",
        "orient",
        "--email",
        "Ops@Orient.example",
        "--role",
        "operations",
        "--password",
        "a-long-given-passphrase",
    )
    user = User.objects.get(email="ops@orient.example")
    membership = Membership.objects.get(user=user)
    assert f"Membership {membership.pk}" in out
    assert "otpauth://totp/" in out
    assert "Initial password" not in out
    assert user.check_password("a-long-given-passphrase")


def test_an_existing_person_joins_a_second_tenant_unchanged(tenant):
    run(
        "member_add",
        "--tenant",
        "orient",
        "--email",
        "a@x.example",
        "--role",
        "risk_officer",
        "--password",
        "first-long-passphrase",
    )
    run("tenant_create", "west", "--name", "West", "--timezone", "UTC", "--currency", "USD")
    result = json.loads(
        run(
            "member_add",
            "--tenant",
            "west",
            "--email",
            "a@x.example",
            "--role",
            "auditor",
            "--json",
        )
    )
    assert result["user_created"] is False and result["otpauth_uri"] is None
    assert User.objects.get(email="a@x.example").check_password("first-long-passphrase")
    with rls_context(user=User.objects.get(email="a@x.example")):  # their own, in all tenants
        assert Membership.objects.filter(user__email="a@x.example").count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--tenant", "nope", "--email", "a@b.example", "--role", "client"],
            "Unknown tenant 'nope'",
        ),
        (["--tenant", "orient", "--email", "a@b.example", "--role", "king"], "is not a role"),
        (
            ["--tenant", "orient", "--email", "not-an-email", "--role", "client"],
            "not a valid e-mail",
        ),
        (
            ["--tenant", "orient", "--email", "dup@orient.example", "--role", "client"],
            "already a member",
        ),
        (
            [
                "--tenant",
                "orient",
                "--email",
                "c@b.example",
                "--role",
                "client",
                "--password",
                "123",
            ],
            "password",
        ),
    ],
)
def test_member_add_refuses_bad_input_and_changes_nothing(tenant, args, message):
    run("member_add", "--tenant", "orient", "--email", "dup@orient.example", "--role", "client")
    counts = (User.objects.count(), Membership.objects.count(), AuditEvent.objects.count())
    with pytest.raises(CommandError, match=message):
        run("member_add", *args)
    assert (User.objects.count(), Membership.objects.count(), AuditEvent.objects.count()) == counts


def test_a_failing_command_exits_non_zero_with_its_message(tenant, capsys):
    from django.core.management import ManagementUtility

    argv = [
        "manage.py",
        "member_add",
        "--tenant",
        "nope",
        "--email",
        "a@b.example",
        "--role",
        "client",
    ]
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(argv).execute()  # what `python manage.py ...` runs
    assert exited.value.code != 0
    assert "Unknown tenant 'nope'" in capsys.readouterr().err


def _logins(output: str) -> str:
    """The logins the command prints, without its step timings."""
    return output[output.index("Demo Capital logins") : output.rindex("Demo seeded in")]


def test_demo_seed_prints_the_same_logins_each_time(capsys):
    # What the data looks like after two runs is tests/e2e/test_demo_seed.py's business; here,
    # a second run must not issue new factors or codes to the people already printed.
    call_command("demo_seed")
    first = _logins(capsys.readouterr().out)
    call_command("demo_seed")
    assert _logins(capsys.readouterr().out) == first
    assert all(f"\n  {role:<19} " in first for role in Role.values)
    assert first.count("otpauth://totp/") >= len(Role.values)
