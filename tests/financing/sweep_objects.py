"""Financing's objects for the tenant-isolation sweep (tests/e2e/test_sweep.py).

``sweep_entries(Sweepable, Built)`` returns financing's SWEEP entries, so the shared file
needs one line for all of them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from financing.models import CreditLine, DisclosureDocument, FinancingContract, FundingPool
from tests.conftest import TenantPeople
from tests.financing.factories import lender

SECRET_PRINCIPAL = "43210.98"
SECRET_LIMIT = "98765.43"


def _signed(acme: TenantPeople) -> Any:
    book = lender(acme)
    return book, book.sign("credit_agreement")


def a_clients_document_of_acme(acme: TenantPeople, built: Any) -> Any:
    book = lender(acme)
    from financing.disclosures import document_render

    document = document_render(
        tenant=acme.tenant,
        membership=acme.client.membership,
        kind=DisclosureDocument.Kind.RISK_DISCLOSURE,
        language="en",
    )
    assert book
    return built(DisclosureDocument, document.pk, "document_id", secrets=(document.sha256,))


def a_clients_signature_of_acme(acme: TenantPeople, built: Any) -> Any:
    _, record = _signed(acme)
    return built(type(record), record.pk, "signature_id", secrets=(record.signed_sha256,))


def _line(acme: TenantPeople, limit: str = "100000", status: str = "active") -> CreditLine:
    """A line written as the grant would leave it (the grant's checks are tested elsewhere)."""
    from tests.financing.factories import rate_card

    card = rate_card(acme, currency="CNY")
    return CreditLine.objects.create(
        tenant=acme.tenant,
        membership=acme.client.membership,
        currency="CNY",
        limit=Decimal(limit),
        leverage_cap=Decimal("2"),
        allowed_products=["stock"],
        allowed_tenors=["term"],
        rate_card=card,
        risk_rating="low",
        status=status,
    )


def a_clients_line_of_acme(acme: TenantPeople, built: Any) -> Any:
    lender(acme)
    line = _line(acme, SECRET_LIMIT, status=CreditLine.Status.REVIEW)
    return built(CreditLine, line.pk, "line_id", secrets=(SECRET_LIMIT,))


def a_clients_contract_of_acme(acme: TenantPeople, built: Any) -> Any:
    """A contract written as the drawdown would leave it (the money side is tested elsewhere)."""
    book, record = _signed(acme)
    line = _line(acme)
    pool = FundingPool.objects.get(tenant=acme.tenant, name="house")
    contract = FinancingContract.objects.create(
        tenant=acme.tenant,
        credit_line=line,
        membership=acme.client.membership,
        pool=pool,
        tenor="term",
        currency="CNY",
        principal=Decimal(SECRET_PRINCIPAL),
        outstanding=Decimal(SECRET_PRINCIPAL),
        base_rate=Decimal("0.05"),
        tenor_premium=Decimal("0.015"),
        counterparty_premium=Decimal(0),
        hedge_cost=Decimal(0),
        rate=Decimal("0.065"),
        day_count="ACT/360",
        start_date=date(2026, 9, 28),
        maturity_date=date(2026, 10, 28),
        charging="monthly",
        signature=record,
    )
    assert book
    return built(FinancingContract, contract.pk, "contract_id", secrets=(SECRET_PRINCIPAL,))


def sweep_entries(sweepable: Any, built: Any) -> dict[str, Any]:
    everyone = ("client", "compliance", "risk", "operations", "admin", "auditor")
    staff = tuple(r for r in everyone if r != "client")
    api_readers = ("client", "compliance", "risk", "operations", "admin")  # financing.api
    return {
        "financing-api:credit-line-detail": sweepable(
            build=lambda acme: a_clients_line_of_acme(acme, built),
            readers=api_readers,
            wrong=("auditor",),
        ),
        "financing-api:credit-line-reviewed": sweepable(
            build=lambda acme: a_clients_line_of_acme(acme, built),
            readers=("risk",),
            wrong=tuple(r for r in everyone if r != "risk"),
        ),
        "financing-api:contract-detail": sweepable(
            build=lambda acme: a_clients_contract_of_acme(acme, built),
            readers=api_readers,
            wrong=("auditor",),
        ),
        "financing-api:contract-repay": sweepable(
            build=lambda acme: a_clients_contract_of_acme(acme, built),
            readers=("client",),
            wrong=staff,
        ),
        "financing-api:signature-pdf": sweepable(
            build=lambda acme: a_clients_signature_of_acme(acme, built),
            readers=api_readers,
            wrong=("auditor",),
        ),
        "portal-document-pdf": sweepable(
            build=lambda acme: a_clients_document_of_acme(acme, built),
            readers=("client",),
            wrong=staff,
            methods=("get",),
        ),
        "portal-signature-pdf": sweepable(
            build=lambda acme: a_clients_signature_of_acme(acme, built),
            readers=("client",),
            wrong=staff,
            methods=("get",),
        ),
        "portal-contract": sweepable(
            build=lambda acme: a_clients_contract_of_acme(acme, built),
            readers=("client",),
            wrong=staff,
        ),
    }
