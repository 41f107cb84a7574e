"""Console pages for monitoring: alerts, rule versions (draft, back-test, publish), reports."""

from __future__ import annotations

import json
from datetime import date, timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from kyc.models import MonitoringAlert, MonitoringRule
from kyc.models import SuspiciousTransactionReport as Report
from kyc.monitoring.rules import CATALOGUE
from kyc.monitoring.services import (
    rule_backtest,
    rule_draft_create,
    rule_publish,
    rules_seed,
    str_export,
)
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped
from platform_core.views import role_required

READERS = frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN})


def _refusal_text(refusal: ApplicationError) -> str:
    problems = [f"{k}: {' '.join(v)}" for k, v in refusal.fields.items()]
    return " ".join([refusal.message, *problems])


@role_required(READERS)
def console_alerts(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    alerts = tenant_scoped(MonitoringAlert, tenant=tenant).order_by("-created_at", "-pk")
    status = request.GET.get("status")
    if status in MonitoringAlert.Status.values:
        alerts = alerts.filter(status=status)
    return render(request, "kyc/console_alerts.html", {"alerts": alerts[:200]})


@role_required(READERS)
def console_rules(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    status = 200
    error = ""
    if request.method == "POST":
        try:
            params = json.loads(request.POST.get("params") or "{}")
            if not isinstance(params, dict):
                raise ValueError
        except ValueError:
            error, status = _("The parameters must be a JSON object."), 400
        else:
            try:
                rule = rule_draft_create(
                    tenant=tenant,
                    actor=request.user,
                    code=request.POST.get("code", ""),
                    params=params,
                    score=request.POST.get("score"),
                    request=request,
                )
            except ApplicationError as refusal:
                error, status = _refusal_text(refusal), refusal.status_code
            else:
                return HttpResponseRedirect(reverse("console-kyc-rule", args=[rule.pk]))
    else:
        rules_seed(tenant=tenant)
    rules = tenant_scoped(MonitoringRule, tenant=tenant).order_by("code", "-version")
    return render(
        request,
        "kyc/console_rules.html",
        {"rules": rules, "catalogue": CATALOGUE.values(), "error": error},
        status=status,
    )


@role_required(READERS)
def console_rule(request: HttpRequest, rule_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    rule = access_object_by_id(MonitoringRule, tenant=tenant, object_id=rule_id)
    result = None
    error = ""
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("action") == "publish":
                rule_publish(tenant=tenant, actor=request.user, rule_id=rule.pk, request=request)
                messages.success(request, _("Published."))
                return HttpResponseRedirect(reverse("console-kyc-rule", args=[rule.pk]))
            try:
                since = date.fromisoformat(request.POST.get("since", ""))
            except ValueError:
                raise ApplicationError(
                    400, "invalid", _("Give the start date as YYYY-MM-DD."), {}
                ) from None
            result = rule_backtest(tenant=tenant, actor=request.user, rule_id=rule.pk, since=since)
        except ApplicationError as refusal:
            error, status = _refusal_text(refusal), refusal.status_code
    return render(
        request,
        "kyc/console_rule.html",
        {
            "rule": rule,
            "params": json.dumps(rule.params, indent=2, ensure_ascii=False),
            "result": result,
            "error": error,
            "default_since": (timezone.localdate() - timedelta(days=90)).isoformat(),
        },
        status=status,
    )


@role_required(READERS)
def console_report_export(request: HttpRequest, report_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    report = access_object_by_id(Report, tenant=tenant, object_id=report_id)
    fmt = request.GET.get("format", "json")
    try:
        content_type, body = str_export(report=report, fmt=fmt)
    except ApplicationError as refusal:
        return HttpResponse(_refusal_text(refusal), status=400, content_type="text/plain")
    response = HttpResponse(body, content_type=content_type)
    extension = "csv" if fmt == "csv" else "json"
    response["Content-Disposition"] = f'attachment; filename="str-{report.pk}.{extension}"'
    return response
