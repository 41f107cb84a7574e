"""/api/v1/financing/: the client's lines, contracts, documents and repayments; the credit
staff's lines, grants under four eyes and reviews."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from financing import services
from financing.models import CreditLine, FinancingContract
from ledger.models import LedgerAccount
from platform_core.api.models import IdempotencyRecord
from platform_core.audit.approvals import approval_request_approve
from tests.conftest import TenantPeople, api_token_for, make_person
from tests.financing.factories import kyc_approve, lender

pytestmark = pytest.mark.django_db
BASE = "/api/v1/financing"
SEP_28 = date(2026, 9, 28)


@pytest.fixture(autouse=True)
def signing_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.SIGNING_PKCS12_FILE = ""
    settings.SIGNING_TSA_URL = ""
    return settings.VAR_DIR


class Api:
    def __init__(self, person: Any) -> None:
        self.client = Client()
        self.auth = {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person)}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"{BASE}{path}", params, **self.auth)

    def post(self, path: str, body: dict[str, Any], key: str | None = "k1") -> Any:
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        return self.client.post(
            f"{BASE}{path}", body, content_type="application/json", **self.auth, **headers
        )


@pytest.fixture
def book(acme: TenantPeople) -> Any:
    book = lender(acme)
    kyc_approve(acme, rating="medium")
    return book


def grant_body(client_id: int, limit: str = "200000") -> dict[str, Any]:
    return {
        "membership": client_id,
        "currency": "USD",
        "limit": limit,
        "leverage_cap": "2",
        "allowed_products": ["stock", "etf"],
        "allowed_tenors": ["overnight", "term"],
    }


def test_a_risk_officer_grants_a_line_and_the_client_sees_it(book: Any, acme: TenantPeople) -> None:
    risk = Api(acme.risk)
    granted = risk.post("/credit-lines", grant_body(acme.client.membership.pk))
    assert granted.status_code == 201, granted.content
    line = granted.json()
    assert (line["status"], line["limit"], line["approval_id"]) == ("active", "200000.00", None)
    assert line["risk_rating"] == "medium" and line["investor_class"] == "C5"
    again = risk.post("/credit-lines", grant_body(acme.client.membership.pk))
    assert again.json()["id"] == line["id"] and CreditLine.objects.count() == 1
    mine = Api(acme.client).get("/credit-lines")
    assert mine.status_code == 200
    assert [row["id"] for row in mine.json()["results"]] == [line["id"]]
    assert mine.json()["results"][0]["available"] == "200000.00"
    detail = Api(acme.client).get(f"/credit-lines/{line['id']}")
    assert detail.status_code == 200 and detail.json()["leverage_cap"] == "2.0000"


def test_a_grant_above_the_tenants_limit_waits_for_a_second_risk_officer(
    book: Any, acme: TenantPeople
) -> None:
    risk = Api(acme.risk)
    body = grant_body(acme.client.membership.pk, limit="900000")
    no_reason = risk.post("/credit-lines", body)
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["fields"]
    waiting = risk.post("/credit-lines", {**body, "reason": "private banking"}, key="k2")
    assert waiting.status_code == 201, waiting.content
    assert waiting.json()["status"] == "pending_approval"
    approval_id = waiting.json()["approval_id"]
    assert approval_id
    second = make_person(acme.tenant, "risk2@acme.example", "risk_officer")
    approval_request_approve(
        tenant=acme.tenant,
        actor=second.user,
        membership=second.membership,
        approval_id=approval_id,
        reason="checked",
    )
    assert risk.get(f"/credit-lines/{waiting.json()['id']}").json()["status"] == "active"


def test_a_grant_is_refused_with_field_errors_and_to_other_roles(
    book: Any, acme: TenantPeople
) -> None:
    risk = Api(acme.risk)
    refused = risk.post(
        "/credit-lines", {**grant_body(acme.client.membership.pk), "leverage_cap": "3"}
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid" and "leverage_cap" in refused.json()["fields"]
    bad = risk.post(
        "/credit-lines", {**grant_body(acme.client.membership.pk), "allowed_tenors": ["weekly"]}
    )
    assert bad.status_code == 400 and "allowed_tenors.0" in bad.json()["fields"]
    client = Api(acme.client).post("/credit-lines", grant_body(acme.client.membership.pk))
    assert client.status_code == 403 and client.json()["code"] == "permission_denied"
    unkeyed = risk.post("/credit-lines", grant_body(acme.client.membership.pk), key=None)
    assert unkeyed.status_code == 400 and unkeyed.json()["code"] == "idempotency_key_required"
    assert not CreditLine.objects.exists()


def test_flagged_lines_are_listed_for_review_and_a_risk_officer_clears_them(
    book: Any, acme: TenantPeople
) -> None:
    line = book.line("100000")
    services.credit_lines_review_flag(
        tenant=acme.tenant, membership=acme.client.membership, reason="rating medium -> high"
    )
    risk = Api(acme.risk)
    flagged = risk.get("/credit-lines", status="review")
    assert [row["id"] for row in flagged.json()["results"]] == [line.pk]
    assert flagged.json()["results"][0]["review_reason"] == "rating medium -> high"
    assert flagged.json()["results"][0]["available"] == "0.00"
    assert risk.get("/credit-lines", status="nonsense").status_code == 400
    assert (
        Api(acme.compliance).post(f"/credit-lines/{line.pk}/reviewed", {"reason": "ok"}).status_code
        == 403
    )
    cleared = risk.post(f"/credit-lines/{line.pk}/reviewed", {"reason": "looked at the rating"})
    assert cleared.status_code == 200 and cleared.json()["status"] == "active"
    twice = risk.post(f"/credit-lines/{line.pk}/reviewed", {"reason": "again"}, key="k2")
    assert twice.status_code == 409 and twice.json()["code"] == "credit_line_not_in_review"


def test_the_client_reads_contracts_and_repays_once_per_key(book: Any, acme: TenantPeople) -> None:
    client = Api(acme.client)  # before signing: both take one-time codes
    book.line("100000")
    book.sign_all()
    book.deposit("1000.00")
    contract = book.draw("5000.00", day=SEP_28)
    FinancingContract.objects.filter(pk=contract.pk).update(interest_owed=Decimal("10.00"))
    listed = client.get("/contracts")
    (row,) = listed.json()["results"]
    assert (row["id"], row["outstanding"], row["interest_owed"], row["owed"]) == (
        contract.pk,
        "5000.00",
        "10.00",
        "5010.00",
    )
    assert row["rate"] == "0.077000" and row["tenor"] == "term"
    repaid = client.post(f"/contracts/{contract.pk}/repay", {"amount": "1010.00"})
    assert repaid.status_code == 200, repaid.content
    assert (repaid.json()["outstanding"], repaid.json()["interest_owed"]) == ("4000.00", "0.00")
    replay = client.post(f"/contracts/{contract.pk}/repay", {"amount": "1010.00"})
    assert replay.json() == repaid.json()
    cash = LedgerAccount.objects.get(pk=book.client_cash.pk).balance
    assert cash == Decimal("1000.00") + Decimal("5000.00") - Decimal("1010.00")
    too_much = client.post(f"/contracts/{contract.pk}/repay", {"amount": "4000.01"}, key="k2")
    assert too_much.status_code == 400 and "amount" in too_much.json()["fields"]
    staff = Api(acme.operations).post(f"/contracts/{contract.pk}/repay", {"amount": "1"}, key="k3")
    assert staff.status_code == 403
    assert Api(acme.risk).get(f"/contracts/{contract.pk}").json()["owed"] == "4000.00"


def test_another_clients_contract_is_a_404(book: Any, acme: TenantPeople) -> None:
    book.line("100000")
    book.sign_all()
    contract = book.draw("500.00", day=SEP_28)
    other = make_person(acme.tenant, "other-client@acme.example", "client")
    api = Api(other)
    assert api.get(f"/contracts/{contract.pk}").status_code == 404
    assert api.get("/contracts").json()["results"] == []
    refused = api.post(f"/contracts/{contract.pk}/repay", {"amount": "1.00"})
    assert refused.status_code == 404
    assert not IdempotencyRecord.objects.exists()


def test_the_disclosure_status_and_the_signed_pdf(book: Any, acme: TenantPeople) -> None:
    client = Api(acme.client)  # before signing: both take one-time codes
    before = client.get("/disclosures").json()
    assert before["missing"] == ["risk_disclosure", "credit_agreement"]
    assert before["policy_digest"]
    record = book.sign("risk_disclosure")
    after = client.get("/disclosures").json()
    assert after["missing"] == ["credit_agreement"]
    signed = after["documents"][0]
    assert (signed["kind"], signed["signed"], signed["signature_id"]) == (
        "risk_disclosure",
        True,
        record.pk,
    )
    pdf = client.get(f"/signatures/{record.pk}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert (
        hashlib.sha256(pdf.content).hexdigest() == record.signed_sha256 == pdf["X-Content-SHA256"]
    )
    assert Api(acme.risk).get("/disclosures").status_code == 403
