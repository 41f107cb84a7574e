"""`make run`'s demo: Demo Capital with clients across the whole loop, seeded through the apps'
services, and a second seed that changes nothing."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command

from platform_core.tenancy.demo import DEMO_CLIENT_COUNT, demo_seed, demo_tenant
from platform_core.tenancy.models import Membership
from platform_core.tenancy.rls import rls_context

# Rows of these tables are counted before and after the second seed.
COUNTED = [
    "tenancy.Membership",
    "accounts.User",
    "ledger.LedgerAccount",
    "ledger.JournalEntry",
    "ledger.Reconciliation",
    "ledger.ReconciliationBreak",
    "ledger.WithdrawalRequest",
    "kyc.ClientProfile",
    "kyc.KycCase",
    "kyc.MonitoringAlert",
    "screening.ScreeningHit",
    "risk.Instrument",
    "risk.Quote",
    "risk.Order",
    "risk.Position",
    "risk.MarginPolicyVersion",
    "risk_operations.MarginCall",
    "risk_operations.Proposal",
    "risk_operations.RatioMark",
    "financing.CreditLine",
    "financing.SignatureRecord",
    "audit.AuditEvent",
]


def _model(label: str) -> Any:
    app_label, name = label.split(".")
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def _counts(tenant: Any) -> dict[str, int]:
    counts = {}
    with rls_context(tenant=tenant):
        for label in COUNTED:
            model = _model(label)
            if model is not None:
                counts[label] = model.objects.count()
        audit_event = apps.get_model("audit", "AuditEvent")
        for action, number in Counter(audit_event.objects.values_list("action", flat=True)).items():
            counts[f"audit:{action}"] = number
    return counts


def _client(tenant: Any, local: str) -> Membership:
    return Membership.objects.get(tenant=tenant, user__email=f"{local}@demo-capital.example")


@pytest.mark.django_db(transaction=True)
def test_the_demo_covers_the_loop_and_a_second_seed_changes_nothing() -> None:
    people, clients = demo_seed()
    demo_seed(later=True)  # what make run does in the background: the signed documents
    tenant = demo_tenant()
    assert tenant is not None
    assert len(clients) == DEMO_CLIENT_COUNT == 30
    assert {p.role for p in people} == {
        "tenant_admin",
        "compliance_officer",
        "risk_officer",
        "operations",
        "auditor",
        "client",
    }
    first = _counts(tenant)

    with rls_context(tenant=tenant):
        from kyc.models import ClientProfile, KycCase, MonitoringAlert
        from kyc.screening.models import ScreeningHit
        from ledger.models import LedgerAccount, ReconciliationBreak, WithdrawalRequest
        from risk.models import MarginPolicyVersion, MarginStatus, Order
        from risk.operations.models import AccountLadder, MarginCall, Proposal

        # KYC: files in every state, a hit blocking one of them, alerts to work.
        profiles = Counter(ClientProfile.objects.values_list("status", flat=True))
        assert profiles["approved"] == 26 and profiles["submitted"] == 2
        assert profiles["draft"] == 3
        cases = Counter(KycCase.objects.values_list("status", flat=True))
        assert cases["approved"] == 26 and cases["open"] >= 2
        hit_client = _client(tenant, "client27")
        hit_profile = ClientProfile.objects.get(membership=hit_client)
        assert ScreeningHit.objects.filter(subject_ref=str(hit_profile.pk), status="open").exists()
        assert MonitoringAlert.objects.count() >= 2

        # Risk: an active four-eyes policy, a book of stocks, ETFs and option strategies.
        active = MarginPolicyVersion.objects.get(status="active")
        assert active.created_by.email == "risk@demo-capital.example"
        kinds = Counter(Order.objects.values_list("instrument__kind", flat=True))
        assert kinds["equity"] and kinds["etf"] and kinds["option"] >= 15

        # The ladder: every rung down to deleveraging, the README client on a margin call.
        rungs = dict(AccountLadder.objects.values_list("account__owner__user__email", "status"))
        by_rung = Counter(rungs.values())
        healthy = MarginStatus.objects.filter(status="healthy").count()
        assert healthy >= 15, Counter(MarginStatus.objects.values_list("status", flat=True))
        assert by_rung["warning"] >= 2, rungs
        assert by_rung["margin_call"] >= 2, rungs
        readme = _client(tenant, "client")
        account = LedgerAccount.objects.get(owner=readme, kind="client_cash")
        call = MarginCall.objects.get(account=account, status="open")
        assert rungs["client@demo-capital.example"] == "margin_call"
        assert call.hints, "the README client's call carries hedge hints"
        deleveraged = [_client(tenant, "client22"), _client(tenant, "client23")]
        assert (
            Proposal.objects.filter(account__owner__in=deleveraged, kind="deleverage").count() == 2
        )

        # Operations: a withdrawal waiting, a reconciliation break open.
        assert WithdrawalRequest.objects.filter(status="requested").count() == 1
        assert ReconciliationBreak.objects.filter(kind="unmatched_bank_line").exists()

        from financing.models import CreditLine, SignatureRecord

        assert CreditLine.objects.filter(status="active").count() == 8
        assert SignatureRecord.objects.count() == 2

    # Again: the same logins, and not one row more anywhere.
    call_command("demo_seed", stdout=io.StringIO())
    call_command("demo_seed", "--later", stdout=io.StringIO())
    people_again, _ = demo_seed()
    assert [(p.email, p.otpauth_uri) for p in people_again] == [
        (p.email, p.otpauth_uri) for p in people
    ]
    again = _counts(tenant)
    assert {k: (v, again.get(k)) for k, v in first.items() if again.get(k) != v} == {}
    assert again == first

    # make run's market feed: one tick quotes every instrument from three venues and
    # re-margins every holder at the new prices.
    from risk.demo import demo_feed_tick
    from risk.models import Instrument, Quote

    quoted = Instrument.objects.filter(quotes__isnull=False).distinct().count()
    before = Quote.objects.count()
    with rls_context(tenant=tenant):
        assert demo_feed_tick(step=1) >= 20
    assert Quote.objects.count() == before + 3 * quoted
