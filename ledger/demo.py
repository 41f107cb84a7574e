"""The ledger's part of the demo (``DEMO_SEED_STEPS``): the operator's accounts and the
clients' deposits first; at the end of the seed, a pending withdrawal and today's
reconciliation against a bank statement that shows one fee the ledger has not booked.

Idempotent: accounts are unique per kind and owner, deposits and the withdrawal carry
idempotency keys, and the reconciliation is run once, on the seed's day.
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from ledger.models import JournalEntry, LedgerAccount, Posting
from ledger.reconciliation import reconciliation_list, reconciliation_run, statement_import
from ledger.rules import Side
from ledger.services import account_create, transfer_post
from ledger.withdrawals import withdrawal_request
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped

CURRENCY = "CNY"
FUNDED = range(0, 28)  # the README client, client01..client25, and the two in review
# Initial margin by client index (CNY); the risk app's books are sized from these.
DEPOSITS = {0: Decimal("400000")}
for _index in range(1, 28):
    DEPOSITS[_index] = Decimal(200000 + 25000 * (_index % 5))
HOUSE_ACCOUNTS = ("custodian_bank", "house_cash", "fee_income", "interest_income")
BANK_FEE = Decimal("35.00")


def _account(tenant: Tenant, kind: str, owner: Membership | None = None) -> LedgerAccount:
    found = (
        tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(kind=kind, currency=CURRENCY, owner=owner)
        .first()
    )
    return found or account_create(
        tenant=tenant, kind=kind, currency=CURRENCY, owner_id=owner.pk if owner else None
    )


def deposit_key(membership: Membership, number: int = 1) -> str:
    return f"demo:deposit:{membership.user.email}:{number}"


def client_deposit(
    *, tenant: Tenant, membership: Membership, amount: Decimal, number: int = 1
) -> None:
    """A bank notice: the client's money arrived at the custodian bank (idempotent). A notice
    already booked is not sent again: its replay would tell the listeners again (the margin
    loop re-marks an account with a call on a deposit) at whatever the prices are now."""
    key = deposit_key(membership, number)
    if tenant_scoped(JournalEntry, tenant=tenant).filter(idempotency_key=key).exists():
        return
    bank = _account(tenant, "custodian_bank")
    client = _account(tenant, "client_cash", membership)
    transfer_post(
        tenant=tenant,
        debit_account=bank.pk,
        credit_account=client.pk,
        amount=amount,
        currency=CURRENCY,
        entry_type="deposit",
        idempotency_key=key,
        memo=f"bank notice: deposit from {membership.user.full_name}",
    )


def demo_seed_step(
    *, tenant: Tenant, staff: dict[str, Membership], clients: list[Membership]
) -> None:
    for kind in HOUSE_ACCOUNTS:
        _account(tenant, kind)
    for index in FUNDED:
        client_deposit(tenant=tenant, membership=clients[index], amount=DEPOSITS[index])


def _statement_csv(tenant: Tenant, bank: LedgerAccount, day: str) -> bytes:
    """Today's statement as the custodian bank would send it: every movement of the bank
    account by its reference, and a fee the ledger does not know about (the break)."""
    postings = (
        tenant_scoped(Posting, tenant=tenant)
        .filter(account=bank)
        .select_related("entry")
        .order_by("entry_id", "pk")
    )
    rows = ["date,reference,amount,currency,description", f"{day},opening_balance,0.00,CNY,"]
    total = Decimal(0)
    for posting in postings:
        signed = posting.amount if posting.side == Side.DEBIT else -posting.amount
        total += signed
        entry: JournalEntry = posting.entry
        rows.append(f"{day},{entry.idempotency_key},{signed:.2f},CNY,{entry.entry_type}")
    rows.append(f"{day},BANK-FEE-DEMO,{-BANK_FEE:.2f},CNY,Custody account maintenance fee")
    rows.append(f"{day},closing_balance,{total - BANK_FEE:.2f},CNY,")
    return ("\n".join(rows) + "\n").encode()


def demo_close_step(
    *, tenant: Tenant, staff: dict[str, Membership], clients: list[Membership]
) -> None:
    """Last step: a withdrawal waiting for operations, and today's reconciliation with a
    break (run once; a later seed, even on another day, leaves it as it is)."""
    client = clients[2]
    withdrawal_request(
        tenant=tenant,
        membership=client,
        actor=client.user,
        currency=CURRENCY,
        amount=Decimal("20000.00"),
        destination="6222020200100000002",
        idempotency_key="demo:withdrawal:client02:1",
    )
    today = timezone.localdate(timezone.now(), ZoneInfo(tenant.timezone))
    if reconciliation_list(tenant=tenant).exists():
        return  # the demo's statement is of the seed's day; later days are operations' to run
    bank = _account(tenant, "custodian_bank")
    data = _statement_csv(tenant, bank, today.isoformat())
    statement = statement_import(
        tenant=tenant,
        data=data,
        filename=f"demo-statement-{today}.csv",
        actor=staff["operations"].user,
    )
    reconciliation_run(
        tenant=tenant,
        business_date=today,
        statement=statement,
        actor=staff["operations"].user,
    )
