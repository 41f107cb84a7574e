"""Console case management: assignment as an object permission, the checklist, requests for
information, approval blocked by pending checks and open screening hits, four eyes for high
risk and PEPs, every step audited, another tenant's case a 404."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from kyc import screening_link
from kyc.models import CaseCheck, ClientProfile, InfoRequest, KycCase
from kyc.selectors import investor_class_for, risk_rating_for, suitability_for
from kyc.services import (
    case_approve,
    case_assign,
    case_check_set,
    case_info_request,
    case_reject,
    onboarding_step_save,
    onboarding_submit,
    reviews_open_due,
)
from platform_core.audit.approvals import approval_request_approve
from platform_core.audit.models import ApprovalRequest, AuditEvent
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Membership
from tests.conftest import as_tenant, comparable_body, make_person, sign_in
from tests.kyc.factories import PERSONAL, submit_profile


def screening_works() -> bool:
    try:
        import nomenklatura  # noqa: F401
        import rigour  # noqa: F401

        from kyc.screening import services  # noqa: F401
    except ImportError:
        return False
    return True


needs_screening = pytest.mark.skipif(
    not screening_works(), reason="the screening app (kyc.screening) cannot screen yet"
)


def screen(case: KycCase) -> None:
    assert screening_link.screen(tenant=case.tenant, profile=case.profile, reason="test")


def ready_case(acme, **overrides) -> KycCase:
    """A submitted client, screened, the case taken by acme.compliance, every check done."""
    case = submit_profile(acme.tenant, acme.client, **overrides)
    screen(case)
    case_assign(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=case.pk,
        assignee=acme.compliance.membership,
    )
    for check in CaseCheck.objects.filter(case=case):
        case_check_set(
            tenant=acme.tenant,
            actor=acme.compliance.user,
            case_id=case.pk,
            code=check.code,
            status="done",
            note="seen the original",
        )
    return case


def approve(acme, case, who=None):
    who = who or acme.compliance
    return case_approve(
        tenant=acme.tenant,
        actor=who.user,
        membership=who.membership,
        case_id=case.pk,
        reason="documents verified against originals",
    )


def refused(call, code: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    assert caught.value.error_code == code, caught.value.error_code
    return caught.value


def test_only_the_assigned_officer_works_a_case_and_reassignment_moves_the_permission(acme):
    case = submit_profile(acme.tenant, acme.client)
    officer2 = make_person(acme.tenant, "officer2@acme.example", "compliance_officer")
    act = lambda who: case_check_set(  # noqa: E731
        tenant=acme.tenant, actor=who.user, case_id=case.pk, code="identity", status="done"
    )
    refused(lambda: act(acme.compliance), "case_not_assigned")
    case_assign(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        case_id=case.pk,
        assignee=acme.compliance.membership,
    )
    assert acme.compliance.user.has_perm("kyc.work_kyccase", case)
    act(acme.compliance)
    case_assign(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        case_id=case.pk,
        assignee=officer2.membership,
    )
    fresh = type(acme.compliance.user).objects.get(pk=acme.compliance.user.pk)  # no perm cache
    assert not fresh.has_perm("kyc.work_kyccase", case)
    refused(lambda: act(acme.compliance), "case_not_assigned")
    # A client or a risk officer cannot be given a case.
    with pytest.raises(ApplicationError):
        case_assign(
            tenant=acme.tenant,
            actor=acme.admin.user,
            membership=acme.admin.membership,
            case_id=case.pk,
            assignee=acme.risk.membership,
        )


@needs_screening
def test_approval_is_refused_while_a_check_is_pending_and_then_allowed(acme):
    case = ready_case(acme)
    check = CaseCheck.objects.get(case=case, code="funds")
    CaseCheck.objects.filter(pk=check.pk).update(status="pending")
    error = refused(lambda: approve(acme, case), "case_blocked")
    assert "Check funds is pending." in error.fields["case"]
    case.refresh_from_db()
    assert case.status == "open"
    assert ClientProfile.objects.get().status == "submitted"
    assert investor_class_for(tenant=acme.tenant, membership=acme.client.membership) is None
    case_check_set(
        tenant=acme.tenant, actor=acme.compliance.user, case_id=case.pk, code="funds", status="done"
    )
    approve(acme, case)
    case.refresh_from_db()
    assert case.status == "approved" and case.decided_by_id == acme.compliance.user.pk
    membership = acme.client.membership
    assert investor_class_for(tenant=acme.tenant, membership=membership) == "C4"
    suitability = suitability_for(tenant=acme.tenant, membership=membership)
    assert suitability["allowed_risk_levels"] == ["R1", "R2", "R3", "R4"]
    assert str(suitability["leverage_cap"]) == "1.00"
    assert risk_rating_for(tenant=acme.tenant, membership=membership) in ("low", "medium")
    assert AuditEvent.objects.filter(action="kyc.case_approved", object_id=str(case.pk)).exists()


def test_approval_is_refused_before_the_client_was_screened(acme):
    case = submit_profile(acme.tenant, acme.client)  # screening runs after commit, not here
    case_assign(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=case.pk,
        assignee=acme.compliance.membership,
    )
    CaseCheck.objects.filter(case=case).update(status="done")
    error = refused(lambda: approve(acme, case), "case_blocked")
    assert any("screen" in reason for reason in error.fields["case"])
    assert KycCase.objects.get(pk=case.pk).status == "open"


@needs_screening
def test_approval_is_refused_while_a_screening_hit_is_open(acme, tmp_path):
    from kyc.screening.services import list_import

    entity = {
        "id": "kyc-test-zw-1",
        "schema": "Person",
        "caption": "Zhang Wei",
        "properties": {
            "name": ["Zhang Wei", "张伟"],
            "birthDate": ["1949-12-31"],
            "nationality": ["cn"],
            "topics": ["sanction"],
        },
    }
    listing = tmp_path / "list.ftm.json"
    listing.write_text(json.dumps(entity) + "\n")
    list_import(path=listing, fmt="ftm", source_name="kyc-test-list")
    case = ready_case(acme)
    error = refused(lambda: approve(acme, case), "case_blocked")
    assert any("hit" in reason.lower() for reason in error.fields["case"])
    assert KycCase.objects.get(pk=case.pk).status == "open"
    assert ClientProfile.objects.get().status == "submitted"


@needs_screening
def test_a_pep_needs_a_second_senior_approver(acme):
    case = ready_case(acme, personal={"pep": "foreign"})
    approve(acme, case)
    case.refresh_from_db()
    assert case.status == "pending_approval"
    approval = ApprovalRequest.objects.get(pk=case.approval_id)
    assert approval.action == "kyc.case_approve" and approval.approver_role == "tenant_admin"
    assert ClientProfile.objects.get().status == "submitted"
    # The maker's own role cannot decide it, and neither can the maker.
    with pytest.raises(ApplicationError) as wrong_role:
        approval_request_approve(
            tenant=acme.tenant,
            actor=acme.compliance.user,
            membership=acme.compliance.membership,
            approval_id=approval.pk,
            reason="looks fine",
        )
    assert wrong_role.value.error_code == "approver_role_required"
    assert ClientProfile.objects.get().status == "submitted"
    approval_request_approve(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        approval_id=approval.pk,
        reason="source of wealth documented; relationship approved",
    )
    case.refresh_from_db()
    assert case.status == "approved" and case.decided_by_id == acme.admin.user.pk
    assert risk_rating_for(tenant=acme.tenant, membership=acme.client.membership) == "high"


@needs_screening
def test_the_maker_cannot_be_the_senior_approver(acme):
    case = ready_case(acme, personal={"pep": "foreign"})
    case_assign(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        case_id=case.pk,
        assignee=acme.admin.membership,
    )
    approve(acme, case, who=acme.admin)
    case.refresh_from_db()
    with pytest.raises(ApplicationError) as caught:
        approval_request_approve(
            tenant=acme.tenant,
            actor=acme.admin.user,
            membership=acme.admin.membership,
            approval_id=case.approval_id,
            reason="self",
        )
    assert caught.value.error_code == "maker_cannot_decide"
    assert KycCase.objects.get(pk=case.pk).status == "pending_approval"


def test_more_information_reopens_the_file_until_the_client_resubmits(acme):
    case = submit_profile(acme.tenant, acme.client)
    case_assign(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=case.pk,
        assignee=acme.compliance.membership,
    )
    case_info_request(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        case_id=case.pk,
        message="Please upload a utility bill from the last 3 months.",
    )
    assert KycCase.objects.get(pk=case.pk).status == "info_requested"
    assert ClientProfile.objects.get().status == "more_info"
    onboarding_step_save(
        tenant=acme.tenant,
        membership=acme.client.membership,
        actor=acme.client.user,
        step="personal",
        data={**PERSONAL, "address": "2 Chang'an Avenue, Beijing"},
    )
    again = onboarding_submit(
        tenant=acme.tenant, membership=acme.client.membership, actor=acme.client.user
    )
    assert again.pk == case.pk
    assert KycCase.objects.get(pk=case.pk).status == "open"
    assert InfoRequest.objects.get().answered_at is not None
    actions = list(
        AuditEvent.objects.filter(action__startswith="kyc.case").values_list("action", flat=True)
    )
    assert {"kyc.case_opened", "kyc.case_assigned", "kyc.case_info_requested"} <= set(actions)


def test_a_rejection_needs_a_reason_and_closes_the_file(acme):
    case = submit_profile(acme.tenant, acme.client)
    case_assign(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=case.pk,
        assignee=acme.compliance.membership,
    )
    reject = lambda reason: case_reject(  # noqa: E731
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=case.pk,
        reason=reason,
    )
    refused(lambda: reject("  "), "invalid")
    assert KycCase.objects.get(pk=case.pk).status == "open"
    reject("forged proof of address")
    assert KycCase.objects.get(pk=case.pk).status == "rejected"
    assert ClientProfile.objects.get().status == "rejected"


def test_due_reviews_open_a_case_once(acme):
    case = submit_profile(acme.tenant, acme.client)
    KycCase.objects.filter(pk=case.pk).update(status="approved")
    ClientProfile.objects.update(
        status="approved", next_review_on=timezone.localdate() - timedelta(1)
    )
    assert reviews_open_due(tenant=acme.tenant) == 1
    assert reviews_open_due(tenant=acme.tenant) == 0
    review = KycCase.objects.get(kind="review")
    assert set(CaseCheck.objects.filter(case=review).values_list("code", flat=True)) >= {
        "identity",
        "suitability",
    }


def test_the_console_shows_the_queue_and_a_case_and_acts_on_it(acme):
    case = submit_profile(acme.tenant, acme.client)
    browser = sign_in(Client(), acme.compliance)
    assert browser.get("/console/kyc/cases/").status_code == 200
    page = browser.get(f"/console/kyc/cases/{case.pk}/")
    assert page.status_code == 200 and "Zhang Wei" in page.content.decode()
    taken = browser.post(f"/console/kyc/cases/{case.pk}/", {"action": "take"})
    assert taken.status_code == 302
    assert KycCase.objects.get(pk=case.pk).assignee_id == acme.compliance.user.pk
    blocked = browser.post(
        f"/console/kyc/cases/{case.pk}/", {"action": "approve", "reason": "fine"}
    )
    assert blocked.status_code == 409
    assert KycCase.objects.get(pk=case.pk).status == "open"
    assert sign_in(Client(), acme.client).get("/console/kyc/cases/").status_code == 403


def test_another_tenants_case_is_a_404(acme, globex):
    case = submit_profile(acme.tenant, acme.client)
    browser = sign_in(Client(), globex.compliance)
    with as_tenant(globex.tenant):
        foreign = browser.get(f"/console/kyc/cases/{case.pk}/")
        missing = browser.get("/console/kyc/cases/999999999/")
        assert foreign.status_code == missing.status_code == 404
        assert comparable_body(foreign) == comparable_body(missing)
        response = browser.post(f"/console/kyc/cases/{case.pk}/", {"action": "take"})
        assert response.status_code == 404
    assert KycCase.objects.get(pk=case.pk).assignee_id is None
    assert Membership.objects.filter(pk=acme.client.membership.pk).exists()


def test_compliance_opens_a_clients_document_and_the_viewing_is_audited(acme, globex):
    from kyc.models import ProfileDocument
    from kyc.pii import client_data_erase
    from tests.kyc.factories import png_bytes

    case = submit_profile(acme.tenant, acme.client)
    document = ProfileDocument.objects.get(profile=case.profile, kind="identity")
    officer = sign_in(Client(), acme.compliance)
    page = officer.get(f"/console/kyc/cases/{case.pk}/")
    assert f"/console/kyc/documents/{document.pk}/".encode() in page.content
    response = officer.get(f"/console/kyc/documents/{document.pk}/")
    assert response.status_code == 200 and response.content == png_bytes()
    assert response["Content-Type"] == "image/png"
    assert AuditEvent.objects.filter(
        action="kyc.document_viewed", object_id=str(document.pk)
    ).exists()
    assert (
        sign_in(Client(), acme.risk).get(f"/console/kyc/documents/{document.pk}/").status_code
        == 403
    )
    with as_tenant(globex.tenant):
        foreign = sign_in(Client(), globex.compliance).get(f"/console/kyc/documents/{document.pk}/")
    assert foreign.status_code == 404
    client_data_erase(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.client.membership,
        reason="erasure request",
    )
    assert officer.get(f"/console/kyc/documents/{document.pk}/").status_code == 410
