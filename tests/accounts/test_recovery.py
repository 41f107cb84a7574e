"""A lost second factor: a backup code and a new device at once, or a four-eyes reset."""

from __future__ import annotations

import re

import pyotp
import pytest
from django.test import Client, TestCase
from django.utils import translation
from django.utils.translation import gettext
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from platform_core.audit.approvals import approval_request_approve, approval_request_create
from platform_core.audit.models import AuditEvent
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from tests.conftest import make_person, sign_in

pytestmark = pytest.mark.django_db


def test_a_backup_code_sign_in_must_enrol_a_new_device_which_replaces_the_old(acme, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    old_device = acme.risk.device
    client = sign_in(Client(), acme.risk, verify=False)
    response = client.post("/accounts/verify/?next=/console/", {"otp": acme.risk.backup_codes[0]})
    assert response["Location"].startswith("/accounts/two-factor/")
    # Nothing else opens until the new authenticator is enrolled.
    assert client.get("/console/")["Location"].startswith("/accounts/two-factor/")
    assert client.get("/accounts/api-tokens/")["Location"].startswith("/accounts/two-factor/")
    page = client.get("/accounts/two-factor/").content.decode()
    assert 'id="recovery-notice"' in page
    uri = re.search(r'id="otpauth-uri">([^<]+)<', page).group(1).replace("&amp;", "&")
    client.post("/accounts/two-factor/", {"action": "confirm", "otp": pyotp.parse_uri(uri).now()})
    assert not TOTPDevice.objects.filter(pk=old_device.pk).exists()
    assert TOTPDevice.objects.filter(user=acme.risk.user, confirmed=True).count() == 1
    assert client.get("/console/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.device_replaced", actor=acme.risk.user).exists()


def test_new_backup_codes_need_a_fresh_step_up(acme):
    client = sign_in(Client(), acme.risk)
    session = client.session
    session["otp_verified_at"] = 0
    session.save()
    before = set(
        StaticToken.objects.filter(device__user=acme.risk.user).values_list("token", flat=True)
    )
    response = client.post("/accounts/two-factor/", {"action": "backup_codes"})
    assert response["Location"].startswith("/accounts/step-up/")
    after = set(
        StaticToken.objects.filter(device__user=acme.risk.user).values_list("token", flat=True)
    )
    assert before == after


@pytest.fixture
def second_admin(acme):
    return make_person(acme.tenant, "admin2@acme.example", Role.TENANT_ADMIN)


def request_reset(acme, subject):
    return approval_request_create(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        action="accounts.second_factor_reset",
        params={"membership_id": subject.membership.pk},
        reason="phone lost, identity checked by video call",
    )


def test_a_reset_needs_a_second_admin_then_removes_every_device_and_tells_the_person(
    acme, second_admin, mailoutbox
):
    approval = request_reset(acme, acme.compliance)
    assert TOTPDevice.objects.filter(user=acme.compliance.user).exists()  # not before approval
    with TestCase.captureOnCommitCallbacks(execute=True):
        approval_request_approve(
            tenant=acme.tenant,
            actor=second_admin.user,
            membership=second_admin.membership,
            approval_id=approval.pk,
            reason="called back on the number on file",
        )
    assert not TOTPDevice.objects.filter(user=acme.compliance.user).exists()
    assert not StaticToken.objects.filter(device__user=acme.compliance.user).exists()
    told = [m for m in mailoutbox if m.to == [acme.compliance.email]]
    with translation.override(acme.compliance.user.language):  # in the person's own language
        assert [m.subject for m in told] == [gettext("Your second factor was reset")]
    assert AuditEvent.objects.filter(
        action="auth.second_factor_reset", object_id=str(acme.compliance.user.pk)
    ).exists()
    # At the next sign-in the person must enrol a new device before anything else.
    client = Client()
    response = client.post(
        "/accounts/login/", {"email": acme.compliance.email, "password": "correct-horse-battery-9"}
    )
    assert response["Location"].startswith("/accounts/two-factor/")


def test_the_maker_alone_cannot_reset(acme):
    approval = request_reset(acme, acme.compliance)
    with pytest.raises(ApplicationError, match="cannot decide their own"):
        approval_request_approve(
            tenant=acme.tenant,
            actor=acme.admin.user,
            membership=acme.admin.membership,
            approval_id=approval.pk,
            reason="me",
        )
    assert TOTPDevice.objects.filter(user=acme.compliance.user).exists()


def test_nobody_approves_the_reset_of_their_own_factor(acme, second_admin):
    approval = request_reset(acme, second_admin)
    with pytest.raises(ApplicationError, match="own second factor"):
        approval_request_approve(
            tenant=acme.tenant,
            actor=second_admin.user,
            membership=second_admin.membership,
            approval_id=approval.pk,
            reason="me",
        )
    assert TOTPDevice.objects.filter(user=second_admin.user).exists()


def test_a_reset_of_another_tenants_member_is_refused(acme, globex):
    with pytest.raises(ApplicationError) as refused:
        request_reset(acme, globex.compliance)
    assert "params.membership_id" in refused.value.fields
