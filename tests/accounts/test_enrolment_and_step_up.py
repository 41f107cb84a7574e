"""Enrolling an authenticator app, and the step-up guard on sensitive client actions."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from platform_core.accounts.models import ApiToken
from platform_core.accounts.services import STEP_UP_SESSION_KEY
from platform_core.audit.models import AuditEvent
from platform_core.tenancy.models import Tenant
from tests.conftest import PASSWORD, as_tenant, make_invited_person, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def newcomer(db):
    """A staff member invited by e-mail: a password, no device yet."""
    return make_invited_person("fresh", "new@fresh.example", "risk_officer")


def test_staff_without_a_device_must_enrol_before_any_page(newcomer):
    client = Client()
    response = client.post("/accounts/login/", {"email": newcomer.email, "password": PASSWORD})
    assert response["Location"].startswith("/accounts/two-factor/")
    assert client.get("/console/")["Location"].startswith("/accounts/two-factor/")
    assert client.get("/")["Location"].startswith("/accounts/two-factor/")


def test_enrolment_shows_an_svg_qr_code_and_confirms_with_any_rfc6238_code(newcomer, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the wrong try below would otherwise delay the right one
    client = Client()
    client.post("/accounts/login/", {"email": newcomer.email, "password": PASSWORD})
    page = client.get("/accounts/two-factor/").content.decode()
    assert "<svg" in page and "http" not in page.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
        "http://www.w3.org", ""
    )
    uri = re.search(r'id="otpauth-uri">([^<]+)<', page).group(1).replace("&amp;", "&")
    totp = pyotp.parse_uri(uri)
    wrong = client.post("/accounts/two-factor/", {"action": "confirm", "otp": "123456"})
    assert (
        wrong.status_code == 200
        and not TOTPDevice.objects.filter(user=newcomer, confirmed=True).exists()
    )
    done = client.post(
        "/accounts/two-factor/", {"action": "confirm", "otp": totp.now(), "next": "/console/"}
    )
    assert done.status_code == 200
    assert TOTPDevice.objects.filter(user=newcomer, confirmed=True).count() == 1
    codes = StaticToken.objects.filter(device__user=newcomer).values_list("token", flat=True)
    assert len(codes) == 10 and all(code in done.content.decode() for code in codes)
    assert client.get("/console/").status_code == 200
    with as_tenant(Tenant.objects.get(slug="fresh")):
        assert AuditEvent.objects.filter(actor=newcomer, action="auth.totp_enrolled").exists()


def test_an_enrolled_person_cannot_add_a_device_with_only_a_password(acme):
    client = sign_in(Client(), acme.risk, verify=False)
    response = client.post("/accounts/two-factor/", {"action": "enrol"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/verify/")
    assert TOTPDevice.objects.filter(user=acme.risk.user).count() == 1


def test_api_keys_need_a_fresh_second_factor(acme, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # throttling is tested in test_sign_in
    client = sign_in(Client(), acme.client)
    # Just verified: the step-up is fresh.
    assert client.get("/accounts/api-tokens/").status_code == 200
    # Minutes later it is stale: the page asks for a code again and writes nothing.
    session = client.session
    session[STEP_UP_SESSION_KEY] = time.time() - settings.STEP_UP_MAX_AGE_SECONDS - 1
    session.save()
    response = client.post("/accounts/api-tokens/", {"action": "create"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/step-up/")
    assert ApiToken.objects.count() == 0
    expired = client.post("/accounts/step-up/?next=/accounts/api-tokens/", {"otp": "000000"})
    assert expired.status_code == 200 and ApiToken.objects.count() == 0
    client.post(
        "/accounts/step-up/", {"otp": acme.client.fresh_otp(), "next": "/accounts/api-tokens/"}
    )
    created = client.post("/accounts/api-tokens/", {"action": "create"})
    assert created.status_code == 200 and b'id="new-token"' in created.content
    assert ApiToken.objects.filter(membership=acme.client.membership).count() == 1


def test_a_client_without_a_device_is_sent_to_enrol_before_a_step_up_action(db):
    make_invited_person("solo", "c@solo.example", "client")
    client = Client()
    client.post("/accounts/login/", {"email": "c@solo.example", "password": PASSWORD})
    response = client.get("/accounts/api-tokens/")
    assert response["Location"].startswith("/accounts/two-factor/")


def test_the_login_page_speaks_simplified_chinese(db):
    client = Client()
    client.cookies["django_language"] = "zh-hans"
    page = client.get("/accounts/login/").content.decode()
    assert "登录" in page and "Sign in" not in page
