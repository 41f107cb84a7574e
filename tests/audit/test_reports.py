"""The report pipeline from the shell: ``report_generate`` issues a signed PDF, its appendix and
manifest; every file is stored append-only; bad input stops it with a message and no file.

Acme's operations person posts deposits; the operator makes reports of them and an auditor
checks them with ``sha256sum``-style manifests, pyHanko and poppler's ``pdfsig``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ledger.services import journal_seal
from platform_core.audit.models import AuditEvent, ReportFile, ReportRequest
from platform_core.hooks import report_types
from tests.audit.test_signing import (
    dev_ca,
    flip_one_signed_byte,
    needs_certutil,
    needs_pdfsig,
    nss_db_trusting,
    pdfsig,
    pyhanko_status,
)
from tests.conftest import TenantPeople, as_owner, as_tenant
from tests.ledger.factories import open_book

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signing_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.SIGNING_PKCS12_FILE = ""
    settings.SIGNING_PKCS12_PASSWORD = ""
    settings.SIGNING_TSA_URL = ""
    return settings.VAR_DIR


def today(people: TenantPeople) -> str:
    return timezone.localdate(timezone=ZoneInfo(people.tenant.timezone)).isoformat()


def generate(people: TenantPeople, out: Path, kind: str, *dates: str) -> str:
    stdout = StringIO()
    period = ["--from", dates[0], "--to", dates[1]] if dates else []
    call_command(
        "report_generate",
        "--tenant",
        people.tenant.slug,
        "--type",
        kind,
        *period,
        "--out",
        str(out),
        stdout=stdout,
    )
    return stdout.getvalue()


@pytest.fixture
def deposits(acme: TenantPeople) -> TenantPeople:
    """Three deposits into Acme's client money today (USD), sealed in the journal chain."""
    book = open_book(acme)
    for amount in ("100.00", "250.50", "1234.56"):
        book.fund(amount)
    journal_seal(tenant=acme.tenant)
    return acme


def manifest_of(path: Path) -> dict[str, str]:
    lines = path.with_suffix(".sha256").read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines)}


def test_a_journal_report_is_a_signed_pdf_with_its_appendix_and_manifest(
    deposits: TenantPeople, tmp_path: Path
) -> None:
    out = tmp_path / "journal.pdf"
    day = today(deposits)
    generate(deposits, out, "journal", day, day)

    manifest = manifest_of(out)
    assert set(manifest) == {"journal.pdf", "journal-postings.csv", "journal-totals-by-account.csv"}
    for name, digest in manifest.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest, name

    postings = list(csv.DictReader(io.StringIO((tmp_path / "journal-postings.csv").read_text())))
    assert sorted(Decimal(p["amount"]) for p in postings if p["side"] == "credit") == [
        Decimal("100.00"),
        Decimal("250.50"),
        Decimal("1234.56"),
    ]
    assert all(p["seal_hash"] for p in postings), "every posting names its entry's seal"

    pdf = out.read_bytes()
    status = pyhanko_status(pdf, trusting=[dev_ca(deposits.tenant)])
    assert status.bottom_line, status.pretty_print_details()
    # The signed cover states the appendix's hash, so the signature vouches for the CSV.
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert manifest["journal-postings.csv"] in text.replace("\n", "").replace(" ", "")
    assert "Postings" in text


def test_every_issued_file_is_stored_as_issued_and_the_job_is_recorded(
    deposits: TenantPeople, tmp_path: Path
) -> None:
    out = tmp_path / "tb.pdf"
    generate(deposits, out, "trial_balance")
    job = ReportRequest.objects.get(tenant=deposits.tenant, report_type="trial_balance")
    assert job.status == ReportRequest.Status.DONE and job.progress == 100
    stored = {f.name: f for f in ReportFile.objects.filter(tenant=deposits.tenant, request=job)}
    for name, digest in manifest_of(out).items():
        assert stored[name].sha256 == digest
        assert bytes(stored[name].content) == (tmp_path / name).read_bytes()
    event = AuditEvent.objects.get(tenant=deposits.tenant, action="report.generated")
    assert event.payload["files"]["tb.pdf"] == manifest_of(out)["tb.pdf"]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_reportfile SET sha256 = 'x'", "DELETE FROM audit_reportfile"],
)
def test_stored_report_files_refuse_update_and_delete(
    deposits: TenantPeople, tmp_path: Path, statement: str
) -> None:
    generate(deposits, tmp_path / "j.pdf", "journal")
    before = list(ReportFile.objects.values_list("pk", "sha256"))
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)
    assert list(ReportFile.objects.values_list("pk", "sha256")) == before


@pytest.mark.django_db(transaction=True)
def test_even_the_owner_cannot_rewrite_an_issued_file(acme: TenantPeople, tmp_path: Path) -> None:
    generate(acme, tmp_path / "e.pdf", "access_log")
    with as_tenant(acme.tenant):
        file = ReportFile.objects.first()
    with pytest.raises(psycopg.Error, match="append-only"):
        as_owner(
            ("UPDATE audit_reportfile SET sha256 = 'x' WHERE id = %s", [file.pk]),
            tenant=acme.tenant,
        )


def test_a_period_without_data_gives_a_valid_report_that_says_so(
    acme: TenantPeople, tmp_path: Path
) -> None:
    out = tmp_path / "empty.pdf"
    generate(acme, out, "journal", "2020-01-01", "2020-01-31")
    assert pyhanko_status(out.read_bytes(), trusting=[dev_ca(acme.tenant)]).bottom_line
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "no data" in text
    postings = (tmp_path / "empty-postings.csv").read_text().splitlines()
    assert len(postings) == 1  # the header only


@pytest.mark.parametrize("kind", sorted(report_types.keys()))
def test_every_registered_type_issues_a_trusted_report(
    deposits: TenantPeople, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / f"{kind}.pdf"
    generate(deposits, out, kind)
    assert pyhanko_status(out.read_bytes(), trusting=[dev_ca(deposits.tenant)]).bottom_line
    assert manifest_of(out)[out.name] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_the_trial_balance_balances_per_currency(deposits: TenantPeople, tmp_path: Path) -> None:
    generate(deposits, tmp_path / "tb.pdf", "trial_balance")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tb-accounts.csv").read_text())))
    debits = sum(Decimal(r["debits_to_date"]) for r in rows)
    credits = sum(Decimal(r["credits_to_date"]) for r in rows)
    assert debits == credits == Decimal("1585.06")
    client = next(r for r in rows if r["kind"] == "client_cash")
    assert Decimal(client["balance"]) == Decimal("1585.06")


def test_a_report_over_many_rows_keeps_the_pdf_short_and_says_where_the_rest_is(
    acme: TenantPeople, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_core.audit import reports

    monkeypatch.setattr(reports, "PDF_ROWS_MAX", 1)
    book = open_book(acme)
    book.fund("10.00")  # two accounts touched: the totals by account have two rows
    out = tmp_path / "cut.pdf"
    generate(acme, out, "journal")
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "more rows are in cut-postings.csv" in text


@needs_pdfsig
@needs_certutil
def test_pdfsig_trusts_a_report_and_a_flipped_byte_fails_both_verifiers(
    deposits: TenantPeople, tmp_path: Path
) -> None:
    out = tmp_path / "journal.pdf"
    generate(deposits, out, "journal")
    pdf = out.read_bytes()
    ca = dev_ca(deposits.tenant)
    nssdir = nss_db_trusting(tmp_path / "nss", ca)
    report = pdfsig(pdf, tmp_path, nssdir=nssdir)
    assert "Signature is Valid." in report and "Certificate is Trusted." in report, report

    tampered = flip_one_signed_byte(pdf)
    assert "Digest Mismatch" in pdfsig(tampered, tmp_path, nssdir=nssdir)
    assert not pyhanko_status(tampered, trusting=[ca]).bottom_line


def test_report_verify_says_intact_trusted_signer_and_time(
    deposits: TenantPeople, tmp_path: Path
) -> None:
    out = tmp_path / "journal.pdf"
    generate(deposits, out, "journal")
    stdout = StringIO()
    call_command("report_verify", str(out), "--tenant", "acme", stdout=stdout)
    output = stdout.getvalue()
    assert "intact:    yes" in output and "trusted:   yes" in output
    assert "Acme document signing" in output
    assert "signed at: 20" in output
    assert "manifest:  journal-postings.csv ok" in output


def test_report_verify_fails_a_flipped_byte_and_a_changed_appendix(
    deposits: TenantPeople, tmp_path: Path
) -> None:
    out = tmp_path / "journal.pdf"
    generate(deposits, out, "journal")
    original = out.read_bytes()
    out.write_bytes(flip_one_signed_byte(original))
    stdout = StringIO()
    with pytest.raises(CommandError, match="does NOT verify"):
        call_command("report_verify", str(out), "--tenant", "acme", stdout=stdout)
    assert "intact:    NO" in stdout.getvalue()

    out.write_bytes(original)
    appendix = tmp_path / "journal-postings.csv"
    appendix.write_bytes(appendix.read_bytes().replace(b"1234.56", b"1234.65"))
    stdout = StringIO()
    with pytest.raises(CommandError, match="does NOT verify"):
        call_command("report_verify", str(out), "--tenant", "acme", stdout=stdout)
    assert "journal-postings.csv MISMATCH" in stdout.getvalue()


def test_report_verify_does_not_trust_another_tenants_ca(
    deposits: TenantPeople, globex: TenantPeople, tmp_path: Path
) -> None:
    out = tmp_path / "journal.pdf"
    generate(deposits, out, "journal")
    stdout = StringIO()
    with pytest.raises(CommandError):
        call_command("report_verify", str(out), "--tenant", "globex", stdout=stdout)
    assert "trusted:   NO" in stdout.getvalue()


def test_a_corrupted_pkcs12_stops_the_report_with_a_message_and_no_file(
    deposits: TenantPeople, tmp_path: Path, settings: Any
) -> None:
    broken = tmp_path / "seal.p12"
    broken.write_bytes(b"not a pkcs12 archive")
    settings.SIGNING_PKCS12_FILE = str(broken)
    settings.SIGNING_PKCS12_PASSWORD = "secret"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(CommandError, match="SIGNING_PKCS12_FILE"):
        generate(deposits, out_dir / "journal.pdf", "journal")
    assert list(out_dir.iterdir()) == []
    assert not ReportFile.objects.filter(tenant=deposits.tenant).exists()
    assert not ReportRequest.objects.filter(tenant=deposits.tenant).exists()


def test_a_wrong_pkcs12_password_stops_the_report(
    deposits: TenantPeople, tmp_path: Path, settings: Any
) -> None:
    from tests.audit.test_signing import make_pkcs12

    archive, _password_file, _ca = make_pkcs12(tmp_path, password=b"right-Password-1")
    settings.SIGNING_PKCS12_FILE = str(archive)
    settings.SIGNING_PKCS12_PASSWORD = "wrong"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(CommandError, match="cannot be signed"):
        generate(deposits, out_dir / "journal.pdf", "journal")
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "nonsense"], "No report type 'nonsense'"),
        (["--type", "journal", "--from", "2026-13-01"], "--from must be a date"),
        (["--type", "journal", "--from", "2026-02-01", "--to", "2026-01-01"], "ends"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(
    acme: TenantPeople, tmp_path: Path, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("report_generate", "--tenant", "acme", *args, "--out", str(tmp_path / "r.pdf"))
    assert list(tmp_path.glob("r*")) == []


def test_an_unknown_tenant_is_refused(db: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Unknown tenant"):
        call_command(
            "report_generate",
            "--tenant",
            "nope",
            "--type",
            "journal",
            "--out",
            str(tmp_path / "r.pdf"),
        )


def test_a_future_period_is_empty_not_an_error(acme: TenantPeople, tmp_path: Path) -> None:
    later = (timezone.now() + timedelta(days=400)).date().isoformat()
    generate(acme, tmp_path / "f.pdf", "access_log", later, later)
    with as_tenant(acme.tenant):
        assert ReportRequest.objects.filter(status="done").count() == 1
