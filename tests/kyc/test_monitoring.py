"""Monitoring on the real ledger: rules run after each entry commits and in the daily batch,
never raise the same alert twice, carry their rule version; versions are immutable once
published and back-tested before; alerts go to a case and a suspicious-transaction report."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from kyc.models import KycCase, MonitoringAlert, MonitoringRule
from kyc.monitoring.services import (
    entry_committed_listener,
    monitoring_batch,
    rule_backtest,
    rule_draft_create,
    rule_publish,
    rules_seed,
    str_create,
    str_export,
)
from kyc.services import case_assign
from ledger.models import JournalEntry
from ledger.services import account_create, transfer_post
from platform_core.exceptions import ApplicationError
from tests.kyc.factories import fill_profile

_keys = itertools.count(1)


@pytest.fixture
def book(acme):
    fill_profile(acme.tenant, acme.client)  # Zhang Wei / 张伟
    return {
        "bank": account_create(tenant=acme.tenant, kind="custodian_bank", currency="CNY"),
        "client": account_create(
            tenant=acme.tenant,
            kind="client_cash",
            currency="CNY",
            owner_id=acme.client.membership.pk,
        ),
    }


def deposit(acme, book, amount: str, memo: str = "", capture=None):
    return transfer_post(
        tenant=acme.tenant,
        debit_account=book["bank"].pk,
        credit_account=book["client"].pk,
        amount=Decimal(amount),
        currency="CNY",
        entry_type="deposit",
        idempotency_key=f"dep-{next(_keys)}",
        memo=memo,
    )


def business_day(acme, entry) -> date:
    created = JournalEntry.objects.get(pk=entry.pk).created_at
    return created.astimezone(ZoneInfo(acme.tenant.timezone)).date()


def test_a_third_party_deposit_raises_one_alert_after_commit(
    acme, book, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        entry = deposit(acme, book, "8000.00", "payer=Wang Fang; channel=transfer")
    assert callbacks  # the ledger told its listeners
    (alert,) = MonitoringAlert.objects.filter(rule_code="third_party")
    assert alert.entry_id == entry.pk and alert.rule_version == 1
    assert alert.evidence["payer"] == "Wang Fang" and alert.outcome == "review"
    assert alert.case.kind == "alert" and alert.status == "in_case"
    # The same entry again (a retried delivery, the daily batch): nothing new.
    payload = {
        "tenant": acme.tenant.pk,
        "entry": entry.pk,
        "postings": [{"owner": acme.client.membership.pk}],
    }
    entry_committed_listener(payload)
    monitoring_batch(tenant=acme.tenant, day=business_day(acme, entry))
    assert MonitoringAlert.objects.count() == 1


def test_the_clients_own_money_raises_nothing(acme, book, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deposit(acme, book, "8000.00", "payer=ZHANG WEI")
        deposit(acme, book, "1234.00", "payer=张伟")
    assert not MonitoringAlert.objects.exists()


def test_large_cash_in_one_day_is_found_by_the_daily_batch(acme, book):
    first = deposit(acme, book, "30000.00", "channel=cash; payer=Zhang Wei")
    deposit(acme, book, "20000.00", "channel=cash; payer=Zhang Wei")
    assert not MonitoringAlert.objects.exists()  # listeners did not run (not committed)
    day = business_day(acme, first)
    assert monitoring_batch(tenant=acme.tenant, day=day) >= 1
    alert = MonitoringAlert.objects.get(rule_code="large_cash")
    assert alert.evidence["cash_total"] == "50000.00" and alert.evidence["report"] == "large_value"
    assert monitoring_batch(tenant=acme.tenant, day=day) == 0


def test_published_versions_are_immutable_and_a_change_is_a_new_version(acme, book):
    rules_seed(tenant=acme.tenant)
    v1 = MonitoringRule.objects.get(code="large_cash", version=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        MonitoringRule.objects.filter(pk=v1.pk).update(params={**v1.params, "threshold": "1"})
    with pytest.raises(ApplicationError) as bad:
        rule_draft_create(
            tenant=acme.tenant,
            actor=acme.compliance.user,
            code="large_cash",
            params={"threshold": "-5"},
            score=20,
        )
    assert "params.threshold" in bad.value.fields
    v2 = rule_draft_create(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        code="large_cash",
        params={"threshold": "10000"},
        score=25,
    )
    assert v2.version == 2 and v2.status == "draft"
    # Back-test on past data: the draft finds what the published version does not.
    deposit(acme, book, "12000.00", "channel=cash; payer=Zhang Wei")
    today = timezone.now().astimezone(ZoneInfo(acme.tenant.timezone)).date()
    result = rule_backtest(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        rule_id=v2.pk,
        since=date(2020, 1, 1),
        until=today,
    )
    assert result["alerts"] == 1 and result["published_alerts"] == 0
    assert result["published_version"] == 1
    assert not MonitoringAlert.objects.exists()  # a back-test raises nothing
    rule_publish(tenant=acme.tenant, actor=acme.compliance.user, rule_id=v2.pk)
    v1.refresh_from_db()
    assert v1.status == "retired"
    with pytest.raises(ApplicationError):
        rule_publish(tenant=acme.tenant, actor=acme.compliance.user, rule_id=v2.pk)
    monitoring_batch(tenant=acme.tenant, day=today)
    alert = MonitoringAlert.objects.get(rule_code="large_cash")
    assert alert.rule_version == 2 and alert.score == 25


def test_alerts_become_a_report_exported_as_csv_and_json(
    acme, book, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        deposit(acme, book, "8000.00", "payer=Wang Fang")
    case = KycCase.objects.get(kind="alert")
    with pytest.raises(ApplicationError):  # not assigned yet
        str_create(
            tenant=acme.tenant,
            actor=acme.compliance.user,
            case_id=case.pk,
            narrative="funded by an unrelated third party",
        )
    case_assign(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=case.pk,
        assignee=acme.compliance.membership,
    )
    report = str_create(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        case_id=case.pk,
        narrative="funded by an unrelated third party",
    )
    assert report.total_amount == Decimal("8000.0000")
    _content_type, body = str_export(report=report, fmt="json")
    data = json.loads(body)
    assert data["alerts"][0]["rule"] == "third_party" and data["alerts"][0]["version"] == 1
    content_type, body = str_export(report=report, fmt="csv")
    assert content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows[0]["rule"] == "third_party" and json.loads(rows[0]["evidence"])["payer"] == (
        "Wang Fang"
    )


def test_a_filed_report_stays_filed(acme, book, django_capture_on_commit_callbacks):
    from kyc.monitoring.services import str_file

    with django_capture_on_commit_callbacks(execute=True):
        deposit(acme, book, "8000.00", "payer=Wang Fang")
    case = KycCase.objects.get(kind="alert")
    case_assign(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=case.pk,
        assignee=acme.compliance.membership,
    )
    report = str_create(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        case_id=case.pk,
        narrative="third-party funding",
    )
    with pytest.raises(ApplicationError):
        str_file(tenant=acme.tenant, actor=acme.compliance.user, report_id=report.pk, reference=" ")
    str_file(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        report_id=report.pk,
        reference="PBOC-2026-000123",
    )
    with pytest.raises(ApplicationError) as again:
        str_file(
            tenant=acme.tenant,
            actor=acme.compliance.user,
            report_id=report.pk,
            reference="PBOC-2026-000124",
        )
    assert again.value.error_code == "report_filed"
    report.refresh_from_db()
    assert report.status == "filed"


def test_a_blocking_outcome_holds_the_client_until_the_case_closes(
    acme, book, django_capture_on_commit_callbacks
):
    from kyc.selectors import monitoring_hold_for
    from kyc.services import case_approve, case_check_set

    membership = acme.client.membership
    with django_capture_on_commit_callbacks(execute=True):
        deposit(acme, book, "8000.00", "payer=Wang Fang")
    assert monitoring_hold_for(tenant=acme.tenant, membership=membership) == []  # review only
    with django_capture_on_commit_callbacks(execute=True):
        deposit(acme, book, "100.00", "payer=Li Qiang; country=KP")
    held = monitoring_hold_for(tenant=acme.tenant, membership=membership)
    assert {h["rule"] for h in held} >= {"high_risk_country"}
    assert {h["outcome"] for h in held} == {"decline"}
    case = KycCase.objects.get(kind="alert")
    case_assign(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=case.pk,
        assignee=acme.compliance.membership,
    )
    case_check_set(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        case_id=case.pk,
        code="alerts_reviewed",
        status="done",
    )
    case_approve(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=case.pk,
        reason="payer is the client's employer; documented",
    )
    assert KycCase.objects.get(pk=case.pk).status == "closed"
    assert monitoring_hold_for(tenant=acme.tenant, membership=membership) == []
