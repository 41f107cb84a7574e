"""KYC pages. Portal: the onboarding wizard (save and resume). Console: the case queue and a
case's page with its actions. Parse, authorise, call, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters

from kyc import screening_link, services
from kyc.crypto import KeyUnavailable, SealBroken
from kyc.forms import (
    STEP_FORMS,
    STEP_TITLES,
    STEPS,
    UPLOAD_KINDS,
    CaseActionForm,
    HitDecisionForm,
)
from kyc.models import ClientProfile, KycCase, ProfileDocument
from kyc.rating import reason_text
from kyc.screening import selectors as screening_selectors
from kyc.screening import services as screening_services
from kyc.selectors import (
    case_checks,
    case_for_profile,
    case_queue,
    hit_clear_pending,
    hit_explanation,
    kyc_overview,
    latest_rating,
    open_info_requests,
    profile_for,
    profiles_by_ref,
)
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped
from platform_core.views import role_required

CASE_READERS = frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN})
# Deciding a hit is the compliance officer's (the screening app's four-eyes maker role too).
HIT_DECIDERS = frozenset({Role.COMPLIANCE_OFFICER})


def _client(request: HttpRequest) -> Membership:
    membership = getattr(request, "membership", None)
    if membership is None or membership.role != Role.CLIENT:
        raise PermissionDenied("Onboarding is a client's own file.")
    return membership


def _answers(profile: ClientProfile | None) -> dict[str, Any]:
    if profile is None or not profile.sealed:
        return {}
    try:
        return services.profile_answers(profile)
    except (KeyUnavailable, SealBroken):
        return {}


def _has_file(profile: ClientProfile | None, step: str) -> bool:
    kind = UPLOAD_KINDS.get(step)
    if profile is None or kind is None:
        return False
    return (
        tenant_scoped(ProfileDocument, tenant=profile.tenant)
        .filter(profile=profile, kind=kind)
        .exists()
    )


def _form(step: str, profile: ClientProfile | None, data: Any = None, files: Any = None) -> Any:
    form_class = STEP_FORMS[step]
    answers = _answers(profile)
    kwargs: dict[str, Any] = {}
    if step in UPLOAD_KINDS:
        kwargs["has_file"] = _has_file(profile, step)
    if step == "bank":
        personal = answers.get("personal", {})
        kwargs["names"] = [personal.get("legal_name"), personal.get("native_name")]
    initial = dict(answers.get(step, {}))
    if step == "identity":
        form = form_class(data, files, initial=initial, **kwargs)
        form.birth_date = answers.get("personal", {}).get("birth_date", "")
        return form
    if step == "personal" and isinstance(initial.get("former_names"), list):
        initial["former_names"] = "\n".join(initial["former_names"])
    return form_class(data, files, initial=initial, **kwargs)


@login_required
def onboarding_home(request: HttpRequest) -> HttpResponse:
    membership = _client(request)
    profile = profile_for(tenant=request.tenant, membership=membership)  # type: ignore[attr-defined]
    done = set(profile.steps_done) if profile else set()
    next_step = next((s for s in STEPS if s not in done and s != "review"), "review")
    return render(
        request,
        "kyc/onboarding_home.html",
        {
            "profile": profile,
            "steps": [(s, STEP_TITLES[s], s in done) for s in STEPS],
            "next_step": next_step,
            "editable": profile is None or profile.status in services.EDITABLE,
            "info_requests": open_info_requests(profile=profile) if profile else [],
        },
    )


@sensitive_post_parameters()  # personal data never reaches an error report
@login_required
def onboarding_step(request: HttpRequest, step: str) -> HttpResponse:
    membership = _client(request)
    tenant = request.tenant  # type: ignore[attr-defined]
    profile = profile_for(tenant=tenant, membership=membership)
    if profile is not None and profile.status not in services.EDITABLE:
        messages.info(request, _("Your file is with compliance; it cannot be changed now."))
        return HttpResponseRedirect(reverse("portal-onboarding"))
    post = request.method == "POST"
    form = _form(step, profile, request.POST if post else None, request.FILES if post else None)
    status = 200
    if post:
        if form.is_valid():
            try:
                if step == "review":
                    services.onboarding_submit(
                        tenant=tenant, membership=membership, actor=request.user, request=request
                    )
                    messages.success(
                        request, _("Thank you: your file is with our compliance team.")
                    )
                    return HttpResponseRedirect(reverse("portal-onboarding"))
                services.onboarding_step_save(
                    tenant=tenant,
                    membership=membership,
                    actor=request.user,
                    step=step,
                    data=form.cleaned_data,
                    upload=getattr(form, "upload", None),
                    upload_kind=UPLOAD_KINDS.get(step, ""),
                    request=request,
                )
            except ApplicationError as refusal:
                for field, problems in refusal.fields.items():
                    for problem in problems:
                        form.add_error(None, f"{STEP_TITLES.get(field, field)}: {problem}")
                if not refusal.fields:
                    form.add_error(None, refusal.message)
                status = refusal.status_code if refusal.status_code < 500 else 400
            else:
                messages.success(request, _("Saved. You can come back to it at any time."))
                following = STEPS[STEPS.index(step) + 1]
                return HttpResponseRedirect(reverse(f"portal-onboarding-{following}"))
        else:
            status = 400
    return render(
        request,
        "kyc/onboarding_step.html",
        {
            "form": form,
            "step": step,
            "title": STEP_TITLES[step],
            "position": STEPS.index(step) + 1,
            "count": len(STEPS),
            "previous": STEPS[STEPS.index(step) - 1] if step != STEPS[0] else None,
            "has_file": _has_file(profile, step),
        },
        status=status,
    )


# --- console -------------------------------------------------------------------------------


@role_required(CASE_READERS)
def console_home(request: HttpRequest) -> HttpResponse:
    """What needs compliance's action, with links to each queue."""
    tenant = request.tenant  # type: ignore[attr-defined]
    overview = kyc_overview(tenant=tenant, today=timezone.localdate())
    return render(
        request,
        "kyc/console_home.html",
        {
            "overview": overview,
            "case_rows": [
                (value, label, overview["cases"][value]) for value, label in KycCase.Status.choices
            ],
        },
    )


@role_required(CASE_READERS)
def console_cases(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    status = request.GET.get("status") or None
    if status not in (None, *KycCase.Status.values):
        status = None
    mine = request.GET.get("mine") == "1"
    cases = case_queue(tenant=tenant, status=status, assignee=request.user if mine else None)
    return render(
        request,
        "kyc/console_cases.html",
        {"cases": cases[:200], "status": status, "mine": mine, "statuses": KycCase.Status.choices},
    )


def _client_name(profile: ClientProfile) -> str:
    answers = _answers(profile)
    if not answers:
        return _("(personal data unavailable)")
    personal = answers.get("personal", {})
    names = [personal.get("legal_name"), personal.get("native_name")]
    return " / ".join(n for n in names if n) or _("(no name given)")


@role_required(CASE_READERS)
def console_case(request: HttpRequest, case_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    case = services.access_case_by_id(tenant=tenant, case_id=case_id)
    form = CaseActionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        else:
            try:
                _case_act(request, case, form.cleaned_data)
            except ApplicationError as refusal:
                problems = [p for ps in refusal.fields.values() for p in ps]
                form.add_error(None, " ".join([refusal.message, *problems]))
                status = refusal.status_code if refusal.status_code < 500 else 400
            else:
                return HttpResponseRedirect(reverse("console-kyc-case", args=[case.pk]))
    rating = latest_rating(profile=case.profile)
    staff = (
        tenant_scoped(Membership, tenant=tenant)
        .filter(role__in=services.CASE_MANAGERS, status=Membership.Status.ACTIVE)
        .select_related("user")
    )
    return render(
        request,
        "kyc/console_case.html",
        {
            "case": case,
            "client_name": _client_name(case.profile),
            "checks": case_checks(case=case),
            "info_requests": case.info_requests.filter(tenant=tenant).order_by("pk"),
            "blocking": services.case_blocking_reasons(case),
            "screening": screening_link.summary(tenant=tenant, profile=case.profile),
            "rating": rating,
            "reasons": [reason_text(r) for r in rating.reasons] if rating else [],
            "alerts": case.alerts.filter(tenant=tenant).order_by("pk"),
            "hits": screening_selectors.subject_hits(tenant=tenant, ref=str(case.profile_id))
            .select_related("entity")
            .order_by("status", "-score"),
            "documents": tenant_scoped(ProfileDocument, tenant=tenant)
            .filter(profile=case.profile)
            .order_by("kind", "-pk"),
            "staff": staff,
            "may_work": request.user.has_perm(services.CASE_WORK_PERM, case),
            "form": form,
            "membership": membership,
        },
        status=status,
    )


def _case_act(request: HttpRequest, case: KycCase, data: dict[str, Any]) -> None:
    tenant = request.tenant  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    actor = request.user
    action = data["action"]
    if action in ("take", "assign"):
        assignee = membership
        if action == "assign":
            try:
                assignee = access_object_by_id(
                    Membership, tenant=tenant, object_id=data.get("assignee")
                )
            except Exception:
                raise ApplicationError(
                    400, "invalid", _("Choose a colleague."), {"assignee": [_("Unknown.")]}
                ) from None
        services.case_assign(
            tenant=tenant,
            actor=actor,
            membership=membership,
            case_id=case.pk,
            assignee=assignee,
            request=request,
        )
    elif action == "check":
        services.case_check_set(
            tenant=tenant,
            actor=actor,
            case_id=case.pk,
            code=data.get("check") or "",
            status=data.get("check_status") or "",
            note=data.get("reason") or "",
            request=request,
        )
    elif action == "request_info":
        services.case_info_request(
            tenant=tenant,
            actor=actor,
            case_id=case.pk,
            message=data.get("reason") or "",
            request=request,
        )
    elif action == "approve":
        services.case_approve(
            tenant=tenant,
            actor=actor,
            membership=membership,
            case_id=case.pk,
            reason=data.get("reason") or "",
            request=request,
        )
    elif action == "reject":
        services.case_reject(
            tenant=tenant,
            actor=actor,
            membership=membership,
            case_id=case.pk,
            reason=data.get("reason") or "",
            request=request,
        )
    elif action == "report":
        from kyc.monitoring.services import str_create

        str_create(
            tenant=tenant,
            actor=actor,
            case_id=case.pk,
            narrative=data.get("reason") or "",
            request=request,
        )


@role_required(CASE_READERS)
def console_rating_settings(request: HttpRequest) -> HttpResponse:
    """The tenant's risk-rating configuration: compliance reads it, tenant admins change it."""
    from kyc.forms import RatingConfigForm

    tenant = request.tenant  # type: ignore[attr-defined]
    config = services.rating_config_for(tenant=tenant)
    initial = {
        **config.weights,
        "medium_from": config.medium_from,
        "high_from": config.high_from,
        **{f"review_years_{k}": v for k, v in config.review_years.items()},
    }
    form = RatingConfigForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if request.membership.role != Role.TENANT_ADMIN:  # type: ignore[attr-defined]
            raise PermissionDenied("Only a tenant admin changes the rating configuration.")
        if form.is_valid():
            data = form.cleaned_data
            services.rating_config_set(
                tenant=tenant,
                actor=request.user,
                weights={
                    f: data[f]
                    for f in ("customer", "geography", "product", "channel", "pep", "screening")
                },
                medium_from=data["medium_from"],
                high_from=data["high_from"],
                review_years={
                    lvl: data[f"review_years_{lvl}"] for lvl in ("low", "medium", "high")
                },
            )
            messages.success(request, _("Saved."))
            return HttpResponseRedirect(reverse("console-kyc-settings"))
        status = 400
    return render(
        request,
        "kyc/console_settings.html",
        {"form": form, "membership": request.membership},  # type: ignore[attr-defined]
        status=status,
    )


@role_required(CASE_READERS)
def console_document(request: HttpRequest, document_id: int) -> HttpResponse:
    """A client's uploaded document, decrypted for compliance; every viewing is audited."""
    from django.db import transaction

    from platform_core.audit.services import audit_record

    tenant = request.tenant  # type: ignore[attr-defined]
    document = access_object_by_id(ProfileDocument, tenant=tenant, object_id=document_id)
    try:
        body = services.document_open(document=document)
    except (KeyUnavailable, SealBroken):
        return HttpResponse(
            _("This document is no longer readable (the client's data was erased)."),
            status=410,
            content_type="text/plain; charset=utf-8",
        )
    with transaction.atomic():
        audit_record(
            tenant=tenant,
            actor=request.user,
            action="kyc.document_viewed",
            object_type="kyc_document",
            object_id=document.pk,
            payload={"profile": document.profile_id, "kind": document.kind},
            request=request,
        )
    response = HttpResponse(body, content_type=document.content_type)
    response["Content-Disposition"] = f'inline; filename="document-{document.pk}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


# --- screening hits ------------------------------------------------------------------------


@role_required(CASE_READERS)
def console_hits(request: HttpRequest) -> HttpResponse:
    """The tenant's unresolved screening hits, strongest first: ``hit`` blocks approval,
    ``review`` is the review band."""
    tenant = request.tenant  # type: ignore[attr-defined]
    band = request.GET.get("band") or None
    if band not in (None, "hit", "review"):
        band = None
    queue = screening_selectors.hit_queue(tenant=tenant, band=band)
    hits = list(queue.select_related("entity__source")[:200])
    profiles = profiles_by_ref(tenant=tenant, refs={h.subject_ref for h in hits})
    rows = [
        {
            "hit": hit,
            "client": _client_name(profiles[hit.subject_ref])
            if hit.subject_ref in profiles
            else hit.subject_ref,
        }
        for hit in hits
    ]
    return render(request, "kyc/console_hits.html", {"rows": rows, "band": band})


@role_required(CASE_READERS)
def console_hit(request: HttpRequest, hit_id: int) -> HttpResponse:
    """One hit: the listed entity, the score and the features that drove it, the client, and
    the officer's decision (true match, or false positive with an optional whitelisting)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    hit = screening_selectors.access_hit_by_id(tenant=tenant, hit_id=hit_id)
    form = HitDecisionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if membership.role not in HIT_DECIDERS:
            raise PermissionDenied("Only a compliance officer decides a screening hit.")
        if form.is_valid():
            try:
                _hit_decide(request, hit, form.cleaned_data)
            except ApplicationError as refusal:
                problems = [p for ps in refusal.fields.values() for p in ps]
                form.add_error(None, " ".join([refusal.message, *problems]))
                status = refusal.status_code if refusal.status_code < 500 else 400
            else:
                return HttpResponseRedirect(reverse("console-kyc-hit", args=[hit.pk]))
        else:
            status = 400
    profile = profiles_by_ref(tenant=tenant, refs=[hit.subject_ref]).get(hit.subject_ref)
    pending_clear = hit_clear_pending(tenant=tenant, hit=hit)
    return render(
        request,
        "kyc/console_hit.html",
        {
            "hit": hit,
            "entity": hit.entity,
            "explanation": hit_explanation(tenant=tenant, hit=hit),
            "profile": profile,
            "client_name": _client_name(profile) if profile else hit.subject_ref,
            "client": _subject_details(profile),
            "case": case_for_profile(profile=profile) if profile else None,
            "thresholds": screening_selectors.screening_thresholds(tenant=tenant),
            "pending_clear": pending_clear,
            "may_decide": membership.role in HIT_DECIDERS
            and hit.status == "open"
            and pending_clear is None,
            "form": form,
        },
        status=status,
    )


def _subject_details(profile: ClientProfile | None) -> dict[str, Any]:
    """The client's birth date and countries, as screening compared them."""
    fields = screening_link.subject_fields(profile) if profile else None
    if not fields:
        return {}
    return {"birth_date": fields["birth_date"], "countries": ", ".join(fields["countries"])}


def _hit_decide(request: HttpRequest, hit: Any, data: dict[str, Any]) -> None:
    tenant = request.tenant  # type: ignore[attr-defined]
    if data["action"] == "confirm":
        screening_services.screening_hit_confirm(
            tenant=tenant, actor=request.user, hit_id=hit.pk, reason=data["reason"], request=request
        )
        messages.success(request, _("Confirmed as a true match; the client stays blocked."))
        return
    outcome = screening_services.screening_hit_clear(
        tenant=tenant,
        actor=request.user,
        hit_id=hit.pk,
        reason=data["reason"],
        membership=request.membership,  # type: ignore[attr-defined]
        whitelist_days=data.get("whitelist_days"),
        request=request,
    )
    if outcome.approval is not None:
        messages.info(
            request,
            _("A strong hit is cleared with four eyes: a second officer must approve it."),
        )
    else:
        messages.success(request, _("Cleared as a false positive."))
