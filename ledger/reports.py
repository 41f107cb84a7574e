"""The ledger's report types for auditors (platform_core.hooks.report_types), and the journal's
checkpoint log (platform_core.hooks.checkpoint_logs). Registered in ``LedgerConfig.ready()``.

- ``trial_balance``: every account's debits, credits and balance at the end of the period,
  totalled by account kind and currency; debits must equal credits per currency;
- ``journal``: the period's postings. The PDF carries totals by account and by day, the
  exceptions and the journal's seal chain head; every posting is in the CSV appendix, whose
  SHA-256 the signed PDF states (100,000 rows do not belong in a PDF table);
- ``reconciliation``: client-money reconciliations of each business date, their breaks and
  how each was resolved;
- ``proof_of_reserves``: published Merkle sum roots, totals and reserves, and the recipe.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ledger.models import (
    EntrySeal,
    JournalEntry,
    LedgerAccount,
    Posting,
    Reconciliation,
    ReconciliationBreak,
    ReserveSnapshot,
)
from ledger.proof_of_reserves import por_root_document
from ledger.rules import Side, quantum
from platform_core.audit.report_content import (
    ReportAppendix,
    ReportBody,
    ReportPeriod,
    ReportSection,
    amount_text,
    bar_chart_svg,
)
from platform_core.hooks import CheckpointLog, ReportType
from platform_core.tenancy.models import Tenant

ZERO = Value(Decimal(0), output_field=DecimalField())


def _money(value: Decimal, currency: str) -> str:
    return amount_text(value.quantize(quantum(currency)))


def _balance(*, normal_side: str, debits: Decimal, credits: Decimal) -> Decimal:
    return debits - credits if normal_side == Side.DEBIT else credits - debits


# --- trial balance --------------------------------------------------------------------------


def trial_balance_build(
    *, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix
) -> ReportBody:
    sums = (
        Posting.objects.filter(tenant=tenant, entry__created_at__lt=period.end)
        .values("account_id", "side")
        .annotate(
            total=Sum("amount"), moved=Sum("amount", filter=Q(entry__created_at__gte=period.start))
        )
        .order_by()
    )
    per_account: dict[int, dict[str, Decimal]] = defaultdict(
        lambda: {
            "debit": Decimal(0),
            "credit": Decimal(0),
            "moved_debit": Decimal(0),
            "moved_credit": Decimal(0),
        }
    )
    for row in sums:
        figures = per_account[row["account_id"]]
        figures[row["side"]] += row["total"]
        figures[f"moved_{row['side']}"] += row["moved"] or Decimal(0)
    accounts = {
        a.pk: a for a in LedgerAccount.objects.filter(tenant=tenant, pk__in=list(per_account))
    }
    rows_out = []
    by_kind: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: {"debit": Decimal(0), "credit": Decimal(0), "count": Decimal(0)}
    )
    for account_id in sorted(per_account):
        account, figures = accounts[account_id], per_account[account_id]
        balance = _balance(
            normal_side=account.normal_side, debits=figures["debit"], credits=figures["credit"]
        )
        rows_out.append(
            [
                account_id,
                account.kind,
                account.currency,
                account.owner_id,
                account.normal_side,
                figures["moved_debit"],
                figures["moved_credit"],
                figures["debit"],
                figures["credit"],
                balance,
            ]
        )
        kind = by_kind[account.currency, account.kind]
        kind["debit"] += figures["debit"]
        kind["credit"] += figures["credit"]
        kind["count"] += 1
    appendix.csv(
        "accounts",
        [
            "account",
            "kind",
            "currency",
            "owner_membership",
            "normal_side",
            "period_debits",
            "period_credits",
            "debits_to_date",
            "credits_to_date",
            "balance",
        ],
        rows_out,
    )
    currencies = sorted({currency for currency, _kind in by_kind})
    totals = []
    exceptions = []
    for currency in currencies:
        debits = sum((v["debit"] for (c, _k), v in by_kind.items() if c == currency), Decimal(0))
        credits = sum((v["credit"] for (c, _k), v in by_kind.items() if c == currency), Decimal(0))
        totals.append([currency, _money(debits, currency), _money(credits, currency)])
        if debits != credits:
            exceptions.append(
                [currency, _("Debits and credits differ by %(d)s") % {"d": debits - credits}]
            )
    return ReportBody(
        empty=not per_account,
        summary=[
            (_("As of"), _("end of %(date)s") % {"date": period.date_to.isoformat()}),
            (_("Accounts with postings"), str(len(per_account))),
            (_("Balanced"), _("yes") if not exceptions else _("NO")),
        ],
        sections=[
            ReportSection(
                title=_("Totals by currency"),
                columns=[_("Currency"), _("Debits"), _("Credits")],
                rows=totals,
                numeric=[1, 2],
            ),
            ReportSection(
                title=_("Exceptions"), columns=[_("Currency"), _("Finding")], rows=exceptions
            ),
            ReportSection(
                title=_("By account kind"),
                text=_("Every account's figures are in the accounts appendix."),
                columns=[_("Currency"), _("Kind"), _("Accounts"), _("Debits"), _("Credits")],
                rows=[
                    [
                        currency,
                        kind,
                        str(int(v["count"])),
                        _money(v["debit"], currency),
                        _money(v["credit"], currency),
                    ]
                    for (currency, kind), v in sorted(by_kind.items())
                ],
                numeric=[2, 3, 4],
            ),
        ],
    )


# --- journal --------------------------------------------------------------------------------


def journal_build(*, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix) -> ReportBody:
    postings = Posting.objects.filter(
        tenant=tenant, entry__created_at__gte=period.start, entry__created_at__lt=period.end
    )
    columns = [
        "entry",
        "created_at",
        "entry_type",
        "reverses",
        "account",
        "account_kind",
        "side",
        "amount",
        "currency",
        "balance_after",
        "seal_seq",
        "seal_hash",
    ]
    appendix.csv(
        "postings",
        columns,
        postings.order_by("entry_id", "id")
        .values_list(
            "entry_id",
            "entry__created_at",
            "entry__entry_type",
            "entry__reverses_id",
            "account_id",
            "account__kind",
            "side",
            "amount",
            "currency",
            "balance_after",
            "entry__seal__seq",
            "entry__seal__hash",
        )
        .iterator(chunk_size=10000),
    )

    by_account = list(
        postings.values("account_id", "account__kind", "currency")
        .annotate(
            debits=Sum("amount", filter=Q(side=Side.DEBIT)),
            credits=Sum("amount", filter=Q(side=Side.CREDIT)),
            n=Count("id"),
        )
        .order_by("currency", "account_id")
    )
    by_day = list(
        postings.annotate(day=TruncDate("entry__created_at", tzinfo=period.zone))
        .values("day", "currency")
        .annotate(
            debits=Sum("amount", filter=Q(side=Side.DEBIT)),
            n=Count("id"),
            entries=Count("entry_id", distinct=True),
        )
        .order_by("day", "currency")
    )
    appendix.csv(
        "totals-by-account",
        ["account", "kind", "currency", "postings", "debits", "credits"],
        (
            [
                r["account_id"],
                r["account__kind"],
                r["currency"],
                r["n"],
                r["debits"] or 0,
                r["credits"] or 0,
            ]
            for r in by_account
        ),
    )

    entries = JournalEntry.objects.filter(
        tenant=tenant, created_at__gte=period.start, created_at__lt=period.end
    )
    unbalanced = list(
        postings.values("entry_id", "currency")
        .annotate(
            debits=Coalesce(Sum("amount", filter=Q(side=Side.DEBIT)), ZERO),
            credits=Coalesce(Sum("amount", filter=Q(side=Side.CREDIT)), ZERO),
        )
        .exclude(debits=F("credits"))
        .order_by("entry_id")[:100]
    )
    unsealed = entries.filter(~Exists(EntrySeal.objects.filter(entry=OuterRef("pk")))).count()
    special = list(
        entries.filter(Q(reverses__isnull=False) | Q(entry_type="adjustment"))
        .order_by("pk")
        .values_list("pk", "entry_type", "reverses_id", "memo")[:200]
    )
    exceptions = [
        [
            str(r["entry_id"]),
            _("Unbalanced in %(c)s: debits %(d)s, credits %(k)s")
            % {"c": r["currency"], "d": r["debits"] or 0, "k": r["credits"] or 0},
        ]
        for r in unbalanced
    ]
    exceptions += [
        [
            str(pk),
            _("Reversal of entry %(r)s") % {"r": reverses}
            if reverses
            else _("Manual adjustment: %(memo)s") % {"memo": memo or "—"},
        ]
        for pk, entry_type, reverses, memo in special
    ]
    if unsealed:
        exceptions.append(
            [
                "—",
                _("%(n)s entries of the period are not sealed in the chain yet") % {"n": unsealed},
            ]
        )
    head = (
        EntrySeal.objects.filter(tenant=tenant, entry__created_at__lt=period.end)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    posting_count = sum(r["n"] for r in by_account)
    return ReportBody(
        empty=posting_count == 0,
        summary=[
            (_("Entries"), str(entries.count())),
            (_("Postings"), str(posting_count)),
            (_("Accounts touched"), str(len(by_account))),
            (_("Seal chain head at the period's end"), f"#{head[0]} {head[1]}" if head else "—"),
        ],
        sections=[
            ReportSection(
                title=_("Exceptions"),
                text=_("Unbalanced entries, reversals, manual adjustments and unsealed entries."),
                columns=[_("Entry"), _("Finding")],
                rows=exceptions,
            ),
            ReportSection(
                title=_("Totals by day"),
                columns=[_("Day"), _("Currency"), _("Entries"), _("Postings"), _("Debits")],
                rows=[
                    [
                        r["day"].isoformat(),
                        r["currency"],
                        str(r["entries"]),
                        str(r["n"]),
                        _money(r["debits"] or Decimal(0), r["currency"]),
                    ]
                    for r in by_day
                ],
                numeric=[2, 3, 4],
                chart_svg=bar_chart_svg(
                    labels=[r["day"].isoformat()[5:] for r in by_day],
                    values=[r["n"] for r in by_day],
                    title=_("Postings per day"),
                )
                if by_day
                else "",
            ),
            ReportSection(
                title=_("Totals by account"),
                columns=[
                    _("Account"),
                    _("Kind"),
                    _("Currency"),
                    _("Postings"),
                    _("Debits"),
                    _("Credits"),
                ],
                rows=[
                    [
                        str(r["account_id"]),
                        r["account__kind"],
                        r["currency"],
                        str(r["n"]),
                        _money(r["debits"] or Decimal(0), r["currency"]),
                        _money(r["credits"] or Decimal(0), r["currency"]),
                    ]
                    for r in by_account
                ],
                numeric=[3, 4, 5],
            ),
        ],
    )


# --- reconciliation -------------------------------------------------------------------------


def reconciliation_build(
    *, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix
) -> ReportBody:
    runs = list(
        Reconciliation.objects.filter(
            tenant=tenant,
            business_date__gte=period.date_from,
            business_date__lte=period.date_to,
            superseded_by__isnull=True,
        ).order_by("business_date", "kind", "currency", "pk")
    )
    breaks = list(
        ReconciliationBreak.objects.filter(tenant=tenant, reconciliation__in=runs).order_by("pk")
    )
    breaks_of: dict[int, list[ReconciliationBreak]] = defaultdict(list)
    for brk in breaks:
        breaks_of[brk.reconciliation_id].append(brk)
    appendix.json(
        "reconciliations",
        [
            {
                "id": run.pk,
                "business_date": run.business_date,
                "kind": run.kind,
                "currency": run.currency,
                "status": run.status,
                "cutoff": run.cutoff,
                "figures": run.figures,
                "breaks": [
                    {
                        "id": b.pk,
                        "kind": b.kind,
                        "amount": b.amount,
                        "reason": b.reason,
                        "status": b.status,
                        "resolution": b.resolution,
                        "note": b.resolution_note,
                        "resolved_by": b.resolved_label,
                        "resolved_at": b.resolved_at,
                    }
                    for b in breaks_of[run.pk]
                ],
            }
            for run in runs
        ],
    )
    per_day: dict[str, int] = defaultdict(int)
    for brk in breaks:
        run = next(r for r in runs if r.pk == brk.reconciliation_id)
        per_day[run.business_date.isoformat()] += 1
    open_breaks = [b for b in breaks if b.status == ReconciliationBreak.Status.OPEN]
    return ReportBody(
        empty=not runs,
        summary=[
            (_("Reconciliations"), str(len(runs))),
            (_("Breaks found"), str(len(breaks))),
            (_("Breaks still open"), str(len(open_breaks))),
        ],
        sections=[
            ReportSection(
                title=_("Daily results"),
                columns=[_("Date"), _("Kind"), _("Currency"), _("Status"), _("Breaks")],
                rows=[
                    [
                        run.business_date.isoformat(),
                        run.kind,
                        run.currency,
                        run.status,
                        str(len(breaks_of[run.pk])),
                    ]
                    for run in runs
                ],
                numeric=[4],
                chart_svg=bar_chart_svg(
                    labels=[day[5:] for day in sorted(per_day)],
                    values=[per_day[day] for day in sorted(per_day)],
                    title=_("Breaks per business date"),
                )
                if per_day
                else "",
            ),
            ReportSection(
                title=_("Breaks and their resolution"),
                columns=[
                    _("Break"),
                    _("Kind"),
                    _("Amount"),
                    _("Status"),
                    _("Resolution"),
                    _("Reason"),
                ],
                rows=[
                    [
                        str(b.pk),
                        b.kind,
                        _money(b.amount, b.currency),
                        b.status,
                        f"{b.resolution} {b.resolved_label}".strip(),
                        b.reason,
                    ]
                    for b in breaks
                ],
                numeric=[2],
            ),
        ],
    )


# --- proof of reserves ----------------------------------------------------------------------


def proof_of_reserves_build(
    *, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix
) -> ReportBody:
    snapshots = list(
        ReserveSnapshot.objects.filter(
            tenant=tenant, taken_at__gte=period.start, taken_at__lt=period.end
        ).order_by("taken_at", "currency")
    )
    documents = [por_root_document(row, tenant=tenant) for row in snapshots]
    appendix.json("roots", documents)
    shortfalls = [d for d in documents if d["reserves"] < d["total_liabilities"]]
    return ReportBody(
        empty=not snapshots,
        summary=[
            (_("Published roots"), str(len(snapshots))),
            (_("Roots with a shortfall"), str(len(shortfalls))),
        ],
        sections=[
            ReportSection(
                title=_("Roots, totals and reserves"),
                text=_("Amounts are in the currency's minor unit, as in the Merkle sum tree."),
                columns=[
                    _("Snapshot"),
                    _("Currency"),
                    _("Leaves"),
                    _("Liabilities"),
                    _("Reserves"),
                    _("Root hash"),
                ],
                rows=[
                    [
                        d["snapshot"],
                        d["currency"],
                        str(d["leaf_count"]),
                        f"{d['total_liabilities']:,}",
                        f"{d['reserves']:,}",
                        d["root_hash"],
                    ]
                    for d in documents
                ],
                numeric=[2, 3, 4],
            ),
            ReportSection(
                title=_("Exceptions"),
                columns=[_("Snapshot"), _("Finding")],
                rows=[[d["snapshot"], d["statement"]] for d in shortfalls],
            ),
            ReportSection(
                title=_("How a client or auditor verifies"),
                text=_(
                    "1. Take the published root (roots appendix) and the client's proof from "
                    "the portal.\n2. Recompute the leaf: SHA-256(0x00 || SHA-256(salt || "
                    "account_ref) || u128(balance)).\n3. Fold the path: SHA-256(0x01 || left "
                    "|| u128(left sum) || right || u128(right sum)) up to the root; the hash and "
                    "the total must equal the published ones.\n4. Compare reserves with total "
                    "liabilities. docs/verify-proof-of-reserves.md has the details and "
                    "manage.py por_verify does all of it."
                ),
            ),
        ],
    )


# --- the journal's checkpoint log -----------------------------------------------------------


def journal_log_leaves(*, tenant: Tenant, size: int | None = None) -> list[bytes]:
    seals = EntrySeal.objects.filter(tenant=tenant).order_by("seq").values_list("hash", flat=True)
    if size is not None:
        seals = seals[:size]
    return [bytes.fromhex(digest) for digest in seals.iterator(chunk_size=10000)]


def journal_log_describe(*, tenant: Tenant, index: int) -> dict[str, Any]:
    seal = EntrySeal.objects.filter(tenant=tenant, seq=index + 1).first()
    if seal is None:
        return {}
    return {
        "type": "journal_entry",
        "seal_seq": seal.seq,
        "entry": seal.entry_id,
        "hash": seal.hash,
        "prev_hash": seal.prev_hash,
    }


REPORT_TYPES = (
    ReportType(
        key="trial_balance",
        title=gettext_lazy("Trial balance"),
        description=gettext_lazy("Debits, credits and balances of every account."),
        build=trial_balance_build,
    ),
    ReportType(
        key="journal",
        title=gettext_lazy("Journal"),
        description=gettext_lazy("Every posting of the period; totals by account and day."),
        build=journal_build,
    ),
    ReportType(
        key="reconciliation",
        title=gettext_lazy("Client money reconciliation"),
        description=gettext_lazy("Daily reconciliation results, breaks and resolutions."),
        build=reconciliation_build,
    ),
    ReportType(
        key="proof_of_reserves",
        title=gettext_lazy("Proof of reserves"),
        description=gettext_lazy("Published roots, liabilities, reserves and the recipe."),
        build=proof_of_reserves_build,
    ),
)

JOURNAL_LOG = CheckpointLog(
    key="journal",
    title="Sealed journal entries",
    scope="journal",
    leaves=journal_log_leaves,
    describe=journal_log_describe,
)
