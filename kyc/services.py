"""Every KYC write: onboarding steps and submission, suitability, risk rating, cases.

Each function is one business action: its checks, its transaction, its audit event. Audit
payloads never carry personal data (only ids, step names, codes and outcomes).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from kyc import rating as rating_engine
from kyc import screening_link
from kyc.documents import CheckedUpload
from kyc.hooks import risk_rating_changed
from kyc.models import (
    CaseCheck,
    ClientProfile,
    InfoRequest,
    KycCase,
    ProfileDocument,
    ProfileSnapshot,
    RiskRating,
    RiskRatingConfig,
    SuitabilityAssessment,
)
from kyc.pii import pii_seal, pii_unseal
from kyc.suitability import QUESTIONNAIRE_VERSION, suitability_assess
from platform_core.audit.approvals import approval_request_create
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped

APPROVE_ACTION = "kyc.case_approve"
CASE_WORK_PERM = "kyc.work_kyccase"
CASE_MANAGERS = frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN})
EDITABLE = (ClientProfile.Status.DRAFT, ClientProfile.Status.MORE_INFO)
SUBMIT_STEPS = ("personal", "identity", "address", "funds", "bank", "suitability")
CHECKLISTS: dict[str, tuple[str, ...]] = {
    KycCase.Kind.ONBOARDING: ("identity", "address", "funds", "bank", "suitability"),
    KycCase.Kind.REVIEW: ("identity", "address", "funds", "suitability"),
    KycCase.Kind.ALERT: ("alerts_reviewed",),
}
SCREENED_FIELDS = ("legal_name", "native_name", "former_names", "birth_date", "nationality")


def _invalid(fields: dict[str, list[str]]) -> ApplicationError:
    return ApplicationError(400, "invalid", "The request has invalid fields.", fields)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise _invalid({"reason": ["A reason is required."]})
    return reason


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if hasattr(value, "read"):  # uploads are stored as documents, not answers
            continue
        out[key] = value.isoformat() if isinstance(value, date) else value
    return out


# --- onboarding ----------------------------------------------------------------------------


def profile_get_or_create(*, tenant: Tenant, membership: Membership) -> ClientProfile:
    if membership.role != Role.CLIENT or membership.tenant_id != tenant.pk:
        raise ApplicationError(403, "permission_denied", "Only a client has a KYC profile.")
    profile, _made = ClientProfile.objects.get_or_create(tenant=tenant, membership=membership)
    return profile


def profile_answers(profile: ClientProfile) -> dict[str, Any]:
    return pii_unseal(
        tenant=profile.tenant,
        membership=profile.membership,
        purpose="profile",
        sealed=profile.sealed,
    )


def onboarding_step_save(
    *,
    tenant: Tenant,
    membership: Membership,
    actor: Any,
    step: str,
    data: dict[str, Any],
    upload: CheckedUpload | None = None,
    upload_kind: str = "",
    request: HttpRequest | None = None,
) -> ClientProfile:
    """Save one wizard step (already validated by its form): sealed answers, the document,
    and for the questionnaire the suitability outcome. All or nothing."""
    with transaction.atomic():
        profile = profile_get_or_create(tenant=tenant, membership=membership)
        profile = ClientProfile.objects.select_for_update().get(pk=profile.pk)
        if profile.status not in EDITABLE:
            raise ApplicationError(
                409, "profile_locked", "Your file is with compliance and cannot be changed now."
            )
        answers = profile_answers(profile)
        answers[step] = _jsonable(data)
        profile.sealed = pii_seal(
            tenant=tenant, membership=membership, purpose="profile", value=answers
        )
        if step not in profile.steps_done:
            profile.steps_done = [*profile.steps_done, step]
        update = ["sealed", "steps_done", "updated_at"]
        if step == "personal":
            profile.is_pep = data.get("pep", "no") != "no"
            update.append("is_pep")
        document_id = None
        if upload is not None:
            document_id = ProfileDocument.objects.create(
                tenant=tenant,
                profile=profile,
                kind=upload_kind,
                content_type=upload.content_type,
                size=len(upload.data),
                sha256=hashlib.sha256(upload.data).hexdigest(),
                sealed=pii_seal(
                    tenant=tenant,
                    membership=membership,
                    purpose=f"document:{upload_kind}",
                    value=upload.data,
                ),
            ).pk
        if step == "suitability":
            outcome = suitability_assess(data)
            SuitabilityAssessment.objects.create(
                tenant=tenant,
                profile=profile,
                questionnaire_version=QUESTIONNAIRE_VERSION,
                answers=data,
                score=outcome.score,
                investor_class=outcome.investor_class,
                allowed_risk_levels=list(outcome.allowed_risk_levels),
                leverage_cap=outcome.leverage_cap,
                professional=outcome.professional,
            )
        profile.save(update_fields=update)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.onboarding_step_saved",
            object_type="kyc_profile",
            object_id=profile.pk,
            payload={"step": step, "document": document_id},
            request=request,
        )
    return profile


def document_open(*, document: ProfileDocument) -> bytes:
    from kyc.pii import pii_unseal_bytes

    return pii_unseal_bytes(
        tenant=document.tenant,
        membership=document.profile.membership,
        purpose=f"document:{document.kind}",
        sealed=document.sealed,
    )


def _has_document(profile: ClientProfile, kind: str) -> bool:
    return (
        tenant_scoped(ProfileDocument, tenant=profile.tenant)
        .filter(profile=profile, kind=kind)
        .exists()
    )


def onboarding_submit(
    *, tenant: Tenant, membership: Membership, actor: Any, request: HttpRequest | None = None
) -> KycCase:
    """Hand the file to compliance: a snapshot, an onboarding case (or the open case back to
    work after more information), screening and a first risk rating."""
    with transaction.atomic():
        profile = profile_get_or_create(tenant=tenant, membership=membership)
        profile = ClientProfile.objects.select_for_update().get(pk=profile.pk)
        if profile.status not in EDITABLE:
            raise ApplicationError(409, "profile_locked", "Your file is already submitted.")
        missing = [step for step in SUBMIT_STEPS if step not in profile.steps_done]
        for kind in ("identity", "address"):
            if kind not in missing and not _has_document(profile, kind):
                missing.append(kind)
        if missing:
            raise _invalid({step: ["This step is not complete."] for step in missing})
        answers = profile_answers(profile)
        previous = (
            tenant_scoped(ProfileSnapshot, tenant=tenant).filter(profile=profile).order_by("-pk")
        ).first()
        changed = True
        if previous is not None:
            before = pii_unseal(
                tenant=tenant, membership=membership, purpose="snapshot", sealed=previous.sealed
            ).get("personal", {})
            now = answers.get("personal", {})
            changed = any(before.get(f) != now.get(f) for f in SCREENED_FIELDS)
        digest = hashlib.sha256(
            json.dumps(answers, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        ProfileSnapshot.objects.create(
            tenant=tenant,
            profile=profile,
            sealed=pii_seal(
                tenant=tenant, membership=membership, purpose="snapshot", value=answers
            ),
            digest=digest,
        )
        resubmission = profile.status == ClientProfile.Status.MORE_INFO
        profile.status = ClientProfile.Status.SUBMITTED
        profile.submitted_at = timezone.now()
        profile.save(update_fields=["status", "submitted_at", "updated_at"])
        case = (
            tenant_scoped(KycCase, tenant=tenant)
            .select_for_update()
            .filter(profile=profile, status__in=KycCase.OPEN_STATUSES)
            .order_by("pk")
            .first()
        )
        if case is None:
            case = case_open(tenant=tenant, profile=profile, kind=KycCase.Kind.ONBOARDING)
        else:
            tenant_scoped(InfoRequest, tenant=tenant).filter(
                case=case, answered_at__isnull=True
            ).update(answered_at=timezone.now())
            if case.status == KycCase.Status.INFO_REQUESTED:
                case.status = KycCase.Status.OPEN
                case.save(update_fields=["status"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.onboarding_resubmitted" if resubmission else "kyc.onboarding_submitted",
            object_type="kyc_profile",
            object_id=profile.pk,
            payload={"case": case.pk, "snapshot_digest": digest},
            request=request,
        )
        if changed:  # screened after commit; approval stays blocked until it has run
            from kyc.tasks import profile_screen_task

            profile_screen_task.delay_on_commit(
                tenant.pk,
                profile.pk,
                "profile_changed" if previous is not None else "onboarding",
                getattr(actor, "pk", None),
            )
        risk_rating_compute(tenant=tenant, profile=profile, actor=actor)
    return case


# --- risk rating ---------------------------------------------------------------------------


def rating_config_for(*, tenant: Tenant) -> rating_engine.RatingConfig:
    row = tenant_scoped(RiskRatingConfig, tenant=tenant).first()
    if row is None:
        return rating_engine.RatingConfig()
    weights = {
        **rating_engine.DEFAULT_WEIGHTS,
        **{k: int(v) for k, v in (row.weights or {}).items() if k in rating_engine.FACTORS},
    }
    extra: dict[str, Any] = {}
    if "high_risk_countries" in (row.weights or {}):
        extra["high_risk_countries"] = frozenset(row.weights["high_risk_countries"])
    if "monitored_countries" in (row.weights or {}):
        extra["monitored_countries"] = frozenset(row.weights["monitored_countries"])
    return rating_engine.RatingConfig(
        weights=weights,
        medium_from=row.medium_from,
        high_from=row.high_from,
        review_years={
            "low": row.review_years_low,
            "medium": row.review_years_medium,
            "high": row.review_years_high,
        },
        **extra,
    )


def rating_config_set(
    *,
    tenant: Tenant,
    actor: Any,
    weights: dict[str, Any] | None = None,
    medium_from: int | None = None,
    high_from: int | None = None,
    review_years: dict[str, int] | None = None,
) -> RiskRatingConfig:
    """Set the tenant's weights, thresholds and review intervals (years), checked and audited."""
    problems: dict[str, list[str]] = {}
    weights = dict(weights or {})
    for key, value in weights.items():
        if key in ("high_risk_countries", "monitored_countries"):
            continue
        if key not in rating_engine.FACTORS:
            problems.setdefault("weights", []).append(f"Unknown factor {key!r}.")
        elif not isinstance(value, int) or not 0 <= value <= 100:
            problems.setdefault("weights", []).append(f"{key}: a whole number from 0 to 100.")
    years = review_years or {}
    for level, value in years.items():
        if level not in rating_engine.LEVELS or not isinstance(value, int) or not 0 < value <= 10:
            problems.setdefault("review_years", []).append(f"{level}: 1 to 10 years.")
    with transaction.atomic():
        row, _made = RiskRatingConfig.objects.select_for_update().get_or_create(tenant=tenant)
        medium = row.medium_from if medium_from is None else medium_from
        high = row.high_from if high_from is None else high_from
        if not 0 < medium < high <= 100:
            problems.setdefault("thresholds", []).append("0 < medium < high ≤ 100.")
        if problems:
            raise _invalid(problems)
        row.weights = {**row.weights, **weights}
        row.medium_from, row.high_from = medium, high
        for level, value in years.items():
            setattr(row, f"review_years_{level}", value)
        row.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.rating_config_set",
            object_type="kyc_rating_config",
            object_id=row.pk,
            payload={
                "weights": row.weights,
                "medium_from": medium,
                "high_from": high,
                "review_years": years,
            },
        )
    return row


def _latest_assessment(profile: ClientProfile) -> SuitabilityAssessment | None:
    return (
        tenant_scoped(SuitabilityAssessment, tenant=profile.tenant)
        .filter(profile=profile)
        .order_by("-pk")
        .first()
    )


def client_facts(profile: ClientProfile) -> rating_engine.ClientFacts:
    from decimal import Decimal

    answers = profile_answers(profile)
    personal = answers.get("personal", {})
    funds = answers.get("funds", {})
    bank = answers.get("bank", {})
    assessment = _latest_assessment(profile)
    countries = tuple(
        c
        for c in (
            personal.get("nationality"),
            personal.get("residence_country"),
            answers.get("identity", {}).get("issuing_country"),
            bank.get("country"),
        )
        if c
    )
    return rating_engine.ClientFacts(
        occupation=personal.get("occupation", ""),
        source_of_wealth=funds.get("source_of_wealth", ""),
        countries=countries,
        pep=personal.get("pep", "no"),
        leverage_cap=assessment.leverage_cap if assessment else Decimal(0),
        professional=bool(assessment and assessment.professional),
        screening=screening_link.summary(tenant=profile.tenant, profile=profile),
    )


def risk_rating_compute(
    *, tenant: Tenant, profile: ClientProfile, actor: Any = None, today: date | None = None
) -> RiskRating:
    """Rate the client now (an append-only record) and set their next review date."""
    config = rating_config_for(tenant=tenant)
    outcome = rating_engine.rating_compute(client_facts(profile), config)
    today = today or timezone.localdate()
    with transaction.atomic():
        previous = (
            tenant_scoped(RiskRating, tenant=tenant)
            .filter(profile=profile)
            .order_by("-pk")
            .values_list("level", flat=True)
            .first()
        )
        row = RiskRating.objects.create(
            tenant=tenant,
            profile=profile,
            level=outcome.level,
            score=outcome.score,
            factors=outcome.factors,
            reasons=outcome.reasons,
            next_review_on=rating_engine.next_review(outcome.level, config, today=today),
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            actor_label="" if actor else "system:kyc_rating",
            action="kyc.risk_rated",
            object_type="kyc_profile",
            object_id=profile.pk,
            payload={"rating": row.pk, "level": row.level, "score": row.score},
        )
        _stricter_rating_apply(profile, row)
        if previous != row.level:
            risk_rating_changed.send(
                {
                    "tenant": tenant.pk,
                    "membership": profile.membership_id,
                    "previous": previous,
                    "rating": row.level,
                    "at": row.created_at.isoformat(),
                }
            )
    return row


_RATING_ORDER = {level: rank for rank, level in enumerate(RiskRating.Level.values)}


def _stricter_rating_apply(profile: ClientProfile, rating: RiskRating) -> None:
    """An approved client's rating that got stricter applies at once (what the selectors, the
    credit lines and monitoring read), with the earlier review date; a milder one waits for a
    review case's approval, so no re-rating relaxes controls without a person (FATF RBA: the
    measures follow the higher risk as soon as it is known)."""
    current = ClientProfile.objects.select_for_update().get(pk=profile.pk)
    if current.status != ClientProfile.Status.APPROVED:
        return
    if _RATING_ORDER.get(rating.level, 0) <= _RATING_ORDER.get(current.risk_rating, -1):
        return
    current.risk_rating = rating.level
    if current.next_review_on is None or rating.next_review_on < current.next_review_on:
        current.next_review_on = rating.next_review_on
    current.save(update_fields=["risk_rating", "next_review_on", "updated_at"])
    profile.risk_rating, profile.next_review_on = current.risk_rating, current.next_review_on


def reviews_open_due(*, tenant: Tenant, today: date | None = None) -> int:
    """Open a periodic-review case for each approved client whose review date has come and
    who has no open case (idempotent: running twice opens nothing more)."""
    today = today or timezone.localdate()
    opened = 0
    with transaction.atomic():
        due = (
            tenant_scoped(ClientProfile, tenant=tenant)
            .select_for_update(skip_locked=True)
            .filter(status=ClientProfile.Status.APPROVED, next_review_on__lte=today)
            .order_by("pk")
        )
        for profile in due:
            busy = tenant_scoped(KycCase, tenant=tenant).filter(
                profile=profile, status__in=KycCase.OPEN_STATUSES
            )
            if busy.exists():
                continue
            case = case_open(tenant=tenant, profile=profile, kind=KycCase.Kind.REVIEW)
            audit_record(
                tenant=tenant,
                actor=None,
                actor_label="system:kyc_reviews",
                action="kyc.review_due",
                object_type="kyc_case",
                object_id=case.pk,
                payload={"profile": profile.pk, "due": str(profile.next_review_on)},
            )
            opened += 1
    return opened


# --- cases ---------------------------------------------------------------------------------


def case_open(*, tenant: Tenant, profile: ClientProfile, kind: str) -> KycCase:
    with transaction.atomic():
        case = KycCase.objects.create(tenant=tenant, profile=profile, kind=kind)
        codes = list(CHECKLISTS[kind])
        if profile.is_pep and kind != KycCase.Kind.ALERT:
            codes.append("pep_source_of_wealth")
        CaseCheck.objects.bulk_create(
            CaseCheck(tenant=tenant, case=case, code=code) for code in codes
        )
        audit_record(
            tenant=tenant,
            actor=None,
            actor_label="system:kyc",
            action="kyc.case_opened",
            object_type="kyc_case",
            object_id=case.pk,
            payload={"kind": kind, "profile": profile.pk, "checks": codes},
        )
    return case


def access_case_by_id(*, tenant: Tenant, case_id: Any, lock: bool = False) -> KycCase:
    case = access_object_by_id(KycCase, tenant=tenant, object_id=case_id)
    if lock:
        case = KycCase.objects.select_for_update().get(pk=case.pk)
    return case


def _manager(membership: Membership) -> None:
    if membership.role not in CASE_MANAGERS:
        raise ApplicationError(403, "permission_denied", "Your role may not work KYC cases.")


def _assignee(actor: Any, case: KycCase) -> None:
    if not actor.has_perm(CASE_WORK_PERM, case):
        raise ApplicationError(
            403, "case_not_assigned", "This case is not assigned to you; take it first."
        )


def _open(case: KycCase, *statuses: str) -> None:
    allowed = statuses or (KycCase.Status.OPEN,)
    if case.status not in allowed:
        raise ApplicationError(409, "case_state", f"This case is {case.status}.")


def case_assign(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    case_id: Any,
    assignee: Membership,
    request: HttpRequest | None = None,
) -> KycCase:
    """Give the case to one officer (a django-guardian object permission), taking it from the
    previous one."""
    _manager(membership)
    if assignee.tenant_id != tenant.pk or assignee.role not in CASE_MANAGERS:
        raise _invalid({"assignee": ["Cases are assigned to compliance officers or admins."]})
    with transaction.atomic():
        case = access_case_by_id(tenant=tenant, case_id=case_id, lock=True)
        _open(case, *KycCase.OPEN_STATUSES)
        if case.assignee_id is not None:
            remove_perm(CASE_WORK_PERM, case.assignee, case)
        assign_perm(CASE_WORK_PERM, assignee.user, case)
        previous = case.assignee_id
        case.assignee = assignee.user
        case.save(update_fields=["assignee"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.case_assigned",
            object_type="kyc_case",
            object_id=case.pk,
            payload={"assignee_membership": assignee.pk, "previous_user": previous},
            request=request,
        )
    return case


def case_check_set(
    *,
    tenant: Tenant,
    actor: Any,
    case_id: Any,
    code: str,
    status: str,
    note: str = "",
    request: HttpRequest | None = None,
) -> CaseCheck:
    if status not in (CaseCheck.Status.DONE, CaseCheck.Status.FAILED):
        raise _invalid({"check_status": ["Choose done or failed."]})
    with transaction.atomic():
        case = access_case_by_id(tenant=tenant, case_id=case_id, lock=True)
        _assignee(actor, case)
        _open(case, KycCase.Status.OPEN)
        check = tenant_scoped(CaseCheck, tenant=tenant).filter(case=case, code=code).first()
        if check is None:
            raise _invalid({"check": [f"No check {code!r} on this case."]})
        check.status, check.note = status, note
        check.done_by, check.done_at = actor, timezone.now()
        check.save(update_fields=["status", "note", "done_by", "done_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.case_check_set",
            object_type="kyc_case",
            object_id=case.pk,
            reason=note,
            payload={"check": code, "status": status},
            request=request,
        )
    return check


def case_info_request(
    *, tenant: Tenant, actor: Any, case_id: Any, message: str, request: HttpRequest | None = None
) -> InfoRequest:
    """Ask the client for more: their file opens for changes until they resubmit."""
    message = (message or "").strip()
    if not message:
        raise _invalid({"reason": ["Say what the client should provide."]})
    with transaction.atomic():
        case = access_case_by_id(tenant=tenant, case_id=case_id, lock=True)
        _assignee(actor, case)
        _open(case, KycCase.Status.OPEN)
        asked = InfoRequest.objects.create(
            tenant=tenant, case=case, message=message, requested_by=actor
        )
        case.status = KycCase.Status.INFO_REQUESTED
        case.save(update_fields=["status"])
        profile = ClientProfile.objects.select_for_update().get(pk=case.profile_id)
        if profile.status == ClientProfile.Status.SUBMITTED:
            profile.status = ClientProfile.Status.MORE_INFO
            profile.save(update_fields=["status", "updated_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.case_info_requested",
            object_type="kyc_case",
            object_id=case.pk,
            reason=message,
            payload={"info_request": asked.pk},
            request=request,
        )
    return asked


def _alerts_close(case: KycCase) -> None:
    """A decided alert case closes its alerts (the decision is on the case and audited)."""
    from kyc.models import MonitoringAlert

    tenant_scoped(MonitoringAlert, tenant=case.tenant).filter(case=case).update(
        status=MonitoringAlert.Status.CLOSED
    )


def case_blocking_reasons(case: KycCase) -> list[str]:
    """Why the case cannot be approved now: pending or failed checks, unanswered requests,
    unresolved screening hits (or screening not run)."""
    reasons = []
    checks = tenant_scoped(CaseCheck, tenant=case.tenant).filter(case=case).order_by("pk")
    for check in checks:
        if check.status == CaseCheck.Status.PENDING:
            reasons.append(f"Check {check.code} is pending.")
        elif check.status == CaseCheck.Status.FAILED:
            reasons.append(f"Check {check.code} failed.")
    if (
        tenant_scoped(InfoRequest, tenant=case.tenant)
        .filter(case=case, answered_at__isnull=True)
        .exists()
    ):
        reasons.append("The client has not answered a request for information.")
    if case.kind != KycCase.Kind.ALERT:
        reasons += screening_link.blocking_reasons(tenant=case.tenant, profile=case.profile)
    return reasons


def _needs_senior(case: KycCase, rating: RiskRating) -> bool:
    return rating.level == RiskRating.Level.HIGH or case.profile.is_pep


def _finalise_approval(*, case: KycCase, actor: Any, reason: str, rating: RiskRating) -> None:
    profile = ClientProfile.objects.select_for_update().get(pk=case.profile_id)
    assessment = _latest_assessment(profile)
    case.status = KycCase.Status.APPROVED
    case.decided_by, case.decided_at, case.decision_reason = actor, timezone.now(), reason
    case.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    profile.status = ClientProfile.Status.APPROVED
    profile.decided_at = timezone.now()
    profile.risk_rating = rating.level
    profile.next_review_on = rating.next_review_on
    if assessment is not None:
        profile.investor_class = assessment.investor_class
        profile.professional = assessment.professional
    profile.save(
        update_fields=[
            "status",
            "decided_at",
            "risk_rating",
            "next_review_on",
            "investor_class",
            "professional",
            "updated_at",
        ]
    )


def case_approve(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    case_id: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> KycCase:
    """Approve: refused while anything blocks it. A high-risk or PEP client needs a second,
    senior approver (four eyes): the case then waits for the approval request."""
    _manager(membership)
    reason = _reason(reason)
    with transaction.atomic():
        case = access_case_by_id(tenant=tenant, case_id=case_id, lock=True)
        _assignee(actor, case)
        _open(case, KycCase.Status.OPEN)
        blocking = case_blocking_reasons(case)
        if blocking:
            raise ApplicationError(
                409, "case_blocked", "This case cannot be approved yet.", {"case": blocking}
            )
        rating = risk_rating_compute(tenant=tenant, profile=case.profile, actor=actor)
        if case.kind != KycCase.Kind.ALERT and _needs_senior(case, rating):
            approval = approval_request_create(
                tenant=tenant,
                actor=actor,
                membership=membership,
                action=APPROVE_ACTION,
                params={"case_id": case.pk},
                reason=reason,
                request=request,
            )
            case.status = KycCase.Status.PENDING_APPROVAL
            case.approval_id = approval.pk
            case.save(update_fields=["status", "approval_id"])
            audit_record(
                tenant=tenant,
                actor=actor,
                action="kyc.case_approval_requested",
                object_type="kyc_case",
                object_id=case.pk,
                reason=reason,
                payload={
                    "approval": approval.pk,
                    "rating": rating.level,
                    "pep": case.profile.is_pep,
                },
                request=request,
            )
            return case
        if case.kind == KycCase.Kind.ALERT:
            case.status = KycCase.Status.CLOSED
            case.decided_by, case.decided_at, case.decision_reason = actor, timezone.now(), reason
            case.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
            _alerts_close(case)
        else:
            _finalise_approval(case=case, actor=actor, reason=reason, rating=rating)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.case_approved",
            object_type="kyc_case",
            object_id=case.pk,
            reason=reason,
            payload={"rating": rating.level, "four_eyes": False},
            request=request,
        )
    return case


def case_approve_validate(*, tenant: Tenant, params: dict[str, Any]) -> dict[str, Any]:
    from django.core.exceptions import ValidationError

    try:
        case = access_case_by_id(tenant=tenant, case_id=params.get("case_id"))
    except Exception:
        raise ValidationError({"case_id": ["No such case."]}) from None
    return {"case_id": case.pk}


def case_approve_execute(
    *, tenant: Tenant, params: dict[str, Any], maker: Any, approver: Any
) -> dict[str, Any]:
    """The senior approver's yes (run by the approvals service, in its transaction)."""
    case = access_case_by_id(tenant=tenant, case_id=params["case_id"], lock=True)
    _open(case, KycCase.Status.PENDING_APPROVAL)
    blocking = case_blocking_reasons(case)
    if blocking:
        raise ApplicationError(
            409, "case_blocked", "This case cannot be approved now.", {"case": blocking}
        )
    rating = risk_rating_compute(tenant=tenant, profile=case.profile, actor=approver)
    _finalise_approval(case=case, actor=approver, reason="approved under four eyes", rating=rating)
    audit_record(
        tenant=tenant,
        actor=approver,
        action="kyc.case_approved",
        object_type="kyc_case",
        object_id=case.pk,
        payload={"rating": rating.level, "four_eyes": True, "maker": maker.pk},
    )
    return {"case_id": case.pk, "status": case.status, "rating": rating.level}


def case_reject(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    case_id: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> KycCase:
    _manager(membership)
    reason = _reason(reason)
    with transaction.atomic():
        case = access_case_by_id(tenant=tenant, case_id=case_id, lock=True)
        _assignee(actor, case)
        _open(case, *KycCase.OPEN_STATUSES)
        case.status = (
            KycCase.Status.CLOSED if case.kind == KycCase.Kind.ALERT else KycCase.Status.REJECTED
        )
        case.decided_by, case.decided_at, case.decision_reason = actor, timezone.now(), reason
        case.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        if case.kind == KycCase.Kind.ALERT:
            _alerts_close(case)
        if case.kind == KycCase.Kind.ONBOARDING:
            profile = ClientProfile.objects.select_for_update().get(pk=case.profile_id)
            profile.status = ClientProfile.Status.REJECTED
            profile.decided_at = timezone.now()
            profile.save(update_fields=["status", "decided_at", "updated_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.case_rejected",
            object_type="kyc_case",
            object_id=case.pk,
            reason=reason,
            request=request,
        )
    return case


def screening_changed_listener(payload: dict[str, Any]) -> None:
    """The screening app's ``screening_changed`` listener: re-rate the client, and for an
    approved client with a new hit, open a review case (unless one is open already)."""
    from platform_core.tenancy.rls import rls_context

    ref = str(payload.get("subject_ref", ""))
    if not ref.isdigit():
        return
    tenant = Tenant.objects.get(pk=payload["tenant_id"])
    with rls_context(tenant=tenant), transaction.atomic():
        profile = tenant_scoped(ClientProfile, tenant=tenant).filter(pk=int(ref)).first()
        if profile is None:
            return
        risk_rating_compute(tenant=tenant, profile=profile)
        busy = tenant_scoped(KycCase, tenant=tenant).filter(
            profile=profile, status__in=KycCase.OPEN_STATUSES
        )
        if (
            payload.get("new_hit_ids")
            and profile.status == ClientProfile.Status.APPROVED
            and not busy.exists()
        ):
            case = case_open(tenant=tenant, profile=profile, kind=KycCase.Kind.REVIEW)
            audit_record(
                tenant=tenant,
                actor=None,
                actor_label="system:kyc_screening",
                action="kyc.review_opened_by_screening",
                object_type="kyc_case",
                object_id=case.pk,
                payload={"run": payload.get("run_id"), "hits": payload.get("new_hit_ids")},
            )
