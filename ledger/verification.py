"""Recomputing the ledger from its journal: what ``ledger_verify`` and the tests check."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Q, Sum

from ledger.chain import GENESIS_HASH, seal_hash
from ledger.models import EntrySeal, Hold, JournalEntry, LedgerAccount, Posting
from ledger.rules import Side
from ledger.services import entry_digest_of
from platform_core.tenancy.models import Tenant


def ledger_problems(*, tenant: Tenant) -> list[str]:
    """Every inconsistency found, first problem first; an empty list means intact."""
    problems: list[str] = []
    # 1. Every entry balances per currency and has at least two legs.
    legs = (
        Posting.objects.filter(tenant=tenant)
        .values("entry_id", "currency")
        .annotate(
            debits=Sum("amount", filter=Q(side=Side.DEBIT)),
            credits=Sum("amount", filter=Q(side=Side.CREDIT)),
        )
        .order_by("entry_id", "currency")
    )
    for row in legs:
        if (row["debits"] or 0) != (row["credits"] or 0):
            problems.append(
                f"entry {row['entry_id']} does not balance in {row['currency']}: "
                f"debits {row['debits'] or 0} != credits {row['credits'] or 0}"
            )
    lonely = (
        JournalEntry.objects.filter(tenant=tenant)
        .annotate(legs=Sum(1, filter=Q(postings__isnull=False)))
        .filter(Q(legs__lt=2) | Q(legs__isnull=True))
        .values_list("pk", flat=True)
    )
    problems += [f"entry {pk} has fewer than two postings" for pk in lonely]
    # 2. Each account's totals equal the sum of its postings; running balances follow.
    postings_by_account: dict[int, list[Posting]] = defaultdict(list)
    postings_by_entry: dict[int, list[Posting]] = defaultdict(list)
    for posting in Posting.objects.filter(tenant=tenant).order_by("pk").iterator(chunk_size=5000):
        postings_by_account[posting.account_id].append(posting)
        postings_by_entry[posting.entry_id].append(posting)
    pending: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for hold in Hold.objects.filter(tenant=tenant, status=Hold.Status.PENDING):
        pending[(hold.debit_account_id, "debit")] += hold.amount
        pending[(hold.credit_account_id, "credit")] += hold.amount
    for account in LedgerAccount.objects.filter(tenant=tenant).order_by("pk"):
        debits = credits = Decimal(0)
        for posting in postings_by_account.get(account.pk, []):
            if posting.side == Side.DEBIT:
                debits += posting.amount
            else:
                credits += posting.amount
            running = credits - debits if account.normal_side == Side.CREDIT else debits - credits
            if posting.balance_after != running:
                problems.append(
                    f"posting {posting.pk} on account {account.pk} records balance "
                    f"{posting.balance_after}, the postings before it make {running}"
                )
        if (debits, credits) != (account.posted_debits, account.posted_credits):
            problems.append(
                f"account {account.pk} holds debits {account.posted_debits} / credits "
                f"{account.posted_credits}; its postings sum to {debits} / {credits}"
            )
        if (account.pending_debits, account.pending_credits) != (
            pending[(account.pk, "debit")],
            pending[(account.pk, "credit")],
        ):
            problems.append(f"account {account.pk}: pending totals differ from its open holds")
        if not account.may_go_negative and account.available < 0:
            problems.append(f"account {account.pk} ({account.kind}) is below zero")
    # 3. The seal chain: in sequence, linked, and each seal matches its entry as it is now.
    previous, expected = GENESIS_HASH, 1
    seals = EntrySeal.objects.filter(tenant=tenant).select_related("entry").order_by("seq")
    for seal in seals.iterator(chunk_size=2000):
        if seal.seq != expected or seal.prev_hash != previous:
            problems.append(f"seal #{seal.seq} breaks the chain (expected #{expected})")
            break
        entry_legs = [
            (p.account_id, p.side, p.amount, p.currency, p.balance_after)
            for p in postings_by_entry[seal.entry_id]
        ]
        digest = entry_digest_of(seal.entry, entry_legs)
        if seal_hash(prev_hash=previous, seq=seal.seq, digest=digest) != seal.hash:
            problems.append(f"entry {seal.entry_id} (seal #{seal.seq}) was altered after sealing")
            break
        previous, expected = seal.hash, expected + 1
    return problems
