"""docs/api.md, request for request: a client authenticates with e-mail, password and a code,
reads the margin, asks a what-if, places the order (and replays it), reads the margin again."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from risk.models import Instrument, Order
from tests.conftest import PASSWORD, TenantPeople, as_tenant
from tests.ledger.factories import open_book
from tests.risk.factories import quote

pytestmark = pytest.mark.django_db


def test_the_worked_example_of_docs_api_md(acme: TenantPeople, settings) -> None:
    # The client's KYC suitability is the KYC app's to test; here the order's other checks.
    settings.RISK_SUITABILITY_REQUIRED = False
    with as_tenant(acme.tenant):
        book = open_book(acme, currency="CNY")
        book.fund("100000.00")
        aapl, _ = Instrument.objects.get_or_create(symbol="AAPL", defaults={"kind": "equity"})
        quote(aapl, "230.00", "230.10", "229.90")
    http = Client()

    # 1. Authenticate.
    response = http.post(
        "/api/v1/auth/token",
        {"email": acme.client.email, "password": PASSWORD, "otp": acme.client.otp()},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["tenant"] == "acme"
    auth = {"HTTP_AUTHORIZATION": f"Token {response.json()['token']}"}
    me = http.get("/api/v1/me", **auth).json()
    assert (me["role"], me["membership_id"]) == ("client", acme.client.membership.pk)

    # 2. Read the margin: cash only.
    margin_url = f"/api/v1/risk/accounts/{book.client.pk}/margin"
    before = http.get(margin_url, **auth)
    assert before.status_code == 200, before.content
    assert Decimal(before.json()["equity"]) == Decimal("100000.00")
    assert Decimal(before.json()["maintenance_requirement"]) == 0

    # 3. What-if: nothing placed, the requirement the order would bring.
    what_if = http.post(
        "/api/v1/risk/what-if",
        {"account": book.client.pk, "orders": [{"symbol": "AAPL", "quantity": "100"}]},
        content_type="application/json",
        **auth,
    )
    assert what_if.status_code == 200, what_if.content
    body = what_if.json()
    assert Decimal(body["maintenance_requirement"]) > 0
    assert body["max_quantity"] is not None and body["max_quantity"] > 100
    assert any(row["underlying"] == "AAPL" for row in body["liquidation_prices"] or [])
    assert not Order.objects.exists()
    bad = http.post(
        "/api/v1/risk/what-if",
        {"account": book.client.pk, "orders": [{"symbol": "AAPL", "quantity": "0"}]},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400 and "orders.0.quantity" in bad.json()["fields"]

    # 4. Place it; the same key again is the same order.
    order = {"account": book.client.pk, "symbol": "AAPL", "quantity": "100"}
    headers = {**auth, "HTTP_IDEMPOTENCY_KEY": "my-order-2026-11-26-0001"}
    placed = http.post("/api/v1/risk/orders", order, content_type="application/json", **headers)
    assert placed.status_code == 201, placed.content
    fill = placed.json()
    assert Decimal(fill["fill_price"]) >= Decimal(fill["oracle_price"])  # against the buyer
    again = http.post("/api/v1/risk/orders", order, content_type="application/json", **headers)
    assert again.json()["id"] == fill["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1

    # 5. The margin now holds the position and the spread paid.
    after = http.get(margin_url, **auth).json()
    assert Decimal(after["maintenance_requirement"]) == Decimal(body["maintenance_requirement"])
    assert Decimal(after["equity"]) < Decimal("100000.00")
    assert [leg["symbol"] for group in after["groups"] for leg in group["legs"]] == ["AAPL"]

    # Another client's account is a 404, as a missing one is.
    assert http.get("/api/v1/risk/accounts/999999/margin", **auth).status_code == 404
