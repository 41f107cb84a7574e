"""Monitoring writes: rule versions (draft, back-test, publish), evaluation of ledger entries
into alerts (after each commit and in a daily batch), alerts into cases, and reports."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from kyc.crypto import KeyUnavailable, SealBroken
from kyc.hooks import turnover_between
from kyc.models import ClientProfile, KycCase, MonitoringAlert, MonitoringRule
from kyc.models import SuspiciousTransactionReport as Report
from kyc.monitoring import facts
from kyc.monitoring.rules import CATALOGUE, Client, Finding, Movement, outcome_for, params_check
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped


def _invalid(fields: dict[str, list[str]]) -> ApplicationError:
    return ApplicationError(400, "invalid", "The request has invalid fields.", fields)


# --- rules ---------------------------------------------------------------------------------


def rules_seed(*, tenant: Tenant) -> int:
    """Publish version 1 of every catalogued rule the tenant has no version of (idempotent)."""
    made = 0
    existing = set(
        tenant_scoped(MonitoringRule, tenant=tenant).values_list("code", flat=True).distinct()
    )
    for code, spec in CATALOGUE.items():
        if code in existing:
            continue
        try:
            with transaction.atomic():
                MonitoringRule.objects.create(
                    tenant=tenant,
                    code=code,
                    version=1,
                    status=MonitoringRule.Status.PUBLISHED,
                    params=spec.defaults,
                    score=spec.score,
                    published_at=timezone.now(),
                )
        except IntegrityError:  # seeded concurrently
            continue
        made += 1
    return made


def rule_draft_create(
    *,
    tenant: Tenant,
    actor: Any,
    code: str,
    params: dict[str, Any],
    score: Any,
    request: HttpRequest | None = None,
) -> MonitoringRule:
    """A new version of a rule, as a draft: back-test it, then publish it."""
    merged, problems = params_check(code, params or {})
    try:
        score = int(score)
        if not 0 <= score <= 1000:
            raise ValueError
    except (TypeError, ValueError):
        problems.setdefault("score", []).append("A whole number from 0 to 1000.")
    if problems:
        raise _invalid(problems)
    with transaction.atomic():
        rules_seed(tenant=tenant)
        latest = (
            tenant_scoped(MonitoringRule, tenant=tenant)
            .select_for_update()
            .filter(code=code)
            .aggregate(v=Max("version"))["v"]
            or 0
        )
        rule = MonitoringRule.objects.create(
            tenant=tenant,
            code=code,
            version=latest + 1,
            params=merged,
            score=score,
            created_by=actor,
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.rule_drafted",
            object_type="kyc_rule",
            object_id=rule.pk,
            payload={"code": code, "version": rule.version, "params": merged, "score": score},
            request=request,
        )
    return rule


def rule_publish(
    *, tenant: Tenant, actor: Any, rule_id: Any, request: HttpRequest | None = None
) -> MonitoringRule:
    """Publish a draft; the version it replaces is retired. Published versions never change."""
    with transaction.atomic():
        rule = access_object_by_id(MonitoringRule, tenant=tenant, object_id=rule_id)
        rule = MonitoringRule.objects.select_for_update().get(pk=rule.pk)
        if rule.status != MonitoringRule.Status.DRAFT:
            raise ApplicationError(
                409, "rule_not_draft", f"Version {rule.version} is {rule.status}."
            )
        previous = tenant_scoped(MonitoringRule, tenant=tenant).filter(
            code=rule.code, status=MonitoringRule.Status.PUBLISHED
        )
        retired = list(previous.values_list("version", flat=True))
        previous.update(status=MonitoringRule.Status.RETIRED)
        rule.status = MonitoringRule.Status.PUBLISHED
        rule.published_at = timezone.now()
        rule.save(update_fields=["status", "published_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.rule_published",
            object_type="kyc_rule",
            object_id=rule.pk,
            payload={"code": rule.code, "version": rule.version, "retired_versions": retired},
            request=request,
        )
    return rule


# --- evaluation ----------------------------------------------------------------------------


def _client(tenant: Tenant, membership_id: int) -> Client:
    from kyc.services import profile_answers

    profile = (
        tenant_scoped(ClientProfile, tenant=tenant)
        .filter(membership_id=membership_id)
        .select_related("tenant", "membership")
        .first()
    )
    names: tuple[str, ...] = ()
    home = "CN"
    corporate = False
    if profile is not None:
        corporate = profile.is_corporate
        try:
            answers = profile_answers(profile)
        except (KeyUnavailable, SealBroken):
            answers = {}
        personal = answers.get("personal", {})
        names = tuple(
            n
            for n in (
                personal.get("legal_name"),
                personal.get("native_name"),
                answers.get("bank", {}).get("holder_name"),
            )
            if n
        )
        home = personal.get("residence_country") or home

    def turnover(since: datetime, until: datetime) -> tuple[Decimal, bool]:
        return turnover_between(
            tenant=tenant,
            membership_id=membership_id,
            since=since,
            until=until,
            currency=tenant.base_currency,
        )

    return Client(membership_id, names, corporate, home, turnover)


def findings_for(
    *, rules: list[MonitoringRule], movement: Movement, history: list[Movement], client: Client
) -> list[tuple[MonitoringRule, Finding]]:
    found = []
    for rule in rules:
        finding = CATALOGUE[rule.code].check(
            {**rule.params, "score": rule.score}, movement, history, client
        )
        if finding is not None:
            found.append((rule, finding))
    return found


def _alert_case(tenant: Tenant, membership_id: int) -> KycCase | None:
    from kyc.services import case_open

    profile = (
        tenant_scoped(ClientProfile, tenant=tenant).filter(membership_id=membership_id).first()
    )
    if profile is None:
        membership = tenant_scoped(Membership, tenant=tenant).filter(pk=membership_id).first()
        if membership is None or membership.role != Role.CLIENT:
            return None
        profile, _made = ClientProfile.objects.get_or_create(tenant=tenant, membership=membership)
    case = (
        tenant_scoped(KycCase, tenant=tenant)
        .filter(profile=profile, kind=KycCase.Kind.ALERT, status__in=KycCase.OPEN_STATUSES)
        .order_by("pk")
        .first()
    )
    return case or case_open(tenant=tenant, profile=profile, kind=KycCase.Kind.ALERT)


def _record(
    tenant: Tenant,
    membership_id: int,
    movement: Movement,
    found: list[tuple[MonitoringRule, Finding]],
) -> list[MonitoringAlert]:
    if not found:
        return []
    total = sum(finding.score for _rule, finding in found)
    outcome = outcome_for(total)
    made = []
    with transaction.atomic():
        for rule, finding in found:
            alert, created = MonitoringAlert.objects.get_or_create(
                tenant=tenant,
                rule=rule,
                dedupe_key=finding.dedupe_key,
                defaults={
                    "rule_code": rule.code,
                    "rule_version": rule.version,
                    "membership_id": membership_id,
                    "entry_id": movement.entry_id,
                    "score": finding.score,
                    "outcome": outcome,
                    "evidence": finding.evidence,
                },
            )
            if not created:
                continue
            if outcome != MonitoringAlert.Outcome.APPROVE:
                case = _alert_case(tenant, membership_id)
                if case is not None:
                    alert.case = case
                    alert.status = MonitoringAlert.Status.IN_CASE
                    alert.save(update_fields=["case", "status"])
            audit_record(
                tenant=tenant,
                actor=None,
                actor_label="system:kyc_monitoring",
                action="kyc.alert_raised",
                object_type="kyc_alert",
                object_id=alert.pk,
                payload={
                    "rule": rule.code,
                    "version": rule.version,
                    "entry": movement.entry_id,
                    "score": finding.score,
                    "outcome": outcome,
                    "case": alert.case_id,
                },
            )
            made.append(alert)
    return made


def _published(tenant: Tenant) -> list[MonitoringRule]:
    """The tenant's published rules; the catalogue's defaults are published on first use."""
    query = tenant_scoped(MonitoringRule, tenant=tenant).filter(
        status=MonitoringRule.Status.PUBLISHED
    )
    rules = list(query.order_by("code"))
    if not rules:
        rules_seed(tenant=tenant)
        rules = list(query.order_by("code"))
    return rules


def entry_evaluate(*, tenant: Tenant, entry_id: int) -> list[MonitoringAlert]:
    """Run the published rules on one committed ledger entry, for each client it touches.
    Idempotent: an alert is unique per (rule version, dedupe key)."""
    rules = _published(tenant)
    alerts: list[MonitoringAlert] = []
    for membership_id, movement in facts.entry_movements(tenant=tenant, entry_id=entry_id):
        history = facts.client_history(
            tenant=tenant, membership_id=membership_id, until=movement.at
        )
        if movement not in history:
            history.append(movement)
        client = _client(tenant, membership_id)
        found = findings_for(rules=rules, movement=movement, history=history, client=client)
        alerts += _record(tenant, membership_id, movement, found)
    return alerts


def entry_committed_listener(payload: dict[str, Any]) -> None:
    """The ledger's ``entry_committed`` listener: monitor entries that touch a client."""
    if not any(p.get("owner") for p in payload.get("postings", [])):
        return
    tenant = Tenant.objects.get(pk=payload["tenant"])
    with rls_context(tenant=tenant):
        entry_evaluate(tenant=tenant, entry_id=int(payload["entry"]))


def _day_bounds(tenant: Tenant, day: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tenant.timezone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def monitoring_batch(*, tenant: Tenant, day: date | None = None) -> int:
    """The daily batch: evaluate every client entry of a business day (yesterday by default),
    catching anything the after-commit path missed. Returns the alerts raised."""
    zone = ZoneInfo(tenant.timezone)
    day = day or (timezone.now().astimezone(zone).date() - timedelta(days=1))
    since, until = _day_bounds(tenant, day)
    entries = sorted(
        {m.entry_id for _mid, m in facts.movements_between(tenant=tenant, since=since, until=until)}
    )
    return sum(len(entry_evaluate(tenant=tenant, entry_id=e)) for e in entries)


def rule_backtest(
    *,
    tenant: Tenant,
    actor: Any,
    rule_id: Any,
    since: date,
    until: date | None = None,
) -> dict[str, Any]:
    """What a rule version would have raised on past data, beside the published version:
    nothing is stored but an audit event of the test."""
    rule = access_object_by_id(MonitoringRule, tenant=tenant, object_id=rule_id)
    until = until or timezone.now().astimezone(ZoneInfo(tenant.timezone)).date()
    if until < since:
        raise _invalid({"until": ["The end is before the start."]})
    start, _ = _day_bounds(tenant, since)
    _, end = _day_bounds(tenant, until)
    published = (
        tenant_scoped(MonitoringRule, tenant=tenant)
        .filter(code=rule.code, status=MonitoringRule.Status.PUBLISHED)
        .exclude(pk=rule.pk)
        .first()
    )
    candidates = [r for r in (rule, published) if r is not None]
    hits: dict[int, dict[str, Finding]] = {r.pk: {} for r in candidates}
    clients: dict[int, Client] = {}
    movements = facts.movements_between(tenant=tenant, since=start, until=end)
    for membership_id, movement in movements:
        history = facts.client_history(
            tenant=tenant, membership_id=membership_id, until=movement.at
        )
        if movement not in history:
            history.append(movement)
        client = clients.setdefault(membership_id, _client(tenant, membership_id))
        for candidate, finding in findings_for(
            rules=candidates, movement=movement, history=history, client=client
        ):
            hits[candidate.pk].setdefault(finding.dedupe_key, finding)
    by_client: dict[str, int] = defaultdict(int)
    for key in hits[rule.pk]:
        by_client[key.split(":", 1)[0]] += 1
    result = {
        "rule": rule.code,
        "version": rule.version,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "movements": len(movements),
        "alerts": len(hits[rule.pk]),
        "clients": len(by_client),
        "published_version": published.version if published else None,
        "published_alerts": len(hits[published.pk]) if published else None,
        "examples": [f.evidence for f in list(hits[rule.pk].values())[:5]],
    }
    with transaction.atomic():
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.rule_backtested",
            object_type="kyc_rule",
            object_id=rule.pk,
            payload={k: v for k, v in result.items() if k != "examples"},
        )
    return result


# --- reports -------------------------------------------------------------------------------


def str_create(
    *,
    tenant: Tenant,
    actor: Any,
    case_id: Any,
    narrative: str,
    request: HttpRequest | None = None,
) -> Report:
    """Draft a suspicious-transaction report from an alert case and its alerts."""
    from kyc.services import access_case_by_id

    narrative = (narrative or "").strip()
    if not narrative:
        raise _invalid({"reason": ["Write the grounds for suspicion."]})
    with transaction.atomic():
        case = access_case_by_id(tenant=tenant, case_id=case_id, lock=True)
        if not actor.has_perm("kyc.work_kyccase", case):
            raise ApplicationError(403, "case_not_assigned", "This case is not assigned to you.")
        alerts = list(
            tenant_scoped(MonitoringAlert, tenant=tenant).filter(case=case).order_by("pk")
        )
        if not alerts:
            raise _invalid({"case": ["This case has no monitoring alerts to report."]})
        entries = sorted({a.entry_id for a in alerts if a.entry_id})
        total = _entries_total(tenant, entries)
        report = Report.objects.create(
            tenant=tenant,
            case=case,
            narrative=narrative,
            created_by=actor,
            total_amount=total,
            alerts=[
                {
                    "alert": a.pk,
                    "rule": a.rule_code,
                    "version": a.rule_version,
                    "entry": a.entry_id,
                    "score": a.score,
                    "outcome": a.outcome,
                    "evidence": a.evidence,
                    "raised_at": a.created_at.isoformat(),
                }
                for a in alerts
            ],
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.str_drafted",
            object_type="kyc_str",
            object_id=report.pk,
            payload={"case": case.pk, "alerts": [a.pk for a in alerts]},
            request=request,
        )
    return report


def _entries_total(tenant: Tenant, entries: list[int]) -> Decimal:
    from ledger.models import Posting

    postings = tenant_scoped(Posting, tenant=tenant).filter(
        entry_id__in=entries, account__kind="client_cash"
    )
    return sum((p.amount for p in postings), Decimal(0))


def str_export(*, report: Report, fmt: str) -> tuple[str, bytes]:
    """The report as JSON or CSV (one line per alert): (content type, bytes)."""
    header = {
        "report": report.pk,
        "tenant": report.tenant.slug,
        "case": report.case_id,
        "client_membership": report.case.profile.membership_id,
        "status": report.status,
        "created_at": report.created_at.isoformat(),
        "total_amount": str(report.total_amount),
        "narrative": report.narrative,
    }
    if fmt == "json":
        body = {**header, "alerts": report.alerts}
        return "application/json", json.dumps(body, indent=2, ensure_ascii=False).encode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "report",
                "case",
                "client_membership",
                "alert",
                "rule",
                "version",
                "entry",
                "score",
                "outcome",
                "raised_at",
                "evidence",
            ]
        )
        for a in report.alerts:
            writer.writerow(
                [
                    report.pk,
                    report.case_id,
                    header["client_membership"],
                    a["alert"],
                    a["rule"],
                    a["version"],
                    a["entry"],
                    a["score"],
                    a["outcome"],
                    a["raised_at"],
                    json.dumps(a["evidence"], ensure_ascii=False),
                ]
            )
        return "text/csv; charset=utf-8", out.getvalue().encode()
    raise _invalid({"format": ["Choose json or csv."]})


def str_file(
    *,
    tenant: Tenant,
    actor: Any,
    report_id: Any,
    reference: str,
    request: HttpRequest | None = None,
) -> Report:
    """Record that a drafted report was filed with the authority, under its reference."""
    reference = (reference or "").strip()
    if not reference:
        raise _invalid({"reference": ["The authority's reference is required."]})
    with transaction.atomic():
        report = access_object_by_id(Report, tenant=tenant, object_id=report_id)
        report = Report.objects.select_for_update().get(pk=report.pk)
        if report.status != Report.Status.DRAFT:
            raise ApplicationError(409, "report_filed", "This report is already filed.")
        report.status = Report.Status.FILED
        report.save(update_fields=["status"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.str_filed",
            object_type="kyc_str",
            object_id=report.pk,
            reason=reference,
            request=request,
        )
    return report
