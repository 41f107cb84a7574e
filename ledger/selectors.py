"""Reads of the ledger, always for one tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.http import Http404

from ledger.models import LedgerAccount, Posting
from ledger.rules import Side, quantum
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped


def access_account_by_id(
    *, tenant: Tenant, membership: Membership, account_id: object
) -> LedgerAccount:
    """Staff read any account of the tenant; a client only their own (others are a 404)."""
    account = access_object_by_id(LedgerAccount, tenant=tenant, object_id=account_id)
    if membership.role == Role.CLIENT and account.owner_id != membership.pk:
        raise Http404(f"No {LedgerAccount._meta.verbose_name} with this id.")
    return account


def account_list(*, tenant: Tenant, owner: Membership | None = None) -> QuerySet[LedgerAccount]:
    queryset = tenant_scoped(LedgerAccount, tenant=tenant)
    if owner is not None:
        queryset = queryset.filter(owner=owner)
    return queryset.order_by("currency", "kind", "pk")


@dataclass(frozen=True)
class TrialBalance:
    currency: str
    total_debits: Decimal
    total_credits: Decimal
    accounts: list[LedgerAccount]


def trial_balance(*, tenant: Tenant, currency: str) -> TrialBalance:
    """All posted debits and credits of the tenant in ``currency`` (holds excluded)."""
    accounts = list(
        tenant_scoped(LedgerAccount, tenant=tenant).filter(currency=currency).order_by("pk")
    )
    return TrialBalance(
        currency=currency,
        total_debits=sum((a.posted_debits for a in accounts), Decimal(0)),
        total_credits=sum((a.posted_credits for a in accounts), Decimal(0)),
        accounts=accounts,
    )


def account_statement(
    *, tenant: Tenant, account: LedgerAccount, start: datetime | None, end: datetime | None
) -> QuerySet[Posting]:
    """The account's postings in order, each with the balance after it."""
    postings = tenant_scoped(Posting, tenant=tenant).filter(account=account)
    if start is not None:
        postings = postings.filter(entry__created_at__gte=start)
    if end is not None:
        postings = postings.filter(entry__created_at__lt=end)
    return postings.select_related("entry").order_by("pk")


def money(value: Decimal, currency: str) -> Decimal:
    return value.quantize(quantum(currency))


def postings_totals(*, tenant: Tenant, account: LedgerAccount) -> tuple[Decimal, Decimal]:
    totals = (
        tenant_scoped(Posting, tenant=tenant)
        .filter(account=account)
        .aggregate(
            debits=Sum("amount", filter=Q(side=Side.DEBIT)),
            credits=Sum("amount", filter=Q(side=Side.CREDIT)),
        )
    )
    return totals["debits"] or Decimal(0), totals["credits"] or Decimal(0)
