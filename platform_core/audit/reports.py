"""The report pipeline: build (the report type), render (WeasyPrint), sign (pyHanko), store.

One report is a set of files issued together, stored append-only and listed in a manifest:

- ``<stem>.pdf``: the signed PDF. Its cover names the tenant, the scope, the period, when it
  was generated and the SHA-256 of every appendix file, so the signature vouches for them;
- ``<stem>-<name>.csv|json``: the data appendix, row by row;
- ``<stem>.sha256``: the manifest, ``sha256sum`` format (``sha256sum -c`` checks it), of every
  file above including the signed PDF.

The signed bytes are what is stored and hashed; nothing is ever rendered twice (WeasyPrint's
output differs between renders). A failure anywhere (the signing certificate unreadable, a
wrong password, a template error) stores nothing: files are written in the same transaction
that marks the job done.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from platform_core.audit.models import Engagement, ReportFile, ReportRequest
from platform_core.audit.rendering import PdfRenderError, pdf_render
from platform_core.audit.report_content import (
    PDF_ROWS_MAX,
    ReportAppendix,
    ReportBody,
    ReportPeriod,
)
from platform_core.audit.services import audit_record
from platform_core.audit.signing import SigningError, pdf_sign, signing_identity_for
from platform_core.exceptions import ApplicationError
from platform_core.hooks import ReportType, report_types
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context

logger = logging.getLogger(__name__)

Progress = Callable[[int, str], None]


class ReportError(Exception):
    """A report could not be issued; the message says why (shown to the requester)."""


@dataclass(frozen=True)
class IssuedFile:
    name: str
    kind: str  # ReportFile.Kind
    content_type: str
    content: bytes
    sha256: str


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def report_type_get(key: str) -> ReportType:
    report_type = report_types.get(key)
    if report_type is None:
        known = ", ".join(report_types.keys()) or "none"
        raise ReportError(f"No report type {key!r}. Known types: {known}.")
    return report_type


def report_period(*, tenant: Tenant, date_from: date, date_to: date) -> ReportPeriod:
    if date_to < date_from:
        raise ReportError(f"The period ends ({date_to}) before it starts ({date_from}).")
    return ReportPeriod(date_from=date_from, date_to=date_to, timezone=tenant.timezone)


def report_stem(*, tenant: Tenant, report_type: str, period: ReportPeriod) -> str:
    return f"{tenant.slug}-{report_type.replace('_', '-')}-{period.date_from}-{period.date_to}"


def _no_progress(percent: int, message: str) -> None:
    return None


def _cut(body: ReportBody, appendix_names: list[str]) -> None:
    """Tables longer than a person reads are cut; the note says where the rest is."""
    where = ", ".join(appendix_names) or _("the data appendix")
    for section in body.sections:
        if len(section.rows) > PDF_ROWS_MAX:
            hidden = len(section.rows) - PDF_ROWS_MAX
            section.rows = section.rows[:PDF_ROWS_MAX]
            extra = _("%(count)s more rows are in %(where)s.") % {"count": hidden, "where": where}
            section.note = f"{section.note} {extra}".strip()


def _svg_data_url(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode()


def report_issue(
    *,
    tenant: Tenant,
    report_type: str,
    period: ReportPeriod,
    scope: str,
    requested_by: str,
    stem: str | None = None,
    progress: Progress = _no_progress,
) -> list[IssuedFile]:
    """Build, render and sign one report; return its files (PDF, appendix, manifest).

    Stores nothing. Raises ``ReportError`` with a message a person can act on.
    """
    kind = report_type_get(report_type)
    stem = stem or report_stem(tenant=tenant, report_type=report_type, period=period)
    try:
        # The signing identity first: a broken certificate stops the job before any work.
        identity = signing_identity_for(tenant=tenant)
    except SigningError as exc:
        raise ReportError(f"The report cannot be signed: {exc}") from exc

    appendix = ReportAppendix()
    progress(10, "building")
    try:
        with rls_context(tenant=tenant):
            body = kind.build(tenant=tenant, period=period, appendix=appendix)
    except ApplicationError as exc:
        raise ReportError(exc.message) from exc
    files = [
        IssuedFile(
            name=f"{stem}-{file.name}",
            kind=file.kind,
            content_type=file.content_type,
            content=file.content,
            sha256=_sha256(file.content),
        )
        for file in appendix.files
    ]
    _cut(body, [file.name for file in files])
    progress(45, "rendering")

    generated_at = timezone.now()
    context: dict[str, Any] = {
        "tenant": tenant,
        "report_type": kind,
        "period": period,
        "scope": scope,
        "requested_by": requested_by,
        "generated_at": generated_at,
        "generated_at_local": generated_at.astimezone(period.zone),
        "body": body,
        "sections": [
            (section, _svg_data_url(section.chart_svg) if section.chart_svg else "")
            for section in body.sections
        ],
        "appendix": files,
        "signer": identity.certificate.subject.rfc4514_string(),
        "signer_fingerprint": identity.certificate.fingerprint(hashes.SHA256()).hex(),
    }
    try:
        pdf = pdf_render(template_name=kind.template, context=context)
    except PdfRenderError as exc:
        raise ReportError(f"The report could not be rendered: {exc}") from exc
    progress(75, "signing")
    try:
        signed = pdf_sign(
            tenant=tenant,
            pdf=pdf,
            reason=f"{kind.key} report {period.date_from}..{period.date_to}",
        )
    except SigningError as exc:
        raise ReportError(f"The report cannot be signed: {exc}") from exc
    progress(90, "storing")

    files.insert(
        0,
        IssuedFile(f"{stem}.pdf", ReportFile.Kind.PDF, "application/pdf", signed, _sha256(signed)),
    )
    manifest = "".join(f"{file.sha256}  {file.name}\n" for file in files).encode("utf-8")
    files.append(
        IssuedFile(
            f"{stem}.sha256",
            ReportFile.Kind.MANIFEST,
            "text/plain; charset=utf-8",
            manifest,
            _sha256(manifest),
        )
    )
    return files


# --- jobs -----------------------------------------------------------------------------------


def _request_key(*, engagement: Engagement, report_type: str, period: ReportPeriod) -> str:
    return f"engagement:{engagement.pk}:{report_type}:{period.date_from}:{period.date_to}"


def report_request_create(
    *,
    tenant: Tenant,
    actor: Any,
    engagement: Engagement,
    report_type: str,
    date_from: date,
    date_to: date,
    request: Any = None,
) -> tuple[ReportRequest, bool]:
    """Ask for a report under ``engagement``; the same type and period give the same job.

    Returns (the job, whether it was queued now). A failed job asked for again is queued
    again. The job runs after the surrounding transaction commits.
    """
    from platform_core.audit.engagements import engagement_allows

    period = report_period(tenant=tenant, date_from=date_from, date_to=date_to)
    report_type_get(report_type)
    engagement_allows(engagement=engagement, report_type=report_type, period=period)
    key = _request_key(engagement=engagement, report_type=report_type, period=period)
    with transaction.atomic():
        existing = ReportRequest.objects.select_for_update().filter(tenant=tenant, key=key).first()
        if existing is not None and existing.status != ReportRequest.Status.FAILED:
            return existing, False
        if existing is not None:
            existing.status = ReportRequest.Status.QUEUED
            existing.progress = 0
            existing.message = ""
            existing.save(update_fields=["status", "progress", "message"])
            job = existing
        else:
            try:
                with transaction.atomic():
                    job = ReportRequest.objects.create(
                        tenant=tenant,
                        engagement=engagement,
                        report_type=report_type,
                        period_from=date_from,
                        period_to=date_to,
                        key=key,
                        requested_by=actor,
                        requested_label=getattr(actor, "email", ""),
                    )
            except IntegrityError:  # a concurrent request made it first
                return ReportRequest.objects.get(tenant=tenant, key=key), False
        audit_record(
            tenant=tenant,
            actor=actor,
            action="report.requested",
            object_type="report_request",
            object_id=job.pk,
            payload={
                "engagement": engagement.pk,
                "report_type": report_type,
                "period_from": date_from.isoformat(),
                "period_to": date_to.isoformat(),
            },
            request=request,
        )
        from platform_core.audit.tasks import report_generate_task

        report_generate_task.delay_on_commit(tenant.pk, job.pk)
    return job, True


def _progress_writer(*, tenant: Tenant, job_id: int) -> Progress:
    def write(percent: int, message: str) -> None:
        with rls_context(tenant=tenant):
            ReportRequest.objects.filter(tenant=tenant, pk=job_id).update(
                progress=percent, message=message
            )

    return write


def _scope_text(job: ReportRequest) -> str:
    if job.engagement_id is None:
        return _("Operator run (no engagement)")
    engagement = job.engagement
    assert engagement is not None
    return _("Engagement #%(id)s for %(auditor)s: %(types)s") % {
        "id": engagement.pk,
        "auditor": engagement.auditor.user.email,
        "types": ", ".join(engagement.scope),
    }


def report_run(*, tenant: Tenant, job_id: int) -> ReportRequest:
    """Run one job (the Celery task's body). Safe to run twice: a finished job is left alone."""
    with rls_context(tenant=tenant):
        job = ReportRequest.objects.select_related("engagement__auditor__user", "requested_by").get(
            tenant=tenant, pk=job_id
        )
        if job.status == ReportRequest.Status.DONE:
            return job
        job.status = ReportRequest.Status.RUNNING
        job.started_at = timezone.now()
        job.progress = 5
        job.message = "started"
        job.save(update_fields=["status", "started_at", "progress", "message"])
        scope = _scope_text(job)
    period = ReportPeriod(job.period_from, job.period_to, tenant.timezone)
    try:
        with override(job.requested_by.language if job.requested_by else "en"):
            files = report_issue(
                tenant=tenant,
                report_type=job.report_type,
                period=period,
                scope=scope,
                requested_by=job.requested_label,
                progress=_progress_writer(tenant=tenant, job_id=job.pk),
            )
    except Exception as exc:
        if isinstance(exc, ReportError):
            message = str(exc)
        else:  # a bug, not bad input: the job must not stay "running" for ever
            logger.exception("report job %s of %s failed", job.pk, tenant.slug)
            message = (
                "The report could not be made (an internal error); operators have the details."
            )
        with rls_context(tenant=tenant):
            ReportRequest.objects.filter(tenant=tenant, pk=job.pk).update(
                status=ReportRequest.Status.FAILED,
                message=message,
                finished_at=timezone.now(),
            )
            audit_record(
                tenant=tenant,
                actor=None,
                actor_label="system:reports",
                action="report.failed",
                object_type="report_request",
                object_id=job.pk,
                reason=message,
            )
        job.refresh_from_db()
        return job
    with rls_context(tenant=tenant):
        job = ReportRequest.objects.select_for_update().get(tenant=tenant, pk=job.pk)
        if job.status == ReportRequest.Status.DONE:  # a duplicate delivery finished first
            return job
        _files_store(tenant=tenant, job=job, files=files)
    return job


def _files_store(*, tenant: Tenant, job: ReportRequest, files: list[IssuedFile]) -> None:
    ReportFile.objects.bulk_create(
        [
            ReportFile(
                tenant=tenant,
                request=job,
                kind=file.kind,
                name=file.name,
                content_type=file.content_type,
                content=file.content,
                sha256=file.sha256,
                size=len(file.content),
            )
            for file in files
        ]
    )
    job.status = ReportRequest.Status.DONE
    job.progress = 100
    job.message = ""
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "progress", "message", "finished_at"])
    audit_record(
        tenant=tenant,
        actor=None,
        actor_label="system:reports",
        action="report.generated",
        object_type="report_request",
        object_id=job.pk,
        payload={
            "report_type": job.report_type,
            "period_from": job.period_from.isoformat(),
            "period_to": job.period_to.isoformat(),
            "files": {file.name: file.sha256 for file in files},
        },
    )


def report_issue_from_shell(
    *, tenant: Tenant, report_type: str, date_from: date, date_to: date, stem: str
) -> tuple[ReportRequest, list[IssuedFile]]:
    """An operator's report (``manage.py report_generate``): issued, then stored, all or none."""
    period = report_period(tenant=tenant, date_from=date_from, date_to=date_to)
    files = report_issue(
        tenant=tenant,
        report_type=report_type,
        period=period,
        scope=_("Operator run (no engagement)"),
        requested_by="system:report_generate",
        stem=stem,
    )
    with rls_context(tenant=tenant):
        job = ReportRequest.objects.create(
            tenant=tenant,
            report_type=report_type,
            period_from=date_from,
            period_to=date_to,
            key=f"shell:{uuid.uuid4()}",
            requested_label="system:report_generate",
            status=ReportRequest.Status.RUNNING,
            started_at=timezone.now(),
        )
        _files_store(tenant=tenant, job=job, files=files)
    return job, files


def report_file_list(*, tenant: Tenant, job: ReportRequest) -> list[ReportFile]:
    """A job's files without their bytes (``defer``: a 10 MB appendix stays in the database)."""
    return list(
        ReportFile.objects.filter(tenant=tenant, request=job).defer("content").order_by("pk")
    )


def report_generated_at(job: ReportRequest) -> datetime | None:
    return job.finished_at.astimezone(UTC) if job.finished_at else None
