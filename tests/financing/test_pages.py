"""The portal's credit pages and the console's funding and credit-line pages, through HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from financing.models import CreditLine, FundingPool, SignatureRecord
from tests.conftest import TenantPeople, as_tenant, sign_in
from tests.financing.factories import kyc_approve, lender, one_time_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signing_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.SIGNING_PKCS12_FILE = ""
    settings.SIGNING_TSA_URL = ""
    return settings.VAR_DIR


def test_a_client_reads_signs_and_downloads_the_disclosure(
    acme: TenantPeople, client: Client
) -> None:
    with as_tenant(acme.tenant):
        lender(acme)
    sign_in(client, acme.client)
    page = client.get("/credit/documents/risk-disclosure/")
    assert page.status_code == 200
    document_id = page.context["document"].pk
    sha256 = page.context["document"].sha256
    assert sha256.encode() in page.content
    wrong = client.post(
        "/credit/documents/risk-disclosure/",
        {
            "document_id": document_id,
            "typed_name": "Li Si",
            "consent": "on",
            "otp": one_time_code(acme.client),
        },
    )
    assert wrong.status_code == 400
    assert "typed_name" in wrong.context["form"].errors
    with as_tenant(acme.tenant):
        assert not SignatureRecord.objects.exists()
    signed = client.post(
        "/credit/documents/risk-disclosure/",
        {
            "document_id": document_id,
            "typed_name": "zhang san",
            "consent": "on",
            "otp": one_time_code(acme.client),
        },
    )
    assert signed.status_code == 302
    with as_tenant(acme.tenant):
        record = SignatureRecord.objects.get()
    assert record.document_sha256 == sha256
    assert record.ip == "127.0.0.1"
    download = client.get(f"/credit/signatures/{record.pk}/pdf/")
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download.content == bytes(record.signed_pdf)
    overview = client.get("/credit/")
    assert overview.status_code == 200 and record.signed_sha256.encode() in overview.content


def test_the_console_adds_a_pool_refuses_bad_input_and_runs_the_stress_test(
    acme: TenantPeople, client: Client
) -> None:
    sign_in(client, acme.risk)
    bad = client.post(
        "/console/funding/",
        {
            "action": "pool",
            "name": "fund-b",
            "kind": "institutional",
            "currency": "USD",
            "limit": "lots",
            "cost_rate": "0.02",
        },
    )
    assert bad.status_code == 400 and "limit" in bad.context["pool_form"].errors
    unknown = client.post(
        "/console/funding/",
        {
            "action": "pool",
            "name": "fund-b",
            "kind": "institutional",
            "currency": "XXX",
            "limit": "1000",
            "cost_rate": "0.02",
        },
    )
    assert unknown.status_code == 400
    with as_tenant(acme.tenant):
        assert not FundingPool.objects.exists()
    good = client.post(
        "/console/funding/",
        {
            "action": "pool",
            "name": "fund-b",
            "kind": "institutional",
            "currency": "USD",
            "limit": "1000000",
            "cost_rate": "0.02",
        },
    )
    assert good.status_code == 302
    with as_tenant(acme.tenant):
        assert FundingPool.objects.get().limit == 1000000
    refused = client.get(
        "/console/funding/",
        {
            "currency": "USD",
            "shock": "2",
            "recall_share": "0.1",
            "concentrated_pools": "1",
            "draw_share": "0.05",
            "horizon_days": "30",
        },
    )
    assert refused.status_code == 400
    run = client.get(
        "/console/funding/",
        {
            "currency": "USD",
            "shock": "0.2",
            "recall_share": "0.1",
            "concentrated_pools": "1",
            "draw_share": "0.05",
            "horizon_days": "30",
        },
    )
    assert run.status_code == 200 and run.context["stress"].days_covered == 30


def test_a_client_may_not_open_the_console_pages(acme: TenantPeople, client: Client) -> None:
    sign_in(client, acme.client)
    assert client.get("/console/funding/").status_code == 403
    assert client.get("/console/credit-lines/").status_code == 403


def test_granting_a_line_with_a_bad_leverage_cap_is_a_form_error(
    acme: TenantPeople, client: Client
) -> None:
    with as_tenant(acme.tenant):
        lender(acme)
        kyc_approve(acme)  # a professional: at most 2.25 times equity
    sign_in(client, acme.risk)
    form = {
        "membership_id": acme.client.membership.pk,
        "currency": "USD",
        "limit": "10000",
        "leverage_cap": "3",
        "allowed_products": "stock",
        "allowed_tenors": "term",
    }
    refused = client.post("/console/credit-lines/", form)
    assert refused.status_code == 400 and "leverage_cap" in refused.context["form"].errors
    foreign = client.post("/console/credit-lines/", {**form, "membership_id": 999999})
    assert foreign.status_code == 400
    with as_tenant(acme.tenant):
        assert not CreditLine.objects.exists()
    granted = client.post("/console/credit-lines/", {**form, "leverage_cap": "2"})
    assert granted.status_code == 302
    with as_tenant(acme.tenant):
        assert CreditLine.objects.get().status == "active"
