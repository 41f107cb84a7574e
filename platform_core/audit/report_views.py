"""The auditor area (/audit/): engagements, report requests with progress, downloads, and the
material to verify them (the tenant's CA certificate, signed checkpoints).

Every page and download is recorded in the tenant's audit trail (``auditor.viewed``,
``auditor.downloaded``); the ``access_log`` report lists them. Anything outside an open
engagement of the signed-in auditor is a 404.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from platform_core.audit.checkpoints import checkpoint_list
from platform_core.audit.engagements import (
    access_engagement_by_id,
    access_report_by_id,
    access_report_file_by_id,
    auditor_viewed,
    engagement_reports,
    engagements_open_for,
)
from platform_core.audit.models import ReportFile
from platform_core.audit.reports import ReportError, report_file_list, report_request_create
from platform_core.audit.signing import SigningError, certificates_pem, signing_identity_for
from platform_core.hooks import checkpoint_logs, report_types
from platform_core.tenancy.roles import Role
from platform_core.views import role_required

AUDITOR = frozenset({Role.AUDITOR})


def auditor_home_context(request: HttpRequest) -> dict[str, object]:
    """What /audit/ shows: the auditor's open engagements (platform_core.views.audit_home)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    engagements = list(engagements_open_for(tenant=tenant, membership=request.membership))  # type: ignore[attr-defined]
    auditor_viewed(tenant=tenant, request=request, page="home")
    return {
        "engagements": [
            (engagement, [report_types.get(key) for key in engagement.scope])
            for engagement in engagements
        ]
    }


class ReportRequestForm(forms.Form):
    report_type = forms.ChoiceField(label=_("Report"))
    date_from = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: object, scope: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["report_type"].choices = [
            (key, report_types.get(key).title) for key in scope if key in report_types
        ]

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if isinstance(start, date) and isinstance(end, date) and end < start:
            self.add_error("date_to", _("The period ends before it starts."))
        return cleaned


@role_required(AUDITOR)
def engagement_detail(request: HttpRequest, engagement_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    engagement = access_engagement_by_id(
        tenant=tenant,
        membership=request.membership,  # type: ignore[attr-defined]
        engagement_id=engagement_id,
    )
    initial = {"date_from": engagement.period_from, "date_to": engagement.period_to}
    form = ReportRequestForm(request.POST or None, scope=engagement.scope, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                job, _queued = report_request_create(
                    tenant=tenant,
                    actor=request.user,
                    engagement=engagement,
                    report_type=form.cleaned_data["report_type"],
                    date_from=form.cleaned_data["date_from"],
                    date_to=form.cleaned_data["date_to"],
                    request=request,
                )
            except ReportError as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(reverse("audit-report", args=[job.pk]))
        status = 400
    else:
        auditor_viewed(
            tenant=tenant, request=request, page="engagement", object_type="engagement",
            object_id=engagement.pk,
        )  # fmt: skip
    return render(
        request,
        "audit/engagement.html",
        {
            "engagement": engagement,
            "scope": [report_types.get(key) for key in engagement.scope if key in report_types],
            "reports": engagement_reports(tenant=tenant, engagement=engagement)[:100],
            "form": form,
        },
        status=status,
    )


@role_required(AUDITOR)
def report_detail(request: HttpRequest, report_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    job = access_report_by_id(
        tenant=tenant,
        membership=request.membership,  # type: ignore[attr-defined]
        report_id=report_id,
    )
    if not request.headers.get("HX-Request"):  # the page's own progress polls are not views
        auditor_viewed(
            tenant=tenant, request=request, page="report", object_type="report_request",
            object_id=job.pk,
        )  # fmt: skip
    return render(
        request,
        "audit/report.html",
        {
            "job": job,
            "report_type": report_types.get(job.report_type),
            "files": report_file_list(tenant=tenant, job=job),
            "running": job.status in ("queued", "running"),
        },
    )


@role_required(AUDITOR)
def report_file_download(request: HttpRequest, file_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    file = access_report_file_by_id(
        tenant=tenant,
        membership=request.membership,  # type: ignore[attr-defined]
        file_id=file_id,
    )
    content = ReportFile.objects.filter(tenant=tenant, pk=file.pk).values_list(
        "content", flat=True
    )[0]
    auditor_viewed(
        tenant=tenant, request=request, page="download", object_type="report_file",
        object_id=file.pk, payload={"name": file.name, "sha256": file.sha256},
    )  # fmt: skip
    response = HttpResponse(bytes(content), content_type=file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{file.name}"'
    response["X-Content-SHA256"] = file.sha256
    return response


@role_required(AUDITOR)
def verification(request: HttpRequest) -> HttpResponse:
    """The CA certificate and the signed checkpoints of the logs the auditor's scope covers."""
    tenant = request.tenant  # type: ignore[attr-defined]
    engagements = engagements_open_for(tenant=tenant, membership=request.membership)  # type: ignore[attr-defined]
    scope = {key for engagement in engagements for key in engagement.scope}
    logs = [log for log in checkpoint_logs if log.scope in scope]
    auditor_viewed(tenant=tenant, request=request, page="verification")
    try:
        identity = signing_identity_for(tenant=tenant)
        ca = [cert.subject.rfc4514_string() for cert in identity.ca_certificates()]
        signer = identity.certificate.subject.rfc4514_string()
        fingerprint = identity.fingerprint
    except SigningError as exc:
        ca, signer, fingerprint = [], str(exc), ""
    return render(
        request,
        "audit/verification.html",
        {
            "has_engagement": bool(scope),
            "ca": ca,
            "signer": signer,
            "fingerprint": fingerprint,
            "checkpoints": [
                (log, list(checkpoint_list(tenant=tenant, log=log.key)[:20])) for log in logs
            ],
        },
    )


@role_required(AUDITOR)
def ca_certificate_download(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    try:
        authorities = signing_identity_for(tenant=tenant).ca_certificates()
    except SigningError as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    auditor_viewed(tenant=tenant, request=request, page="download", payload={"name": "ca.pem"})
    response = HttpResponse(certificates_pem(authorities), content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="{tenant.slug}-ca.pem"'
    return response


# --- the console: the tenant admin's engagements ----------------------------------------------


class EngagementGrantForm(forms.Form):
    auditor = forms.ModelChoiceField(label=_("Auditor"), queryset=None)  # type: ignore[arg-type]
    scope = forms.MultipleChoiceField(
        label=_("Reports in scope"), widget=forms.CheckboxSelectMultiple
    )
    period_from = forms.DateField(
        label=_("Data from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    period_to = forms.DateField(label=_("Data to"), widget=forms.DateInput(attrs={"type": "date"}))
    access_from = forms.DateTimeField(
        label=_("Access from"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    access_until = forms.DateTimeField(
        label=_("Access until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reason = forms.CharField(label=_("Reason"), max_length=2000, required=False)

    def __init__(self, *args: object, tenant: object, **kwargs: object) -> None:
        from platform_core.tenancy.models import Membership

        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["auditor"]
        field.queryset = Membership.objects.filter(  # type: ignore[attr-defined]
            tenant=tenant, role=Role.AUDITOR, status="active"
        ).select_related("user")
        field.label_from_instance = lambda m: m.user.email  # type: ignore[attr-defined]
        self.fields["scope"].choices = [(t.key, t.title) for t in report_types]  # type: ignore[attr-defined]


@role_required(frozenset({Role.TENANT_ADMIN}))
def console_engagements(request: HttpRequest) -> HttpResponse:
    from django.core.exceptions import ValidationError

    from platform_core.audit.engagements import engagement_grant, engagement_list

    tenant = request.tenant  # type: ignore[attr-defined]
    form = EngagementGrantForm(request.POST or None, tenant=tenant)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                engagement_grant(
                    tenant=tenant, actor=request.user, request=request, **form.cleaned_data
                )
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, messages)
            else:
                return HttpResponseRedirect(reverse("console-engagements"))
        status = 400
    return render(
        request,
        "audit/console_engagements.html",
        {"form": form, "engagements": engagement_list(tenant=tenant)[:200]},
        status=status,
    )


@role_required(frozenset({Role.TENANT_ADMIN}))
def console_engagement_revoke(request: HttpRequest, engagement_id: int) -> HttpResponse:
    from django.http import HttpResponseNotAllowed

    from platform_core.audit.engagements import engagement_revoke

    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    engagement_revoke(
        tenant=request.tenant,  # type: ignore[attr-defined]
        actor=request.user,
        engagement_id=engagement_id,
        reason=request.POST.get("reason", "")[:2000] or "revoked in the console",
        request=request,
    )
    return HttpResponseRedirect(reverse("console-engagements"))
