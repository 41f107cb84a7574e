"""What operations staff post by hand: a fee, the sweep of earned money, a manual adjustment.

Fees and sweeps go through ``transfer_post`` under their entry types, so the segregation rules
apply as to any other transfer. A sweep never takes more than the house's money in the
client-money bank account (the excess over what clients are owed): sweeping more would leave
clients short. A manual adjustment is any balanced entry, and so needs four eyes: it is asked
for as a ``ledger.adjustment`` approval and posted only when a tenant admin other than the
maker approves it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from ledger.models import JournalEntry, LedgerAccount
from ledger.rules import Side, quantum
from ledger.services import Leg, amount_parse, entry_post, invalid, transfer_post
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import CURRENCY_MINOR_UNITS, Tenant
from platform_core.tenancy.selectors import tenant_scoped

ADJUSTMENT_ACTION = "ledger.adjustment"
MAX_ADJUSTMENT_POSTINGS = 20


def _account_of_kind(*, tenant: Tenant, kind: str, currency: str) -> LedgerAccount:
    account = (
        tenant_scoped(LedgerAccount, tenant=tenant).filter(kind=kind, currency=currency).first()
    )
    if account is None:
        raise ApplicationError(
            409,
            "account_missing",
            f"There is no {kind.replace('_', ' ')} account in {currency}: open one first.",
        )
    return account


# --- fees ----------------------------------------------------------------------------------


def fee_charge(
    *,
    tenant: Tenant,
    actor: Any,
    account_id: Any,
    amount: Any,
    idempotency_key: str,
    memo: str = "",
) -> JournalEntry:
    """Charge a client a fee: their claim moves to the house's fee income, while the cash
    stays in the client-money bank account until it is swept."""
    account = (
        tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(kind="client_cash", pk=_int_or_none(account_id) or 0)
        .first()
    )
    if account is None:
        raise invalid({"account": ["Choose a client account of this tenant."]})
    amount = amount_parse(amount, currency=account.currency)
    income = _account_of_kind(tenant=tenant, kind="fee_income", currency=account.currency)
    return transfer_post(
        tenant=tenant,
        debit_account=account.pk,
        credit_account=income.pk,
        amount=amount,
        currency=account.currency,
        entry_type="fee",
        idempotency_key=idempotency_key,
        memo=memo or "fee",
        actor=actor,
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


# --- the sweep -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientMoney:
    """One currency's client money: held at the bank, owed to clients, and the difference."""

    currency: str
    held: Decimal  # custodian_bank balances
    owed: Decimal  # client_cash balances

    @property
    def excess(self) -> Decimal:
        """House money in the client-money bank account: what may be swept."""
        return max(self.held - self.owed, Decimal(0))


def client_money_list(*, tenant: Tenant) -> list[ClientMoney]:
    """Per currency with a custodian bank account, from posted balances as they stand."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in (
        tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(kind__in=("custodian_bank", "client_cash"))
        .values("currency", "kind")
        .annotate(debits=Sum("posted_debits"), credits=Sum("posted_credits"))
    ):
        sign = 1 if row["kind"] == "custodian_bank" else -1  # debit-normal vs credit-normal
        totals[row["currency"]][row["kind"]] = sign * (row["debits"] - row["credits"])
    return [
        ClientMoney(
            currency=currency,
            held=kinds["custodian_bank"],
            owed=kinds.get("client_cash", Decimal(0)),
        )
        for currency, kinds in sorted(totals.items())
        if "custodian_bank" in kinds
    ]


def sweep_post(
    *, tenant: Tenant, actor: Any, currency: str, amount: Any, idempotency_key: str
) -> JournalEntry:
    """Move the house's earned money out of the client-money bank account into house cash.

    Refused (422 ``sweep_exceeds_excess``) above the excess, so client money is never swept.
    """
    if currency not in CURRENCY_MINOR_UNITS:
        raise invalid({"currency": [f"{currency!r} is not a supported currency."]})
    amount = amount_parse(amount, currency=currency)
    with transaction.atomic():
        bank = _account_of_kind(tenant=tenant, kind="custodian_bank", currency=currency)
        house = _account_of_kind(tenant=tenant, kind="house_cash", currency=currency)
        # Locked in id order (the posting function's order): two sweeps cannot both take the
        # same excess.
        list(
            LedgerAccount.objects.select_for_update()
            .filter(pk__in=[bank.pk, house.pk])
            .order_by("pk")
        )
        replay = JournalEntry.objects.filter(tenant=tenant, idempotency_key=idempotency_key)
        if not replay.exists():
            money = next(m for m in client_money_list(tenant=tenant) if m.currency == currency)
            if amount > money.excess:
                excess = money.excess.quantize(quantum(currency))
                raise ApplicationError(
                    422,
                    "sweep_exceeds_excess",
                    f"Only {excess} {currency} of house money is in the client-money bank "
                    "account; the rest is owed to clients.",
                    {"amount": [f"At most {excess}."]},
                )
        return transfer_post(
            tenant=tenant,
            debit_account=house.pk,
            credit_account=bank.pk,
            amount=amount,
            currency=currency,
            entry_type="sweep",
            idempotency_key=idempotency_key,
            memo="sweep of earned fees and interest",
            actor=actor,
        )


# --- manual adjustments (four eyes) --------------------------------------------------------


def adjustment_validate(*, tenant: Tenant, params: dict[str, Any]) -> dict[str, Any]:
    """Postings ``[{"account": id, "debit" or "credit": "10.00"}, …]`` on accounts of this
    tenant, amounts in each account's currency, balanced per currency; and a memo.

    Returns them normalised (amounts to the currency's places), as the approval keeps them.
    """
    memo = str(params.get("memo") or "").strip()
    postings = params.get("postings")
    problems: dict[str, list[str]] = {}
    if len(memo) > 500:
        problems["memo"] = ["At most 500 characters."]
    if not isinstance(postings, list) or not 2 <= len(postings) <= MAX_ADJUSTMENT_POSTINGS:
        problems["postings"] = [f"Give 2 to {MAX_ADJUSTMENT_POSTINGS} postings."]
        raise ValidationError(problems)
    ids = [_int_or_none(p.get("account")) for p in postings if isinstance(p, dict)]
    accounts = {
        a.pk: a
        for a in tenant_scoped(LedgerAccount, tenant=tenant).filter(
            pk__in=[i for i in ids if i is not None]
        )
    }
    normalised = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for index, posting in enumerate(postings):
        where = f"postings.{index}"
        if not isinstance(posting, dict):
            problems[where] = ["A posting is an object with an account and a debit or credit."]
            continue
        account = accounts.get(_int_or_none(posting.get("account")) or 0)
        if account is None:
            problems[f"{where}.account"] = ["No account with this id in this tenant."]
            continue
        sides = [side for side in Side if posting.get(str(side)) not in (None, "")]
        if len(sides) != 1:
            problems[where] = ["Give exactly one of debit or credit."]
            continue
        (side,) = sides
        try:
            amount = amount_parse(posting[str(side)], currency=account.currency, field=str(side))
        except ApplicationError as refusal:
            problems[f"{where}.{side}"] = refusal.fields[str(side)]
            continue
        totals[account.currency] += amount if side == Side.DEBIT else -amount
        shown = amount.quantize(quantum(account.currency))
        normalised.append({"account": account.pk, str(side): format(shown, "f")})
    if not problems:
        unbalanced = [f"Debits and credits differ by {t} {c}." for c, t in totals.items() if t]
        if unbalanced:
            problems["postings"] = unbalanced
    if problems:
        raise ValidationError(problems)
    return {"memo": memo, "postings": normalised}


def adjustment_execute(
    *, tenant: Tenant, params: dict[str, Any], maker: Any, approver: Any
) -> dict[str, Any]:
    """A tenant admin other than the maker approved: post the adjustment entry, once.

    The key is fresh: the approval itself runs once (it is locked and must be pending).
    """
    legs = [
        Leg(p["account"], side, Decimal(p[str(side)]))
        for p in params["postings"]
        for side in Side
        if str(side) in p
    ]
    entry = entry_post(
        tenant=tenant,
        entry_type="adjustment",
        legs=legs,
        idempotency_key=f"adjustment:{uuid.uuid4().hex}",
        memo=params.get("memo") or "manual adjustment",
        actor=approver,
    )
    return {"entry_id": entry.pk, "asked_by": maker.pk}
