"""Tenant isolation through the API: another tenant's object is a 404, like a missing one."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import api_token_for, assert_foreign_object_is_404, sign_in

pytestmark = pytest.mark.django_db


def detail(membership):
    return f"/api/v1/tenancy/members/{membership.pk}"


def test_staff_read_a_member_of_their_own_tenant(acme):
    token = api_token_for(Client(), acme.compliance)
    response = Client().get(detail(acme.client.membership), HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert response.json()["email"] == acme.client.email


def test_a_member_of_another_tenant_is_a_404(acme, globex):
    token = api_token_for(Client(), globex.compliance)
    assert_foreign_object_is_404(
        Client(), detail(acme.client.membership), HTTP_AUTHORIZATION=f"Token {token}"
    )


def test_a_session_user_of_another_tenant_gets_the_same_404(acme, globex):
    client = sign_in(Client(), globex.admin)
    assert_foreign_object_is_404(client, detail(acme.admin.membership))


def test_a_client_sees_only_their_own_membership(acme):
    token = api_token_for(Client(), acme.client)
    own = Client().get(detail(acme.client.membership), HTTP_AUTHORIZATION=f"Token {token}")
    assert own.status_code == 200
    assert_foreign_object_is_404(
        Client(), detail(acme.risk.membership), HTTP_AUTHORIZATION=f"Token {token}"
    )


def test_the_member_list_holds_only_the_callers_tenant(acme, globex):
    token = api_token_for(Client(), acme.operations)
    response = Client().get(
        "/api/v1/tenancy/members?page_size=100", HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert response.status_code == 200
    emails = {m["email"] for m in response.json()["results"]}
    assert emails == {
        p.email
        for p in (
            acme.client,
            acme.compliance,
            acme.risk,
            acme.operations,
            acme.admin,
            acme.auditor,
        )
    }
    assert not any("globex" in e for e in emails)


def test_the_member_list_refuses_a_client_and_an_unknown_role_filter(acme):
    client_token = api_token_for(Client(), acme.client)
    assert (
        Client()
        .get("/api/v1/tenancy/members", HTTP_AUTHORIZATION=f"Token {client_token}")
        .status_code
        == 403
    )
    staff_token = api_token_for(Client(), acme.risk)
    bad = Client().get(
        "/api/v1/tenancy/members?role=king", HTTP_AUTHORIZATION=f"Token {staff_token}"
    )
    assert bad.status_code == 400 and "role" in bad.json()["fields"]


def test_an_unverified_staff_session_gets_no_api_data(acme):
    client = sign_in(Client(), acme.compliance, verify=False)
    response = client.get(detail(acme.client.membership))
    assert response.status_code == 403
    assert response.json()["code"] == "second_factor_required"


def test_an_unknown_api_path_answers_in_the_error_body(db):
    response = Client().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not found.", "fields": {}}
