"""The console's start page: each staff role sees what needs action now, as counts with links,
counted on the active tenant's rows only, in a fixed number of queries."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kyc.models import KycCase
from ledger.models import LedgerAccount
from ledger.services import account_create
from ledger.withdrawals import withdrawal_request
from platform_core.audit.approvals import approval_request_create
from platform_core.console import sections_for
from platform_core.tenancy.roles import Role
from risk.models import MarginStatus
from risk.operations.models import CrashSwitch, MarginCall
from tests.conftest import TenantPeople, as_tenant, sign_in
from tests.kyc.factories import submit_profile
from tests.ledger.factories import open_book

pytestmark = pytest.mark.django_db


def _on_call(people: TenantPeople, *, account: LedgerAccount, hours_left: int) -> MarginCall:
    """An account below its call line: its margin status and its open call."""
    now = timezone.now()
    MarginStatus.objects.create(
        tenant=people.tenant,
        account=account,
        status="margin_call",
        ratio=Decimal("0.9493"),
        equity=Decimal("95000"),
        maintenance=Decimal("100000"),
        initial=Decimal("150000"),
        policy="default",
        sweep_id="test",
        computed_at=now,
    )
    episode = MarginCall.objects.filter(tenant=people.tenant, account=account).count() + 1
    return MarginCall.objects.create(
        tenant=people.tenant,
        account=account,
        membership=people.client.membership,
        episode=episode,
        stage="margin_call",
        currency=account.currency,
        issued_at=now,
        deadline_date=(now + timedelta(hours=hours_left)).date(),
        deadline_at=now + timedelta(hours=hours_left),
        ratio=Decimal("0.9493"),
        equity=Decimal("95000"),
        maintenance=Decimal("100000"),
        target_ratio=Decimal("1.3"),
        deposit_needed=Decimal("35348.46"),
        policy_name="default",
        policy_version="1",
    )


def _section(response: Any, key: str) -> str:
    match = re.search(rf'id="section-{key}".*?</section>', response.content.decode(), re.S)
    assert match, f"no {key} section"
    return match.group(0)


def _count(section_html: str, label: str) -> int:
    match = re.search(
        rf'>{re.escape(label)}</a>(?: <span class="hint">[^<]*</span>)? <span class="count">(\d+)<',
        section_html,
    )
    assert match, f"no item {label!r}"
    return int(match.group(1))


def _english(client: Client) -> Client:
    client.cookies["django_language"] = "en"
    return client


@pytest.mark.parametrize(
    ("person", "section"),
    [
        ("compliance", "compliance"),
        ("risk", "risk"),
        ("operations", "operations"),
        ("admin", "admin"),
    ],
)
def test_each_staff_role_sees_its_own_section_only(
    client: Client, acme: TenantPeople, person: str, section: str
) -> None:
    response = sign_in(_english(client), getattr(acme, person)).get("/console/")

    assert response.status_code == 200
    shown = set(re.findall(r'id="section-(\w+)"', response.content.decode()))
    assert shown == {section}


def test_a_person_with_several_roles_sees_each_of_their_sections() -> None:
    assert sections_for(roles=[Role.TENANT_ADMIN, Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER]) == [
        "compliance",
        "risk",
        "admin",
    ]
    assert sections_for(roles=[Role.CLIENT, Role.AUDITOR]) == []


def test_a_client_and_an_unverified_officer_get_no_start_page(
    client: Client, acme: TenantPeople
) -> None:
    assert sign_in(client, acme.client).get("/console/").status_code == 403
    unverified = sign_in(Client(), acme.risk, verify=False).get("/console/")
    assert unverified.status_code == 302
    assert unverified["Location"].startswith("/accounts/verify/")


def test_the_risk_section_counts_calls_and_shows_the_nearest_deadline_first(
    client: Client, acme: TenantPeople, globex: TenantPeople
) -> None:
    book = open_book(acme)
    _on_call(acme, account=book.client, hours_left=20)
    with as_tenant(globex.tenant):  # another tenant's calls never count here
        other = open_book(globex)
        _on_call(globex, account=other.client, hours_left=1)
        CrashSwitch.objects.create(tenant=globex.tenant, engaged=True, changed_at=timezone.now())

    response = sign_in(_english(client), acme.risk).get("/console/")

    risk = _section(response, "risk")
    assert _count(risk, "Open margin calls") == 1
    assert _count(risk, "Margin call") == 1
    assert _count(risk, "Healthy") == 0
    # The bands of the default ladder (risk/stored_policy.py, DEFAULT_LADDER: warning 1.25,
    # call 1.00, deleverage 0.90, liquidation 0.75).
    assert '<span class="hint">[90%, 100%)</span>' in risk
    assert '<span class="hint">&lt; 75%</span>' in risk
    assert 'href="/console/margin/#crash-switch"' in risk
    assert "Released: automatic deleveraging" in risk  # globex's engaged switch is not ours
    rows = re.findall(r'<tr class="call-due">.*?</tr>', risk, re.S)
    assert len(rows) == 1
    assert acme.client.email in rows[0] and "94.93%" in rows[0]
    seconds = int(re.search(r'data-seconds-left="(\d+)"', rows[0]).group(1))
    assert 19 * 3600 < seconds <= 20 * 3600
    assert "35,348.46" in rows[0]


def test_the_compliance_section_counts_open_cases_of_this_tenant(
    client: Client, acme: TenantPeople, globex: TenantPeople
) -> None:
    submit_profile(acme.tenant, acme.client)
    with as_tenant(globex.tenant):
        submit_profile(globex.tenant, globex.client)
    opened = KycCase.objects.filter(tenant=acme.tenant, status__in=KycCase.OPEN_STATUSES).count()
    assert opened == 1

    response = sign_in(_english(client), acme.compliance).get("/console/")

    compliance = _section(response, "compliance")
    assert _count(compliance, "Open") == 1
    assert 'href="/console/kyc/cases/?status=open"' in compliance
    assert _count(compliance, "Open AML alerts") == 0


def test_the_admin_section_counts_second_factor_resets_waiting(
    client: Client, acme: TenantPeople, globex: TenantPeople
) -> None:
    approval_request_create(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        action="accounts.second_factor_reset",
        params={"membership_id": acme.client.membership.pk},
        reason="Lost the phone and the backup codes",
    )

    response = sign_in(_english(client), acme.admin).get("/console/")

    admin = _section(response, "admin")
    assert _count(admin, "Second-factor resets waiting") == 1
    assert _count(admin, "Staff without a second factor") == 0
    staff = re.search(r'id="staff".*?</section>', response.content.decode(), re.S).group(0)
    assert acme.risk.email in staff and globex.risk.email not in staff


def test_the_start_page_takes_the_same_queries_with_more_rows(
    client: Client, acme: TenantPeople
) -> None:
    """No N+1: each count is one query, so more calls and cases cost no more queries."""
    book = open_book(acme)
    _on_call(acme, account=book.client, hours_left=20)
    admin = sign_in(client, acme.admin)
    staff = Client()
    sign_in(staff, acme.risk)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff.get("/console/").status_code == 200
            assert admin.get("/console/").status_code == 200
        return len(captured)

    few = queries()
    for currency in ("EUR", "GBP", "JPY"):
        more = account_create(
            tenant=acme.tenant,
            kind="client_cash",
            currency=currency,
            owner_id=acme.client.membership.pk,
        )
        _on_call(acme, account=more, hours_left=5)
    submit_profile(acme.tenant, acme.client)

    assert queries() == few


def test_the_start_page_speaks_simplified_chinese(client: Client, acme: TenantPeople) -> None:
    client.cookies["django_language"] = "zh-hans"

    page = sign_in(client, acme.risk).get("/console/").content.decode()

    assert '<html lang="zh-hans">' in page
    assert "跳到正文" in page  # the skip link
    assert "未了结的追加保证金通知" in page  # open margin calls
    assert "Open margin calls" not in page


def _withdrawal(people: TenantPeople, key: str) -> None:
    book = open_book(people)
    book.fund("500.00")
    withdrawal_request(
        tenant=people.tenant,
        membership=people.client.membership,
        actor=people.client.user,
        currency="USD",
        amount="120.00",
        destination="GB33 BUKB 2020 1555 5555 55",
        idempotency_key=key,
    )


def test_the_operations_section_counts_this_tenant_s_withdrawals_to_approve(
    client: Client, acme: TenantPeople, globex: TenantPeople
) -> None:
    _withdrawal(acme, "w-acme")
    with as_tenant(globex.tenant):
        _withdrawal(globex, "w-globex")

    response = sign_in(_english(client), acme.operations).get("/console/")

    operations = _section(response, "operations")
    assert _count(operations, "Withdrawals to approve") == 1
    assert _count(operations, "Withdrawals awaiting a second approval") == 0
    assert _count(operations, "Open reconciliation breaks") == 0
    assert 'href="/console/withdrawals/"' in operations
