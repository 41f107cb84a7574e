"""The Idempotency-Key mechanism every write endpoint reuses, tried on adding a member."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.test import Client

from platform_core.accounts.models import User
from platform_core.tenancy.models import Membership
from tests.conftest import api_token_for, as_tenant, make_tenant_people

URL = "/api/v1/tenancy/members"


def post(client, token, body, key="key-1"):
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(URL, body, content_type="application/json", **headers)


@pytest.fixture
def admin_token(acme):
    return api_token_for(Client(), acme.admin)


@pytest.mark.django_db
def test_a_write_without_a_key_is_refused(acme, admin_token):
    response = post(Client(), admin_token, {"email": "n@acme.example", "role": "client"}, key=None)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    assert not User.objects.filter(email="n@acme.example").exists()


@pytest.mark.django_db
def test_a_replay_returns_the_first_response_and_writes_nothing(acme, admin_token):
    client = Client()
    first = post(client, admin_token, {"email": "n@acme.example", "role": "client"})
    assert first.status_code == 201
    members = Membership.objects.count()
    replay = post(client, admin_token, {"email": "n@acme.example", "role": "client"})
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Membership.objects.count() == members


@pytest.mark.django_db
def test_the_same_key_with_another_request_is_a_conflict_naming_the_fields(acme, admin_token):
    client = Client()
    post(client, admin_token, {"email": "n@acme.example", "role": "client"})
    members = Membership.objects.count()
    response = post(client, admin_token, {"email": "m@acme.example", "role": "auditor"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "idempotency_conflict"
    assert set(body["fields"]) == {"email", "role"}
    assert Membership.objects.count() == members


@pytest.mark.django_db
def test_keys_are_scoped_to_the_tenant(acme, admin_token):
    globex = make_tenant_people("globex")
    other_token = api_token_for(Client(), globex.admin)
    assert (
        post(Client(), admin_token, {"email": "n@x.example", "role": "client"}).status_code == 201
    )
    # The same key in another tenant is another request, not a replay or a conflict.
    response = post(Client(), other_token, {"email": "n@x.example", "role": "client"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


@pytest.mark.django_db
def test_a_malformed_request_does_not_use_the_key_up(acme, admin_token):
    client = Client()
    bad = post(client, admin_token, {"email": "not-an-email", "role": "client"})
    assert bad.status_code == 400 and "email" in bad.json()["fields"]
    good = post(client, admin_token, {"email": "n@acme.example", "role": "client"})
    assert good.status_code == 201


@pytest.mark.django_db
def test_only_a_tenant_admin_may_add_members_and_a_refusal_writes_nothing(acme):
    token = api_token_for(Client(), acme.risk)
    response = post(Client(), token, {"email": "n@acme.example", "role": "client"})
    assert response.status_code == 403
    assert not User.objects.filter(email="n@acme.example").exists()


@pytest.mark.django_db
def test_a_new_member_is_invited_by_email_with_a_set_password_link(acme, admin_token, mailoutbox):
    # django.test.Client runs on_commit callbacks only with a real commit; capture them here.
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = post(
            Client(), admin_token, {"email": "n@acme.example", "role": "compliance_officer"}
        )
    assert response.status_code == 201
    assert len(mailoutbox) == 1
    link = next(
        line for line in mailoutbox[0].body.splitlines() if "/accounts/set-password/" in line
    )
    path = link.split("127.0.0.1:8000", 1)[1]
    client = Client()
    form = client.get(path, follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-long-new-passphrase", "new_password2": "a-long-new-passphrase"},
    )
    assert done.status_code == 302
    assert User.objects.get(email="n@acme.example").check_password("a-long-new-passphrase")


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_write_once():
    acme = make_tenant_people("acme")
    token = api_token_for(Client(), acme.admin)
    barrier = threading.Barrier(4)
    results: list[tuple[int, dict]] = []

    def call() -> None:
        try:
            barrier.wait()
            response = post(
                Client(), token, {"email": "race@acme.example", "role": "client"}, key="race"
            )
            results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [201] * 4
    assert len({body["id"] for _, body in results}) == 1
    with as_tenant(acme.tenant):
        assert Membership.objects.filter(user__email="race@acme.example").count() == 1
