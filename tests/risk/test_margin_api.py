"""An account's margin and the what-if: the engine on the account's positions at oracle prices.

acme.client holds 200 XYZ and is short two XYZ calls in client money funded with 10,000.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from ledger.models import LedgerAccount
from platform_core.api.models import IdempotencyRecord
from platform_core.audit.models import AuditEvent
from risk.engine.policies import margin_compute
from risk.engine.portfolio import portfolio_parse
from risk.models import Position, Quote
from risk.selectors import margin_status, portfolio_for_account
from tests.conftest import TenantPeople, api_token_for, as_tenant
from tests.ledger.factories import open_book
from tests.risk.factories import equity, hold, option, quote

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, person: Any = None) -> None:
        self.client = Client()
        self.auth = (
            {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person)}"} if person else {}
        )

    def margin(self, account_id: int, **params: str) -> Any:
        return self.client.get(f"/api/v1/risk/accounts/{account_id}/margin", params, **self.auth)

    def what_if(self, body: dict[str, Any]) -> Any:
        return self.client.post(
            "/api/v1/risk/what-if", body, content_type="application/json", **self.auth
        )


@pytest.fixture
def market(db: Any) -> dict[str, Any]:
    xyz = equity("XYZ")
    call = option(xyz, right="call", strike="55")
    quote(xyz, "49.90", "50.00", "50.10")
    quote(call, "1.20", "1.20")
    return {"XYZ": xyz, "call": call}


@pytest.fixture
def account(acme: TenantPeople, market: dict[str, Any]) -> LedgerAccount:
    book = open_book(acme)
    book.fund("10000.00")
    hold(book.client, market["XYZ"], "200")
    hold(book.client, market["call"], "-2")
    return LedgerAccount.objects.get(pk=book.client.pk)


def expected(document_positions: list[dict[str, str]], cash: str, market: dict[str, Any]) -> Any:
    """The same question asked of the engine directly, as the margin command would."""
    call = market["call"]
    return margin_compute(
        portfolio_parse(
            {
                "currency": "USD",
                "as_of": timezone.localdate().isoformat(),
                "cash": cash,
                "instruments": [
                    {"symbol": "XYZ", "kind": "equity", "price": "50.00"},
                    {
                        "symbol": call.symbol,
                        "kind": "option",
                        "underlying": "XYZ",
                        "right": "call",
                        "strike": "55",
                        "expiry": call.expiry.isoformat(),
                        "multiplier": 100,
                        "price": "1.20",
                    },
                ],
                "positions": document_positions,
            }
        )
    ).as_json()


def test_margin_status_is_the_engine_on_the_accounts_portfolio(acme, account, market):
    portfolio = portfolio_for_account(tenant=acme.tenant, account=account)
    assert portfolio.cash == Decimal("10000") and portfolio.loan == 0
    assert {p.symbol: p.quantity for p in portfolio.positions} == {
        "XYZ": 200,
        market["call"].symbol: -2,
    }
    status = margin_status(tenant=acme.tenant, account=account).as_json()
    assert status.pop("prices_suspect") == []
    assert status == margin_compute(portfolio, "cboe-strategy").as_json()
    positions = [
        {"symbol": "XYZ", "quantity": "200"},
        {"symbol": market["call"].symbol, "quantity": "-2"},
    ]
    assert status == expected(positions, "10000.00", market)
    assert status["equity"] == "19760.00"  # 10,000 cash + 10,000 stock - 240 short calls
    assert status["groups"][0]["strategy"] == "covered_call"


def test_the_client_reads_their_margin_by_api(acme, account, market):
    response = Api(acme.client).margin(account.pk)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body.pop("prices_suspect") == []
    assert (
        body == margin_compute(portfolio_for_account(tenant=acme.tenant, account=account)).as_json()
    )


def test_a_stale_price_is_margined_at_the_last_trusted_price_with_the_add_on(acme, account, market):
    stale = equity("OLD")
    quote(stale, "20.00", "20.00", at=timezone.now() - timedelta(minutes=5))
    hold(account, stale, "100")
    body = Api(acme.risk).margin(account.pk).json()
    (suspect,) = body["prices_suspect"]
    assert suspect["symbol"] == "OLD" and suspect["reason"] == "stale"
    assert suspect["trusted_price"] == "20.00000000"
    # Long 100 OLD at 20.00 less the 5% add-on: 1,900.00 more equity, not 2,000.00 (nor zero).
    assert body["equity"] == "21660.00"


def test_what_if_margins_the_positions_plus_the_orders_paid_at_oracle_prices(acme, account, market):
    client_api = Api(acme.client)
    response = client_api.what_if(
        {"account": account.pk, "orders": [{"symbol": "XYZ", "quantity": "100"}]}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body.pop("prices_suspect") == []
    # The engine's extras (risk.engine.whatif): the largest buy the initial margin allows fits,
    # one more does not.
    assert [p["underlying"] for p in body.pop("liquidation_prices")] == ["XYZ"]
    most = body.pop("max_quantity")
    for quantity, fits in ((most, True), (most + 1, False)):
        checked = client_api.what_if(
            {"account": account.pk, "orders": [{"symbol": "XYZ", "quantity": str(quantity)}]}
        ).json()
        assert (Decimal(checked["excess_initial"]) >= 0) is fits, quantity
    positions = [
        {"symbol": "XYZ", "quantity": "300"},
        {"symbol": market["call"].symbol, "quantity": "-2"},
    ]
    assert body == expected(positions, "5000.00", market)
    # Buying at the oracle price moves cash into stock: equity is unchanged, requirement rises.
    now = Api(acme.risk).margin(account.pk).json()
    assert body["equity"] == now["equity"]
    assert Decimal(body["initial_requirement"]) == Decimal(now["initial_requirement"]) + 2500
    assert Position.objects.get(account=account, instrument=market["XYZ"]).quantity == 200


def test_what_if_refuses_unknown_symbols_and_policies_and_what_the_policy_cannot_margin(
    acme, account, market
):
    api = Api(acme.client)
    short = api.what_if(
        {
            "account": account.pk,
            "orders": [{"symbol": "XYZ", "quantity": "-200"}],
            "policy": "cn-rzrq",
        }
    )
    # The policy is the engine's to apply: 融资融券 does not cover options, and says so.
    assert short.status_code == 422, short.content
    assert short.json()["code"] == "portfolio_invalid"
    assert "instruments[1].kind" in short.json()["fields"]
    unknown = api.what_if({"account": account.pk, "orders": [{"symbol": "NOPE", "quantity": "1"}]})
    assert unknown.status_code == 400
    assert "orders.0.symbol" in unknown.json()["fields"], unknown.content
    bad_policy = api.what_if(
        {"account": account.pk, "orders": [{"symbol": "XYZ", "quantity": "1"}], "policy": "nope"}
    )
    assert bad_policy.status_code == 400
    zero = api.what_if({"account": account.pk, "orders": [{"symbol": "XYZ", "quantity": "0"}]})
    assert zero.status_code == 400


def test_an_instrument_never_quoted_is_a_422_naming_it(acme, account):
    hold(account, equity("NEW"), "1")
    response = Api(acme.client).margin(account.pk)
    assert response.status_code == 422
    assert "NEW" in response.json()["message"]


# --- who may ask ------------------------------------------------------------------------------


def state(acme: TenantPeople, globex: TenantPeople) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    for people in (acme, globex):
        with as_tenant(people.tenant):
            for model in (Position, LedgerAccount, IdempotencyRecord, AuditEvent):
                counts[people.tenant.slug, model.__name__] = model.objects.count()
            counts[people.tenant.slug, "positions"] = list(
                Position.objects.values_list("pk", "quantity").order_by("pk")
            )
    counts["quotes"] = Quote.objects.count()
    return counts


@pytest.mark.parametrize("endpoint", ["margin", "what_if"])
def test_four_ways_to_ask(endpoint, acme, globex, account):
    def ask(api: Api, account_id: int) -> Any:
        if endpoint == "margin":
            return api.margin(account_id)
        return api.what_if({"account": account_id, "orders": [{"symbol": "XYZ", "quantity": "5"}]})

    # Signing in (the tokens) and opening accounts are writes of their own: done first.
    anonymous, other_client, other_risk = Api(), Api(globex.client), Api(globex.risk)
    auditor, operations = Api(acme.auditor), Api(acme.operations)
    with as_tenant(acme.tenant):
        bank = open_book(acme, currency="EUR").bank  # an account, but not client money
    before = state(acme, globex)
    assert ask(anonymous, account.pk).status_code == 401
    assert ask(other_client, account.pk).status_code == 404
    assert ask(other_risk, account.pk).status_code == 404
    assert ask(auditor, account.pk).status_code == 403
    assert ask(operations, bank.pk).status_code == 404
    assert state(acme, globex) == before
    for person in (acme.client, acme.risk):
        response = ask(Api(person), account.pk)
        assert response.status_code == 200, response.content
        assert response.json()["equity"] == "19760.00"


def test_a_client_cannot_read_another_clients_margin(acme, account):
    from tests.conftest import make_person

    other = make_person(acme.tenant, "other@acme.example", "client")
    response = Api(other).margin(account.pk)
    assert response.status_code == 404
    assert "19760" not in response.content.decode()
