"""Engagements: Acme's admin grants its auditor a time-boxed, scoped engagement; the auditor
requests reports, watches them, downloads them and fetches checkpoints; outside the
engagement nothing is there (404); every view and download lands in Acme's trail.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography import x509
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import remove_perm

from ledger.services import journal_seal
from platform_core.audit.checkpoints import checkpoint_seal
from platform_core.audit.engagements import engagement_grant
from platform_core.audit.models import AuditEvent, Engagement, ReportFile, ReportRequest
from platform_core.audit.services import audit_record
from platform_core.audit.signing import signing_identity_for
from platform_core.tenancy.roles import Role
from tests.conftest import TenantPeople, api_token_for, make_person, sign_in
from tests.ledger.factories import open_book

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signing_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.SIGNING_PKCS12_FILE = ""
    settings.SIGNING_TSA_URL = ""
    return settings.VAR_DIR


def today() -> date:
    """Acme's business date (Asia/Shanghai), which reports' periods are in."""
    return timezone.localdate(timezone=ZoneInfo("Asia/Shanghai"))


def grant(
    people: TenantPeople,
    *,
    scope: tuple[str, ...] = ("journal", "access_log", "audit_trail"),
    starts: timedelta = timedelta(hours=-1),
    lasts: timedelta = timedelta(days=7),
    auditor: Any = None,
) -> Engagement:
    now = timezone.now()
    return engagement_grant(
        tenant=people.tenant,
        actor=people.admin.user,
        auditor=(auditor or people.auditor).membership,
        scope=list(scope),
        period_from=today() - timedelta(days=31),
        period_to=today() + timedelta(days=1),
        access_from=now + starts,
        access_until=now + starts + lasts,
        reason="FY audit",
    )


def auditor_client(people: TenantPeople, person: Any = None) -> Client:
    return sign_in(Client(), person or people.auditor)


# --- granting -------------------------------------------------------------------------------


def test_the_tenant_admin_grants_an_engagement_through_the_api(acme: TenantPeople) -> None:
    token = api_token_for(Client(), acme.admin)
    now = timezone.now()
    response = Client().post(
        "/api/v1/audit/engagements",
        {
            "auditor": acme.auditor.membership.pk,
            "scope": ["journal", "trial_balance"],
            "period_from": "2026-01-01",
            "period_to": "2026-06-30",
            "access_from": now.isoformat(),
            "access_until": (now + timedelta(days=30)).isoformat(),
            "reason": "H1 review",
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
        HTTP_IDEMPOTENCY_KEY="grant-1",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["auditor_email"] == acme.auditor.email
    assert body["scope"] == ["journal", "trial_balance"]
    engagement = Engagement.objects.get(pk=body["id"])
    assert acme.auditor.user.has_perm("audit.view_engagement", engagement)
    assert AuditEvent.objects.filter(
        action="engagement.granted", object_id=str(engagement.pk)
    ).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scope": ["nonsense"]}, "scope"),
        ({"scope": []}, "scope"),
        ({"period_to": "2025-01-01"}, "period_to"),
        ({"access_until": "2020-01-01T00:00:00Z"}, "access_until"),
        ({"auditor": "compliance"}, "auditor"),
    ],
)
def test_a_bad_grant_is_a_400_naming_the_field(
    acme: TenantPeople, change: dict[str, Any], field: str
) -> None:
    token = api_token_for(Client(), acme.admin)
    now = timezone.now()
    body = {
        "auditor": acme.auditor.membership.pk,
        "scope": ["journal"],
        "period_from": "2026-01-01",
        "period_to": "2026-06-30",
        "access_from": now.isoformat(),
        "access_until": (now + timedelta(days=30)).isoformat(),
    }
    body.update(change)
    if body["auditor"] == "compliance":
        body["auditor"] = acme.compliance.membership.pk
    response = Client().post(
        "/api/v1/audit/engagements",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
        HTTP_IDEMPOTENCY_KEY="grant-bad",
    )
    assert response.status_code == 400, response.content
    assert field in str(response.json()), response.json()
    assert not Engagement.objects.exists()


@pytest.mark.parametrize("role", ["auditor", "compliance", "operations", "client"])
def test_only_the_tenant_admin_grants(acme: TenantPeople, role: str) -> None:
    token = api_token_for(Client(), getattr(acme, role))
    response = Client().get("/api/v1/audit/engagements", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 403


def test_revoking_ends_access_at_once(acme: TenantPeople) -> None:
    engagement = grant(acme)
    client = auditor_client(acme)
    assert client.get(f"/audit/engagements/{engagement.pk}/").status_code == 200
    token = api_token_for(Client(), acme.admin)
    response = Client().post(
        f"/api/v1/audit/engagements/{engagement.pk}/revoke",
        {"reason": "audit finished"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
        HTTP_IDEMPOTENCY_KEY="revoke-1",
    )
    assert response.status_code == 200, response.content
    assert client.get(f"/audit/engagements/{engagement.pk}/").status_code == 404
    assert not acme.auditor.user.has_perm("audit.view_engagement", engagement)


# --- outside the engagement, nothing --------------------------------------------------------


@pytest.mark.parametrize(
    ("starts", "lasts"),
    [(timedelta(days=1), timedelta(days=7)), (timedelta(days=-10), timedelta(days=2))],
    ids=["not yet", "over"],
)
def test_outside_its_access_window_an_engagement_is_a_404(
    acme: TenantPeople, starts: timedelta, lasts: timedelta
) -> None:
    engagement = grant(acme)
    now = timezone.now()  # granted for later or long over (a grant refuses a past window)
    Engagement.objects.filter(pk=engagement.pk).update(
        access_from=now + starts, access_until=now + starts + lasts
    )
    client = auditor_client(acme)
    assert client.get(f"/audit/engagements/{engagement.pk}/").status_code == 404
    assert f"/audit/engagements/{engagement.pk}/" not in client.get("/audit/").content.decode()


def test_without_the_object_permission_an_engagement_is_a_404(acme: TenantPeople) -> None:
    engagement = grant(acme)
    remove_perm("audit.view_engagement", acme.auditor.user, engagement)
    assert auditor_client(acme).get(f"/audit/engagements/{engagement.pk}/").status_code == 404


def test_another_auditors_engagement_and_reports_are_a_404(acme: TenantPeople) -> None:
    other = make_person(acme.tenant, "other-auditor@acme.example", Role.AUDITOR)
    engagement = grant(acme, auditor=other)
    job = ReportRequest.objects.create(
        tenant=acme.tenant,
        engagement=engagement,
        report_type="journal",
        period_from=today(),
        period_to=today(),
        key="x",
    )
    client = auditor_client(acme)
    assert client.get(f"/audit/engagements/{engagement.pk}/").status_code == 404
    assert client.get(f"/audit/reports/{job.pk}/").status_code == 404


def test_staff_never_reach_the_auditor_area(acme: TenantPeople) -> None:
    engagement = grant(acme)
    client = sign_in(Client(), acme.admin)
    assert client.get(f"/audit/engagements/{engagement.pk}/").status_code == 403


def test_without_a_verified_second_factor_the_area_is_closed(acme: TenantPeople) -> None:
    engagement = grant(acme)
    client = sign_in(Client(), acme.auditor, verify=False)
    response = client.get(f"/audit/engagements/{engagement.pk}/")
    assert response.status_code in (302, 403)
    assert b"journal" not in response.content


# --- inside: request, watch, download -------------------------------------------------------


def test_the_auditor_requests_a_report_downloads_it_and_the_tenant_sees_every_step(
    acme: TenantPeople, django_capture_on_commit_callbacks: Any
) -> None:
    book = open_book(acme)
    book.fund("321.09")
    journal_seal(tenant=acme.tenant)
    engagement = grant(acme)
    client = auditor_client(acme)
    assert "FY audit" not in client.get("/audit/").content.decode()  # the reason is the admin's
    assert f"/audit/engagements/{engagement.pk}/" in client.get("/audit/").content.decode()

    period = {"date_from": today().isoformat(), "date_to": today().isoformat()}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/audit/engagements/{engagement.pk}/", {"report_type": "journal", **period}
        )
    assert response.status_code == 302, response.content
    job = ReportRequest.objects.get(engagement=engagement)
    assert response["Location"] == f"/audit/reports/{job.pk}/"
    assert (job.status, job.progress) == ("done", 100)

    # Asking again gives the same job, not a second report.
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(
            f"/audit/engagements/{engagement.pk}/", {"report_type": "journal", **period}
        )
    assert again["Location"] == response["Location"]
    assert ReportRequest.objects.filter(engagement=engagement).count() == 1

    page = client.get(f"/audit/reports/{job.pk}/").content.decode()
    pdf = ReportFile.objects.get(request=job, kind="pdf")
    assert pdf.sha256 in page
    download = client.get(f"/audit/files/{pdf.pk}/")
    assert download.status_code == 200
    assert download.content == bytes(pdf.content)
    assert download["X-Content-SHA256"] == pdf.sha256

    actions = list(
        AuditEvent.objects.filter(actor=acme.auditor.user).values_list("action", "payload")
    )
    assert ("auditor.downloaded", {"page": "download", "name": pdf.name, "sha256": pdf.sha256}) in [
        (a, p) for a, p in actions
    ]
    assert {"auditor.viewed", "report.requested"} <= {a for a, _p in actions}

    # The access log report lists the auditor's download.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/audit/engagements/{engagement.pk}/", {"report_type": "access_log", **period})
    access = ReportRequest.objects.get(engagement=engagement, report_type="access_log")
    csv = bytes(ReportFile.objects.get(request=access, name__endswith="-access.csv").content)
    assert b"auditor.downloaded" in csv and acme.auditor.email.encode() in csv


def test_a_report_type_outside_the_scope_is_a_404(acme: TenantPeople) -> None:
    engagement = grant(acme, scope=("journal",))
    response = auditor_client(acme).post(
        f"/audit/engagements/{engagement.pk}/",
        {"report_type": "trial_balance", "date_from": today(), "date_to": today()},
    )
    assert response.status_code in (400, 404)
    assert not ReportRequest.objects.exists()


def test_a_period_outside_the_engagement_is_a_form_error(acme: TenantPeople) -> None:
    engagement = grant(acme)
    response = auditor_client(acme).post(
        f"/audit/engagements/{engagement.pk}/",
        {"report_type": "journal", "date_from": "2001-01-01", "date_to": "2001-01-31"},
    )
    assert response.status_code == 400
    assert "outside it" in response.content.decode()
    assert not ReportRequest.objects.exists()


def test_a_failed_report_says_why_and_stores_nothing(
    acme: TenantPeople, settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    engagement = grant(acme)
    broken = tmp_path / "broken.p12"
    broken.write_bytes(b"garbage")
    settings.SIGNING_PKCS12_FILE = str(broken)
    client = auditor_client(acme)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/audit/engagements/{engagement.pk}/",
            {"report_type": "journal", "date_from": today(), "date_to": today()},
        )
    job = ReportRequest.objects.get(engagement=engagement)
    assert job.status == "failed" and "SIGNING_PKCS12_FILE" in job.message
    assert not ReportFile.objects.filter(request=job).exists()
    assert "SIGNING_PKCS12_FILE" in client.get(f"/audit/reports/{job.pk}/").content.decode()


def test_the_ca_certificate_is_downloadable_and_is_the_one_that_signs(acme: TenantPeople) -> None:
    grant(acme)
    response = auditor_client(acme).get("/audit/verification/ca.pem")
    assert response.status_code == 200
    (ca,) = x509.load_pem_x509_certificates(response.content)
    assert ca == signing_identity_for(tenant=acme.tenant).ca_certificates()[0]
    assert AuditEvent.objects.filter(
        actor=acme.auditor.user, action="auditor.downloaded", payload__name="ca.pem"
    ).exists()


def test_the_area_speaks_chinese(acme: TenantPeople) -> None:
    grant(acme)
    client = auditor_client(acme)
    client.cookies["django_language"] = "zh-hans"
    page = client.get("/audit/verification/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "下载 CA 证书" in page


# --- checkpoints through the API ------------------------------------------------------------


def test_an_auditor_fetches_heads_and_proofs_of_the_logs_in_scope(acme: TenantPeople) -> None:
    grant(acme, scope=("audit_trail",))
    for n in range(3):
        audit_record(tenant=acme.tenant, actor=None, action="test.event", payload={"n": n})
    older = checkpoint_seal(tenant=acme.tenant, log="audit")
    audit_record(tenant=acme.tenant, actor=None, action="test.event", payload={"n": 9})
    newer = checkpoint_seal(tenant=acme.tenant, log="audit")
    book = open_book(acme)
    book.fund("1.00")
    journal_seal(tenant=acme.tenant)
    journal = checkpoint_seal(tenant=acme.tenant, log="journal")

    headers = {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), acme.auditor)}"}
    listed = Client().get("/api/v1/audit/checkpoints", **headers).json()["results"]
    assert [h["id"] for h in listed] == [newer.pk, older.pk]  # not the journal's
    assert Client().get(f"/api/v1/audit/checkpoints/{journal.pk}", **headers).status_code == 404

    head = Client().get(f"/api/v1/audit/checkpoints/{newer.pk}", **headers).json()
    assert head["root_hash"] == newer.root_hash and head["statement"] == newer.statement
    proof = (
        Client()
        .get(f"/api/v1/audit/checkpoints/{newer.pk}/consistency?from={older.pk}", **headers)
        .json()
    )
    assert proof["from"]["tree_size"] == older.tree_size and proof["path"]
    inclusion = (
        Client()
        .get(f"/api/v1/audit/checkpoints/{newer.pk}/inclusion?leaf_index=1", **headers)
        .json()
    )
    assert inclusion["record"]["seq"] == 2
    bad = Client().get(
        f"/api/v1/audit/checkpoints/{newer.pk}/inclusion?leaf_index=99999", **headers
    )
    assert bad.status_code == 400 and "leaf_index" in bad.json()["fields"]


# --- the pipeline's contract with a report type ---------------------------------------------


@pytest.fixture
def probe_type() -> Any:
    """A report type registered for one test: it records the job's stored progress while it
    builds, and refuses when asked for a period starting on the 1st."""
    from platform_core.audit.report_content import ReportBody, ReportSection
    from platform_core.exceptions import ApplicationError
    from platform_core.hooks import ReportType, report_types

    seen: dict[str, Any] = {}

    def build(*, tenant: Any, period: Any, appendix: Any) -> ReportBody:
        job = ReportRequest.objects.get(tenant=tenant, report_type="probe")
        seen["progress"], seen["status"] = job.progress, job.status
        if period.date_from.day == 1:
            raise ApplicationError(422, "probe_refused", "The probe refuses the 1st.")
        appendix.csv("rows", ["n"], [[1], [2]])
        return ReportBody(sections=[ReportSection(title="Probe", text="探针 probe")])

    report_types.register(ReportType(key="probe", title="Probe", build=build))
    yield seen
    report_types.unregister("probe")


def test_progress_is_stored_while_the_job_runs(
    acme: TenantPeople, probe_type: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    engagement = grant(acme, scope=("probe",))
    day = today() if today().day != 1 else today() - timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        auditor_client(acme).post(
            f"/audit/engagements/{engagement.pk}/",
            {"report_type": "probe", "date_from": day, "date_to": day},
        )
    assert probe_type == {"progress": 10, "status": "running"}
    job = ReportRequest.objects.get(report_type="probe")
    assert (job.status, job.progress) == ("done", 100)
    names = set(ReportFile.objects.filter(request=job).values_list("name", flat=True))
    stem = f"acme-probe-{day}-{day}"
    assert names == {f"{stem}.pdf", f"{stem}-rows.csv", f"{stem}.sha256"}


def test_a_type_that_refuses_fails_the_job_with_its_message_and_stores_nothing(
    acme: TenantPeople, probe_type: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    engagement = grant(acme, scope=("probe",))
    first = today().replace(day=1)
    with django_capture_on_commit_callbacks(execute=True):
        auditor_client(acme).post(
            f"/audit/engagements/{engagement.pk}/",
            {"report_type": "probe", "date_from": first, "date_to": first},
        )
    job = ReportRequest.objects.get(report_type="probe")
    assert (job.status, job.message) == ("failed", "The probe refuses the 1st.")
    assert not ReportFile.objects.filter(request=job).exists()
    assert AuditEvent.objects.filter(action="report.failed", object_id=str(job.pk)).exists()


# --- the console ----------------------------------------------------------------------------


def test_the_admin_grants_and_revokes_in_the_console(acme: TenantPeople) -> None:
    client = sign_in(Client(), acme.admin)
    page = client.get("/console/engagements/")
    assert page.status_code == 200 and acme.auditor.email in page.content.decode()
    now = timezone.now()
    response = client.post(
        "/console/engagements/",
        {
            "auditor": acme.auditor.membership.pk,
            "scope": ["journal", "access_log"],
            "period_from": "2026-01-01",
            "period_to": "2026-03-31",
            "access_from": now.strftime("%Y-%m-%dT%H:%M"),
            "access_until": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "Q1",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    engagement = Engagement.objects.get()
    assert engagement.scope == ["access_log", "journal"]
    assert acme.auditor.user.has_perm("audit.view_engagement", engagement)
    response = client.post(
        f"/console/engagements/{engagement.pk}/revoke/", {"reason": "done early"}
    )
    assert response.status_code == 302
    engagement.refresh_from_db()
    assert engagement.revoked_at is not None


def test_a_bad_grant_in_the_console_is_a_form_error(acme: TenantPeople) -> None:
    client = sign_in(Client(), acme.admin)
    response = client.post(
        "/console/engagements/",
        {
            "auditor": acme.auditor.membership.pk,
            "scope": ["journal"],
            "period_from": "2026-03-31",
            "period_to": "2026-01-01",
            "access_from": "2026-01-01T00:00",
            "access_until": "2030-01-01T00:00",
        },
    )
    assert response.status_code == 400
    assert "ends before it starts" in response.content.decode()
    assert not Engagement.objects.exists()


@pytest.mark.parametrize("role", ["auditor", "compliance", "operations"])
def test_only_the_tenant_admin_opens_the_console_page(acme: TenantPeople, role: str) -> None:
    response = sign_in(Client(), getattr(acme, role)).get("/console/engagements/")
    assert response.status_code == 403
