"""Client-money reconciliation: internal (CASS 7.15.12R) and external (CASS 7.15.20R).

Internal: the client money requirement (the sum of the client_cash balances) against the client
money resource (the custodian_bank account), per currency, at the close of a business date in
the tenant's time zone. Balances are read from the postings' running balances, so any past
date reconciles as it stood then.

External: the custodian_bank account's entries and closing balance against the bank's own
statement (``ledger.statements``): each bank line is matched to a journal entry by reference
(the entry's idempotency key or memo), amount, direction and booking date within one business
day; what does not match on either side, and whatever part of a closing-balance difference those
items do not explain, is a break.

Every difference is a break with its reason, resolved once and audited: a shortfall by a
top-up from house money posted at once (CASS 7.15.29R: by close of business that day), the
others by an explanation (timing difference, bank error reported, correction entry posted).
Running a business date again supersedes that date's earlier run and its open breaks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.http import HttpRequest
from django.utils import timezone

from ledger.models import (
    BankStatement,
    BankStatementLine,
    JournalEntry,
    LedgerAccount,
    Posting,
    Reconciliation,
    ReconciliationBreak,
    ReconciliationMatch,
)
from ledger.rules import Side, quantum
from ledger.services import Leg, entry_post, invalid
from ledger.statements import Direction, StatementError, statement_parse
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import CURRENCY_MINOR_UNITS, Tenant
from platform_core.tenancy.selectors import tenant_scoped

Kind = ReconciliationBreak.Kind
Resolution = ReconciliationBreak.Resolution

CLIENT_MONEY_KINDS = ("client_cash", "custodian_bank")
SYSTEM_LABEL = "system:reconciliation"

# What may close each kind of break. A shortfall is client money missing today: only money
# paid in (a top-up), or an entry that shows the requirement was overstated, closes it.
RESOLUTIONS: dict[str, tuple[str, ...]] = {
    Kind.SHORTFALL: (Resolution.TOPUP, Resolution.CORRECTION),
    Kind.EXCESS: (Resolution.CORRECTION,),
    Kind.UNMATCHED_BANK_LINE: (Resolution.TIMING, Resolution.BANK_ERROR, Resolution.CORRECTION),
    Kind.UNMATCHED_LEDGER_ENTRY: (Resolution.TIMING, Resolution.BANK_ERROR, Resolution.CORRECTION),
    Kind.AMOUNT_MISMATCH: (Resolution.BANK_ERROR, Resolution.CORRECTION),
    Kind.CLOSING_BALANCE: (Resolution.TIMING, Resolution.BANK_ERROR, Resolution.CORRECTION),
}


# --- business days -------------------------------------------------------------------------


def business_day_close(*, tenant: Tenant, business_date: date) -> datetime:
    """The instant ``business_date`` ends in the tenant's time zone: the reconciliation cut-off."""
    return datetime.combine(
        business_date + timedelta(days=1), time.min, tzinfo=ZoneInfo(tenant.timezone)
    )


def business_day_shift(day: date, step: int) -> date:
    """The next (``+1``) or previous (``-1``) weekday.

    No holiday calendar yet: a bank holiday widens no window, so an item the bank books after
    one shows as a timing break to explain rather than being matched.
    """
    day += timedelta(days=step)
    while day.weekday() >= 5:
        day += timedelta(days=step)
    return day


def _signed(amount: Decimal, direction: str) -> Decimal:
    return amount if direction == Direction.CREDIT else -amount


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(quantum(currency))} {currency}"


def _actor_label(actor: Any, actor_label: str) -> str:
    return actor_label or getattr(actor, "email", "") or SYSTEM_LABEL


# --- statements ----------------------------------------------------------------------------


def statement_import(
    *,
    tenant: Tenant,
    data: bytes,
    filename: str = "",
    actor: Any = None,
    actor_label: str = "",
    request: HttpRequest | None = None,
) -> BankStatement:
    """Read and keep a custodian-bank statement; importing the same file again returns it.

    A file that cannot be read is refused whole, naming the line or element at fault.
    """
    try:
        parsed = statement_parse(data=data, filename=filename)
    except StatementError as exc:
        raise invalid({"statement": [str(exc)]}) from None
    if parsed.currency not in CURRENCY_MINOR_UNITS:
        raise invalid({"statement": [f"{parsed.currency} is not a currency the platform books."]})
    step = quantum(parsed.currency)
    amounts = [(parsed.closing_balance, "closing balance")]
    if parsed.opening_balance is not None:
        amounts.append((parsed.opening_balance, "opening balance"))
    amounts += [(line.amount, line.source) for line in parsed.lines]
    for amount, where in amounts:
        if amount != amount.quantize(step) or abs(amount) >= Decimal(10) ** 20:
            raise invalid(
                {"statement": [f"{where}: {amount} is not an amount in {parsed.currency}."]}
            )
    if len(parsed.account) > 64 or len(parsed.statement_id) > 64:
        raise invalid({"statement": ["The account or statement identifier is too long."]})
    existing = BankStatement.objects.filter(tenant=tenant, sha256=parsed.sha256).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            statement = BankStatement.objects.create(
                tenant=tenant,
                currency=parsed.currency,
                source_format=str(parsed.format),
                filename=filename[-255:],
                sha256=parsed.sha256,
                bank_account=parsed.account,
                statement_ref=parsed.statement_id,
                opening_balance=parsed.opening_balance,
                opening_date=parsed.opening_date,
                closing_balance=parsed.closing_balance,
                closing_date=parsed.closing_date,
                imported_by=actor if getattr(actor, "pk", None) else None,
            )
            BankStatementLine.objects.bulk_create(
                BankStatementLine(
                    tenant=tenant,
                    statement=statement,
                    position=position,
                    source=line.source,
                    booking_date=line.booking_date,
                    amount=line.amount,
                    direction=str(line.direction),
                    references=list(line.references),
                    description=line.description,
                )
                for position, line in enumerate(parsed.lines, start=1)
            )
            audit_record(
                tenant=tenant,
                actor=actor,
                actor_label=_actor_label(actor, actor_label),
                action="ledger.bank_statement_imported",
                object_type="bank_statement",
                object_id=statement.pk,
                payload={
                    "sha256": parsed.sha256,
                    "format": str(parsed.format),
                    "currency": parsed.currency,
                    "lines": len(parsed.lines),
                    "closing_balance": parsed.closing_balance,
                    "closing_date": parsed.closing_date.isoformat(),
                },
                request=request,
            )
    except IntegrityError:  # the same file imported by a concurrent request
        return BankStatement.objects.get(tenant=tenant, sha256=parsed.sha256)
    return statement


# --- runs ----------------------------------------------------------------------------------


def _balances_at(
    *, tenant: Tenant, cutoff: datetime, currency: str, kinds: tuple[str, ...]
) -> dict[int, tuple[str, Decimal]]:
    """Each account's (kind, balance) after its last posting before ``cutoff``.

    One backward step down each account's postings index (tenant, account, id), so a recent
    close costs a few rows per account, however long the history.
    """
    last = (
        Posting.objects.filter(tenant=tenant, account=OuterRef("pk"), entry__created_at__lt=cutoff)
        .order_by("-pk")
        .values("balance_after")[:1]
    )
    rows = (
        tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(kind__in=kinds, currency=currency)
        .annotate(balance_at=Subquery(last))
        .values_list("pk", "kind", "balance_at")
    )
    return {pk: (kind, balance or Decimal(0)) for pk, kind, balance in rows}


def _client_money_currencies(*, tenant: Tenant) -> list[str]:
    return sorted(
        set(
            tenant_scoped(LedgerAccount, tenant=tenant)
            .filter(kind__in=CLIENT_MONEY_KINDS)
            .values_list("currency", flat=True)
        )
    )


def reconciliation_run(
    *,
    tenant: Tenant,
    business_date: date,
    currency: str | None = None,
    statement: BankStatement | None = None,
    actor: Any = None,
    actor_label: str = "",
) -> list[Reconciliation]:
    """Reconcile client money at the close of ``business_date`` and record the breaks.

    Internal for each client-money currency (or ``currency``); with a statement, the statement's
    currency only, and external against the statement too. All runs or none are recorded.
    """
    if statement is not None:
        if currency and currency != statement.currency:
            raise invalid(
                {"currency": [f"The statement is in {statement.currency}, not {currency}."]}
            )
        if statement.closing_date != business_date:
            raise invalid(
                {
                    "statement": [
                        f"The statement closes on {statement.closing_date}, not on "
                        f"{business_date}: reconcile that date with it."
                    ]
                }
            )
        currency = statement.currency
    if currency is not None and currency not in CURRENCY_MINOR_UNITS:
        raise invalid({"currency": [f"{currency!r} is not a supported currency."]})
    currencies = [currency] if currency else _client_money_currencies(tenant=tenant)
    cutoff = business_day_close(tenant=tenant, business_date=business_date)
    label = _actor_label(actor, actor_label)
    with transaction.atomic():
        runs = [
            _internal_run(
                tenant=tenant,
                business_date=business_date,
                currency=code,
                cutoff=cutoff,
                actor=actor,
                label=label,
            )
            for code in currencies
        ]
        if statement is not None:
            runs.append(
                _external_run(
                    tenant=tenant,
                    business_date=business_date,
                    statement=statement,
                    cutoff=cutoff,
                    actor=actor,
                    label=label,
                )
            )
    return runs


def _internal_run(
    *, tenant: Tenant, business_date: date, currency: str, cutoff: datetime, actor: Any, label: str
) -> Reconciliation:
    balances = _balances_at(
        tenant=tenant, cutoff=cutoff, currency=currency, kinds=CLIENT_MONEY_KINDS
    )
    client = [balance for kind, balance in balances.values() if kind == "client_cash" and balance]
    requirement = sum(client, Decimal(0))
    resource = sum((b for kind, b in balances.values() if kind == "custodian_bank"), Decimal(0))
    difference = resource - requirement
    figures = {
        "requirement": requirement,
        "resource": resource,
        "difference": difference,
        "client_accounts": len(client),
    }
    breaks = []
    held, owed = _money(resource, currency), _money(requirement, currency)
    if difference < 0:
        breaks.append(
            ReconciliationBreak(
                kind=Kind.SHORTFALL,
                amount=-difference,
                reason=(
                    f"Shortfall: the custodian bank account holds {held} of client money but "
                    f"{len(client)} client account(s) are owed {owed} at the close of "
                    f"{business_date}. Pay {_money(-difference, currency)} in from house money "
                    "by close of business today (CASS 7.15.29R)."
                ),
            )
        )
    elif difference > 0:
        breaks.append(
            ReconciliationBreak(
                kind=Kind.EXCESS,
                amount=difference,
                reason=(
                    f"Excess: the custodian bank account holds {held} but clients are owed only "
                    f"{owed} at the close of {business_date}. House money (earned fees or "
                    f"interest) of {_money(difference, currency)} sits among client money; "
                    "withdraw it today (a sweep) and name that entry."
                ),
            )
        )
    return _run_record(
        tenant=tenant,
        kind=Reconciliation.Kind.INTERNAL,
        business_date=business_date,
        currency=currency,
        cutoff=cutoff,
        statement=None,
        figures=figures,
        breaks=breaks,
        matches=[],
        actor=actor,
        label=label,
    )


@dataclass(eq=False)  # identity: two postings of equal amounts are still two items
class _LedgerItem:
    """A custodian_bank posting seen as the bank would: money in (credit) or out (debit)."""

    posting: Posting
    day: date
    direction: str
    references: frozenset[str]
    used: bool = False

    @property
    def amount(self) -> Decimal:
        return self.posting.amount


@dataclass
class _Matching:
    matches: list[ReconciliationMatch] = field(default_factory=list)
    breaks: list[ReconciliationBreak] = field(default_factory=list)
    matched_lines: dict[int, BankStatementLine] = field(default_factory=dict)  # by entry id
    # What the listed items make the bank's closing balance differ from the ledger's by.
    explained: Decimal = Decimal(0)


def _external_run(
    *,
    tenant: Tenant,
    business_date: date,
    statement: BankStatement,
    cutoff: datetime,
    actor: Any,
    label: str,
) -> Reconciliation:
    currency = statement.currency
    bank = (
        tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(kind="custodian_bank", currency=currency)
        .first()
    )
    if bank is None:
        raise invalid(
            {"statement": [f"There is no custodian_bank account in {currency} to reconcile."]}
        )
    lines = list(statement.lines.order_by("position"))
    period_start = min([line.booking_date for line in lines] + [business_date])
    items = _ledger_items(
        tenant=tenant,
        bank=bank,
        period_start=period_start,
        business_date=business_date,
    )
    result = _lines_match(lines=lines, items=items, business_date=business_date, currency=currency)
    for item in items:
        if not item.used and period_start <= item.day <= business_date:
            result.explained -= _signed(item.amount, item.direction)
            result.breaks.append(
                ReconciliationBreak(
                    kind=Kind.UNMATCHED_LEDGER_ENTRY,
                    amount=item.amount,
                    entry_id=item.posting.entry_id,
                    reason=(
                        f"Ledger entry #{item.posting.entry_id} "
                        f"({item.posting.entry.entry_type}, "
                        f"{item.posting.entry.idempotency_key}) moved "
                        f"{_money(item.amount, currency)} {_direction_words(item.direction)} "
                        f"on {item.day}, but the statement does not show it. If the bank books "
                        "it on the next business day, that run matches it and closes this "
                        "break as a timing difference."
                    ),
                )
            )
    ledger_closing = _balances_at(
        tenant=tenant, cutoff=cutoff, currency=currency, kinds=("custodian_bank",)
    ).get(bank.pk, ("custodian_bank", Decimal(0)))[1]
    difference = statement.closing_balance - ledger_closing
    unexplained = difference - result.explained
    # Agreeing balances need no closing break: the listed items are breaks of their own.
    if difference and unexplained:
        result.breaks.append(
            ReconciliationBreak(
                kind=Kind.CLOSING_BALANCE,
                amount=abs(unexplained),
                reason=(
                    f"The bank's closing balance of {_money(statement.closing_balance, currency)}"
                    f" is {_money(abs(difference), currency)} "
                    f"{'below' if difference < 0 else 'above'} the ledger's "
                    f"{_money(ledger_closing, currency)}; the items listed in this run explain "
                    f"{_money(result.explained, currency)} of it and "
                    f"{_money(abs(unexplained), currency)} is unexplained. Find it with the "
                    "bank before it is resolved."
                ),
            )
        )
    figures = {
        "bank_closing": statement.closing_balance,
        "ledger_closing": ledger_closing,
        "difference": difference,
        "explained_by_items": result.explained,
        "unexplained": unexplained,
        "statement_lines": len(lines),
        "matched": len(result.matches),
    }
    run = _run_record(
        tenant=tenant,
        kind=Reconciliation.Kind.EXTERNAL,
        business_date=business_date,
        currency=currency,
        cutoff=cutoff,
        statement=statement,
        figures=figures,
        breaks=result.breaks,
        matches=result.matches,
        actor=actor,
        label=label,
    )
    _timing_breaks_close(
        tenant=tenant, run=run, matched_lines=result.matched_lines, actor=actor, label=label
    )
    return run


def _direction_words(direction: str) -> str:
    return "into the bank account" if direction == Direction.CREDIT else "out of the bank account"


def _ledger_items(
    *, tenant: Tenant, bank: LedgerAccount, period_start: date, business_date: date
) -> list[_LedgerItem]:
    """The bank account's postings a statement line of the period could match.

    From one business day before the period to one after it, less the entries already matched
    by a live run of another date (a run of the same date is about to be superseded).
    """
    zone = ZoneInfo(tenant.timezone)
    start = business_day_close(
        tenant=tenant, business_date=business_day_shift(period_start, -1) - timedelta(days=1)
    )
    end = business_day_close(tenant=tenant, business_date=business_day_shift(business_date, +1))
    matched = (
        ReconciliationMatch.objects.filter(tenant=tenant)
        .exclude(reconciliation__status=Reconciliation.Status.SUPERSEDED)
        .exclude(
            reconciliation__business_date=business_date,
            reconciliation__currency=bank.currency,
        )
        .values("entry_id")
    )
    postings = (
        Posting.objects.filter(
            tenant=tenant,
            account=bank,
            entry__created_at__gte=start,
            entry__created_at__lt=end,
        )
        .exclude(entry_id__in=matched)
        .select_related("entry")
        .order_by("pk")
    )
    return [
        _LedgerItem(
            posting=posting,
            day=posting.entry.created_at.astimezone(zone).date(),
            # A debit of the bank account (an asset) is money received.
            direction=Direction.CREDIT if posting.side == Side.DEBIT else Direction.DEBIT,
            references=frozenset(
                ref for ref in (posting.entry.idempotency_key, posting.entry.memo) if ref
            ),
        )
        for posting in postings
    ]


def _lines_match(
    *,
    lines: list[BankStatementLine],
    items: list[_LedgerItem],
    business_date: date,
    currency: str,
) -> _Matching:
    """Pair each line with an entry by reference, direction and date; amount decides the kind."""
    by_reference: dict[str, list[_LedgerItem]] = defaultdict(list)
    for item in items:
        for reference in item.references:
            by_reference[reference].append(item)
    result = _Matching()
    for line in lines:
        earliest = business_day_shift(line.booking_date, -1)
        latest = business_day_shift(line.booking_date, +1)
        found = list(
            dict.fromkeys(
                item
                for reference in line.references
                for item in by_reference.get(reference, [])
                if not item.used
                and item.direction == line.direction
                and earliest <= item.day <= latest
            )
        )
        exact = next((item for item in found if item.amount == line.amount), None)
        line_signed = _signed(line.amount, line.direction)
        if exact is not None:
            exact.used = True
            result.matches.append(
                ReconciliationMatch(statement_line=line, entry_id=exact.posting.entry_id)
            )
            result.matched_lines[exact.posting.entry_id] = line
            # Booked by the ledger only after the close: in the bank's balance, not the ledger's.
            if exact.day > business_date:
                result.explained += line_signed
        elif found:
            item = found[0]
            item.used = True
            result.explained += line_signed
            if item.day <= business_date:
                result.explained -= _signed(item.amount, item.direction)
            result.breaks.append(
                ReconciliationBreak(
                    kind=Kind.AMOUNT_MISMATCH,
                    amount=abs(line.amount - item.amount),
                    statement_line=line,
                    entry_id=item.posting.entry_id,
                    reason=(
                        f"Bank {line.source} ({line.booking_date}) and ledger entry "
                        f"#{item.posting.entry_id} share the reference "
                        f"{sorted(item.references & set(line.references))[0]!r} but the bank "
                        f"shows {_money(line.amount, currency)} and the ledger "
                        f"{_money(item.amount, currency)}."
                    ),
                )
            )
        else:
            result.explained += line_signed
            result.breaks.append(
                ReconciliationBreak(
                    kind=Kind.UNMATCHED_BANK_LINE,
                    amount=line.amount,
                    statement_line=line,
                    reason=(
                        f"Bank {line.source}: {_money(line.amount, currency)} "
                        f"{_direction_words(line.direction)} "
                        f"on {line.booking_date}"
                        f"{' ref ' + ', '.join(line.references) if line.references else ''}"
                        f"{' (' + line.description + ')' if line.description else ''} has no "
                        "ledger entry with that reference, amount and direction within one "
                        "business day."
                    ),
                )
            )
    return result


def _run_record(
    *,
    tenant: Tenant,
    kind: str,
    business_date: date,
    currency: str,
    cutoff: datetime,
    statement: BankStatement | None,
    figures: dict[str, Any],
    breaks: list[ReconciliationBreak],
    matches: list[ReconciliationMatch],
    actor: Any,
    label: str,
) -> Reconciliation:
    """Store a run with its breaks and matches, and supersede the same date's earlier run."""
    figures = {
        key: str(value) if isinstance(value, Decimal) else value for key, value in figures.items()
    }
    # Before the close, balances can still move: the run is a provisional look.
    figures["provisional"] = cutoff > timezone.now()
    run = Reconciliation.objects.create(
        tenant=tenant,
        business_date=business_date,
        currency=currency,
        kind=kind,
        status=Reconciliation.Status.BREAKS if breaks else Reconciliation.Status.BALANCED,
        cutoff=cutoff,
        statement=statement,
        figures=figures,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=label,
    )
    for brk in breaks:
        brk.tenant, brk.reconciliation, brk.currency = tenant, run, currency
    for match in matches:
        match.tenant, match.reconciliation = tenant, run
    ReconciliationBreak.objects.bulk_create(breaks)
    ReconciliationMatch.objects.bulk_create(matches)
    earlier = (
        Reconciliation.objects.filter(
            tenant=tenant, kind=kind, currency=currency, business_date=business_date
        )
        .exclude(pk=run.pk)
        .exclude(status=Reconciliation.Status.SUPERSEDED)
    )
    superseded = list(earlier.values_list("pk", flat=True))
    ReconciliationBreak.objects.filter(
        tenant=tenant, reconciliation_id__in=superseded, status=ReconciliationBreak.Status.OPEN
    ).update(status=ReconciliationBreak.Status.SUPERSEDED, superseded_by=run)
    earlier.update(status=Reconciliation.Status.SUPERSEDED, superseded_by=run)
    audit_record(
        tenant=tenant,
        actor=actor,
        actor_label=label,
        action="ledger.reconciliation_recorded",
        object_type="reconciliation",
        object_id=run.pk,
        payload={
            "kind": kind,
            "currency": currency,
            "business_date": business_date.isoformat(),
            "status": run.status,
            "figures": figures,
            "breaks": [[b.pk, b.kind, b.amount] for b in breaks],
            "supersedes": superseded,
        },
    )
    return run


def _timing_breaks_close(
    *,
    tenant: Tenant,
    run: Reconciliation,
    matched_lines: dict[int, BankStatementLine],
    actor: Any,
    label: str,
) -> None:
    """An entry an earlier run missed on its statement, now booked by the bank: timing."""
    waiting = (
        ReconciliationBreak.objects.select_for_update()
        .filter(
            tenant=tenant,
            kind=Kind.UNMATCHED_LEDGER_ENTRY,
            status=ReconciliationBreak.Status.OPEN,
            entry_id__in=list(matched_lines),
            reconciliation__business_date__lt=run.business_date,
        )
        .select_related("reconciliation")
        .order_by("pk")
    )
    for brk in waiting:
        line = matched_lines[cast(int, brk.entry_id)]  # the query asked for matched entries
        _break_close(
            brk=brk,
            resolution=Resolution.TIMING,
            note=(
                f"The bank booked it on {line.booking_date} ({line.source} of statement "
                f"#{line.statement_id}), matched by reconciliation #{run.pk}."
            ),
            entry=None,
            actor=actor,
            label=label,
            request=None,
        )


# --- resolving breaks ----------------------------------------------------------------------


def reconciliation_break_resolve(
    *,
    tenant: Tenant,
    actor: Any,
    break_id: Any,
    resolution: str,
    reason: str,
    correction_entry_id: Any = None,
    request: HttpRequest | None = None,
) -> ReconciliationBreak:
    """Resolve one open break, exactly once, with the reason, in an audit event.

    ``topup`` (a shortfall) posts a ``shortfall_topup`` entry from the house_cash account to
    the custodian_bank account now; ``correction_posted`` names the entry, posted after the
    reconciled close, that corrects the difference; the others record the explanation.
    """
    reason = (reason or "").strip()
    if not reason:
        raise invalid({"reason": ["Say why the break is resolved."]})
    with transaction.atomic():
        found = access_object_by_id(ReconciliationBreak, tenant=tenant, object_id=break_id)
        brk = (
            ReconciliationBreak.objects.select_for_update()
            .select_related("reconciliation")
            .get(pk=found.pk)
        )
        if brk.status != ReconciliationBreak.Status.OPEN:
            raise ApplicationError(409, "break_not_open", f"Break #{brk.pk} is {brk.status}.")
        allowed = RESOLUTIONS[brk.kind]
        if resolution not in allowed:
            raise invalid(
                {"resolution": [f"A {brk.kind} break is resolved by: {', '.join(allowed)}."]}
            )
        if correction_entry_id not in (None, "") and resolution != Resolution.CORRECTION:
            raise invalid({"correction_entry": ["Only a correction names an entry."]})
        entry = None
        if resolution == Resolution.TOPUP:
            entry = _shortfall_topup(tenant=tenant, brk=brk, actor=actor)
        elif resolution == Resolution.CORRECTION:
            entry = _correction_entry(tenant=tenant, brk=brk, entry_id=correction_entry_id)
        _break_close(
            brk=brk,
            resolution=resolution,
            note=reason,
            entry=entry,
            actor=actor,
            label="",
            request=request,
        )
    return brk


def _client_money_now(*, tenant: Tenant, currency: str) -> tuple[Decimal, Decimal]:
    """(requirement, resource) from the accounts' posted balances as they stand."""
    totals = {
        row["kind"]: row
        for row in tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(kind__in=CLIENT_MONEY_KINDS, currency=currency)
        .values("kind")
        .annotate(debits=Sum("posted_debits"), credits=Sum("posted_credits"))
    }
    client, bank = totals.get("client_cash"), totals.get("custodian_bank")
    requirement = client["credits"] - client["debits"] if client else Decimal(0)
    resource = bank["debits"] - bank["credits"] if bank else Decimal(0)
    return requirement, resource


def _shortfall_topup(*, tenant: Tenant, brk: ReconciliationBreak, actor: Any) -> JournalEntry:
    accounts = {
        account.kind: account
        for account in tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(kind__in=("custodian_bank", "house_cash"), currency=brk.currency)
        .select_for_update()
        .order_by("pk")  # the posting function's lock order
    }
    missing = [kind for kind in ("custodian_bank", "house_cash") if kind not in accounts]
    if missing:
        raise ApplicationError(
            409,
            "account_missing",
            f"There is no {' or '.join(missing)} account in {brk.currency} to top up from.",
        )
    # Two breaks (two dates, say) can report the same shortfall: pay it in once.
    requirement, resource = _client_money_now(tenant=tenant, currency=brk.currency)
    if requirement - resource < brk.amount:
        raise ApplicationError(
            409,
            "shortfall_changed",
            f"The client-money shortfall in {brk.currency} is now "
            f"{_money(max(requirement - resource, Decimal(0)), brk.currency)}, not the "
            f"{_money(brk.amount, brk.currency)} this break found. Reconcile again, or resolve "
            "this break as a correction naming the entry that covered it.",
        )
    amount = brk.amount.quantize(quantum(brk.currency))
    return entry_post(
        tenant=tenant,
        entry_type="shortfall_topup",
        legs=[
            Leg(accounts["custodian_bank"].pk, Side.DEBIT, amount),
            Leg(accounts["house_cash"].pk, Side.CREDIT, amount),
        ],
        idempotency_key=f"reconciliation-break:{brk.pk}:topup",
        memo=(
            f"Top-up of the client-money shortfall found by reconciliation "
            f"#{brk.reconciliation_id} of {brk.reconciliation.business_date}"
        ),
        actor=actor,
    )


def _correction_entry(*, tenant: Tenant, brk: ReconciliationBreak, entry_id: Any) -> JournalEntry:
    if entry_id in (None, ""):
        raise invalid({"correction_entry": ["Name the journal entry that corrects the break."]})
    entry = access_object_by_id(JournalEntry, tenant=tenant, object_id=entry_id)
    run = brk.reconciliation
    # A run made before its close (provisional) counted what existed when it ran.
    if entry.created_at < min(run.cutoff, run.created_at):
        raise invalid(
            {
                "correction_entry": [
                    f"Entry #{entry.pk} was posted before the reconciled close, so the run "
                    "already counted it; a correction comes after."
                ]
            }
        )
    return entry


def _break_close(
    *,
    brk: ReconciliationBreak,
    resolution: str,
    note: str,
    entry: JournalEntry | None,
    actor: Any,
    label: str,
    request: HttpRequest | None,
) -> None:
    brk.status = ReconciliationBreak.Status.RESOLVED
    brk.resolution = resolution
    brk.resolution_note = note
    brk.resolution_entry = entry
    brk.resolved_by = actor if getattr(actor, "pk", None) else None
    brk.resolved_label = _actor_label(actor, label)
    brk.resolved_at = timezone.now()
    brk.save(
        update_fields=[
            "status",
            "resolution",
            "resolution_note",
            "resolution_entry",
            "resolved_by",
            "resolved_label",
            "resolved_at",
        ]
    )
    audit_record(
        tenant=brk.tenant_id,
        actor=actor,
        actor_label=brk.resolved_label,
        action="ledger.reconciliation_break_resolved",
        object_type="reconciliation_break",
        object_id=brk.pk,
        reason=note,
        payload={
            "reconciliation": brk.reconciliation_id,
            "kind": brk.kind,
            "amount": brk.amount,
            "currency": brk.currency,
            "resolution": resolution,
            "entry": entry.pk if entry else None,
        },
        request=request,
    )
    run = brk.reconciliation
    still_open = run.breaks.filter(status=ReconciliationBreak.Status.OPEN).exists()
    if run.status == Reconciliation.Status.BREAKS and not still_open:
        run.status = Reconciliation.Status.RESOLVED
        run.save(update_fields=["status"])


# --- reads ---------------------------------------------------------------------------------


def reconciliation_list(
    *, tenant: Tenant, business_date: date | None = None, include_superseded: bool = False
) -> QuerySet[Reconciliation]:
    queryset = tenant_scoped(Reconciliation, tenant=tenant)
    if business_date is not None:
        queryset = queryset.filter(business_date=business_date)
    if not include_superseded:
        queryset = queryset.exclude(status=Reconciliation.Status.SUPERSEDED)
    return queryset.order_by("-business_date", "-pk")


def access_reconciliation_by_id(*, tenant: Tenant, reconciliation_id: object) -> Reconciliation:
    return access_object_by_id(Reconciliation, tenant=tenant, object_id=reconciliation_id)


def reconciliation_break_list(
    *, tenant: Tenant, status: str | None = None, reconciliation: Reconciliation | None = None
) -> QuerySet[ReconciliationBreak]:
    queryset = tenant_scoped(ReconciliationBreak, tenant=tenant).select_related(
        "reconciliation", "statement_line", "resolution_entry"
    )
    if status is not None:
        queryset = queryset.filter(status=status)
    if reconciliation is not None:
        queryset = queryset.filter(reconciliation=reconciliation)
    return queryset.order_by("pk")


@dataclass(frozen=True)
class RunReport:
    reconciliation: Reconciliation
    breaks: list[ReconciliationBreak]

    @property
    def open_breaks(self) -> int:
        return sum(1 for b in self.breaks if b.status == ReconciliationBreak.Status.OPEN)


@dataclass(frozen=True)
class ReconciliationReport:
    """A business date's live runs, their figures and breaks, and how each was resolved."""

    tenant: str
    business_date: date
    timezone: str
    runs: list[RunReport]

    @property
    def open_breaks(self) -> int:
        return sum(run.open_breaks for run in self.runs)

    def as_dict(self) -> dict[str, Any]:
        zone = ZoneInfo(self.timezone)

        def same_day(brk: ReconciliationBreak, run: Reconciliation) -> bool | None:
            if brk.resolved_at is None:
                return None
            return brk.resolved_at.astimezone(zone).date() <= run.created_at.astimezone(zone).date()

        return {
            "tenant": self.tenant,
            "business_date": self.business_date.isoformat(),
            "open_breaks": self.open_breaks,
            "runs": [
                {
                    "id": run.reconciliation.pk,
                    "kind": run.reconciliation.kind,
                    "currency": run.reconciliation.currency,
                    "status": run.reconciliation.status,
                    "cutoff": run.reconciliation.cutoff.isoformat(),
                    "statement": run.reconciliation.statement_id,
                    "figures": run.reconciliation.figures,
                    "breaks": [
                        {
                            "id": brk.pk,
                            "kind": brk.kind,
                            "amount": str(brk.amount.quantize(quantum(brk.currency))),
                            "reason": brk.reason,
                            "status": brk.status,
                            "resolution": brk.resolution,
                            "note": brk.resolution_note,
                            "entry": brk.resolution_entry_id,
                            "resolved_by": brk.resolved_label,
                            "resolved_at": brk.resolved_at.isoformat() if brk.resolved_at else None,
                            # CASS 7.15.29R: made good by close of business on the day found.
                            "resolved_same_day": same_day(brk, run.reconciliation),
                        }
                        for brk in run.breaks
                    ],
                }
                for run in self.runs
            ],
        }


def reconciliation_report(
    *, tenant: Tenant, business_date: date, currency: str | None = None
) -> ReconciliationReport:
    """The figures for one business date: each live run (not superseded) with its breaks."""
    runs = reconciliation_list(tenant=tenant, business_date=business_date).select_related(
        "statement"
    )
    if currency is not None:
        runs = runs.filter(currency=currency)
    breaks: dict[int, list[ReconciliationBreak]] = defaultdict(list)
    for brk in reconciliation_break_list(tenant=tenant).filter(reconciliation__in=runs):
        breaks[brk.reconciliation_id].append(brk)
    return ReconciliationReport(
        tenant=tenant.slug,
        business_date=business_date,
        timezone=tenant.timezone,
        runs=[
            RunReport(reconciliation=run, breaks=breaks[run.pk])
            for run in runs.order_by("kind", "currency", "pk")
        ],
    )
