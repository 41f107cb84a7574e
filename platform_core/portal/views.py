"""The client portal's pages: the dashboard (live figures, charts, what-if), the learning guide
and the paper-trading sandbox. Thin: the selectors and services do the work."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ledger.models import LedgerAccount
from ledger.views import client_required
from platform_core.exceptions import ApplicationError
from platform_core.portal.selectors import (
    client_accounts,
    dashboard_of,
    price_move_what_if,
)
from platform_core.portal.services import is_sandbox, sandbox_find, sandbox_open
from platform_core.tenancy.rls import rls_context
from risk.engine.portfolio import PortfolioError
from risk.models import Instrument
from risk.oracle import OracleError
from risk.orders import order_list, order_place, pretrade_check
from risk.selectors import access_margin_account_by_id

STATUS_LABELS = {
    "healthy": gettext_lazy("Healthy"),
    "warning": gettext_lazy("Warning"),
    "margin_call": gettext_lazy("Margin call"),
    "deleverage": gettext_lazy("Deleveraging"),
    "liquidate": gettext_lazy("Liquidation"),
}
LINE_LABELS = {
    "warning": gettext_lazy("Warning line"),
    "margin_call": gettext_lazy("Margin call line"),
    "deleverage": gettext_lazy("Deleveraging line"),
    "liquidation": gettext_lazy("Liquidation line"),
}


class PriceMoveForm(forms.Form):
    move = forms.DecimalField(
        label=gettext_lazy("Move every price by (%)"),
        min_value=Decimal("-95"),
        max_value=Decimal("95"),
        max_digits=5,
        decimal_places=2,
        initial=Decimal("-10"),
        # A slider for the usual range; the server accepts up to ±95 (e.g. from the URL).
        widget=forms.NumberInput(attrs={"type": "range", "min": "-50", "max": "50", "step": "1"}),
    )


class TradeForm(forms.Form):
    symbol = forms.CharField(label=gettext_lazy("Instrument"), max_length=64)
    side = forms.ChoiceField(
        label=gettext_lazy("Side"),
        choices=[("buy", gettext_lazy("Buy")), ("sell", gettext_lazy("Sell"))],
    )
    quantity = forms.DecimalField(
        label=gettext_lazy("Quantity"), max_digits=20, decimal_places=4, min_value=Decimal("0")
    )

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

    def signed_quantity(self) -> Decimal:
        quantity = self.cleaned_data["quantity"]
        return quantity if self.cleaned_data["side"] == "buy" else -quantity


class SandboxOrderForm(TradeForm):
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)


def _own_account(request: HttpRequest, account_id: object) -> LedgerAccount:
    return access_margin_account_by_id(
        tenant=request.tenant,  # type: ignore[attr-defined]
        membership=request.membership,  # type: ignore[attr-defined]
        account_id=account_id,
    )


def _chosen_account(request: HttpRequest) -> tuple[LedgerAccount | None, list[LedgerAccount]]:
    accounts = client_accounts(tenant=request.tenant, membership=request.membership)  # type: ignore[attr-defined]
    chosen = request.GET.get("account")
    if chosen:
        return _own_account(request, chosen), accounts
    return (accounts[0] if accounts else None), accounts


def _live_context(request: HttpRequest, account: LedgerAccount) -> dict[str, Any]:
    board = dashboard_of(tenant=request.tenant, account=account)  # type: ignore[attr-defined]
    return {
        "board": board,
        "status_label": STATUS_LABELS.get(board.status, ""),
        "status_labels": STATUS_LABELS,
        "line_labels": LINE_LABELS,
    }


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@client_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The client's dashboard: the live figures refresh every second, the what-if below."""
    account, accounts = _chosen_account(request)
    context: dict[str, Any] = {
        "accounts": accounts,
        "account": account,
        "sandbox": is_sandbox(request.tenant),  # type: ignore[attr-defined]
    }
    if account is not None:
        context.update(
            _live_context(request, account),
            move_form=PriceMoveForm(),
            trade_form=TradeForm(),
        )
    return render(request, "portal/dashboard.html", context)


@client_required
def dashboard_live(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _own_account(request, account_id)
    return render(request, "portal/_dashboard_live.html", _live_context(request, account))


def _what_if_response(
    request: HttpRequest, template: str, context: dict[str, Any], *, valid: bool
) -> HttpResponse:
    """The what-if's answer: a fragment for htmx, else the page. A wrong value is a 400 with
    the message beside the field; htmx does not swap a 4xx, so the fragment it asked for comes
    with a 200 and the same message."""
    status = 200 if valid or _is_htmx(request) else 400
    page = template if _is_htmx(request) else "portal/what_if.html"
    return render(request, page, {**context, "fragment": template}, status=status)


@client_required
def what_if_move(request: HttpRequest, account_id: int) -> HttpResponse:
    """What every price moving by a given percentage would do to the ratio (a read)."""
    account = _own_account(request, account_id)
    form = PriceMoveForm(request.GET or None)
    context: dict[str, Any] = {
        "account": account,
        "move_form": form,
        "status_labels": STATUS_LABELS,
    }
    if form.is_valid():
        try:
            context["outcome"] = price_move_what_if(
                tenant=request.tenant,  # type: ignore[attr-defined]
                account=account,
                move=form.cleaned_data["move"] / 100,
            )
        except (OracleError, PortfolioError) as exc:
            context["problem"] = str(exc)
    return _what_if_response(
        request, "portal/_what_if_move.html", context, valid=form.is_valid() or not form.is_bound
    )


@client_required
def what_if_trade(request: HttpRequest, account_id: int) -> HttpResponse:
    """What an order would do: the margin before and after, and whether the pre-trade check
    would let it through (a read; nothing is placed)."""
    account = _own_account(request, account_id)
    form = TradeForm(request.GET or None)
    context: dict[str, Any] = {"account": account, "trade_form": form}
    if form.is_valid():
        try:
            context["check"] = pretrade_check(
                tenant=request.tenant,  # type: ignore[attr-defined]
                account=account,
                membership=request.membership,  # type: ignore[attr-defined]
                orders={form.cleaned_data["symbol"]: form.signed_quantity()},
            )
        except (OracleError, PortfolioError) as exc:
            context["problem"] = str(exc)
    return _what_if_response(
        request, "portal/_what_if_trade.html", context, valid=form.is_valid() or not form.is_bound
    )


@client_required
def learn(request: HttpRequest) -> HttpResponse:
    """Leverage, margin calls and liquidation, told with the client's own numbers."""
    account, accounts = _chosen_account(request)
    context: dict[str, Any] = {"accounts": accounts, "account": account}
    if account is not None:
        context.update(_live_context(request, account))
    return render(request, "portal/learn.html", context)


@client_required
def sandbox(request: HttpRequest) -> HttpResponse:
    """The paper-trading sandbox: open it, see its account and place orders in it through the
    same order service, with simulated money only."""
    tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
    found = sandbox_find(tenant=tenant, user=request.user)
    form = SandboxOrderForm(initial={"key": uuid.uuid4().hex})
    if request.method == "POST" and request.POST.get("action") == "open":
        try:
            found = sandbox_open(tenant=tenant, membership=membership, request=request)
        except ApplicationError as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, _("Your sandbox account is open, with simulated money."))
        return HttpResponseRedirect(reverse("portal-sandbox"))
    if request.method == "POST" and found is not None:
        form = SandboxOrderForm(request.POST)
        if form.is_valid():
            with rls_context(tenant=found.tenant):
                try:
                    order = order_place(
                        tenant=found.tenant,
                        account=found.account,
                        membership=found.membership,
                        actor=request.user,
                        instrument=form.cleaned_data["symbol"],
                        quantity=form.signed_quantity(),
                        idempotency_key=f"sandbox:{found.membership.pk}:{form.cleaned_data['key']}",
                        request=request,
                    )
                except ApplicationError as refusal:
                    form.add_error(None, refusal.message)
            if not form.errors:
                messages.success(
                    request,
                    _("Sandbox order filled: %(quantity)s %(symbol)s at %(price)s.")
                    % {
                        "quantity": format(order.quantity.normalize(), "f"),
                        "symbol": order.instrument.symbol,
                        "price": format(order.fill_price.normalize(), "f"),
                    },
                )
                return HttpResponseRedirect(reverse("portal-sandbox"))
    context: dict[str, Any] = {
        "found": found,
        "form": form,
        "in_sandbox": is_sandbox(tenant),
        "status_labels": STATUS_LABELS,
        "line_labels": LINE_LABELS,
    }
    if found is not None:
        with rls_context(tenant=found.tenant):
            found.account.refresh_from_db()
            context["board"] = dashboard_of(tenant=found.tenant, account=found.account)
            context["orders"] = list(
                order_list(tenant=found.tenant, account=found.account).select_related("instrument")[
                    :20
                ]
            )
    status = 400 if request.method == "POST" and form.errors else 200
    return render(request, "portal/sandbox.html", context, status=status)
