"""The ledger API exactly as ../shared/contracts/ledger-api.md fixes it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ledger.models import Hold, JournalEntry
from tests.conftest import api_token_for, as_tenant
from tests.ledger.factories import open_book, refreshed

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, person):
        self.client = Client()
        self.auth = {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person)}"}

    def get(self, path, **params):
        return self.client.get(path, params, **self.auth)

    def post(self, path, body=None, key=None):
        extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        return self.client.post(
            path, body or {}, content_type="application/json", **self.auth, **extra
        )


@pytest.fixture
def book(acme):
    return open_book(acme)


@pytest.fixture
def ops(acme):
    return Api(acme.operations)


def transfer(book, amount="125.50", entry_type="withdrawal", **overrides):
    body = {
        "debit_account": book.client.pk,
        "credit_account": book.bank.pk,
        "amount": amount,
        "currency": "USD",
        "entry_type": entry_type,
        "memo": "to bank ****1234",
    }
    body.update(overrides)
    return body


def test_accounts_are_opened_and_read_in_the_contract_shape(acme, ops):
    created = ops.post(
        "/api/v1/ledger/accounts",
        {"kind": "client_cash", "currency": "USD", "owner": acme.client.membership.pk},
    )
    assert created.status_code == 201
    body = created.json()
    assert body == {
        "id": body["id"],
        "kind": "client_cash",
        "currency": "USD",
        "owner": acme.client.membership.pk,
        "side": "credit",
        "balance": "0.00",
        "pending_debits": "0.00",
        "pending_credits": "0.00",
        "available": "0.00",
    }
    assert ops.get(f"/api/v1/ledger/accounts/{body['id']}").json() == body
    assert ops.get(f"/api/v1/ledger/accounts/{body['id']}/").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "client_cash", "currency": "USD"}, "owner"),
        ({"kind": "house_cash", "currency": "USD", "owner": 1}, "owner"),
        ({"kind": "piggy_bank", "currency": "USD"}, "kind"),
        ({"kind": "house_cash", "currency": "XYZ"}, "currency"),
    ],
)
def test_bad_account_requests_are_400_with_fields(acme, ops, body, field):
    response = ops.post("/api/v1/ledger/accounts", body)
    assert response.status_code == 400 and field in response.json()["fields"]


def test_a_transfer_replays_by_meaning_and_conflicts_naming_fields(book, ops):
    book.fund("500")
    first = ops.post("/api/v1/ledger/transfers", transfer(book, "125.5"), key="t-1")
    assert first.status_code == 201
    body = first.json()
    assert set(body) == {
        "entry_id",
        "entry_type",
        "amount",
        "currency",
        "debit_account",
        "credit_account",
        "created_at",
    }
    assert (body["amount"], body["entry_type"]) == ("125.50", "withdrawal")
    replay = ops.post("/api/v1/ledger/transfers/", transfer(book, "125.50"), key="t-1")
    assert (
        replay.status_code == 201
        and replay.json() == body
        and replay["Idempotent-Replayed"] == "true"
    )
    assert refreshed(book.client).balance == 500 - 125.5
    conflict = ops.post("/api/v1/ledger/transfers", transfer(book, "126", memo="other"), key="t-1")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_conflict"
    assert set(conflict.json()["fields"]) == {"amount", "memo"}


def test_a_write_without_a_key_is_refused(book, ops):
    response = ops.post("/api/v1/ledger/transfers", transfer(book))
    assert response.status_code == 400 and response.json()["code"] == "idempotency_key_required"


def test_insufficient_funds_is_422_and_the_key_stays_failed(book, ops):
    book.fund("100")
    refused = ops.post("/api/v1/ledger/transfers", transfer(book, "150"), key="t-2")
    assert refused.status_code == 422 and refused.json()["code"] == "insufficient_funds"
    book.fund("100")
    again = ops.post("/api/v1/ledger/transfers", transfer(book, "150"), key="t-2")
    assert again.status_code == 422 and again.json() == refused.json()
    assert ops.post("/api/v1/ledger/transfers", transfer(book, "150"), key="t-3").status_code == 201


def test_a_segregation_violation_is_422_and_stays_failed(book, ops):
    body = transfer(book, "1", entry_type="transfer", credit_account=book.house.pk)
    first = ops.post("/api/v1/ledger/transfers", body, key="seg")
    assert first.status_code == 422 and first.json()["code"] == "segregation_violation"
    assert ops.post("/api/v1/ledger/transfers", body, key="seg").json() == first.json()


def test_a_malformed_request_does_not_use_the_key_up(book, ops):
    book.fund("10")
    bad = ops.post("/api/v1/ledger/transfers", transfer(book, "1.001"), key="t-4")
    assert bad.status_code == 400 and "amount" in bad.json()["fields"]
    assert (
        ops.post("/api/v1/ledger/transfers", transfer(book, "1.00"), key="t-4").status_code == 201
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currency": "EUR"}, "currency"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"entry_type": "gift"}, "entry_type"),
        ({"debit_account": 999999}, "debit_account"),
    ],
)
def test_bad_transfers_are_400_with_fields_and_write_nothing(book, ops, overrides, field):
    book.fund("10")
    entries = JournalEntry.objects.count()
    response = ops.post("/api/v1/ledger/transfers", {**transfer(book, "1"), **overrides}, key="bad")
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]
    assert JournalEntry.objects.count() == entries


def test_an_account_of_another_tenant_is_a_400_with_fields(book, ops, globex):
    with as_tenant(globex.tenant):
        other = open_book(globex)
    response = ops.post(
        "/api/v1/ledger/transfers", transfer(book, "1", debit_account=other.client.pk), key="x"
    )
    assert response.status_code == 400 and "debit_account" in response.json()["fields"]
    assert ops.get(f"/api/v1/ledger/accounts/{other.client.pk}").status_code == 404


def test_multi_leg_entries(book, ops):
    book.fund("100")
    body = {
        "entry_type": "fee",
        "memo": "custody fee",
        "postings": [
            {"account": book.client.pk, "debit": "3.00"},
            {"account": book.fees.pk, "credit": "3.00"},
        ],
    }
    created = ops.post("/api/v1/ledger/entries", body, key="e-1")
    assert created.status_code == 201
    assert [p.get("debit") or p.get("credit") for p in created.json()["postings"]] == [
        "3.00",
        "3.00",
    ]
    unbalanced = {
        **body,
        "postings": [
            {"account": book.client.pk, "debit": "3"},
            {"account": book.fees.pk, "credit": "2"},
        ],
    }
    response = ops.post("/api/v1/ledger/entries", unbalanced, key="e-2")
    assert response.status_code == 400 and "postings" in response.json()["fields"]


def test_holds_post_once_void_refused_and_expiry(book, ops):
    book.fund("100")
    created = ops.post("/api/v1/ledger/holds", transfer(book, "40"), key="h-1")
    assert created.status_code == 201 and created.json()["status"] == "pending"
    hold_id = created.json()["hold_id"]
    assert ops.get(f"/api/v1/ledger/accounts/{book.client.pk}").json()["available"] == "60.00"
    posted = ops.post(f"/api/v1/ledger/holds/{hold_id}/post", {"amount": "30"}, key="p-1")
    assert posted.status_code == 200 and posted.json()["status"] == "posted"
    assert (
        ops.post(f"/api/v1/ledger/holds/{hold_id}/post", {"amount": "30"}, key="p-1").json()
        == posted.json()
    )
    voided = ops.post(f"/api/v1/ledger/holds/{hold_id}/void", key="v-1")
    assert voided.status_code == 409 and voided.json()["code"] == "hold_already_resolved"
    assert ops.get(f"/api/v1/ledger/accounts/{book.client.pk}").json()["balance"] == "70.00"
    expiring = ops.post(
        "/api/v1/ledger/holds",
        transfer(book, "5", expires_at=(timezone.now() + timedelta(minutes=5)).isoformat()),
        key="h-2",
    ).json()["hold_id"]
    Hold.objects.filter(pk=expiring).update(expires_at=timezone.now() - timedelta(seconds=1))
    late = ops.post(f"/api/v1/ledger/holds/{expiring}/post", key="p-2")
    assert late.status_code == 409 and late.json()["code"] == "hold_expired"


def test_trial_balance_and_statement(book, ops):
    book.fund("100")
    ops.post("/api/v1/ledger/transfers", transfer(book, "30"), key="t-5")
    trial = ops.get("/api/v1/ledger/trial-balance", currency="USD").json()
    assert trial["total_debits"] == trial["total_credits"] == "130.00"
    assert {a["id"]: a["balance"] for a in trial["accounts"]}[book.client.pk] == "70.00"
    statement = ops.get(f"/api/v1/ledger/accounts/{book.client.pk}/statement").json()
    assert [
        (p.get("credit"), p.get("debit"), p["balance_after"]) for p in statement["postings"]
    ] == [
        ("100.00", None, "100.00"),
        (None, "30.00", "70.00"),
    ]
    assert ops.get("/api/v1/ledger/trial-balance").status_code == 400


def test_who_may_call(acme, book):
    book.fund("10")
    risk, client, auditor = Api(acme.risk), Api(acme.client), Api(acme.auditor)
    assert risk.get(f"/api/v1/ledger/accounts/{book.client.pk}").status_code == 200
    assert risk.post("/api/v1/ledger/transfers", transfer(book, "1"), key="r").status_code == 403
    assert client.get(f"/api/v1/ledger/accounts/{book.client.pk}").status_code == 200
    assert client.get(f"/api/v1/ledger/accounts/{book.bank.pk}").status_code == 404
    assert client.post("/api/v1/ledger/transfers", transfer(book, "1"), key="c").status_code == 403
    assert auditor.get(f"/api/v1/ledger/accounts/{book.client.pk}").status_code == 403
    assert Client().get(f"/api/v1/ledger/accounts/{book.client.pk}").status_code == 401
    assert refreshed(book.client).balance == 10
