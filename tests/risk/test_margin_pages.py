"""The margin page (live), the order form, the console's monitor and book stress, and the
stress and monitor API, as the people who use them.

acme.client is short 200 XYZ at 50 with 15,000 of client money: equity 5,000, maintenance
3,000 (30% of 10,000), margin ratio 1.6667.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from risk.models import Order
from risk.sweep import margin_sweep
from tests.conftest import TenantPeople, api_token_for, as_tenant, sign_in
from tests.ledger.factories import Book, open_book
from tests.risk.factories import equity, hold, quote

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(acme: TenantPeople) -> Book:
    book = open_book(acme)
    book.fund("15000.00")
    xyz = equity("XYZ")
    quote(xyz, "49.90", "50.00", "50.10")
    hold(book.client, xyz, "-200")
    return book


def api(person: Any) -> tuple[Client, dict[str, str]]:
    return Client(), {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person)}"}


def test_the_margin_page_shows_the_figures_and_polls_every_second(
    acme: TenantPeople, book: Book
) -> None:
    client = sign_in(Client(), acme.client)
    page = client.get(f"/risk/margin/{book.client.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'hx-get="/risk/margin/{book.client.pk}/live/"' in html
    assert 'hx-trigger="every 1s"' in html
    assert "5000.00" in html and "3000.00" in html  # equity, maintenance
    assert "166.67%" in html  # the margin ratio
    assert "short_stock" in html  # the strategy group and its rule
    assert "维持担保比例" in html
    assert "1987-10-19 Black Monday" in html  # the stress table
    live = client.get(f"/risk/margin/{book.client.pk}/live/")
    assert live.status_code == 200 and "166.67%" in live.content.decode()
    assert "<html" not in live.content.decode()  # a fragment, swapped in place
    # The liquidation price: the call line (1.00) is crossed when 15,000 - 200 P = 60 P.
    assert "57.70" in live.content.decode()


def test_a_client_sees_only_their_own_margin_page(
    acme: TenantPeople, globex: TenantPeople, book: Book
) -> None:
    other = sign_in(Client(), globex.client)
    assert other.get(f"/risk/margin/{book.client.pk}/").status_code == 404
    assert other.get(f"/risk/margin/{book.client.pk}/live/").status_code == 404


def test_the_order_form_shows_the_refusal_and_writes_nothing(
    acme: TenantPeople, book: Book, settings: Any
) -> None:
    settings.RISK_SUITABILITY_REQUIRED = False
    client = sign_in(Client(), acme.client)
    form = client.get("/risk/orders/new/")
    assert form.status_code == 200
    key = form.context["form"].initial["key"]
    body = {
        "account": book.client.pk,
        "symbol": "XYZ",
        "side": "sell",
        "quantity": "1000",
        "key": key,
    }
    refused = client.post("/risk/orders/new/", body)
    assert refused.status_code == 200
    assert "Not enough margin" in refused.content.decode()
    with as_tenant(acme.tenant):
        assert not Order.objects.exists()
    filled = client.post("/risk/orders/new/", {**body, "side": "buy", "quantity": "100"})
    assert filled.status_code == 302
    with as_tenant(acme.tenant):
        assert Order.objects.get().quantity == Decimal(100)


def test_the_monitor_lists_accounts_by_ratio_with_filters(acme: TenantPeople, book: Book) -> None:
    margin_sweep(tenant=acme.tenant)
    staff = sign_in(Client(), acme.risk)
    page = staff.get("/console/risk/monitor/")
    assert page.status_code == 200 and "client@acme.example" in page.content.decode()
    filtered = staff.get("/console/risk/monitor/", {"status": "margin_call"})
    assert "client@acme.example" not in filtered.content.decode()
    http, auth = api(acme.risk)
    rows = http.get("/api/v1/risk/monitor", {"ratio_below": "2"}, **auth).json()["results"]
    assert [(r["account"], r["status"], r["margin_ratio"]) for r in rows] == [
        (book.client.pk, "healthy", "1.6667")
    ]
    assert http.get("/api/v1/risk/monitor", {"ratio_below": "1.5"}, **auth).json()["results"] == []
    assert http.get("/api/v1/risk/monitor", {"status": "nope"}, **auth).status_code == 400
    client_http, client_auth = api(acme.client)
    assert client_http.get("/api/v1/risk/monitor", **client_auth).status_code == 403


def test_the_stress_api_for_an_account(
    acme: TenantPeople, globex: TenantPeople, book: Book
) -> None:
    http, auth = api(acme.client)
    url = f"/api/v1/risk/accounts/{book.client.pk}/stress"
    rows = http.get(url, **auth).json()
    assert rows[0]["scenario"] == "market -10%"
    # Short 200 XYZ: a 10% fall gains 1,000.
    assert rows[0]["loss"] == "-1000.00"
    custom = http.post(
        url,
        {"shocks": [{"name": "XYZ +20%", "moves": {"XYZ": "0.20"}}]},
        content_type="application/json",
        **auth,
    )
    assert custom.status_code == 200, custom.content
    (row,) = custom.json()
    # At 60: equity 3,000, maintenance 3,600: ratio 0.8333, below the call and deleverage lines.
    assert row["loss"] == "2000.00" and row["margin_ratio_after"] == "0.8333"
    assert row["status_after"] == "deleverage"
    assert row["below"] == ["warning", "margin_call", "deleverage"]
    bad = http.post(
        url, {"shocks": [{"market_move": "-3"}]}, content_type="application/json", **auth
    )
    assert bad.status_code == 400 and "shocks.0.market_move" in bad.json()["fields"]
    foreign_http, foreign_auth = api(globex.client)
    assert foreign_http.get(url, **foreign_auth).status_code == 404


def test_the_book_stress_for_risk_officers(acme: TenantPeople, book: Book) -> None:
    http, auth = api(acme.risk)
    response = http.post(
        "/api/v1/risk/stress",
        {"shocks": [{"name": "up 20%", "market_move": "0.20"}, {"scenario": "1987-10-19"}]},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 200, response.content
    up, crash = response.json()
    assert up["book_loss"] == "2000.00" and up["accounts"] == 1
    assert [b["account"] for b in up["breaches"]] == [book.client.pk]
    assert crash["breaches"] == [] and crash["book_loss"] == "-2047.00"
    page = sign_in(Client(), acme.risk).get("/console/risk/stress/", {"market_move": "20"})
    assert page.status_code == 200 and "2000.00" in page.content.decode()
    client_http, client_auth = api(acme.client)
    refused = client_http.post(
        "/api/v1/risk/stress",
        {"shocks": [{"market_move": "0.1"}]},
        content_type="application/json",
        **client_auth,
    )
    assert refused.status_code == 403


def test_what_if_gives_liquidation_prices_and_max_quantity(acme: TenantPeople, book: Book) -> None:
    http, auth = api(acme.client)
    response = http.post(
        "/api/v1/risk/what-if",
        {"account": book.client.pk, "orders": [{"symbol": "XYZ", "quantity": "100"}]},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    # Buying back 100 at 50: short 100 with 10,000 cash; the call line: 10,000 - 100 P = 30 P.
    (price,) = body["liquidation_prices"]
    assert price["underlying"] == "XYZ" and price["up"] == "76.93"
    assert body["max_quantity"] > 0


def test_liquidation_prices_follow_the_tenants_stored_policy(
    acme: TenantPeople, book: Book
) -> None:
    from risk.policies import policy_activate_execute, policy_version_create

    version = policy_version_create(
        tenant=acme.tenant,
        actor=acme.risk.user,
        name="house",
        base="cboe-strategy",
        ladder={"warning": "1.5", "margin_call": "1.3", "deleverage": "1.2", "liquidation": "1.1"},
    )
    policy_activate_execute(
        tenant=acme.tenant,
        params={"policy_id": version.pk, "digest": version.digest},
        maker=acme.risk.user,
        approver=acme.admin.user,
    )
    live = sign_in(Client(), acme.client).get(f"/risk/margin/{book.client.pk}/live/")
    # The house's call line is 1.3: 15,000 - 200 P < 1.3 x 60 P from P = 53.96.
    assert "53.96" in live.content.decode()
    http, auth = api(acme.client)
    body = http.post(
        "/api/v1/risk/what-if",
        {"account": book.client.pk, "orders": [{"symbol": "XYZ", "quantity": "-10"}]},
        content_type="application/json",
        **auth,
    ).json()
    assert body["policy"] == "acme:house"
    # Short 210 with 15,500: below the line once 15,500 < 1.3 x 63 P + 210 P, from P = 53.11.
    assert body["liquidation_prices"][0]["up"] == "53.11"
    # Shorting more does not fit: the initial margin (50%) already uses all of the equity.
    assert body["max_quantity"] == 0
    bought = http.post(
        "/api/v1/risk/what-if",
        {"account": book.client.pk, "orders": [{"symbol": "XYZ", "quantity": "10"}]},
        content_type="application/json",
        **auth,
    ).json()
    most = bought["max_quantity"]
    assert most > 200  # buying back the short and beyond
    for quantity, fits in ((most, True), (most + 1, False)):
        checked = http.post(
            "/api/v1/risk/what-if",
            {"account": book.client.pk, "orders": [{"symbol": "XYZ", "quantity": str(quantity)}]},
            content_type="application/json",
            **auth,
        ).json()
        assert (Decimal(checked["excess_initial"]) >= 0) is fits, (quantity, checked)
