"""Signing the risk disclosure and the credit agreement: what the client reads is what is
sealed, the seal verifies outside the platform, and without a current signature no credit."""

from __future__ import annotations

import hashlib
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from pyhanko.pdf_utils.reader import PdfFileReader

from financing.disclosures import (
    disclosure_sign,
    document_render,
    evidence_of,
    record_digest_of,
    signature_chain_verify,
    signing_missing,
)
from financing.models import DisclosureDocument, SignatureRecord
from platform_core.exceptions import ApplicationError
from tests.audit.test_signing import (
    dev_ca,
    flip_one_signed_byte,
    needs_certutil,
    needs_pdfsig,
    nss_db_trusting,
    pdfsig,
    pyhanko_status,
)
from tests.conftest import TenantPeople
from tests.financing.factories import (
    kyc_approve,
    lender,
    one_time_code,
    policy_activate,
)

pytestmark = pytest.mark.django_db
DAY = date(2026, 9, 28)


@pytest.fixture(autouse=True)
def signing_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.SIGNING_PKCS12_FILE = ""
    settings.SIGNING_TSA_URL = ""
    return settings.VAR_DIR


@pytest.fixture
def signed(acme: TenantPeople) -> tuple[Any, SignatureRecord]:
    book = lender(acme)
    return book, book.sign("risk_disclosure", language="zh-hans")


def test_a_signed_disclosure_validates_against_the_tenants_ca_in_pyhanko(signed: Any) -> None:
    book, record = signed
    pdf = bytes(record.signed_pdf)
    status = pyhanko_status(pdf, trusting=[dev_ca(book.tenant)])
    assert status.bottom_line, status.pretty_print_details()
    assert hashlib.sha256(pdf).hexdigest() == record.signed_sha256
    # The document the client read is byte for byte the start of the sealed file, and the
    # evidence page came after it, before the seal.
    document = DisclosureDocument.objects.get(pk=record.document_id)
    assert pdf.startswith(bytes(document.pdf))
    assert hashlib.sha256(bytes(document.pdf)).hexdigest() == record.document_sha256
    reader = PdfFileReader(BytesIO(pdf))
    original_pages = PdfFileReader(BytesIO(bytes(document.pdf))).root["/Pages"]["/Count"]
    assert reader.root["/Pages"]["/Count"] == original_pages + 1
    (embedded,) = reader.embedded_signatures
    assert embedded.sig_object["/ByteRange"][-2] + embedded.sig_object["/ByteRange"][-1] == len(pdf)


def test_one_changed_byte_fails_pyhanko(signed: Any) -> None:
    book, record = signed
    tampered = flip_one_signed_byte(bytes(record.signed_pdf))
    assert not pyhanko_status(tampered, trusting=[dev_ca(book.tenant)]).bottom_line


@needs_pdfsig
@needs_certutil
def test_pdfsig_trusts_the_signed_disclosure_and_catches_one_changed_byte(
    signed: Any, tmp_path: Path
) -> None:
    book, record = signed
    nssdir = nss_db_trusting(tmp_path / "nss", dev_ca(book.tenant))
    report = pdfsig(bytes(record.signed_pdf), tmp_path, nssdir=nssdir)
    assert "Signature is Valid." in report
    assert "Certificate is Trusted." in report
    tampered = pdfsig(flip_one_signed_byte(bytes(record.signed_pdf)), tmp_path, nssdir=nssdir)
    assert "Digest Mismatch" in tampered


def test_the_evidence_pins_document_policy_signer_and_is_chained(signed: Any) -> None:
    book, record = signed
    document = DisclosureDocument.objects.get(pk=record.document_id)
    assert record.policy_digest == document.policy_digest and len(record.policy_digest) == 64
    assert record.signer["typed_name"] == "Zhang San"
    assert record.signer["email"] == book.client.email
    assert "one-time code" in record.authentication["method"]
    assert record.intent_text  # in the document's language
    assert record_digest_of(evidence_of(record)) == record.record_digest
    second = book.sign("credit_agreement")
    assert second.seq == record.seq + 1 and second.prev_hash == record.record_hash
    assert signature_chain_verify(tenant=book.tenant) == []


def test_signature_records_refuse_update_in_the_database(signed: Any) -> None:
    _, record = signed
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE financing_signaturerecord SET ip = '10.0.0.9' WHERE id = %s", [record.pk]
        )
    with pytest.raises(DatabaseError), transaction.atomic():
        SignatureRecord.objects.filter(pk=record.pk).delete()
    record.refresh_from_db()
    assert record.ip is None


@pytest.mark.parametrize(
    ("typed", "consent", "field"),
    [("Li Si", True, "typed_name"), ("Zhang San", False, "consent")],
)
def test_a_wrong_name_or_no_consent_is_refused_and_writes_nothing(
    acme: TenantPeople, typed: str, consent: bool, field: str
) -> None:
    book = lender(acme)
    document = document_render(
        tenant=acme.tenant,
        membership=acme.client.membership,
        kind="risk_disclosure",
        language="en",
    )
    with pytest.raises(ApplicationError) as refused:
        disclosure_sign(
            tenant=acme.tenant,
            membership=acme.client.membership,
            document_id=document.pk,
            typed_name=typed,
            consent=consent,
            otp=one_time_code(acme.client),
        )
    assert refused.value.status_code == 400 and field in refused.value.fields
    assert not SignatureRecord.objects.exists()
    assert book.tenant.pk == acme.tenant.pk


def test_the_name_matches_whatever_the_case_and_spaces(acme: TenantPeople) -> None:
    lender(acme)
    document = document_render(
        tenant=acme.tenant,
        membership=acme.client.membership,
        kind="risk_disclosure",
        language="en",
    )
    record = disclosure_sign(
        tenant=acme.tenant,
        membership=acme.client.membership,
        document_id=document.pk,
        typed_name="  zhang   SAN ",
        consent=True,
        otp=one_time_code(acme.client),
    )
    assert record.signer["typed_name"] == "zhang   SAN"


def test_a_wrong_code_is_refused(acme: TenantPeople) -> None:
    lender(acme)
    document = document_render(
        tenant=acme.tenant,
        membership=acme.client.membership,
        kind="risk_disclosure",
        language="en",
    )
    with pytest.raises(ApplicationError) as refused:
        disclosure_sign(
            tenant=acme.tenant,
            membership=acme.client.membership,
            document_id=document.pk,
            typed_name="Zhang San",
            consent=True,
            otp="000000",
        )
    assert "otp" in refused.value.fields
    assert not SignatureRecord.objects.exists()


def test_a_client_who_has_not_signed_cannot_draw(acme: TenantPeople) -> None:
    book = lender(acme)
    kyc_approve(acme)
    book.line()
    book.deposit("1000.00")
    with pytest.raises(ApplicationError) as refused:
        book.draw("5000.00", day=DAY)
    assert refused.value.error_code == "credit_refused"
    assert "Sign the current" in refused.value.message
    book.sign("risk_disclosure")
    with pytest.raises(ApplicationError):  # the agreement is still missing
        book.draw("5000.00", day=DAY)
    book.sign("credit_agreement")
    contract = book.draw("5000.00", day=DAY)
    assert contract.outstanding == 5000


def test_a_new_policy_version_needs_signing_again_before_more_credit(acme: TenantPeople) -> None:
    book = lender(acme)
    kyc_approve(acme)
    book.line()
    book.sign_all()
    book.draw("1000.00", day=DAY)
    policy_activate(acme, leverage_cap="3")  # a new version, another digest
    assert signing_missing(tenant=acme.tenant, membership=acme.client.membership) == [
        "risk_disclosure",
        "credit_agreement",
    ]
    with pytest.raises(ApplicationError) as refused:
        book.draw("1000.00", day=DAY)
    assert refused.value.error_code == "credit_refused"
    book.sign_all()
    assert book.draw("1000.00", day=DAY).outstanding == 1000


def test_a_document_prepared_under_an_older_policy_cannot_be_signed(acme: TenantPeople) -> None:
    lender(acme)
    document = document_render(
        tenant=acme.tenant,
        membership=acme.client.membership,
        kind="credit_agreement",
        language="zh-hans",
    )
    policy_activate(acme, leverage_cap="2")
    with pytest.raises(ApplicationError) as refused:
        disclosure_sign(
            tenant=acme.tenant,
            membership=acme.client.membership,
            document_id=document.pk,
            typed_name="Zhang San",
            consent=True,
            otp=one_time_code(acme.client),
        )
    assert refused.value.error_code == "document_outdated"
    assert not SignatureRecord.objects.exists()
