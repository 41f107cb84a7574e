"""A small book for ledger tests: the accounts an operator opens, and money in them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from ledger.models import LedgerAccount
from ledger.services import account_create, transfer_post
from tests.conftest import TenantPeople

_keys = itertools.count(1)


def key(prefix: str = "k") -> str:
    return f"{prefix}-{next(_keys)}"


@dataclass
class Book:
    bank: LedgerAccount
    client: LedgerAccount
    house: LedgerAccount
    fees: LedgerAccount

    def fund(self, amount: str, account: LedgerAccount | None = None) -> None:
        """A deposit notice: the bank received client money for ``account``."""
        target = account or self.client
        transfer_post(
            tenant=target.tenant,
            debit_account=self.bank.pk,
            credit_account=target.pk,
            amount=Decimal(amount),
            currency=target.currency,
            entry_type="deposit",
            idempotency_key=key("deposit"),
        )


def open_book(people: TenantPeople, currency: str = "USD") -> Book:
    """Open the tenant's accounts (the caller is in the tenant's context)."""
    tenant = people.tenant
    return Book(
        bank=account_create(tenant=tenant, kind="custodian_bank", currency=currency),
        client=account_create(
            tenant=tenant,
            kind="client_cash",
            currency=currency,
            owner_id=people.client.membership.pk,
        ),
        house=account_create(tenant=tenant, kind="house_cash", currency=currency),
        fees=account_create(tenant=tenant, kind="fee_income", currency=currency),
    )


def refreshed(account: LedgerAccount) -> LedgerAccount:
    return LedgerAccount.objects.get(pk=account.pk)
