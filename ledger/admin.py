"""The ledger's append-only records, read-only in the admin (corrections are new entries)."""

from ledger.models import (
    BankStatement,
    BankStatementLine,
    EntrySeal,
    JournalEntry,
    Posting,
    ReconciliationMatch,
    ReserveLeaf,
    ReserveSnapshot,
)
from platform_core.admin_site import register_read_only

register_read_only(
    JournalEntry,
    Posting,
    EntrySeal,
    ReserveSnapshot,
    ReserveLeaf,
    BankStatement,
    BankStatementLine,
    ReconciliationMatch,
)
