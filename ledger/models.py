"""Segregated custody ledgers: accounts, journal entries, postings, holds and the seal chain.

Entries and postings are append-only in the database (triggers, and no UPDATE/DELETE/TRUNCATE
privilege for the application role); a correction is a reversal entry. Balances live on the
account and change only in the posting function (``ledger_post_entry`` in the migrations),
under row locks taken in account-id order.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ledger.rules import ACCOUNT_KINDS, ENTRY_TYPES, MoneyClass, Side, quantum

# Money: up to 24 integer digits and 4 decimals (every supported currency has at most 2).
AMOUNT_DIGITS, AMOUNT_PLACES = 28, 4


class LedgerAccount(models.Model):
    # The functional form builds the choices from the rules table (django-stubs lacks it).
    Kind = models.TextChoices(  # type: ignore[call-overload]
        "Kind", [(k.upper(), (k, k.replace("_", " "))) for k in ACCOUNT_KINDS]
    )

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    owner = models.ForeignKey(  # checked by the composite (tenant_id, owner_id) key
        "tenancy.Membership",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    # Derived from the kind at creation and stored, so the posting function can check them.
    normal_side = models.CharField(max_length=6, choices=[(s.value, s.value) for s in Side])
    money_class = models.CharField(max_length=6, choices=[(c.value, c.value) for c in MoneyClass])
    may_go_negative = models.BooleanField()
    posted_debits = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=Decimal(0)
    )
    posted_credits = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=Decimal(0)
    )
    pending_debits = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=Decimal(0)
    )
    pending_credits = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=Decimal(0)
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="ledgeraccount_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "kind", "currency", "owner"],
                name="ledgeraccount_one_per_kind",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=models.Q(kind="client_cash", owner__isnull=False)
                | (~models.Q(kind="client_cash") & models.Q(owner__isnull=True)),
                name="ledgeraccount_owner_iff_client_cash",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    posted_debits__gte=0,
                    posted_credits__gte=0,
                    pending_debits__gte=0,
                    pending_credits__gte=0,
                ),
                name="ledgeraccount_totals_non_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "owner", "currency"], name="ledgeraccount_owner_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.currency}#{self.pk}"

    @property
    def balance(self) -> Decimal:
        """Posted balance on the account's normal side."""
        if self.normal_side == Side.CREDIT:
            return self.posted_credits - self.posted_debits
        return self.posted_debits - self.posted_credits

    @property
    def available(self) -> Decimal:
        """Balance less the pending amounts (holds) that would reduce it."""
        reducing = self.pending_debits if self.normal_side == Side.CREDIT else self.pending_credits
        return self.balance - reducing


class JournalEntry(models.Model):
    """One business event's money movement: balanced postings, all or none."""

    EntryType = models.TextChoices(  # type: ignore[call-overload]
        "EntryType", [(t.upper(), (t, t.replace("_", " "))) for t in ENTRY_TYPES]
    )

    # The unique (tenant, id) and (tenant, idempotency_key) indexes begin with tenant_id.
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    entry_type = models.CharField(max_length=32, choices=EntryType.choices)
    memo = models.CharField(max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)
    reverses = models.OneToOneField(  # checked by the composite (tenant_id, reverses_id) key
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        db_constraint=False,
    )
    created_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="journalentry_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="journalentry_idempotency_key"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "created_at"], name="journalentry_time_idx")]

    def __str__(self) -> str:
        return f"{self.entry_type} #{self.pk}"


class Posting(models.Model):
    """One leg: a debit or a credit of one account, with the account's balance after it."""

    # The database checks these through the composite keys (tenant_id, entry_id) and
    # (tenant_id, account_id) (migration 0002), which imply the plain ones: checking both would
    # double the work of every posting.
    # No single-column indexes either: row security puts tenant_id in every query, so the
    # composite indexes below serve every lookup (migration 0007).
    tenant = models.ForeignKey(
        "tenancy.Tenant",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    entry = models.ForeignKey(
        JournalEntry,
        on_delete=models.PROTECT,
        related_name="postings",
        db_constraint=False,
        db_index=False,
    )
    account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        related_name="postings",
        db_constraint=False,
        db_index=False,
    )
    side = models.CharField(max_length=6, choices=[(s.value, s.value) for s in Side])
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    currency = models.CharField(max_length=3)
    balance_after = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="posting_amount_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "account", "id"], name="posting_statement_idx"),
            models.Index(fields=["tenant", "entry"], name="posting_entry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.currency} on {self.account_id}"


class Hold(models.Model):
    """A two-phase transfer: reserved now, posted (in full or part) or voided exactly once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        POSTED = "posted", "Posted"
        VOIDED = "voided", "Voided"
        EXPIRED = "expired", "Expired"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    # Account and entry references are checked by composite same-tenant keys (migration 0002).
    debit_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    credit_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    currency = models.CharField(max_length=3)
    entry_type = models.CharField(max_length=32, choices=JournalEntry.EntryType.choices)
    memo = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField(null=True, blank=True)
    posted_amount = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, null=True, blank=True
    )
    entry = models.OneToOneField(
        JournalEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="hold",
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="hold_tenant_id_key"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="hold_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "expires_at"], name="hold_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"hold #{self.pk} {self.amount} {self.currency} ({self.status})"


class EntrySeal(models.Model):
    """The hash chain over the journal, appended off the write path in the order entries
    became visible: ``hash = SHA-256(canonical(entry, postings) + prev_hash)`` (see
    ``ledger.chain``)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveBigIntegerField()
    entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="seal", db_constraint=False
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="entryseal_chain_seq"),
        ]

    def __str__(self) -> str:
        return f"seal #{self.seq} of entry {self.entry_id}"


# --- proof of reserves ---------------------------------------------------------------------
# Amounts below are integers in the currency's minor unit (the Merkle tree's u128), stored as
# whole-number decimals because a sum of client balances can exceed a bigint.
MINOR_DIGITS = 39


class ReserveSnapshot(models.Model):
    """One published Merkle sum tree: a tenant's client_cash balances in one currency at one
    instant, and the custodian bank balance at the same cut-off (see ledger.proof_of_reserves).

    Append-only: a snapshot is evidence given to clients and auditors, never edited.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    # Opaque to clients; shared by the trees of every currency taken at the same instant.
    snapshot = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    taken_at = models.DateTimeField()
    leaf_count = models.PositiveIntegerField()
    root_hash = models.CharField(max_length=64)
    total_liabilities = models.DecimalField(max_digits=MINOR_DIGITS, decimal_places=0)
    reserves = models.DecimalField(max_digits=MINOR_DIGITS, decimal_places=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="reservesnapshot_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "snapshot", "currency"], name="reservesnapshot_one_tree"
            ),
            models.CheckConstraint(
                condition=models.Q(total_liabilities__gte=0, reserves__gte=0, leaf_count__gte=1),
                name="reservesnapshot_amounts_non_negative",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "taken_at"], name="reservesnapshot_time_idx")]

    def __str__(self) -> str:
        return f"proof of reserves {self.snapshot} {self.currency}"


class ReserveLeaf(models.Model):
    """One leaf of a snapshot's tree, kept so any client's proof can be rebuilt.

    A client's leaf has its account and salt; a padding leaf has neither, only its random
    commitment and a zero balance.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    # Snapshot and account are checked by the composite same-tenant keys (migration 0003),
    # which imply the plain ones.
    snapshot = models.ForeignKey(
        ReserveSnapshot, on_delete=models.PROTECT, related_name="leaves", db_constraint=False
    )
    index = models.PositiveIntegerField()
    account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    salt = models.CharField(max_length=64, blank=True)
    commitment = models.CharField(max_length=64)
    balance = models.DecimalField(max_digits=MINOR_DIGITS, decimal_places=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "snapshot", "index"], name="reserveleaf_one_per_index"
            ),
            models.UniqueConstraint(
                fields=["tenant", "snapshot", "account"], name="reserveleaf_one_per_account"
            ),
            models.CheckConstraint(
                condition=models.Q(balance__gte=0), name="reserveleaf_balance_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(account__isnull=False) & ~models.Q(salt="")
                | models.Q(account__isnull=True, salt="", balance=0),
                name="reserveleaf_client_or_padding",
            ),
        ]

    def __str__(self) -> str:
        return f"leaf {self.index} of snapshot {self.snapshot_id}"


# --- reconciliation ------------------------------------------------------------------------
# CASS 7.15 internal and 7.15.20 external reconciliation (see ledger.reconciliation and
# docs/reconciliation.md). Statements and matches are append-only; a run and its breaks only
# ever record their outcome (the database refuses any other change).


class BankStatement(models.Model):
    """A custodian-bank statement as imported; the same file imported again is this row."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        CAMT053 = "camt.053", "ISO 20022 camt.053"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    source_format = models.CharField(max_length=16, choices=Format.choices)
    filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    bank_account = models.CharField(max_length=64, blank=True)
    statement_ref = models.CharField(max_length=64, blank=True)
    opening_balance = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, null=True, blank=True
    )
    opening_date = models.DateField(null=True, blank=True)
    closing_balance = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    closing_date = models.DateField()
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="bankstatement_tenant_id_key"),
            models.UniqueConstraint(fields=["tenant", "sha256"], name="bankstatement_one_per_file"),
        ]

    def __str__(self) -> str:
        return f"statement #{self.pk} {self.currency} to {self.closing_date}"


class BankStatementLine(models.Model):
    """One booked bank entry; ``direction`` is the bank's: credit = money received."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField()
    source = models.CharField(max_length=64)
    booking_date = models.DateField()
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    direction = models.CharField(max_length=6, choices=[(s.value, s.value) for s in Side])
    references = models.JSONField(default=list)
    description = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "id"], name="bankstatementline_tenant_id_key"
            ),
            models.UniqueConstraint(
                fields=["tenant", "statement", "position"], name="bankstatementline_position"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="bankstatementline_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} of statement {self.statement_id}"


class Reconciliation(models.Model):
    """One run: internal (client money owed vs held) or external (ledger vs bank statement)."""

    class Kind(models.TextChoices):
        INTERNAL = "internal", "Internal"
        EXTERNAL = "external", "External"

    class Status(models.TextChoices):
        BALANCED = "balanced", "Balanced"
        BREAKS = "breaks", "Open breaks"
        RESOLVED = "resolved", "Breaks resolved"
        SUPERSEDED = "superseded", "Superseded"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField()
    currency = models.CharField(max_length=3)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    cutoff = models.DateTimeField()
    statement = models.ForeignKey(
        BankStatement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    figures = models.JSONField(default=dict)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="reconciliation_tenant_id_key"),
            models.CheckConstraint(
                condition=models.Q(kind="internal", statement__isnull=True)
                | models.Q(kind="external", statement__isnull=False),
                name="reconciliation_statement_iff_external",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "business_date", "kind", "currency"],
                name="reconciliation_day_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} reconciliation #{self.pk} {self.currency} {self.business_date}"


class ReconciliationBreak(models.Model):
    """A difference a run found, its reason, and how (and by whom) it was resolved."""

    class Kind(models.TextChoices):
        SHORTFALL = "shortfall", "Client money shortfall"
        EXCESS = "excess", "Client money excess"
        UNMATCHED_BANK_LINE = "unmatched_bank_line", "Bank entry not in the ledger"
        UNMATCHED_LEDGER_ENTRY = "unmatched_ledger_entry", "Ledger entry not on the statement"
        AMOUNT_MISMATCH = "amount_mismatch", "Amounts differ"
        CLOSING_BALANCE = "closing_balance", "Closing balances differ"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        SUPERSEDED = "superseded", "Superseded"

    class Resolution(models.TextChoices):
        TOPUP = "topup", "Topped up from house money"
        TIMING = "timing_difference", "Timing difference"
        BANK_ERROR = "bank_error_reported", "Bank error reported to the bank"
        CORRECTION = "correction_posted", "Correction entry posted"

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    reconciliation = models.ForeignKey(
        Reconciliation, on_delete=models.PROTECT, related_name="breaks"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    reason = models.TextField()
    statement_line = models.ForeignKey(
        BankStatementLine, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=32, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    resolution_entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_label = models.CharField(max_length=254, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        Reconciliation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "id"], name="reconciliationbreak_tenant_id_key"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="reconciliationbreak_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(status="open", resolution="", resolved_at__isnull=True)
                | models.Q(status="resolved", resolved_at__isnull=False) & ~models.Q(resolution="")
                | models.Q(status="superseded", superseded_by__isnull=False),
                name="reconciliationbreak_resolution_iff_resolved",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "kind"], name="reconciliationbreak_open_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} break #{self.pk} {self.amount} {self.currency} ({self.status})"


class ReconciliationMatch(models.Model):
    """A bank statement line paired with the journal entry it records."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    reconciliation = models.ForeignKey(
        Reconciliation, on_delete=models.PROTECT, related_name="matches"
    )
    statement_line = models.ForeignKey(
        BankStatementLine, on_delete=models.PROTECT, related_name="+"
    )
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "reconciliation", "statement_line"],
                name="reconciliationmatch_line_once",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "entry"], name="reconciliationmatch_entry_idx")]

    def __str__(self) -> str:
        return f"{self.statement_line_id} = entry {self.entry_id}"


# --- withdrawals ---------------------------------------------------------------------------
# A client's request to be paid out (see ledger.withdrawals). Only the decision is ever written
# after the request: the database refuses any other change, and any change once decided.


class WithdrawalRequest(models.Model):
    """Client money to pay out: held at once, posted when operations approve it (a second
    operations person above the tenant's threshold), released when rejected or cancelled."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        AWAITING_SECOND_APPROVAL = "awaiting_second_approval", _("Awaiting a second approval")
        PAID = "paid", _("Paid")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    PENDING = (Status.REQUESTED, Status.AWAITING_SECOND_APPROVAL)

    # Account, hold and approval are checked by the composite same-tenant keys (migration 0005).
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    currency = models.CharField(max_length=3)
    # The client's bank account as shown to people (last characters only); the full number
    # stays with the bank details verified at onboarding.
    destination = models.CharField(max_length=40)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.REQUESTED)
    hold = models.OneToOneField(
        Hold, on_delete=models.PROTECT, related_name="withdrawal", db_constraint=False
    )
    approval = models.ForeignKey(
        "audit.ApprovalRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The operations person who approved first: the maker of the four-eyes request.
    first_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "id"], name="withdrawalrequest_tenant_id_key"
            ),
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="withdrawalrequest_idempotency_key"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="withdrawalrequest_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["requested", "awaiting_second_approval"], decided_at__isnull=True
                )
                | models.Q(status__in=["paid", "rejected", "cancelled"], decided_at__isnull=False),
                name="withdrawalrequest_decided_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"], name="withdrawal_queue_idx"),
            models.Index(fields=["tenant", "account", "created_at"], name="withdrawal_account_idx"),
        ]

    def __str__(self) -> str:
        return f"withdrawal #{self.pk} {self.amount} {self.currency} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING

    @property
    def amount_shown(self) -> Decimal:
        """The amount to the currency's minor unit."""
        return self.amount.quantize(quantum(self.currency))
