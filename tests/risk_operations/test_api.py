"""/api/v1/margin/: a client reads their own calls with the hints' pricing time; the risk staff
read proposals and ask, four eyes, to execute one (the second officer approves through the
approvals API)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from platform_core.tenancy.roles import Role
from risk.models import Position
from risk.operations.models import MarginCall, Proposal
from risk.operations.services import call_hints_compute, crash_switch_engage
from tests.conftest import TenantPeople, api_token_for, make_person
from tests.ledger.factories import open_book
from tests.risk.factories import equity, hold
from tests.risk_operations.helpers import Clock, prices, sweep

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, person: Any) -> None:
        self.client = Client()
        self.auth = {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person)}"}

    def get(self, path: str, **params: str) -> Any:
        return self.client.get(f"/api/v1{path}", params, **self.auth)

    def post(self, path: str, body: dict[str, Any], key: str) -> Any:
        return self.client.post(
            f"/api/v1{path}",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
            **self.auth,
        )


@pytest.fixture
def queued(acme: TenantPeople) -> Proposal:
    """acme.client short 1,000 DEF with 28,000: called at 22 (hints priced again at 22.20),
    then, with the crash switch on, a liquidation queued at 27."""
    book = open_book(acme)
    book.fund("28000.00")
    hold(book.client, equity("DEF"), "-1000")
    clock = Clock()
    for price in ("20", "22"):
        prices(clock, DEF=price)
        sweep(acme.tenant, clock)
    prices(clock, DEF="22.20")
    call_hints_compute(tenant=acme.tenant, call_id=MarginCall.objects.get().pk, now=clock.now)
    crash_switch_engage(tenant=acme.tenant, actor=acme.risk.user, reason="exchange halted")
    prices(clock, DEF="27")
    sweep(acme.tenant, clock)
    return Proposal.objects.get(status="queued")


def test_a_client_reads_their_calls_with_both_pricing_times(
    acme: TenantPeople, queued: Proposal
) -> None:
    call = MarginCall.objects.get()
    client = Api(acme.client)
    listed = client.get("/margin/calls", status="open")
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    # The call was raised at 27 (1.25 x 8,100 - 1,000); the hints are still those of 22.20.
    assert row["id"] == call.pk and row["deposit_needed"] == "9125.0000"
    assert row["hints"]["deposit"] == "2525.00"
    assert row["hints_priced_at"] > row["issued_at"]
    assert client.get(f"/margin/calls/{call.pk}").json()["id"] == call.pk
    # Another client of Acme sees none of it; a client may not list proposals.
    other = Api(make_person(acme.tenant, "other@acme.example", Role.CLIENT))
    assert other.get("/margin/calls").json()["results"] == []
    assert other.get(f"/margin/calls/{call.pk}").status_code == 404
    assert client.get("/margin/proposals").status_code == 403
    assert client.get("/margin/calls", status="nope").status_code == 400


def test_four_eyes_execution_through_the_api(acme: TenantPeople, queued: Proposal) -> None:
    risk = Api(acme.risk)
    assert [p["id"] for p in risk.get("/margin/proposals", status="queued").json()["results"]] == [
        queued.pk
    ]
    path = f"/margin/proposals/{queued.pk}/execution-request"
    assert risk.post(path, {}, key="r0").status_code == 400  # a reason is required
    asked = risk.post(path, {"reason": "fills look fair"}, key="r1")
    assert asked.status_code == 201, asked.content
    approval_id = asked.json()["approval_id"]
    assert risk.post(path, {"reason": "fills look fair"}, key="r1").json() == asked.json()
    assert risk.post(path, {"reason": "again"}, key="r2").status_code == 409

    refused = risk.post(f"/approvals/{approval_id}/approve", {"reason": "mine"}, key="a1")
    assert refused.status_code == 403
    assert Position.objects.get().quantity == Decimal("-1000")
    second = Api(make_person(acme.tenant, "risk2@acme.example", Role.RISK_OFFICER))
    approved = second.post(f"/approvals/{approval_id}/approve", {"reason": "ok"}, key="a2")
    assert approved.status_code == 200, approved.content
    detail = risk.get(f"/margin/proposals/{queued.pk}").json()
    assert (detail["status"], detail["approval"]) == ("executed", approval_id)
    assert detail["decided_by"] == "risk2@acme.example"
    assert Position.objects.get().quantity == 0
