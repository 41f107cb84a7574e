"""The client's margin-call page: the call and its hints each say when they were priced, a hint
that closes everything says why it has no ratio, and numbers are formatted for the language.

acme.client is short 1,000 DEF with 28,000 of cash. At DEF 22: equity 6,000, maintenance
6,600 (30% of a short's value), ratio 0.9091, a margin call asking 1.25 x 6,600 - 6,000 =
2,250. At DEF 22.20 the hints are priced again: 1.25 x 6,660 - 5,800 = 2,525.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from risk.operations.models import MarginCall
from risk.operations.services import call_hints_compute
from tests.conftest import TenantPeople, sign_in
from tests.ledger.factories import open_book
from tests.risk.factories import equity, hold
from tests.risk_operations.helpers import Clock, prices, sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def called(acme: TenantPeople) -> MarginCall:
    book = open_book(acme)
    book.fund("28000.00")
    hold(book.client, equity("DEF"), "-1000")
    clock = Clock()
    prices(clock, DEF="20")
    sweep(acme.tenant, clock)
    prices(clock, DEF="22")
    sweep(acme.tenant, clock)
    call = MarginCall.objects.get()
    prices(clock, DEF="22.20")
    call_hints_compute(tenant=acme.tenant, call_id=call.pk, now=clock.now)
    call.refresh_from_db()
    return call


def page(person: Any, language: str) -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.cookies["django_language"] = language
    response = sign_in(client, person).get("/margin/calls/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def test_the_call_and_its_hints_say_when_they_were_priced(
    acme: TenantPeople, called: MarginCall
) -> None:
    assert called.deposit_needed == 2250
    assert called.hints["deposit"] == "2525.00"
    html = page(acme.client, "en")
    assert f'id="call-{called.pk}-priced"' in html
    assert "Priced when the call was issued" in html and "ratio 0.9091" in html
    assert "Priced again at" in html and "ratio 0.8709" in html
    assert "it asked for 2,250.00 USD" in html
    assert "a deposit of 2,525.00 USD restores the target" in html
    # Closing the only group leaves nothing to margin: said so, not a bare dash.
    assert "→ ratio —" not in html
    assert "no ratio: nothing left that needs margin (equity 5,800.00 USD)" in html
    # No raw stored decimals.
    for raw in ("2250.0000", "2525.00 USD", "0.90910000", "DEF 1000"):
        assert raw not in html


def test_the_page_formats_numbers_for_chinese(acme: TenantPeople, called: MarginCall) -> None:
    html = page(acme.client, "zh-hans")
    assert "追保通知发出后价格已变动：通知要求 2250.00 USD" in html  # noqa: RUF001
    assert "无比例：已没有需要保证金的持仓（权益 5800.00 USD）" in html  # noqa: RUF001
    assert "2250.0000" not in html
