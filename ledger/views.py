"""The ledger's pages. Portal: a client's balances, statements and withdrawals. Console: the
withdrawal queue, fees and the sweep, manual adjustments. Parse, authorise, call, render."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ledger.forms import (
    AdjustmentForm,
    FeeForm,
    StatementFilter,
    SweepForm,
    WithdrawalForm,
    refusal_show,
)
from ledger.models import WithdrawalRequest
from ledger.operations import ADJUSTMENT_ACTION, client_money_list, fee_charge, sweep_post
from ledger.selectors import access_account_by_id, account_list, account_statement, money
from ledger.withdrawals import (
    access_withdrawal_by_id,
    withdrawal_approve,
    withdrawal_cancel,
    withdrawal_list,
    withdrawal_queue,
    withdrawal_reject,
    withdrawal_request,
)
from platform_core.accounts.decorators import step_up_required
from platform_core.audit.approvals import approval_request_create
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from platform_core.views import role_required

QUEUE_READERS = frozenset({Role.OPERATIONS, Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN})
OPERATIONS = frozenset({Role.OPERATIONS})
ADJUSTMENT_MAKERS = frozenset({Role.OPERATIONS, Role.TENANT_ADMIN})
STATEMENT_LINES = 1000


def _refusal_text(refusal: ApplicationError) -> str:
    details = " ".join(" ".join(problems) for problems in refusal.fields.values())
    return f"{refusal.message} {details}".strip()


# --- portal --------------------------------------------------------------------------------


def client_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of the client's own money: signed in, as a client of the active tenant."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = getattr(request, "membership", None)
        if membership is None or membership.role != Role.CLIENT:
            raise PermissionDenied("These pages show a client's own money.")
        return view(request, *args, **kwargs)

    return wrapper


@client_required
def portal_balances(request: HttpRequest) -> HttpResponse:
    accounts = account_list(tenant=request.tenant, owner=request.membership).filter(  # type: ignore[attr-defined]
        kind="client_cash"
    )
    return render(
        request,
        "ledger/portal_balances.html",
        {
            "accounts": [
                {
                    "account": a,
                    "balance": money(a.balance, a.currency),
                    "available": money(a.available, a.currency),
                    "pending": money(a.pending_debits, a.currency),
                }
                for a in accounts
            ]
        },
    )


@client_required
def portal_statement(request: HttpRequest, account_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    account = access_account_by_id(
        tenant=tenant,
        membership=request.membership,  # type: ignore[attr-defined]
        account_id=account_id,
    )
    dates = StatementFilter(request.GET or None)
    start = end = None
    if dates.is_valid():
        # Dates are the tenant's business days, from midnight in its time zone.
        zone = ZoneInfo(tenant.timezone)
        if dates.cleaned_data["start"]:
            start = datetime.combine(dates.cleaned_data["start"], time.min, tzinfo=zone)
        if dates.cleaned_data["end"] and dates.cleaned_data["end"] < date.max:
            day_after = dates.cleaned_data["end"] + timedelta(days=1)
            end = datetime.combine(day_after, time.min, tzinfo=zone)
    postings = account_statement(tenant=tenant, account=account, start=start, end=end)
    lines = [
        {
            "posting": p,
            "debit": money(p.amount, p.currency) if p.side == "debit" else None,
            "credit": money(p.amount, p.currency) if p.side == "credit" else None,
            "balance_after": money(p.balance_after, p.currency),
        }
        for p in postings[:STATEMENT_LINES]
    ]
    return render(
        request,
        "ledger/portal_statement.html",
        {
            "account": account,
            "balance": money(account.balance, account.currency),
            "available": money(account.available, account.currency),
            "dates": dates,
            "lines": lines,
            "truncated": len(lines) == STATEMENT_LINES,
        },
    )


@client_required
def portal_withdrawals(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "ledger/portal_withdrawals.html",
        {
            "withdrawals": withdrawal_list(
                tenant=request.tenant,  # type: ignore[attr-defined]
                owner=request.membership,  # type: ignore[attr-defined]
            )[:100]
        },
    )


@step_up_required
def portal_withdrawal_new(request: HttpRequest) -> HttpResponse:
    membership = getattr(request, "membership", None)
    if membership is None or membership.role != Role.CLIENT:
        raise PermissionDenied("Only a client withdraws their money.")
    tenant = request.tenant  # type: ignore[attr-defined]
    accounts = list(account_list(tenant=tenant, owner=membership).filter(kind="client_cash"))
    form = WithdrawalForm(request.POST or None, accounts=accounts)
    if request.method == "POST" and form.is_valid():
        try:
            withdrawal = withdrawal_request(
                tenant=tenant,
                membership=membership,
                actor=request.user,
                currency=form.cleaned_data["currency"],
                amount=form.cleaned_data["amount"],
                destination=form.cleaned_data["destination"],
                idempotency_key=form.cleaned_data["request_key"],
                request=request,
            )
        except ApplicationError as refusal:
            if refusal.error_code == "insufficient_funds":
                form.add_error("amount", _("This is more than the available balance."))
            else:
                form.refuse(refusal)
        else:
            messages.success(
                request,
                _("Withdrawal #%(id)s is requested; the amount is held until it is paid.")
                % {"id": withdrawal.pk},
            )
            return HttpResponseRedirect(reverse("portal-withdrawals"))
    return render(
        request,
        "ledger/portal_withdrawal_new.html",
        {
            "form": form,
            "available": [(a.currency, money(a.available, a.currency)) for a in accounts],
        },
    )


@require_POST
@client_required
def portal_withdrawal_cancel(request: HttpRequest, withdrawal_id: int) -> HttpResponse:
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    # Another client's or another tenant's withdrawal is a 404 whatever the form says.
    withdrawal = access_withdrawal_by_id(
        tenant=tenant, membership=membership, withdrawal_id=withdrawal_id
    )
    try:
        withdrawal_cancel(
            tenant=tenant,
            membership=membership,
            actor=request.user,
            withdrawal_id=withdrawal.pk,
            request=request,
        )
        messages.success(request, _("Withdrawal cancelled; the amount is available again."))
    except ApplicationError as refusal:
        messages.error(request, _refusal_text(refusal))
    return HttpResponseRedirect(reverse("portal-withdrawals"))


# --- console: withdrawals ------------------------------------------------------------------


@role_required(QUEUE_READERS)
def console_withdrawals(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    decided = withdrawal_list(tenant=tenant).exclude(status__in=WithdrawalRequest.PENDING)
    return render(
        request,
        "ledger/console_withdrawals.html",
        {
            "queue": withdrawal_queue(tenant=tenant)[:200],
            "decided": decided.select_related("account__owner__user", "decided_by")[:50],
            "threshold": tenant.withdrawal_four_eyes_above,
            "may_act": request.membership.role in OPERATIONS,  # type: ignore[attr-defined]
        },
    )


def _withdrawal_decision(
    request: HttpRequest, withdrawal_id: int, decide: Callable[..., WithdrawalRequest]
) -> HttpResponse:
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    # Another tenant's withdrawal is a 404 whatever the form says.
    withdrawal = access_withdrawal_by_id(
        tenant=tenant, membership=membership, withdrawal_id=withdrawal_id
    )
    try:
        decided = decide(
            tenant=tenant, actor=request.user, membership=membership, withdrawal_id=withdrawal.pk
        )
    except ApplicationError as refusal:
        messages.error(request, _refusal_text(refusal))
    else:
        done: dict[str, str] = {
            WithdrawalRequest.Status.PAID: _("Withdrawal #%(id)s is paid."),
            WithdrawalRequest.Status.AWAITING_SECOND_APPROVAL: _(
                "Withdrawal #%(id)s is above the four-eyes threshold: a second operations "
                "person must approve it."
            ),
            WithdrawalRequest.Status.REJECTED: _("Withdrawal #%(id)s is rejected."),
        }
        messages.success(request, done[decided.status] % {"id": decided.pk})
    return HttpResponseRedirect(reverse("console-withdrawals"))


@require_POST
@role_required(OPERATIONS)
def console_withdrawal_approve(request: HttpRequest, withdrawal_id: int) -> HttpResponse:
    note = request.POST.get("note", "")

    def approve(**kwargs: Any) -> WithdrawalRequest:
        return withdrawal_approve(note=note, request=request, **kwargs)

    return _withdrawal_decision(request, withdrawal_id, approve)


@require_POST
@role_required(OPERATIONS)
def console_withdrawal_reject(request: HttpRequest, withdrawal_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")

    def reject(**kwargs: Any) -> WithdrawalRequest:
        return withdrawal_reject(reason=reason, request=request, **kwargs)

    return _withdrawal_decision(request, withdrawal_id, reject)


# --- console: fees, the sweep, adjustments -------------------------------------------------


@role_required(OPERATIONS)
def console_fees(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    client_accounts = list(
        account_list(tenant=tenant).filter(kind="client_cash").select_related("owner__user")
    )
    client_money = client_money_list(tenant=tenant)
    action = request.POST.get("action") if request.method == "POST" else None
    fee_form = FeeForm(request.POST if action == "fee" else None, accounts=client_accounts)
    sweep_form = SweepForm(
        request.POST if action == "sweep" else None,
        currencies=[m.currency for m in client_money],
    )
    form = {"fee": fee_form, "sweep": sweep_form}.get(action or "")
    if form is not None and form.is_valid():
        data = form.cleaned_data
        try:
            if form is fee_form:
                entry = fee_charge(
                    tenant=tenant,
                    actor=request.user,
                    account_id=data["account"],
                    amount=data["amount"],
                    memo=data["memo"],
                    idempotency_key=data["request_key"],
                )
            else:
                entry = sweep_post(
                    tenant=tenant,
                    actor=request.user,
                    currency=data["currency"],
                    amount=data["amount"],
                    idempotency_key=data["request_key"],
                )
        except ApplicationError as refusal:
            form.refuse(refusal)
        else:
            messages.success(request, _("Posted as entry #%(id)s.") % {"id": entry.pk})
            return HttpResponseRedirect(reverse("console-fees"))
    return render(
        request,
        "ledger/console_fees.html",
        {
            "fee_form": fee_form,
            "sweep_form": sweep_form,
            "client_money": [
                {
                    "currency": m.currency,
                    "held": money(m.held, m.currency),
                    "owed": money(m.owed, m.currency),
                    "excess": money(m.excess, m.currency),
                }
                for m in client_money
            ],
        },
    )


@role_required(ADJUSTMENT_MAKERS)
def console_adjustment(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    accounts = account_list(tenant=tenant).select_related("owner__user")
    form = AdjustmentForm(request.POST or None, accounts=accounts)
    if request.method == "POST" and form.is_valid():
        postings, fields = form.postings()
        try:
            approval = approval_request_create(
                tenant=tenant,
                actor=request.user,
                membership=request.membership,  # type: ignore[attr-defined]
                action=ADJUSTMENT_ACTION,
                params={"memo": form.cleaned_data["memo"], "postings": postings},
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except ApplicationError as refusal:
            refusal_show(form, refusal, {**fields, "params.memo": "memo"})
        else:
            messages.success(
                request,
                _("Adjustment asked for as request #%(id)s: a tenant admin must approve it.")
                % {"id": approval.pk},
            )
            return HttpResponseRedirect(reverse("console-approvals"))
    return render(request, "ledger/console_adjustment.html", {"form": form})
