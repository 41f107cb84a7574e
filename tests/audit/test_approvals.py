"""Four eyes: a dummy action registered through the hook proves every rule of the mechanism."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from platform_core.audit.approvals import (
    approval_request_approve,
    approval_request_create,
    approval_request_reject,
    approval_request_withdraw,
    approvals_expire,
)
from platform_core.audit.models import ApprovalRequest, AuditEvent
from platform_core.exceptions import ApplicationError
from platform_core.hooks import ApprovableAction, approvable_actions
from platform_core.tenancy.models import Membership
from platform_core.tenancy.roles import Role
from tests.conftest import api_token_for, as_tenant, make_person, sign_in

pytestmark = pytest.mark.django_db


def promote(*, tenant, params, maker, approver):
    """The dummy high-impact action: make a client an operations officer."""
    membership = Membership.objects.get(tenant=tenant, pk=params["membership_id"])
    if membership.role != Role.CLIENT:
        raise ApplicationError(409, "not_a_client", "Only a client can be promoted.")
    membership.role = Role.OPERATIONS
    membership.save(update_fields=["role"])
    return {"membership_id": membership.pk, "approved_by": approver.pk}


@pytest.fixture(autouse=True)
def dummy_action():
    action = ApprovableAction(
        key="test.promote",
        description="Promote a client to operations",
        maker_roles=frozenset({Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER}),
        approver_role=Role.COMPLIANCE_OFFICER,
        execute=promote,
        expires_after=timedelta(hours=1),
    )
    approvable_actions.register(action)
    yield action
    approvable_actions.unregister(action.key)


@pytest.fixture
def second_officer(acme):
    return make_person(acme.tenant, "compliance2@acme.example", Role.COMPLIANCE_OFFICER)


def ask(acme, maker=None, **overrides):
    maker = maker or acme.risk
    kwargs = {
        "tenant": acme.tenant,
        "actor": maker.user,
        "membership": maker.membership,
        "action": "test.promote",
        "params": {"membership_id": acme.client.membership.pk},
        "reason": "covering the desk",
    }
    kwargs.update(overrides)
    return approval_request_create(**kwargs)


def decide(service, acme, person, approval, reason="checked the file"):
    return service(
        tenant=acme.tenant,
        actor=person.user,
        membership=person.membership,
        approval_id=approval.pk,
        reason=reason,
    )


def client_role(acme):
    return Membership.objects.get(pk=acme.client.membership.pk).role


def test_a_second_person_of_the_role_approves_and_the_action_runs(acme):
    approval = ask(acme)
    assert client_role(acme) == Role.CLIENT  # nothing happens before the decision
    approved = decide(approval_request_approve, acme, acme.compliance, approval)
    assert approved.status == "approved"
    assert approved.result == {
        "membership_id": acme.client.membership.pk,
        "approved_by": acme.compliance.user.pk,
    }
    assert client_role(acme) == Role.OPERATIONS
    actions = list(
        AuditEvent.objects.filter(object_type="approval", object_id=str(approval.pk)).values_list(
            "action", "actor"
        )
    )
    assert actions == [
        ("approval.requested", acme.risk.user.pk),
        ("approval.approved", acme.compliance.user.pk),
    ]


def test_the_maker_cannot_approve_their_own_request(acme):
    approval = ask(acme, maker=acme.compliance)
    with pytest.raises(ApplicationError) as refused:
        decide(approval_request_approve, acme, acme.compliance, approval)
    assert refused.value.error_code == "maker_cannot_decide"
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"
    assert client_role(acme) == Role.CLIENT


@pytest.mark.parametrize("alias", ["person_ref", "mailbox"])
def test_a_second_account_of_the_maker_cannot_approve(acme, alias):
    if alias == "person_ref":
        other = make_person(acme.tenant, "someone.else@acme.example", Role.COMPLIANCE_OFFICER)
        for user in (acme.compliance.user, other.user):
            user.person_ref = "staff-id:4711"
            user.save(update_fields=["person_ref"])
    else:  # the same mailbox with a sub-address
        other = make_person(acme.tenant, "compliance+second@acme.example", Role.COMPLIANCE_OFFICER)
    approval = ask(acme, maker=acme.compliance)
    with pytest.raises(ApplicationError, match="cannot decide their own"):
        decide(approval_request_approve, acme, other, approval)
    assert client_role(acme) == Role.CLIENT


def test_a_person_without_the_approver_role_cannot_approve(acme):
    approval = ask(acme)
    with pytest.raises(ApplicationError) as refused:
        decide(approval_request_approve, acme, acme.admin, approval)
    assert refused.value.error_code == "approver_role_required"
    assert client_role(acme) == Role.CLIENT


def test_an_expired_request_cannot_be_approved_and_is_marked_expired(acme):
    approval = ask(acme)
    ApprovalRequest.objects.filter(pk=approval.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(ApplicationError) as refused:
        decide(approval_request_approve, acme, acme.compliance, approval)
    assert refused.value.error_code == "approval_expired"
    assert client_role(acme) == Role.CLIENT
    assert approvals_expire(tenant=acme.tenant) == 1
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "expired"
    assert AuditEvent.objects.filter(action="approval.expired", object_id=str(approval.pk)).exists()


def test_a_replayed_approval_is_refused_and_runs_nothing_twice(acme, second_officer):
    approval = ask(acme)
    decide(approval_request_approve, acme, acme.compliance, approval)
    Membership.objects.filter(pk=acme.client.membership.pk).update(role=Role.CLIENT)
    for person in (acme.compliance, second_officer):
        with pytest.raises(ApplicationError) as refused:
            decide(approval_request_approve, acme, person, approval)
        assert refused.value.error_code == "approval_already_decided"
    assert client_role(acme) == Role.CLIENT
    assert AuditEvent.objects.filter(action="approval.approved").count() == 1


def test_a_failing_action_leaves_the_request_pending_and_changes_nothing(acme):
    Membership.objects.filter(pk=acme.client.membership.pk).update(role=Role.AUDITOR)
    approval = ask(acme)
    with pytest.raises(ApplicationError, match="Only a client"):
        decide(approval_request_approve, acme, acme.compliance, approval)
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"
    assert not AuditEvent.objects.filter(action="approval.approved").exists()


def test_reject_and_withdraw(acme):
    rejected = decide(
        approval_request_reject, acme, acme.compliance, ask(acme), reason="not needed"
    )
    assert (rejected.status, rejected.decision_reason) == ("rejected", "not needed")
    assert client_role(acme) == Role.CLIENT
    pending = ask(acme)
    with pytest.raises(ApplicationError, match="Only the maker"):
        approval_request_withdraw(
            tenant=acme.tenant, actor=acme.compliance.user, approval_id=pending.pk, reason="x"
        )
    withdrawn = approval_request_withdraw(
        tenant=acme.tenant, actor=acme.risk.user, approval_id=pending.pk, reason="mistake"
    )
    assert withdrawn.status == "withdrawn"
    with pytest.raises(ApplicationError, match="already withdrawn"):
        decide(approval_request_approve, acme, acme.compliance, pending)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"action": "test.no_such_action"}, "invalid"),
        ({"reason": "  "}, "invalid"),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_written(acme, overrides, code):
    with pytest.raises(ApplicationError) as refused:
        ask(acme, **overrides)
    assert refused.value.error_code == code
    assert ApprovalRequest.objects.count() == 0


def test_a_role_that_may_not_ask_is_refused(acme):
    with pytest.raises(ApplicationError) as refused:
        ask(acme, maker=acme.operations)
    assert refused.value.status_code == 403
    assert ApprovalRequest.objects.count() == 0


# --- the API and the console ----------------------------------------------------------------


def api(person):
    token = api_token_for(Client(), person)
    return {"HTTP_AUTHORIZATION": f"Token {token}"}


def test_the_api_inbox_and_decision_with_an_idempotent_replay(acme):
    approval = ask(acme)
    client = Client()
    inbox = client.get("/api/v1/approvals", **api(acme.compliance)).json()
    assert [a["id"] for a in inbox["results"]] == [approval.pk]
    assert client.get("/api/v1/approvals", **api(acme.operations)).json()["results"] == []
    headers = {**api(acme.compliance), "HTTP_IDEMPOTENCY_KEY": "decide-1"}
    url = f"/api/v1/approvals/{approval.pk}/approve"
    first = client.post(url, {"reason": "ok"}, content_type="application/json", **headers)
    assert first.status_code == 200 and first.json()["status"] == "approved"
    replay = client.post(url, {"reason": "ok"}, content_type="application/json", **headers)
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    again = client.post(
        url,
        {"reason": "ok"},
        content_type="application/json",
        **{**headers, "HTTP_IDEMPOTENCY_KEY": "decide-2"},
    )
    assert again.status_code == 409 and again.json()["code"] == "approval_already_decided"


def test_the_api_refuses_anonymous_other_tenant_and_wrong_role(acme, globex):
    approval = ask(acme)
    url = f"/api/v1/approvals/{approval.pk}/approve"
    body = {"reason": "ok"}
    anonymous = Client().post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert anonymous.status_code == 401
    foreign = Client().post(
        url,
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
        **api(globex.compliance),
    )
    assert foreign.status_code == 404
    client_role_call = Client().post(
        url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k", **api(acme.client)
    )
    assert client_role_call.status_code == 403
    wrong_role = Client().post(
        url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k", **api(acme.operations)
    )
    assert wrong_role.status_code == 403 and wrong_role.json()["code"] == "approver_role_required"
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"
    assert client_role(acme) == Role.CLIENT


def test_the_api_creates_a_request(acme):
    response = Client().post(
        "/api/v1/approvals",
        {
            "action": "test.promote",
            "params": {"membership_id": acme.client.membership.pk},
            "reason": "cover",
        },
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="ask-1",
        **api(acme.risk),
    )
    assert response.status_code == 201
    assert response.json()["approver_role"] == "compliance_officer"
    unknown = Client().post(
        "/api/v1/approvals",
        {"action": "nope", "reason": "x"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="ask-2",
        **api(acme.risk),
    )
    assert unknown.status_code == 400 and "action" in unknown.json()["fields"]


def test_the_console_inbox_decides(acme):
    approval = ask(acme)
    officer = sign_in(Client(), acme.compliance)
    page = officer.get("/console/approvals/")
    assert page.status_code == 200 and "test.promote" in page.content.decode()
    officer.post(
        f"/console/approvals/{approval.pk}/decide/", {"decision": "approve", "reason": "ok"}
    )
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "approved"
    maker = sign_in(Client(), acme.risk)
    refused = maker.post(
        f"/console/approvals/{ask(acme).pk}/decide/",
        {"decision": "approve", "reason": "mine"},
        follow=True,
    )
    assert "Only a compliance_officer may decide this." in refused.content.decode()


def test_another_tenants_request_is_invisible(acme, globex):
    approval = ask(acme)
    with as_tenant(globex.tenant):
        with pytest.raises(Exception, match=r"No approval request"):
            decide(approval_request_approve, globex, globex.compliance, approval)
