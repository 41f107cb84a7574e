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

from ledger.rules import ACCOUNT_KINDS, ENTRY_TYPES, MoneyClass, Side

AMOUNT = {"max_digits": 28, "decimal_places": 4}


class LedgerAccount(models.Model):
    Kind = models.TextChoices("Kind", [(k, k.replace("_", " ")) for k in ACCOUNT_KINDS])

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
    posted_debits = models.DecimalField(**AMOUNT, default=Decimal(0))
    posted_credits = models.DecimalField(**AMOUNT, default=Decimal(0))
    pending_debits = models.DecimalField(**AMOUNT, default=Decimal(0))
    pending_credits = models.DecimalField(**AMOUNT, default=Decimal(0))
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

    EntryType = models.TextChoices("EntryType", [(t, t.replace("_", " ")) for t in ENTRY_TYPES])

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
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
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="postings", db_constraint=False
    )
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="postings", db_constraint=False
    )
    side = models.CharField(max_length=6, choices=[(s.value, s.value) for s in Side])
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3)
    balance_after = models.DecimalField(**AMOUNT)

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
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3)
    entry_type = models.CharField(max_length=32, choices=JournalEntry.EntryType.choices)
    memo = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField(null=True, blank=True)
    posted_amount = models.DecimalField(**AMOUNT, null=True, blank=True)
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
