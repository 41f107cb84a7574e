"""Token issuance as fixed by the ledger-API contract ("Authentication for integrations")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from platform_core.accounts.models import ApiToken
from platform_core.audit.models import AuditEvent
from platform_core.tenancy.services import member_add
from tests.conftest import PASSWORD, api_token_for, as_tenant

pytestmark = pytest.mark.django_db


def issue(client, **body):
    return client.post("/api/v1/auth/token", body, content_type="application/json")


def test_it_issues_a_token_for_email_password_and_otp(acme):
    client = Client()
    response = issue(
        client, email=acme.operations.email, password=PASSWORD, otp=acme.operations.otp()
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "tenant", "expires_at"}
    assert body["tenant"] == "acme"
    assert parse_datetime(body["expires_at"]) > timezone.now()
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert me.status_code == 200
    assert me.json() == {
        "email": acme.operations.email,
        "tenant": "acme",
        "membership_id": acme.operations.membership.pk,
        "role": "operations",
    }
    # Only a digest is stored: the database never holds a usable token.
    assert not ApiToken.objects.filter(key_digest=body["token"]).exists()
    assert AuditEvent.objects.filter(tenant=acme.tenant, action="auth.token_issued").exists()


def test_the_trailing_slash_answers_the_same(acme):
    response = Client().post(
        "/api/v1/auth/token/",
        {"email": acme.operations.email, "password": PASSWORD, "otp": acme.operations.otp()},
        content_type="application/json",
    )
    assert response.status_code == 201


@pytest.mark.parametrize("otp", ["000000", "", "abcdef"])
def test_no_valid_otp_no_token(acme, otp):
    response = issue(Client(), email=acme.operations.email, password=PASSWORD, otp=otp)
    assert response.status_code in (400, 401)
    assert "token" not in response.json()
    assert ApiToken.objects.count() == 0


def test_an_otp_is_accepted_once(acme):
    code = acme.operations.otp()
    assert (
        issue(Client(), email=acme.operations.email, password=PASSWORD, otp=code).status_code == 201
    )
    replay = issue(Client(), email=acme.operations.email, password=PASSWORD, otp=code)
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_otp"
    assert ApiToken.objects.count() == 1


def test_a_wrong_password_gets_no_token_and_the_uniform_error_body(acme):
    response = issue(
        Client(), email=acme.operations.email, password="wrong", otp=acme.operations.otp()
    )
    assert response.status_code == 401
    assert response.json() == {
        "code": "invalid_credentials",
        "message": "E-mail or password is wrong.",
        "fields": {},
    }


def test_a_malformed_request_is_a_400_naming_the_fields():
    response = issue(Client(), email="x@example.com")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"password", "otp"}


def test_the_tenant_field_picks_among_several_memberships(acme, globex):
    # The Acme compliance officer is also a risk officer at Globex.
    with as_tenant(globex.tenant):
        member_add(tenant=globex.tenant, email=acme.compliance.email, role="risk_officer")
    client = Client()
    default = issue(
        client, email=acme.compliance.email, password=PASSWORD, otp=acme.compliance.otp()
    )
    assert default.json()["tenant"] == "acme"  # the first membership is the default
    chosen = issue(
        client,
        email=acme.compliance.email,
        password=PASSWORD,
        otp=acme.compliance.otp(steps_ahead=1),
        tenant="globex",
    )
    assert chosen.status_code == 201 and chosen.json()["tenant"] == "globex"
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {chosen.json()['token']}")
    assert me.json()["role"] == "risk_officer"


@pytest.mark.parametrize("slug", ["globex", "no-such-tenant"])
def test_a_tenant_without_a_membership_is_refused(acme, globex, slug):
    response = issue(
        Client(),
        email=acme.operations.email,
        password=PASSWORD,
        otp=acme.operations.otp(),
        tenant=slug,
    )
    assert response.status_code == 400
    assert "tenant" in response.json()["fields"]
    assert ApiToken.objects.count() == 0


def test_an_expired_token_is_refused(acme):
    client = Client()
    key = api_token_for(client, acme.operations)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_revoked_token_is_refused(acme):
    client = Client()
    key = api_token_for(client, acme.operations)
    assert client.delete("/api/v1/auth/token", HTTP_AUTHORIZATION=f"Token {key}").status_code == 204
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert AuditEvent.objects.filter(action="auth.token_revoked").count() == 1


def test_a_token_of_a_revoked_membership_is_refused(acme):
    from platform_core.tenancy.services import membership_revoke

    client = Client()
    key = api_token_for(client, acme.operations)
    membership_revoke(membership=acme.operations.membership, actor=acme.admin.user, reason="left")
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {key}").status_code == 403


def test_anonymous_calls_get_401(db):
    response = Client().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
