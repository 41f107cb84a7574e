"""The paper-trading sandbox: a tenant of its own with simulated money, orders through risk's
order service, and API tokens that reach only the sandbox."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from ledger.models import JournalEntry, LedgerAccount
from platform_core.audit.models import AuditEvent
from platform_core.portal.models import SandboxLink
from platform_core.portal.services import SANDBOX_STARTING_CASH, sandbox_find, sandbox_open
from platform_core.tenancy.models import Tenant
from risk.models import Order, Position
from tests.conftest import TenantPeople, api_token_for, as_tenant, sign_in
from tests.ledger.factories import Book, open_book, refreshed
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


def _live_state(acme: TenantPeople, book: Book) -> dict[str, Any]:
    with as_tenant(acme.tenant):
        return {
            "balance": refreshed(book.client).balance,
            "bank": refreshed(book.bank).balance,
            "entries": JournalEntry.objects.filter(tenant=acme.tenant).count(),
            "orders": Order.objects.filter(tenant=acme.tenant).count(),
            "positions": list(
                Position.objects.filter(tenant=acme.tenant).values_list("instrument_id", "quantity")
            ),
        }


def test_opening_a_sandbox_gives_simulated_money_in_another_tenant(
    acme: TenantPeople, book: Book
) -> None:
    before = _live_state(acme, book)
    client = sign_in(Client(), acme.client)
    page = client.post("/sandbox/", {"action": "open"})
    assert page.status_code == 302
    again = client.post("/sandbox/", {"action": "open"})  # idempotent: the same sandbox
    assert again.status_code == 302
    sandbox = Tenant.objects.get(slug="acme-sandbox")
    with as_tenant(acme.tenant):
        assert SandboxLink.objects.get(tenant=acme.tenant).sandbox == sandbox
        assert AuditEvent.objects.filter(action="portal.sandbox_opened").count() == 1
    with as_tenant(sandbox):
        account = LedgerAccount.objects.get(tenant=sandbox, kind="client_cash")
        assert account.balance == SANDBOX_STARTING_CASH
        assert account.owner.user == acme.client.user
        assert JournalEntry.objects.filter(tenant=sandbox).count() == 1
    assert _live_state(acme, book) == before  # not a cent of real money moved
    html = client.get("/sandbox/").content.decode()
    assert "1,000,000.00" in html and "acme-sandbox" in html


def test_a_sandbox_order_fills_in_the_sandbox_and_never_touches_real_money(
    acme: TenantPeople, book: Book
) -> None:
    """The sandbox client has no KYC file of its own: the live client's approved suitability
    answers for what they practise, so the sandbox allows what live trading allows."""
    from tests.financing.factories import kyc_approve

    client = sign_in(Client(), acme.client)
    client.post("/sandbox/", {"action": "open"})
    form = client.get("/sandbox/").context["form"]
    body = {
        "action": "order",
        "symbol": "XYZ",
        "side": "buy",
        "quantity": "100",
        "key": form.initial["key"],
    }
    unassessed = client.post("/sandbox/", body)
    assert unassessed.status_code == 400
    assert "suitability assessment is not approved" in unassessed.content.decode()
    with as_tenant(acme.tenant):
        kyc_approve(acme)
    before = _live_state(acme, book)
    placed = client.post("/sandbox/", body)
    assert placed.status_code == 302, placed.content.decode()[:2000]
    assert client.post("/sandbox/", body).status_code == 302  # a replay fills nothing more
    found = sandbox_find(tenant=acme.tenant, user=acme.client.user)
    with as_tenant(found.tenant):
        order = Order.objects.get(tenant=found.tenant)
        assert order.quantity == Decimal("100") and order.account_id == found.account.pk
        assert Position.objects.get(tenant=found.tenant).quantity == Decimal("100")
        assert refreshed(found.account).balance == SANDBOX_STARTING_CASH + order.cash
    assert _live_state(acme, book) == before
    html = client.get("/sandbox/").content.decode()
    assert 'id="sandbox-orders"' in html and "XYZ" in html


def test_a_wrong_sandbox_order_is_refused_beside_the_field(acme: TenantPeople, book: Book) -> None:
    client = sign_in(Client(), acme.client)
    client.post("/sandbox/", {"action": "open"})
    page = client.post(
        "/sandbox/", {"action": "order", "symbol": "NOPE", "side": "buy", "quantity": "0"}
    )
    assert page.status_code == 400
    html = page.content.decode()
    assert "Unknown instrument NOPE." in html and "non-zero quantity" in html
    found = sandbox_find(tenant=acme.tenant, user=acme.client.user)
    with as_tenant(found.tenant):
        assert not Order.objects.exists()


def test_a_sandbox_token_cannot_read_real_accounts(acme: TenantPeople, book: Book) -> None:
    with as_tenant(acme.tenant):
        found = sandbox_open(tenant=acme.tenant, membership=acme.client.membership)
    token = api_token_for(Client(), acme.client, tenant=found.tenant.slug)
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"}
    api = Client()
    assert api.get(f"/api/v1/ledger/accounts/{book.client.pk}", **headers).status_code == 404
    assert api.get(f"/api/v1/risk/accounts/{book.client.pk}/margin", **headers).status_code == 404
    own = api.get(f"/api/v1/ledger/accounts/{found.account.pk}", **headers)
    assert own.status_code == 200
    me = api.get("/api/v1/me", **headers).json()
    assert me["tenant"] == "acme-sandbox"


def test_a_real_token_cannot_read_the_sandbox(acme: TenantPeople, book: Book) -> None:
    with as_tenant(acme.tenant):
        found = sandbox_open(tenant=acme.tenant, membership=acme.client.membership)
    token = api_token_for(Client(), acme.client, tenant="acme")
    response = Client().get(
        f"/api/v1/ledger/accounts/{found.account.pk}", HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert response.status_code == 404


def test_staff_and_sandbox_members_cannot_open_a_sandbox(acme: TenantPeople, book: Book) -> None:
    from platform_core.exceptions import ApplicationError

    with as_tenant(acme.tenant):
        with pytest.raises(ApplicationError):
            sandbox_open(tenant=acme.tenant, membership=acme.risk.membership)
        found = sandbox_open(tenant=acme.tenant, membership=acme.client.membership)
    with as_tenant(found.tenant), pytest.raises(ApplicationError):
        sandbox_open(tenant=found.tenant, membership=found.membership)


def test_the_portal_shows_the_sandbox_flag_inside_the_sandbox(
    acme: TenantPeople, book: Book
) -> None:
    client = sign_in(Client(), acme.client)
    client.post("/sandbox/", {"action": "open"})
    assert "sandbox-flag" not in client.get("/").content.decode()
    client.post("/tenant/switch/", {"tenant": "acme-sandbox", "next": "/"})
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "sandbox-flag" in html and "1,000,000.00" in html
