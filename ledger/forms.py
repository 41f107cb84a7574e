"""Forms of the ledger's portal and console pages: input only; the services decide.

Forms that write money carry a one-time key (``request_key``, made when the page is shown), so
submitting the same form twice posts once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from ledger.models import LedgerAccount
from ledger.rules import Side
from platform_core.exceptions import ApplicationError

ADJUSTMENT_ROWS = 4


def one_time_key() -> str:
    return secrets.token_urlsafe(24)


def refusal_show(
    form: forms.Form, refusal: ApplicationError, fields: dict[str, str] | None = None
) -> None:
    """Show a service's refusal on ``form``: each problem on the field it names (``fields``
    maps the service's names to the form's), anything else above the fields."""
    fields = fields or {}
    unplaced: list[str] = []
    for name, problems in refusal.fields.items():
        target = fields.get(name, name)
        if target in form.fields and not form.fields[target].widget.is_hidden:
            form.add_error(target, problems)
        else:
            unplaced.extend(problems)
    if unplaced or not refusal.fields:
        form.add_error(None, " ".join([refusal.message, *unplaced]))


class OneTimeKeyForm(forms.Form):
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=255)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("request_key", one_time_key())

    def refuse(self, refusal: ApplicationError) -> None:
        """Show a refusal. A key already used for other figures (the form was sent, then
        changed and sent again) gets a new key, so sending it once more is a new request."""
        if refusal.error_code != "idempotency_conflict":
            refusal_show(self, refusal)
            return
        self.data = {**self.data, "request_key": one_time_key()}
        self.add_error(
            None,
            _(
                "This form was already sent with other figures. Check them, and send it "
                "again to make a new request."
            ),
        )


def account_label(account: LedgerAccount) -> str:
    owner = f" {account.owner.user.email}" if account.owner else ""
    return f"#{account.pk} {account.kind}{owner} · {account.currency}"


class StatementFilter(forms.Form):
    """Business days in the tenant's time zone; the end day is included."""

    start = forms.DateField(label=_("From"), required=False)
    end = forms.DateField(label=_("To (inclusive)"), required=False)


class WithdrawalForm(OneTimeKeyForm):
    currency = forms.ChoiceField(label=_("From your account"))
    amount = forms.CharField(label=_("Amount"), max_length=40)
    destination = forms.CharField(
        label=_("Your bank account to pay to"),
        max_length=64,
        help_text=_("Only its last four characters are kept and shown."),
    )

    def __init__(self, *args: Any, accounts: Iterable[LedgerAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["currency"]).choices = [
            (a.currency, a.currency) for a in accounts
        ]


class FeeForm(OneTimeKeyForm):
    account = forms.ChoiceField(label=_("Client account"))
    amount = forms.CharField(label=_("Fee"), max_length=40)
    memo = forms.CharField(label=_("What for"), max_length=200, required=False)

    def __init__(self, *args: Any, accounts: Iterable[LedgerAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["account"]).choices = [
            (a.pk, account_label(a)) for a in accounts
        ]


class SweepForm(OneTimeKeyForm):
    currency = forms.ChoiceField(label=_("Currency"))
    amount = forms.CharField(label=_("Amount to sweep"), max_length=40)

    def __init__(self, *args: Any, currencies: Iterable[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["currency"]).choices = [(c, c) for c in currencies]


class AdjustmentForm(forms.Form):
    """A balanced entry of up to ``ADJUSTMENT_ROWS`` postings, asked for under four eyes."""

    memo = forms.CharField(label=_("Memo (shown on the entry)"), max_length=500)
    reason = forms.CharField(
        label=_("Reason (for the approver)"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, accounts: Iterable[LedgerAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [(a.pk, account_label(a)) for a in accounts]
        for row in range(ADJUSTMENT_ROWS):
            self.fields[f"account_{row}"] = forms.ChoiceField(
                label=_("Account"), choices=choices, required=False
            )
            for side in Side:
                self.fields[f"{side}_{row}"] = forms.CharField(
                    label=_("Debit") if side == Side.DEBIT else _("Credit"),
                    max_length=40,
                    required=False,
                )

    def rows(self) -> list[list[forms.BoundField]]:
        return [
            [self[f"account_{row}"], self[f"debit_{row}"], self[f"credit_{row}"]]
            for row in range(ADJUSTMENT_ROWS)
        ]

    def postings(self) -> tuple[list[dict[str, str]], dict[str, str]]:
        """The filled rows as approval params, and where each posting's errors are shown."""
        postings: list[dict[str, str]] = []
        fields: dict[str, str] = {}
        for row in range(ADJUSTMENT_ROWS):
            data = {
                str(name): self.cleaned_data[f"{name}_{row}"].strip() for name in ("account", *Side)
            }
            if not any(data.values()):
                continue
            index = len(postings)
            postings.append({name: value for name, value in data.items() if value})
            fields[f"params.postings.{index}"] = f"account_{row}"
            for name in ("account", *Side):
                fields[f"params.postings.{index}.{name}"] = f"{name}_{row}"
        return postings, fields
