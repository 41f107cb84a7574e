"""The risk app's pages: the client's margin page (live) and order form in the portal, the margin
monitor, the book's stress test and the margin policies in the console. Thin: selectors and
services do the work."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ledger.selectors import account_list
from ledger.views import client_required
from platform_core.audit.approvals import approval_request_create
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import STAFF_ROLES, Role
from platform_core.views import role_required
from risk.engine.portfolio import PortfolioError
from risk.engine.result import MarginResult, minor_unit
from risk.engine.stress import HISTORICAL_SCENARIOS, Shock
from risk.models import MARGIN_STATUSES, Instrument
from risk.oracle import OracleError
from risk.orders import order_list, order_place
from risk.policies import ACTIVATE_ACTION, policy_version_create
from risk.selectors import (
    DEFAULT_POLICY,
    access_margin_account_by_id,
    access_policy_by_id,
    liquidation_prices_of,
    margin_monitor,
    policy_activations_pending,
    policy_active,
    policy_list,
    portfolio_margin,
    priced_portfolio,
)
from risk.stored_policy import (
    BUILT_IN_POLICIES,
    DEFAULT_CALL_DEADLINE,
    DEFAULT_LADDER,
    DEFAULT_LEVERAGE_CAP,
    status_for,
)
from risk.stress import account_stress, book_stress_run, default_shocks

STATUS_LABELS = {
    "healthy": gettext_lazy("Healthy"),
    "warning": gettext_lazy("Warning"),
    "margin_call": gettext_lazy("Margin call"),
    "deleverage": gettext_lazy("Deleveraging"),
    "liquidate": gettext_lazy("Liquidation"),
}


def _client_accounts(request: HttpRequest) -> Any:
    return account_list(tenant=request.tenant, owner=request.membership).filter(  # type: ignore[attr-defined]
        kind="client_cash"
    )


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{(value * 100).quantize(Decimal('0.01'))}%"


def _margin_context(request: HttpRequest, account: Any) -> dict[str, Any]:
    """What the live part of the margin page shows, or the reason it cannot be shown."""
    tenant = request.tenant  # type: ignore[attr-defined]
    stored = policy_active(tenant=tenant)
    ladder = {k: Decimal(v) for k, v in (stored.ladder if stored else DEFAULT_LADDER).items()}
    try:
        priced = priced_portfolio(tenant=tenant, account=account)
        result: MarginResult = portfolio_margin(tenant=tenant, account=account, priced=priced)
        liquidation = liquidation_prices_of(
            tenant=tenant, account=account, priced=priced, line=ladder["margin_call"]
        )
    except (OracleError, PortfolioError) as exc:
        return {"account": account, "problem": str(exc)}
    body = result.as_json()
    return {
        "account": account,
        "result": body,
        "cash": format(result.cash.quantize(minor_unit(result.currency)), "f"),
        "loan": format(result.loan.quantize(minor_unit(result.currency)), "f"),
        "status": STATUS_LABELS[status_for(result=result, ladder=ladder)],
        "margin_ratio": _percent(result.margin_ratio),
        "collateral_ratio": _percent(result.collateral_ratio),
        "liquidation": liquidation,
        "suspect": body.get("prices_suspect", []),
        "ladder": {k: _percent(v) for k, v in ladder.items()},
    }


# --- portal ---------------------------------------------------------------------------------


@client_required
def portal_margin_index(request: HttpRequest) -> HttpResponse:
    accounts = list(_client_accounts(request))
    if len(accounts) == 1:
        return HttpResponseRedirect(reverse("portal-margin", args=[accounts[0].pk]))
    return render(request, "risk/portal_margin_index.html", {"accounts": accounts})


def _own_account(request: HttpRequest, account_id: int) -> Any:
    return access_margin_account_by_id(
        tenant=request.tenant,  # type: ignore[attr-defined]
        membership=request.membership,  # type: ignore[attr-defined]
        account_id=account_id,
    )


@client_required
def portal_margin(request: HttpRequest, account_id: int) -> HttpResponse:
    """The margin page: the live figures refresh every second (htmx), the stress table below."""
    account = _own_account(request, account_id)
    context = _margin_context(request, account)
    try:
        stress = [
            row.as_json()
            for row in account_stress(tenant=request.tenant, account=account)  # type: ignore[attr-defined]
        ]
    except (OracleError, PortfolioError):
        stress = []
    context.update(
        stress=stress,
        orders=order_list(tenant=request.tenant, account=account)[:20],  # type: ignore[attr-defined]
    )
    return render(request, "risk/portal_margin.html", context)


@client_required
def portal_margin_live(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _own_account(request, account_id)
    return render(request, "risk/_margin_live.html", _margin_context(request, account))


class OrderForm(forms.Form):
    account = forms.TypedChoiceField(label=gettext_lazy("Account"), coerce=int)
    symbol = forms.CharField(label=gettext_lazy("Instrument"), max_length=64)
    side = forms.ChoiceField(
        label=gettext_lazy("Side"),
        choices=[("buy", gettext_lazy("Buy")), ("sell", gettext_lazy("Sell"))],
    )
    quantity = forms.DecimalField(
        label=gettext_lazy("Quantity"), max_digits=28, decimal_places=8, min_value=Decimal("0")
    )
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, accounts: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [(a.pk, f"{a.currency} #{a.pk}") for a in accounts]

    def clean_quantity(self) -> Decimal:
        value = self.cleaned_data["quantity"]
        if value == 0:
            raise forms.ValidationError(_("An order needs a non-zero quantity."))
        return value

    def clean_symbol(self) -> Instrument:
        symbol = self.cleaned_data["symbol"].strip()
        instrument = Instrument.objects.filter(symbol=symbol).select_related("underlying").first()
        if instrument is None:
            raise forms.ValidationError(_("Unknown instrument %(symbol)s.") % {"symbol": symbol})
        return instrument


@client_required
def portal_order_new(request: HttpRequest) -> HttpResponse:
    """The order form: the pre-trade check's refusal is shown on the form, nothing written."""
    accounts = list(_client_accounts(request))
    if request.method == "POST":
        form = OrderForm(request.POST, accounts=accounts)
        if form.is_valid():
            data = form.cleaned_data
            account = _own_account(request, data["account"])
            quantity = data["quantity"] if data["side"] == "buy" else -data["quantity"]
            try:
                order = order_place(
                    tenant=request.tenant,  # type: ignore[attr-defined]
                    account=account,
                    membership=request.membership,  # type: ignore[attr-defined]
                    actor=request.user,
                    instrument=data["symbol"],
                    quantity=quantity,
                    idempotency_key=f"portal:{request.membership.pk}:{data['key']}",  # type: ignore[attr-defined]
                    request=request,
                )
            except ApplicationError as refusal:
                form.add_error(None, refusal.message)
            else:
                messages.success(
                    request,
                    _("Filled: %(quantity)s %(symbol)s at %(price)s.")
                    % {
                        "quantity": format(order.quantity.normalize(), "f"),
                        "symbol": order.instrument.symbol,
                        "price": format(order.fill_price.normalize(), "f"),
                    },
                )
                return HttpResponseRedirect(reverse("portal-margin", args=[account.pk]))
    else:
        form = OrderForm(accounts=accounts, initial={"key": uuid.uuid4().hex})
    return render(request, "risk/portal_order_new.html", {"form": form})


# --- console --------------------------------------------------------------------------------

MONITOR_ROLES = frozenset(STAFF_ROLES)


@role_required(MONITOR_ROLES)
def console_margin_monitor(request: HttpRequest) -> HttpResponse:
    """Accounts by margin ratio, lowest first, with filters by status and ratio."""
    state = request.GET.get("status") or None
    if state not in (None, *MARGIN_STATUSES):
        state = None
    raw = (request.GET.get("ratio_below") or "").strip()
    try:
        below = Decimal(raw) if raw else None
    except InvalidOperation:
        below = None
    if below is not None and (not below.is_finite() or abs(below) > 1_000_000):
        below = None
    rows = margin_monitor(
        tenant=request.tenant,  # type: ignore[attr-defined]
        status=state,
        ratio_below=below,
    )[:500]
    return render(
        request,
        "risk/console_monitor.html",
        {
            "rows": [
                {"row": row, "label": STATUS_LABELS[row.status], "ratio": _percent(row.ratio)}
                for row in rows
            ],
            "statuses": [(s, STATUS_LABELS[s]) for s in MARGIN_STATUSES],
            "status": state or "",
            "ratio_below": raw if below is not None else "",
        },
    )


@role_required(frozenset({Role.RISK_OFFICER}))
def console_book_stress(request: HttpRequest) -> HttpResponse:
    """The book under a market-wide move or a historical scenario (a read, by GET)."""
    scenario = request.GET.get("scenario") or ""
    raw = (request.GET.get("market_move") or "").strip()
    outcome, problem = None, ""
    if scenario or raw:
        shock: Shock | None = next((s for s in HISTORICAL_SCENARIOS if s.name == scenario), None)
        if shock is None:
            try:
                move = Decimal(raw) / 100
                if not move.is_finite() or not Decimal("-95") <= move * 100 <= Decimal("95"):
                    raise InvalidOperation
                shock = Shock(_("market %(move)s%%") % {"move": raw}, market_move=move)
            except InvalidOperation:
                problem = _("Give a market move in percent between -95 and 95.")
        if shock is not None:
            (outcome,) = book_stress_run(tenant=request.tenant, shocks=[shock])  # type: ignore[attr-defined]
    return render(
        request,
        "risk/console_stress.html",
        {
            "scenarios": [s.name for s in HISTORICAL_SCENARIOS],
            "scenario": scenario,
            "market_move": raw,
            "outcome": outcome.as_json() if outcome else None,
            "problem": problem,
            "defaults": [s.name for s in default_shocks()],
        },
    )


# --- margin policies (console) ----------------------------------------------------------------

POLICY_ROLES = frozenset({Role.RISK_OFFICER})


class PolicyDraftForm(forms.Form):
    name = forms.SlugField(label=gettext_lazy("Name"), max_length=100)
    base = forms.ChoiceField(
        label=gettext_lazy("Built-in base"), choices=[(b, b) for b in BUILT_IN_POLICIES]
    )
    parameters = forms.CharField(
        label=gettext_lazy("House parameters (JSON)"),
        widget=forms.Textarea(attrs={"rows": 8, "cols": 70}),
        initial="{}",
    )
    warning = forms.DecimalField(label=gettext_lazy("Warning line"))
    margin_call = forms.DecimalField(label=gettext_lazy("Margin-call line"))
    deleverage = forms.DecimalField(label=gettext_lazy("Deleveraging line"))
    liquidation = forms.DecimalField(label=gettext_lazy("Liquidation line"))
    call_deadline_business_days = forms.IntegerField(
        label=gettext_lazy("Call deadline (business days)"), min_value=0, max_value=30
    )
    leverage_cap = forms.DecimalField(label=gettext_lazy("Leverage cap"))

    def clean_parameters(self) -> Any:
        try:
            value = json.loads(self.cleaned_data["parameters"])
        except ValueError:
            raise forms.ValidationError(_("This is not valid JSON.")) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Give a JSON object."))
        return value


class PolicySubmitForm(forms.Form):
    policy_id = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=1000)


def _draft_initial(active: Any) -> dict[str, Any]:
    """A new draft starts from the active version (or the built-in defaults)."""
    ladder = active.ladder if active is not None else DEFAULT_LADDER
    return {
        "name": active.name if active is not None else "house",
        "base": active.base if active is not None else DEFAULT_POLICY,
        "parameters": json.dumps(active.parameters if active is not None else {}, indent=2),
        **{line: ladder[line] for line in DEFAULT_LADDER},
        "call_deadline_business_days": (
            active.call_deadline_business_days if active is not None else DEFAULT_CALL_DEADLINE
        ),
        "leverage_cap": active.leverage_cap if active is not None else DEFAULT_LEVERAGE_CAP,
    }


def _form_errors_from(form: forms.Form, error: ApplicationError) -> None:
    """The service's field errors on the form's fields (``ladder.warning`` on ``warning``)."""
    for field, problems in error.fields.items():
        name = field.split(".")[-1] if field.startswith("ladder.") else field.split(".")[0]
        for problem in problems:
            form.add_error(name if name in form.fields else None, f"{field}: {problem}")
    if not error.fields:
        form.add_error(None, error.message)


@role_required(POLICY_ROLES)
def console_policies(request: HttpRequest) -> HttpResponse:
    """The active margin policy, the versions, a new draft, and a draft's submission for
    activation under four eyes (a second risk officer approves it in the approvals inbox)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    active = policy_active(tenant=tenant)
    draft_form = PolicyDraftForm(initial=_draft_initial(active))
    submit_error = ""
    status_code = 200
    if request.method == "POST" and request.POST.get("action") == "draft":
        draft_form = PolicyDraftForm(request.POST)
        if draft_form.is_valid():
            data = draft_form.cleaned_data
            try:
                version = policy_version_create(
                    tenant=tenant,
                    actor=request.user,
                    name=data["name"],
                    base=data["base"],
                    parameters=data["parameters"],
                    ladder={line: str(data[line]) for line in DEFAULT_LADDER},
                    call_deadline_business_days=data["call_deadline_business_days"],
                    leverage_cap=str(data["leverage_cap"]),
                    request=request,
                )
            except ApplicationError as error:
                _form_errors_from(draft_form, error)
            else:
                messages.success(
                    request,
                    _("Draft %(name)s version %(version)s saved.")
                    % {"name": version.name, "version": version.version},
                )
                return HttpResponseRedirect(reverse("console-policies"))
        status_code = 400
    elif request.method == "POST" and request.POST.get("action") == "submit":
        submit = PolicySubmitForm(request.POST)
        if submit.is_valid():
            version = access_policy_by_id(tenant=tenant, policy_id=submit.cleaned_data["policy_id"])
            try:
                approval = approval_request_create(
                    tenant=tenant,
                    actor=request.user,
                    membership=request.membership,  # type: ignore[attr-defined]
                    action=ACTIVATE_ACTION,
                    params={"policy_id": version.pk},
                    reason=submit.cleaned_data["reason"],
                    request=request,
                )
            except ApplicationError as error:
                problems = [p for field in error.fields.values() for p in field]
                submit_error = " ".join(problems) or error.message
            else:
                messages.success(
                    request,
                    _(
                        "Activation of %(name)s version %(version)s was submitted (approval "
                        "%(approval)s); another risk officer must approve it."
                    )
                    % {"name": version.name, "version": version.version, "approval": approval.pk},
                )
                return HttpResponseRedirect(reverse("console-policies"))
        else:
            submit_error = _("Give a reason for the activation.")
        status_code = 400
    return render(
        request,
        "risk/console_policies.html",
        {
            "active": active,
            "active_parameters": json.dumps(active.parameters, indent=2) if active else "",
            "versions": policy_list(tenant=tenant)[:100],
            "pending": policy_activations_pending(tenant=tenant),
            "draft_form": draft_form,
            "submit_error": submit_error,
        },
        status=status_code,
    )
