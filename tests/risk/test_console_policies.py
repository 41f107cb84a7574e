"""The console's margin-policy page: acme.risk sees the active version, drafts a new one
(validated by the same service as the API) and submits it for four-eyes activation; a second
risk officer approves it through the approvals inbox. Other roles, unverified staff and other
tenants get nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from platform_core.audit.approvals import approval_request_approve
from platform_core.audit.models import ApprovalRequest
from platform_core.tenancy.roles import Role
from risk.models import MarginPolicyVersion
from risk.policies import ACTIVATE_ACTION
from tests.conftest import TenantPeople, as_tenant, make_person, sign_in

pytestmark = pytest.mark.django_db

PAGE = "/console/risk/policies/"
DRAFT = {
    "action": "draft",
    "name": "acme-tight",
    "base": "cboe-strategy",
    "parameters": '{"house_addon": {"rate": "0.01"}}',
    "warning": "1.4",
    "margin_call": "1.1",
    "deleverage": "0.95",
    "liquidation": "0.8",
    "call_deadline_business_days": "2",
    "leverage_cap": "3",
}


def versions(acme: TenantPeople) -> list[tuple[str, int, str]]:
    with as_tenant(acme.tenant):
        return list(
            MarginPolicyVersion.objects.order_by("version").values_list("name", "version", "status")
        )


def pending(acme: TenantPeople) -> list[ApprovalRequest]:
    with as_tenant(acme.tenant):
        return list(ApprovalRequest.objects.filter(action=ACTIVATE_ACTION, status="pending"))


def test_a_risk_officer_drafts_and_submits_and_a_second_one_activates(
    acme: TenantPeople,
) -> None:
    officer = sign_in(Client(), acme.risk)
    page = officer.get(PAGE)
    assert page.status_code == 200
    assert "cboe-strategy" in page.content.decode()  # no stored policy: the built-in applies
    saved = officer.post(PAGE, DRAFT)
    assert saved.status_code == 302
    assert versions(acme) == [("acme-tight", 1, "draft")]
    with as_tenant(acme.tenant):
        draft = MarginPolicyVersion.objects.get()
    assert Decimal(draft.ladder["margin_call"]) == Decimal("1.1")
    assert draft.parameters["house_addon"]["rate"] == "0.01"
    submitted = officer.post(PAGE, {"action": "submit", "policy_id": draft.pk, "reason": "tighter"})
    assert submitted.status_code == 302
    (approval,) = pending(acme)
    assert approval.params["policy_id"] == draft.pk
    listed = officer.get(PAGE).content.decode()
    assert "Awaiting a second risk officer" in listed
    second = make_person(acme.tenant, "risk2@acme.example", Role.RISK_OFFICER)
    with as_tenant(acme.tenant):
        approval_request_approve(
            tenant=acme.tenant,
            actor=second.user,
            membership=second.membership,
            approval_id=approval.pk,
            reason="checked the ladder",
        )
    assert versions(acme) == [("acme-tight", 1, "active")]
    shown = officer.get(PAGE).content.decode()
    assert draft.digest in shown and "1.1" in shown


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"parameters": "{not json"}, "parameters"),
        ({"parameters": '{"risk_tiers": {"2": "-1"}}'}, "parameters"),
        ({"warning": "0.5"}, "margin_call"),  # the lines must fall strictly
        ({"base": "made-up"}, "base"),
    ],
)
def test_a_bad_draft_is_a_form_error_and_writes_nothing(
    acme: TenantPeople, change: dict[str, str], field: str
) -> None:
    officer = sign_in(Client(), acme.risk)
    response = officer.post(PAGE, {**DRAFT, **change})
    assert response.status_code == 400
    assert response.context["draft_form"].errors.get(field), response.context["draft_form"].errors
    assert versions(acme) == []


def test_a_submission_without_a_reason_or_for_an_active_version_is_refused(
    acme: TenantPeople,
) -> None:
    officer = sign_in(Client(), acme.risk)
    officer.post(PAGE, DRAFT)
    with as_tenant(acme.tenant):
        draft = MarginPolicyVersion.objects.get()
    no_reason = officer.post(PAGE, {"action": "submit", "policy_id": draft.pk, "reason": ""})
    assert no_reason.status_code == 400 and pending(acme) == []
    with as_tenant(acme.tenant):
        draft.status = MarginPolicyVersion.Status.ACTIVE
        draft.save(update_fields=["status"])
    active = officer.post(PAGE, {"action": "submit", "policy_id": draft.pk, "reason": "again"})
    assert active.status_code == 400 and "not a draft" in active.context["submit_error"]
    assert pending(acme) == []


def test_only_verified_risk_officers_of_the_tenant(
    acme: TenantPeople, globex: TenantPeople
) -> None:
    assert sign_in(Client(), acme.compliance).get(PAGE).status_code == 403
    assert sign_in(Client(), acme.client).get(PAGE).status_code == 403
    unverified = sign_in(Client(), acme.risk, verify=False).get(PAGE)
    assert unverified.status_code == 302 and unverified.url.startswith("/accounts/verify/")
    officer = sign_in(Client(), acme.risk)
    officer.post(PAGE, DRAFT)
    with as_tenant(acme.tenant):
        draft = MarginPolicyVersion.objects.get()
    foreign = sign_in(Client(), globex.risk).post(
        PAGE, {"action": "submit", "policy_id": draft.pk, "reason": "not mine"}
    )
    assert foreign.status_code == 404
    assert pending(acme) == [] and pending(globex) == []
    assert "acme-tight" not in sign_in(Client(), globex.risk).get(PAGE).content.decode()


def test_the_page_speaks_chinese(acme: TenantPeople) -> None:
    officer = sign_in(Client(), acme.risk)
    with translation.override("zh-hans"):
        page = officer.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans")
    body: Any = page.content.decode()
    assert "保证金政策" in body and "保存草稿" in body
