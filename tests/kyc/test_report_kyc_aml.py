"""The ``kyc_aml`` report for auditors, issued from the shell: a period with an onboarding case,
a screening hit cleared (with a whitelist entry) and a monitoring alert states those counts,
validates as signed and trusted, and names clients by their KYC file number only; an empty
period still issues a valid report that says so."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from kyc.models import ClientProfile, KycCase, MonitoringAlert
from ledger.services import account_create, transfer_post
from platform_core.audit.approvals import approval_request_approve
from tests.audit.test_reports import generate, manifest_of, signing_var, today  # noqa: F401
from tests.audit.test_signing import dev_ca, pyhanko_status
from tests.conftest import TenantPeople, make_person
from tests.kyc.factories import PERSONAL, submit_profile
from tests.kyc.test_cases import needs_screening, screen

pytestmark = pytest.mark.django_db

ZHANG_WEI = {
    "id": "kyc-report-zw-1",
    "schema": "Person",
    "caption": "Zhang Wei",
    "properties": {
        "name": ["Zhang Wei", "张伟"],
        "birthDate": ["1949-12-31"],
        "nationality": ["cn"],
        "topics": ["sanction"],
    },
}


def pdf_text(path: Path) -> str:
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return re.sub(r"\s+", " ", text)


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def clear_the_hit(acme: TenantPeople, tmp_path: Path) -> int:
    """List Zhang Wei, screen the client (a hit), clear it as a false positive, whitelisted."""
    from kyc.screening.models import ScreeningHit
    from kyc.screening.services import list_import, screening_hit_clear

    listing = tmp_path / "list.ftm.json"
    listing.write_text(json.dumps(ZHANG_WEI) + "\n")
    list_import(path=listing, fmt="ftm", source_name="kyc-report-list")
    case = KycCase.objects.get(kind="onboarding")
    screen(case)
    (hit,) = ScreeningHit.objects.filter(tenant=acme.tenant)
    outcome = screening_hit_clear(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        hit_id=hit.pk,
        reason="different person: passport seen",
        whitelist_days=365,
    )
    if outcome.approval is not None:  # a strong hit: a second officer clears it
        second = make_person(acme.tenant, "second-officer@acme.test", "compliance_officer")
        approval_request_approve(
            tenant=acme.tenant,
            actor=second.user,
            membership=second.membership,
            approval_id=outcome.approval.pk,
            reason="agree: different person",
        )
    hit.refresh_from_db()
    assert hit.status == "cleared"
    return hit.pk


def third_party_deposit(acme: TenantPeople, capture) -> None:
    bank = account_create(tenant=acme.tenant, kind="custodian_bank", currency="CNY")
    client = account_create(
        tenant=acme.tenant, kind="client_cash", currency="CNY", owner_id=acme.client.membership.pk
    )
    with capture(execute=True):
        transfer_post(
            tenant=acme.tenant,
            debit_account=bank.pk,
            credit_account=client.pk,
            amount=Decimal("8000.00"),
            currency="CNY",
            entry_type="deposit",
            idempotency_key="kyc-report-dep-1",
            memo="payer=Wang Fang; channel=transfer",
        )


NARRATIVE = "funded by Wang Fang, an unrelated third party"


def file_a_report(acme: TenantPeople, alert: MonitoringAlert):
    """The alert's case taken by compliance, a report drafted from it and filed."""
    from kyc.monitoring.services import str_create, str_file
    from kyc.services import case_assign

    case_assign(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=alert.case_id,
        assignee=acme.compliance.membership,
    )
    report = str_create(
        tenant=acme.tenant, actor=acme.compliance.user, case_id=alert.case_id, narrative=NARRATIVE
    )
    return str_file(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        report_id=report.pk,
        reference="CAMLMAC-2026-0001",
    )


@needs_screening
def test_a_period_with_a_case_a_cleared_hit_and_an_alert_states_them(
    acme: TenantPeople, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    submit_profile(acme.tenant, acme.client)
    hit_id = clear_the_hit(acme, tmp_path)
    third_party_deposit(acme, django_capture_on_commit_callbacks)
    alert = MonitoringAlert.objects.get(tenant=acme.tenant)
    report = file_a_report(acme, alert)
    profile = ClientProfile.objects.get(tenant=acme.tenant)

    out = tmp_path / "kyc.pdf"
    day = today(acme)
    generate(acme, out, "kyc_aml", day, day)

    manifest = manifest_of(out)
    assert set(manifest) == {
        "kyc.pdf",
        "kyc-cases.csv",
        "kyc-screening-hits.csv",
        "kyc-whitelist.csv",
        "kyc-alerts.csv",
        "kyc-suspicious-transaction-reports.csv",
    }
    assert pyhanko_status(out.read_bytes(), trusting=[dev_ca(acme.tenant)]).bottom_line

    cases = rows_of(tmp_path / "kyc-cases.csv")
    assert sorted(c["kind"] for c in cases) == ["alert", "onboarding"]
    assert {c["client_ref"] for c in cases} == {str(profile.pk)}
    (hit,) = rows_of(tmp_path / "kyc-screening-hits.csv")
    assert hit["hit"] == str(hit_id) and hit["status"] == "cleared"
    assert hit["client_ref"] == str(profile.pk) and hit["decided_by"].endswith("@acme.test")
    (entry,) = rows_of(tmp_path / "kyc-whitelist.csv")
    assert entry["entity_key"] == ZHANG_WEI["id"] and entry["client_ref"] == str(profile.pk)
    (alert_row,) = rows_of(tmp_path / "kyc-alerts.csv")
    assert alert_row["rule"] == "third_party" and alert_row["rule_version"] == "1"
    assert alert_row["alert"] == str(alert.pk) and alert_row["client_ref"] == str(profile.pk)
    (filed,) = rows_of(tmp_path / "kyc-suspicious-transaction-reports.csv")
    assert filed["report"] == str(report.pk) and filed["status"] == "filed"
    assert filed["authority_reference"] == "CAMLMAC-2026-0001" and filed["filed_at"]
    assert filed["client_ref"] == str(profile.pk) and filed["alerts"] == "1"
    assert NARRATIVE not in (tmp_path / "kyc-suspicious-transaction-reports.csv").read_text()

    # The client's name (PII) is nowhere in clear, neither in the PDF nor in the appendix;
    # the third party's name in the alert's evidence goes in as a digest only.
    text = pdf_text(out)
    for name in (PERSONAL["legal_name"], PERSONAL["native_name"], "Wang Fang"):
        assert name not in text
        for file in manifest:
            if file.endswith(".csv"):
                content = (tmp_path / file).read_text(encoding="utf-8")
                if file == "kyc-screening-hits.csv":
                    # the listed party's caption is public list data, not the client's record
                    content = content.replace(ZHANG_WEI["caption"], "")
                assert name not in content, (name, file)

    # The summary states the counts.
    assert "KYC cases opened 2" in text
    assert "Screening hits raised 1" in text
    assert "Screening hits cleared 1" in text
    assert "Screening hits open at the end 0" in text
    assert "Whitelist entries made 1" in text
    assert "Monitoring alerts 1" in text
    assert "Suspicious-transaction reports filed 1" in text
    assert "third_party" in text
    assert "no data" not in text


def test_an_empty_period_gives_a_valid_report_that_says_so(
    acme: TenantPeople, tmp_path: Path
) -> None:
    submit_profile(acme.tenant, acme.client)  # today's case is outside the period
    out = tmp_path / "empty.pdf"
    generate(acme, out, "kyc_aml", "2020-01-01", "2020-01-31")
    assert pyhanko_status(out.read_bytes(), trusting=[dev_ca(acme.tenant)]).bottom_line
    text = pdf_text(out)
    assert "no data" in text
    assert "KYC cases opened 0" in text
    for name in manifest_of(out):
        if name.endswith(".csv"):
            assert len((tmp_path / name).read_text().splitlines()) == 1, name  # header only
