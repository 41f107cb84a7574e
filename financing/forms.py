"""Forms of the financing pages: input only; the services decide."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from financing.models import FundingPool, Tenor
from ledger.forms import OneTimeKeyForm


class SignForm(forms.Form):
    typed_name = forms.CharField(label=_("Type your full name"), max_length=200)
    consent = forms.BooleanField(label=_("I have read the whole document and I agree"))
    otp = forms.CharField(label=_("One-time code from your authenticator"), max_length=32)


class DrawForm(OneTimeKeyForm):
    currency = forms.CharField(label=_("Currency"), max_length=3)
    amount = forms.DecimalField(
        label=_("Amount"), max_digits=24, decimal_places=4, min_value=Decimal("0.01")
    )
    tenor = forms.ChoiceField(label=_("Tenor"), choices=Tenor.choices)
    term_days = forms.IntegerField(
        label=_("Term in days (term and repo)"), required=False, min_value=1, max_value=183
    )


class RepayForm(OneTimeKeyForm):
    amount = forms.DecimalField(
        label=_("Amount"), max_digits=24, decimal_places=4, min_value=Decimal("0.01")
    )


class PoolForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=FundingPool.Kind.choices)
    currency = forms.CharField(label=_("Currency"), max_length=3)
    limit = forms.DecimalField(label=_("Limit"), max_digits=24, decimal_places=4, min_value=0)
    cost_rate = forms.DecimalField(
        label=_("Annual cost (0.03 = 3%)"), max_digits=12, decimal_places=8, min_value=0
    )


class BufferForm(OneTimeKeyForm):
    currency = forms.CharField(label=_("Currency"), max_length=3)
    amount = forms.DecimalField(
        label=_("Amount"), max_digits=24, decimal_places=4, min_value=Decimal("0.01")
    )


class StressForm(forms.Form):
    currency = forms.CharField(label=_("Currency"), max_length=3)
    recall_share = forms.DecimalField(
        label=_("Daily recall share"), initial=Decimal("0.10"), min_value=0, max_value=1
    )
    concentrated_pools = forms.IntegerField(
        label=_("Pools pulling everything on day 1"), initial=1, min_value=0, max_value=100
    )
    draw_share = forms.DecimalField(
        label=_("Daily share of undrawn credit drawn"),
        initial=Decimal("0.05"),
        min_value=0,
        max_value=1,
    )
    shock = forms.DecimalField(
        label=_("Market shock on day 1"), initial=Decimal("0.20"), min_value=0, max_value=1
    )
    horizon_days = forms.IntegerField(
        label=_("Horizon (days)"), initial=30, min_value=1, max_value=365
    )


class CreditLineForm(forms.Form):
    membership_id = forms.IntegerField(label=_("Client (membership id)"))
    currency = forms.CharField(label=_("Currency"), max_length=3)
    limit = forms.DecimalField(label=_("Limit"), max_digits=24, decimal_places=4, min_value=0)
    leverage_cap = forms.DecimalField(
        label=_("Leverage cap"), max_digits=8, decimal_places=4, min_value=1
    )
    allowed_products = forms.CharField(label=_("Products (comma-separated)"), initial="stock,etf")
    allowed_tenors = forms.CharField(
        label=_("Tenors (comma-separated)"), initial="intraday,overnight,term,repo"
    )
    reason = forms.CharField(
        label=_("Reason (needed above the four-eyes limit)"), required=False, max_length=500
    )
