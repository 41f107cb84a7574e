"""Financing's pages. Portal: the client's credit line, rates, documents to sign, signed
documents, contracts. Console: credit lines, funding pools, the buffer and its stress test.
Parse, authorise, call, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from financing import selectors, services
from financing.disclosures import (
    LANGUAGES,
    REQUIRED_KINDS,
    access_document_by_id,
    access_signature_by_id,
    disclosure_sign,
    document_render,
    signing_missing,
)
from financing.forms import (
    BufferForm,
    CreditLineForm,
    DrawForm,
    PoolForm,
    RepayForm,
    SignForm,
    StressForm,
)
from financing.models import DisclosureDocument, Tenor
from financing.policy import policy_terms_active
from ledger.forms import refusal_show
from ledger.views import client_required
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from platform_core.views import role_required

FUNDING_READERS = frozenset({Role.RISK_OFFICER, Role.OPERATIONS, Role.TENANT_ADMIN})
CREDIT_STAFF = frozenset({Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER})


def _pdf(data: bytes, name: str, sha256: str) -> HttpResponse:
    """A PDF download, with its SHA-256 in a header so the client can check what they got."""
    response = HttpResponse(bytes(data), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-SHA256"] = sha256
    return response


def _language() -> str:
    language = (get_language() or "zh-hans").lower()
    return language if language in LANGUAGES else "zh-hans"


# --- portal ------------------------------------------------------------------------------------


@client_required
def portal_credit(request: HttpRequest) -> HttpResponse:
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    lines = list(selectors.credit_line_list(tenant=tenant, membership=membership))
    quotes = [
        (
            line,
            [(tenor, services.rate_quote(line=line, tenor=tenor)) for tenor in line.allowed_tenors],
            services.credit_available(tenant=tenant, membership=membership, currency=line.currency),
        )
        for line in lines
        if line.status != "closed"
    ]
    return render(
        request,
        "financing/portal_credit.html",
        {
            "quotes": quotes,
            "missing": signing_missing(tenant=tenant, membership=membership),
            "kinds": REQUIRED_KINDS,
            "policy": policy_terms_active(tenant=tenant),
            "contracts": selectors.contract_list(tenant=tenant, membership=membership)[:100],
            "signatures": selectors.signature_list(tenant=tenant, membership=membership)[:100],
            "draw_form": DrawForm(),
        },
    )


@client_required
def portal_document(request: HttpRequest, kind: str) -> HttpResponse:
    """The document to read and sign: the newest one prepared for this client under the
    active policy in their language, else a new one."""
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    if kind not in DisclosureDocument.Kind.values:
        return render(request, "error.html", {"message": _("No such document.")}, status=404)
    policy = policy_terms_active(tenant=tenant)
    if policy is None:
        messages.error(request, _("There is no margin policy to sign yet."))
        return HttpResponseRedirect(reverse("portal-credit"))
    document = (
        DisclosureDocument.objects.filter(
            tenant=tenant,
            membership=membership,
            kind=kind,
            policy_digest=policy.digest,
            language=_language(),
        )
        .defer("pdf")
        .order_by("-pk")
        .first()
    )
    if document is None:
        document = document_render(
            tenant=tenant, membership=membership, kind=kind, language=_language()
        )
    form = SignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            record = disclosure_sign(
                tenant=tenant,
                membership=membership,
                document_id=request.POST.get("document_id", ""),
                typed_name=form.cleaned_data["typed_name"],
                consent=form.cleaned_data["consent"],
                otp=form.cleaned_data["otp"],
                request=request,
            )
        except ApplicationError as refusal:
            refusal_show(form, refusal)
        else:
            messages.success(request, _("Signed. Your sealed copy is ready to download."))
            return HttpResponseRedirect(f"{reverse('portal-credit')}#signature-{record.pk}")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "financing/portal_document.html",
        {"document": document, "form": form, "policy": policy},
        status=status,
    )


@client_required
def portal_document_pdf(request: HttpRequest, document_id: int) -> HttpResponse:
    document = access_document_by_id(
        tenant=request.tenant,  # type: ignore[attr-defined]
        membership=request.membership,  # type: ignore[attr-defined]
        document_id=document_id,
    )
    return _pdf(document.pdf, f"{document.kind}-{document.sha256[:12]}.pdf", document.sha256)


@client_required
def portal_signature_pdf(request: HttpRequest, signature_id: int) -> HttpResponse:
    record = access_signature_by_id(
        tenant=request.tenant,  # type: ignore[attr-defined]
        membership=request.membership,  # type: ignore[attr-defined]
        signature_id=signature_id,
    )
    return _pdf(record.signed_pdf, f"{record.kind}-signed-{record.seq}.pdf", record.signed_sha256)


@require_POST
@client_required
def portal_credit_draw(request: HttpRequest) -> HttpResponse:
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    form = DrawForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            contract = services.contract_draw(
                tenant=tenant,
                membership=membership,
                actor=request.user,
                currency=data["currency"].upper(),
                amount=data["amount"],
                tenor=data["tenor"],
                term_days=data["term_days"],
                idempotency_key=data["request_key"],
                request=request,
            )
        except ApplicationError as refusal:
            form.refuse(refusal)
        else:
            messages.success(request, _("Contract #%(id)s is open.") % {"id": contract.pk})
            return HttpResponseRedirect(
                reverse("portal-contract", kwargs={"contract_id": contract.pk})
            )
    return render(request, "financing/portal_draw.html", {"form": form}, status=400)


@client_required
def portal_contract(request: HttpRequest, contract_id: int) -> HttpResponse:
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    contract = services.access_contract_by_id(
        tenant=tenant, membership=membership, contract_id=contract_id
    )
    form = RepayForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.contract_repay(
                    tenant=tenant,
                    membership=membership,
                    actor=request.user,
                    contract_id=contract.pk,
                    amount=form.cleaned_data["amount"],
                    idempotency_key=form.cleaned_data["request_key"],
                    request=request,
                )
            except ApplicationError as refusal:
                form.refuse(refusal)
            else:
                messages.success(request, _("Repaid."))
                return HttpResponseRedirect(request.path)
    return render(
        request,
        "financing/portal_contract.html",
        {
            "contract": contract,
            "accruals": contract.accruals.order_by("-business_date")[:60],
            "charges": contract.charges.order_by("-period_end"),
            "pledges": contract.pledges.select_related("instrument"),
            "form": form,
        },
        status=status,
    )


# --- console -----------------------------------------------------------------------------------


@role_required(FUNDING_READERS)
def console_funding(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    pool_form = PoolForm(request.POST if request.POST.get("action") == "pool" else None)
    buffer_form = BufferForm(request.POST if request.POST.get("action") == "buffer" else None)
    stress_form = StressForm(request.GET if "shock" in request.GET else None)
    status = 200
    may_write = request.membership.role in (Role.RISK_OFFICER, Role.TENANT_ADMIN)  # type: ignore[attr-defined]
    if request.method == "POST":
        status = 400
        form: Any = pool_form if request.POST.get("action") == "pool" else buffer_form
        if not may_write:
            form.add_error(None, _("Your role may not change funding."))
        elif form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                if form is pool_form:
                    services.funding_pool_create(
                        tenant=tenant,
                        actor=request.user,
                        name=data["name"],
                        kind=data["kind"],
                        currency=data["currency"].upper(),
                        limit=data["limit"],
                        cost_rate=data["cost_rate"],
                        request=request,
                    )
                else:
                    services.buffer_fund(
                        tenant=tenant,
                        actor=request.user,
                        currency=data["currency"].upper(),
                        amount=data["amount"],
                        idempotency_key=data["request_key"],
                        request=request,
                    )
            except ApplicationError as refusal:
                refusal_show(form, refusal)
            else:
                messages.success(request, _("Saved."))
                return HttpResponseRedirect(request.path)
    pools = selectors.pool_list(tenant=tenant)
    currencies = sorted({use.pool.currency for use in pools})
    stress = None
    if stress_form.is_bound:
        if stress_form.is_valid():
            data = stress_form.cleaned_data
            scenario = selectors.StressScenario(
                recall_share=data["recall_share"],
                concentrated_pools=data["concentrated_pools"],
                draw_share=data["draw_share"],
                shock=data["shock"],
                horizon_days=data["horizon_days"],
            )
            stress = selectors.buffer_stress(
                tenant=tenant, currency=data["currency"].upper(), scenario=scenario
            )
        else:
            status = 400
    return render(
        request,
        "financing/console_funding.html",
        {
            "pools": pools,
            "buffers": [selectors.buffer_status(tenant=tenant, currency=c) for c in currencies],
            "pool_form": pool_form,
            "buffer_form": buffer_form,
            "stress_form": stress_form,
            "stress": stress,
            "may_write": may_write,
        },
        status=status,
    )


@role_required(CREDIT_STAFF)
def console_credit_lines(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = CreditLineForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                line = services.credit_line_grant(
                    tenant=tenant,
                    actor=request.user,
                    actor_membership=request.membership,  # type: ignore[attr-defined]
                    client_membership_id=data["membership_id"],
                    currency=data["currency"].upper(),
                    limit=data["limit"],
                    leverage_cap=data["leverage_cap"],
                    allowed_products=data["allowed_products"],
                    allowed_tenors=data["allowed_tenors"],
                    reason=data["reason"],
                    request=request,
                )
            except ApplicationError as refusal:
                refusal_show(form, refusal, {"membership": "membership_id"})
            except Exception as exc:  # a foreign or missing client id is a form error here
                from django.http import Http404

                if not isinstance(exc, Http404):
                    raise
                form.add_error("membership_id", _("No client with this id."))
            else:
                messages.success(
                    request,
                    _("Credit line #%(id)s: %(status)s.")
                    % {"id": line.pk, "status": line.get_status_display()},
                )
                return HttpResponseRedirect(request.path)
    return render(
        request,
        "financing/console_credit_lines.html",
        {
            "lines": selectors.credit_line_list(tenant=tenant)[:200],
            "form": form,
            "tenors": Tenor.choices,
        },
        status=status,
    )
