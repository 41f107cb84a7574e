"""A client's money movements, read from the ledger for the monitoring rules.

The ledger's journal entries carry no structured counterparty yet; a deposit notice records
what the bank told us in the entry's memo as ``key=value`` pairs separated by ``;``:
``payer=<the payer's name>; channel=cash|transfer; country=<ISO code of the payer's bank>``.
A memo without them is a transfer from an unknown payer in an unknown country.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kyc.monitoring.rules import Movement
from ledger.models import Posting
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.selectors import tenant_scoped

KINDS = {
    ("deposit", "credit"): "deposit",
    ("withdrawal", "debit"): "withdrawal",
    ("loan_drawdown", "credit"): "loan",
}
HISTORY_DAYS = 200


def memo_facts(memo: str) -> dict[str, str]:
    facts: dict[str, str] = {}
    for part in (memo or "").split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip().lower() in ("payer", "channel", "country"):
            facts[key.strip().lower()] = value.strip()
    return facts


def _movement(posting: Posting, zone: ZoneInfo) -> Movement | None:
    kind = KINDS.get((posting.entry.entry_type, posting.side))
    if kind is None:
        return None
    facts = memo_facts(posting.entry.memo)
    at = posting.entry.created_at
    channel = facts.get("channel", "transfer").lower()
    return Movement(
        entry_id=posting.entry_id,
        at=at,
        kind=kind,
        amount=posting.amount,
        currency=posting.currency,
        day=at.astimezone(zone).date().isoformat(),
        channel="cash" if channel == "cash" else "transfer",
        payer=facts.get("payer", ""),
        country=facts.get("country", "").upper()[:2],
    )


def _client_postings(tenant: Tenant):
    return (
        tenant_scoped(Posting, tenant=tenant)
        .filter(account__kind="client_cash", account__owner__isnull=False)
        .select_related("entry")
    )


def client_history(
    *, tenant: Tenant, membership_id: int, until: datetime, days: int = HISTORY_DAYS
) -> list[Movement]:
    """The client's movements in the ``days`` before ``until``, ``until`` included, oldest first."""
    zone = ZoneInfo(tenant.timezone)
    postings = (
        _client_postings(tenant)
        .filter(
            account__owner_id=membership_id,
            entry__created_at__gt=until - timedelta(days=days),
            entry__created_at__lte=until,
        )
        .order_by("entry__created_at", "entry_id")
    )
    return [m for p in postings if (m := _movement(p, zone)) is not None]


def entry_movements(*, tenant: Tenant, entry_id: int) -> list[tuple[int, Movement]]:
    """(client membership id, movement) for each client-cash leg of one entry."""
    zone = ZoneInfo(tenant.timezone)
    postings = _client_postings(tenant).filter(entry_id=entry_id).select_related("account")
    out = []
    for posting in postings:
        movement = _movement(posting, zone)
        if movement is not None:
            out.append((posting.account.owner_id, movement))
    return out


def movements_between(
    *, tenant: Tenant, since: datetime, until: datetime
) -> list[tuple[int, Movement]]:
    zone = ZoneInfo(tenant.timezone)
    postings = (
        _client_postings(tenant)
        .filter(entry__created_at__gte=since, entry__created_at__lt=until)
        .select_related("account")
        .order_by("entry__created_at", "entry_id")
    )
    out = []
    for posting in postings:
        movement = _movement(posting, zone)
        if movement is not None:
            out.append((posting.account.owner_id, movement))
    return out
