"""Sign-in is password, then a second factor; staff areas refuse any unverified session."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken

from platform_core.audit.models import AuditEvent
from tests.conftest import PASSWORD, make_invited_person, sign_in

pytestmark = pytest.mark.django_db


def test_it_asks_for_the_second_factor_after_the_password(acme):
    client = Client()
    response = client.post(
        "/accounts/login/?next=/console/",
        {"email": acme.compliance.email, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/verify/")
    # Signed in with the password only: the console is still closed.
    assert client.get("/console/")["Location"].startswith("/accounts/verify/")

    response = client.post("/accounts/verify/?next=/console/", {"otp": acme.compliance.otp()})
    assert response.status_code == 302 and response["Location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200
    assert b"console-title" in page.content


def test_it_rejects_a_wrong_password_and_audits_it(acme):
    client = Client()
    response = client.post("/accounts/login/", {"email": acme.risk.email, "password": "nope"})
    assert response.status_code == 200
    assert "E-mail or password is wrong" in response.content.decode()
    assert not client.session.get("_auth_user_id")
    event = AuditEvent.objects.filter(action="auth.login_failed").latest("id")
    assert event.tenant_id == acme.tenant.pk and event.object_id == str(acme.risk.user.pk)


def test_it_throttles_password_guessing(acme, settings):
    settings.LOGIN_THROTTLE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post("/accounts/login/", {"email": acme.risk.email, "password": "wrong"})
    # Even the right password is refused while the lock lasts.
    response = client.post("/accounts/login/", {"email": acme.risk.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "Too many failed attempts" in response.content.decode()
    assert not client.session.get("_auth_user_id")
    assert AuditEvent.objects.filter(action="auth.login_throttled").exists()


def test_it_rejects_a_wrong_code_and_audits_it(acme):
    client = sign_in(Client(), acme.compliance, verify=False)
    response = client.post("/accounts/verify/", {"otp": "000000"})
    assert response.status_code == 200
    assert client.get("/console/").status_code == 302
    assert AuditEvent.objects.filter(
        action="auth.otp_failed", actor=acme.compliance.user, tenant=acme.tenant
    ).exists()


def test_a_totp_code_cannot_be_replayed(acme):
    code = acme.compliance.otp()
    first = sign_in(Client(), acme.compliance, verify=False)
    assert first.post("/accounts/verify/", {"otp": code}).status_code == 302
    second = sign_in(Client(), acme.compliance, verify=False)
    response = second.post("/accounts/verify/", {"otp": code})
    assert response.status_code == 200
    assert "already used" in response.content.decode()


def test_failed_codes_are_throttled(acme):
    client = sign_in(Client(), acme.compliance, verify=False)
    for _ in range(3):
        client.post("/accounts/verify/", {"otp": "000000"})
    # The right code is refused during the back-off (django-otp: 2**(n-1) seconds).
    response = client.post("/accounts/verify/", {"otp": acme.compliance.otp()})
    assert response.status_code == 200
    assert "Too many wrong codes" in response.content.decode()


def test_a_backup_code_works_once(acme):
    code = acme.operations.backup_codes[0]
    client = sign_in(Client(), acme.operations, verify=False)
    assert client.post("/accounts/verify/", {"otp": code}).status_code == 302
    assert not StaticToken.objects.filter(token=code).exists()
    again = sign_in(Client(), acme.operations, verify=False)
    assert again.post("/accounts/verify/", {"otp": code}).status_code == 200


def test_a_client_cannot_open_the_console(acme):
    client = sign_in(Client(), acme.client)
    assert client.get("/").status_code == 200
    assert client.get("/console/").status_code == 403
    assert client.get("/audit/").status_code == 403


def test_the_auditor_area_needs_the_auditor_role_and_a_second_factor(acme):
    unverified = sign_in(Client(), acme.auditor, verify=False)
    assert unverified.get("/audit/")["Location"].startswith("/accounts/verify/")
    verified = sign_in(Client(), acme.auditor)
    assert verified.get("/audit/").status_code == 200
    assert verified.get("/console/").status_code == 403
    staff = sign_in(Client(), acme.risk)
    assert staff.get("/audit/").status_code == 403


def test_the_admin_refuses_an_unverified_platform_operator(acme):
    operator = acme.admin.user
    operator.is_staff = operator.is_superuser = True
    operator.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(operator)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/verify/" in response["Location"]
    client.post("/accounts/verify/", {"otp": acme.admin.otp()})
    assert client.get("/admin/").status_code == 200


def test_a_client_without_a_device_uses_the_portal_without_otp(db):
    make_invited_person("solo", "new@solo.example", "client")
    client = Client()
    response = client.post("/accounts/login/", {"email": "new@solo.example", "password": PASSWORD})
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_passwords_are_hashed_with_argon2_in_production_settings():
    from platform_core.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
