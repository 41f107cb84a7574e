"""Every write to the ledger: accounts, entries, transfers, holds, reversals, sealing.

Money moves only through ``ledger_entry_write`` (one PL/pgSQL call per entry, see the
migrations), which locks the touched accounts in id order, writes the entry and its legs with
running balances, and refuses to take a no-negative account below zero counting its holds.
Refusals are ``ApplicationError``s carrying the contract's codes; a refused call writes nothing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from ledger.chain import GENESIS_HASH, entry_digest, seal_hash
from ledger.hooks import entry_committed
from ledger.models import EntrySeal, Hold, JournalEntry, LedgerAccount, Posting
from ledger.rules import ACCOUNT_KINDS, ANY, ENTRY_TYPES, Side, entry_pair_allowed, quantum
from platform_core.audit.chain import canonical_json
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.roles import Role

_SEAL_LOCK_CLASS = 0x4C534541  # "LSEA": one sealer per tenant at a time


def invalid(fields: dict[str, list[str]]) -> ApplicationError:
    return ApplicationError(400, "invalid", "The request has invalid fields.", fields)


@dataclass(frozen=True)
class Leg:
    account_id: int
    side: Side
    amount: Decimal


# --- accounts ------------------------------------------------------------------------------


def account_create(
    *,
    tenant: Tenant,
    kind: str,
    currency: str,
    owner_id: int | None = None,
    actor: Any = None,
    request: Any = None,
) -> LedgerAccount:
    rule = ACCOUNT_KINDS.get(kind)
    if rule is None:
        raise invalid({"kind": [f"{kind!r} is not an account kind."]})
    from platform_core.tenancy.models import CURRENCY_MINOR_UNITS

    if currency not in CURRENCY_MINOR_UNITS:
        raise invalid({"currency": [f"{currency!r} is not a supported currency."]})
    owner = None
    if rule.owned_by_client:
        if owner_id is None:
            raise invalid({"owner": ["A client_cash account needs its owner (a membership id)."]})
        owner = Membership.objects.filter(tenant=tenant, pk=owner_id, role=Role.CLIENT).first()
        if owner is None:
            raise invalid({"owner": ["No client membership with this id in this tenant."]})
    elif owner_id is not None:
        raise invalid({"owner": [f"A {kind} account has no owner."]})
    try:
        with transaction.atomic():
            account = LedgerAccount.objects.create(
                tenant=tenant,
                kind=kind,
                currency=currency,
                owner=owner,
                normal_side=rule.normal_side,
                money_class=rule.money_class,
                may_go_negative=rule.may_go_negative,
            )
            audit_record(
                tenant=tenant,
                actor=actor,
                action="ledger.account_opened",
                object_type="ledger_account",
                object_id=account.pk,
                payload={"kind": kind, "currency": currency, "owner": owner_id},
                request=request,
            )
    except IntegrityError:
        raise ApplicationError(
            409,
            "account_exists",
            f"This tenant already has a {kind} account in {currency}"
            + (" for this client." if owner else "."),
        ) from None
    return account


@dataclass(frozen=True)
class AccountFacts:
    """What never changes about an account: cached per process, keyed by tenant."""

    id: int
    kind: str
    currency: str
    money_class: str
    owner_id: int | None


_FACTS: dict[tuple[int, int], AccountFacts] = {}


def _account_facts(*, tenant: Tenant, account_ids: Iterable[int]) -> dict[int, AccountFacts]:
    wanted = set(account_ids)
    found = {i: _FACTS[(tenant.pk, i)] for i in wanted if (tenant.pk, i) in _FACTS}
    missing = wanted - set(found)
    if missing:
        with _tenant_context(tenant):
            rows = list(
                LedgerAccount.objects.filter(tenant=tenant, pk__in=missing).values(
                    "id", "kind", "currency", "money_class", "owner_id"
                )
            )
        for row in rows:
            facts = AccountFacts(**row)
            _FACTS[(tenant.pk, facts.id)] = facts
            found[facts.id] = facts
    return found


@contextmanager
def _tenant_context(tenant: Tenant) -> Iterator[None]:
    """The caller's context inside a transaction; the tenant's own for a read outside one."""
    if connection.in_atomic_block:
        yield
    else:
        with rls_context(tenant=tenant):
            yield


# --- validation ----------------------------------------------------------------------------


def amount_parse(value: Any, *, currency: str, field: str = "amount") -> Decimal:
    """A positive decimal with no more places than the currency's minor unit."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise invalid({field: [f"{value!r} is not a decimal amount."]}) from None
    if not amount.is_finite() or amount <= 0:
        raise invalid({field: ["The amount must be greater than zero."]})
    if amount >= Decimal(10) ** 20:
        raise invalid({field: ["The amount is too large."]})
    if amount != amount.quantize(quantum(currency)):
        raise invalid({field: [f"Too many decimal places for {currency}."]})
    return amount


def _segregation_check(entry_type: str, legs: list[Leg], facts: dict[int, AccountFacts]) -> None:
    rule = ENTRY_TYPES[entry_type]
    debit_kinds = {facts[leg.account_id].kind for leg in legs if leg.side == Side.DEBIT}
    credit_kinds = {facts[leg.account_id].kind for leg in legs if leg.side == Side.CREDIT}
    # Value leaving or entering client money, per currency.
    net: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        account = facts[leg.account_id]
        if account.money_class == "client":
            net[account.currency] += leg.amount if leg.side == Side.DEBIT else -leg.amount
    crosses = any(value != 0 for value in net.values())
    if rule.same_class_only:
        allowed = not crosses
    else:
        allowed_debits = {d for d, _ in rule.pairs}
        allowed_credits = {c for _, c in rule.pairs}
        kinds_ok = (ANY in allowed_debits or debit_kinds <= allowed_debits) and (
            ANY in allowed_credits or credit_kinds <= allowed_credits
        )
        if len(legs) == 2:
            (debit,) = (leg for leg in legs if leg.side == Side.DEBIT)
            (credit,) = (leg for leg in legs if leg.side == Side.CREDIT)
            kinds_ok = entry_pair_allowed(
                entry_type, facts[debit.account_id].kind, facts[credit.account_id].kind
            )
        allowed = kinds_ok
    if allowed:
        return
    if crosses:
        raise ApplicationError(
            422,
            "segregation_violation",
            f"A {entry_type} may not move value between client money and house money here.",
        )
    raise invalid(
        {"entry_type": [f"A {entry_type} does not move money between these kinds of account."]}
    )


def _entry_check(*, entry_type: str, legs: list[Leg], facts: dict[int, AccountFacts]) -> None:
    """Everything about an entry that can be refused before the database is asked."""
    if entry_type not in ENTRY_TYPES:
        raise invalid({"entry_type": [f"{entry_type!r} is not an entry type."]})
    if len(legs) < 2:
        raise invalid({"postings": ["An entry needs at least two postings."]})
    unknown = sorted({leg.account_id for leg in legs} - set(facts))
    if unknown:
        raise invalid({"postings": [f"No account {i} in this tenant." for i in unknown]})
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        currency = facts[leg.account_id].currency
        amount_parse(leg.amount, currency=currency)
        totals[currency] += leg.amount if leg.side == Side.DEBIT else -leg.amount
    unbalanced = {c: t for c, t in totals.items() if t != 0}
    if unbalanced:
        raise invalid(
            {"postings": [f"Debits and credits differ by {t} {c}." for c, t in unbalanced.items()]}
        )
    _segregation_check(entry_type, legs, facts)


def request_hash(*, entry_type: str, memo: str, legs: list[Leg]) -> str:
    """Identity of a request by meaning: the same legs in any order, amounts normalised."""
    document = {
        "type": entry_type,
        "memo": memo,
        "legs": sorted(
            [leg.account_id, str(leg.side), format(leg.amount.normalize(), "f")] for leg in legs
        ),
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


# --- posting -------------------------------------------------------------------------------


def _replay(*, tenant: Tenant, key: str, digest: str) -> JournalEntry | None:
    existing = JournalEntry.objects.filter(tenant=tenant, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_hash != digest:
        raise _conflict()
    return existing


def entry_post(
    *,
    tenant: Tenant,
    entry_type: str,
    legs: list[Leg],
    idempotency_key: str,
    memo: str = "",
    actor: Any = None,
    actor_label: str = "",
    reverses: JournalEntry | None = None,
) -> JournalEntry:
    """Post one balanced entry (all legs or none); the same key and content return it again."""
    facts = _account_facts(tenant=tenant, account_ids=[leg.account_id for leg in legs])
    _entry_check(entry_type=entry_type, legs=legs, facts=facts)
    digest = request_hash(entry_type=entry_type, memo=memo, legs=legs)
    # One statement, one round trip: outside a transaction it is its own transaction (the
    # function opens the tenant's context for it); inside one it needs no savepoint, because
    # a refusal for funds is decided before anything is written and comes back as a value.
    # A reversal keeps the savepoint: "reversed already" is the database's unique key.
    guard = transaction.atomic() if reverses is not None else nullcontext()
    try:
        with guard, connection.cursor() as cursor:
            cursor.execute(
                "SELECT ledger_entry_write(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    tenant.pk,
                    entry_type,
                    memo,
                    idempotency_key,
                    digest,
                    getattr(actor, "pk", None),
                    actor_label or getattr(actor, "email", ""),
                    reverses.pk if reverses else None,
                    [leg.account_id for leg in legs],
                    [str(leg.side) for leg in legs],
                    [leg.amount for leg in legs],
                ],
            )
            entry_id, short_account = cursor.fetchone()[0]
    except Exception as exc:
        refusal = _refusal_of(exc)
        if refusal is not None:
            raise refusal from None
        raise
    if short_account:
        raise _insufficient_funds(short_account)
    if entry_id < 0:  # the key was used before: a replay, or a conflict
        with _tenant_context(tenant):
            existing = _replay(tenant=tenant, key=idempotency_key, digest=digest)
        assert existing is not None
        return existing
    entry = JournalEntry(
        pk=entry_id,
        tenant=tenant,
        entry_type=entry_type,
        memo=memo,
        idempotency_key=idempotency_key,
        request_hash=digest,
        actor=actor if getattr(actor, "pk", None) else None,
        reverses=reverses,
    )
    _announce(
        tenant=tenant,
        entry_id=entry_id,
        spec=EntrySpec(entry_type, legs, idempotency_key, memo),
        facts=facts,
    )
    return entry


@dataclass(frozen=True)
class EntrySpec:
    entry_type: str
    legs: list[Leg]
    idempotency_key: str
    memo: str = ""


class BatchEntryRefused(ApplicationError):
    """A refusal of a batch, naming the entry (its index in the batch, from 0) that caused it."""

    def __init__(self, refusal: ApplicationError, *, index: int, key: str) -> None:
        fields = {"entries": [f"entry {index} ({key!r}): {refusal.message}"]}
        for name, problems in refusal.fields.items():
            fields[f"entries[{index}].{name}"] = problems
        super().__init__(refusal.status_code, refusal.error_code, refusal.message, fields)
        self.index = index
        self.key = key


def entries_post_batch(*, tenant: Tenant, entries: list[EntrySpec], actor: Any = None) -> list[int]:
    """Post many entries in one transaction and one statement (end-of-day jobs, bulk imports).

    All or none: the first refused entry refuses the whole batch, and nothing is written; the
    ``BatchEntryRefused`` names it (``index``, ``key``) with the code a single entry would get
    (``invalid``, ``insufficient_funds``, ``segregation_violation``, ``idempotency_conflict``).
    Entries are judged in order, as if posted one by one. Idempotency is per entry, as for
    ``entry_post``: a key already in the journal with the same content is that entry again
    (a re-driven batch writes only what is missing); with other content, a conflict. A key that
    appears twice in one batch is one entry if the content is the same, a conflict otherwise.
    Returns the entry ids, in order.
    """
    facts = _account_facts(
        tenant=tenant, account_ids={leg.account_id for spec in entries for leg in spec.legs}
    )
    first_of_key: dict[str, tuple[int, str]] = {}
    distinct: list[tuple[EntrySpec, str]] = []
    for index, spec in enumerate(entries):
        try:
            _entry_check(entry_type=spec.entry_type, legs=spec.legs, facts=facts)
        except ApplicationError as refusal:
            raise BatchEntryRefused(refusal, index=index, key=spec.idempotency_key) from None
        digest = request_hash(entry_type=spec.entry_type, memo=spec.memo, legs=spec.legs)
        seen = first_of_key.get(spec.idempotency_key)
        if seen is None:
            first_of_key[spec.idempotency_key] = (index, digest)
            distinct.append((spec, digest))
        elif seen[1] != digest:
            raise BatchEntryRefused(_conflict(), index=index, key=spec.idempotency_key)
    if not distinct:
        return []
    legs = [(n, leg) for n, (spec, _) in enumerate(distinct, start=1) for leg in spec.legs]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT ledger_post_entries(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    tenant.pk,
                    [spec.entry_type for spec, _ in distinct],
                    [spec.memo for spec, _ in distinct],
                    [spec.idempotency_key for spec, _ in distinct],
                    [digest for _, digest in distinct],
                    getattr(actor, "pk", None),
                    getattr(actor, "email", ""),
                    [n for n, _ in legs],
                    [leg.account_id for _, leg in legs],
                    [str(leg.side) for _, leg in legs],
                    [leg.amount for _, leg in legs],
                ],
            )
            ids: list[int] = cursor.fetchone()[0]
    except Exception as exc:
        refusal = _refusal_of(exc)
        if refusal is None:
            raise
        # The function names the refused entry by its index among the distinct entries.
        position = _refused_position(exc)
        spec = distinct[position][0] if position is not None else distinct[0][0]
        index = first_of_key[spec.idempotency_key][0]
        raise BatchEntryRefused(refusal, index=index, key=spec.idempotency_key) from None
    # A negative id: the key was in the journal already (a replay: not announced again).
    by_key = {}
    for (spec, _), entry_id in zip(distinct, ids, strict=True):
        by_key[spec.idempotency_key] = abs(entry_id)
        if entry_id > 0:
            _announce(tenant=tenant, entry_id=entry_id, spec=spec, facts=facts)
    return [by_key[spec.idempotency_key] for spec in entries]


def _conflict() -> ApplicationError:
    return ApplicationError(
        409,
        "idempotency_conflict",
        "This idempotency key was already used for a different entry.",
        {"idempotency_key": ["used before with other content"]},
    )


def _refused_position(exc: BaseException) -> int | None:
    """The batch index at the end of a batch refusal's message ("code:...:index")."""
    message = str(exc.__cause__ or exc).split("\n", 1)[0]
    tail = message.rsplit(":", 1)[-1].strip()
    return int(tail) if tail.isdigit() else None


def _announce(
    *, tenant: Tenant, entry_id: int, spec: EntrySpec, facts: dict[int, AccountFacts]
) -> None:
    entry_committed.send(
        {
            "tenant": tenant.pk,
            "entry": entry_id,
            "entry_type": spec.entry_type,
            "postings": [
                {
                    "account": leg.account_id,
                    "owner": facts[leg.account_id].owner_id,
                    "side": str(leg.side),
                    "amount": str(leg.amount),
                    "currency": facts[leg.account_id].currency,
                }
                for leg in spec.legs
            ],
        }
    )


def _insufficient_funds(account: Any) -> ApplicationError:
    return ApplicationError(
        422,
        "insufficient_funds",
        "The account does not have enough available balance.",
        {"account": [f"account {account} would go below zero (holds included)"]},
    )


def _refusal_of(exc: BaseException) -> ApplicationError | None:
    cause = exc.__cause__ or exc
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate == "LG001":
        account = str(cause).split("insufficient_funds:", 1)[-1].split()[0].split(":")[0]
        return _insufficient_funds(account)
    if sqlstate == "LG002":
        return invalid({"postings": ["An account is not in this tenant."]})
    if sqlstate == "LG003":
        return _conflict()
    return None


def transfer_post(
    *,
    tenant: Tenant,
    debit_account: int,
    credit_account: int,
    amount: Decimal,
    currency: str,
    entry_type: str,
    idempotency_key: str,
    memo: str = "",
    actor: Any = None,
) -> JournalEntry:
    """One debit, one credit, in the accounts' currency (the contract's transfer)."""
    _transfer_check(
        tenant=tenant,
        debit_account=debit_account,
        credit_account=credit_account,
        currency=currency,
        amount=amount,
    )
    return entry_post(
        tenant=tenant,
        entry_type=entry_type,
        legs=[Leg(debit_account, Side.DEBIT, amount), Leg(credit_account, Side.CREDIT, amount)],
        idempotency_key=idempotency_key,
        memo=memo,
        actor=actor,
    )


def _transfer_check(
    *, tenant: Tenant, debit_account: int, credit_account: int, currency: str, amount: Decimal
) -> dict[int, AccountFacts]:
    facts = _account_facts(tenant=tenant, account_ids=[debit_account, credit_account])
    fields: dict[str, list[str]] = {}
    for name, account_id in (("debit_account", debit_account), ("credit_account", credit_account)):
        if account_id not in facts:
            fields[name] = [f"No account {account_id} in this tenant."]
        elif facts[account_id].currency != currency:
            fields.setdefault("currency", []).append(
                f"{name} {account_id} is in {facts[account_id].currency}, not {currency}."
            )
    if debit_account == credit_account:
        fields["credit_account"] = ["Debit and credit must be two different accounts."]
    if fields:
        raise invalid(fields)
    amount_parse(amount, currency=currency)
    return facts


# --- holds (two-phase) ---------------------------------------------------------------------


def _lock_accounts(*, tenant: Tenant, ids: Iterable[int]) -> dict[int, LedgerAccount]:
    accounts = LedgerAccount.objects.select_for_update().filter(tenant=tenant, pk__in=set(ids))
    return {a.pk: a for a in accounts.order_by("pk")}


def _reserve(hold: Hold, sign: int) -> None:
    """Add (+1) or release (-1) a hold's amount to the pending totals of its accounts."""
    delta = hold.amount * sign
    for account_id, field in sorted(
        [(hold.debit_account_id, "pending_debits"), (hold.credit_account_id, "pending_credits")]
    ):
        LedgerAccount.objects.filter(pk=account_id).update(**{field: F(field) + delta})


def hold_reserve(
    *,
    tenant: Tenant,
    debit_account: int,
    credit_account: int,
    amount: Decimal,
    currency: str,
    entry_type: str,
    memo: str = "",
    expires_at: datetime | None = None,
) -> Hold:
    """Reserve ``amount``: counted against both accounts' availability until resolved."""
    if entry_type not in ENTRY_TYPES:
        raise invalid({"entry_type": [f"{entry_type!r} is not an entry type."]})
    facts = _transfer_check(
        tenant=tenant,
        debit_account=debit_account,
        credit_account=credit_account,
        currency=currency,
        amount=amount,
    )
    _segregation_check(
        entry_type,
        [Leg(debit_account, Side.DEBIT, amount), Leg(credit_account, Side.CREDIT, amount)],
        facts,
    )
    if expires_at is not None and expires_at <= timezone.now():
        raise invalid({"expires_at": ["The expiry must be in the future."]})
    with transaction.atomic():
        accounts = _lock_accounts(tenant=tenant, ids=[debit_account, credit_account])
        hold = Hold.objects.create(
            tenant=tenant,
            debit_account_id=debit_account,
            credit_account_id=credit_account,
            amount=amount,
            currency=currency,
            entry_type=entry_type,
            memo=memo,
            expires_at=expires_at,
        )
        _reserve(hold, +1)
        for account in accounts.values():
            account.refresh_from_db(fields=["pending_debits", "pending_credits"])
            if not account.may_go_negative and account.available < 0:
                raise ApplicationError(
                    422,
                    "insufficient_funds",
                    "The account does not have enough available balance.",
                    {"account": [f"account {account.pk} would go below zero (holds included)"]},
                )
    return hold


def _hold_for_resolution(*, tenant: Tenant, hold_id: Any) -> Hold:
    from platform_core.tenancy.access import access_object_by_id

    hold = access_object_by_id(Hold, tenant=tenant, object_id=hold_id)
    hold = Hold.objects.select_for_update().get(pk=hold.pk)
    if hold.status == Hold.Status.EXPIRED or (
        hold.status == Hold.Status.PENDING
        and hold.expires_at is not None
        and hold.expires_at <= timezone.now()
    ):
        raise ApplicationError(409, "hold_expired", "The hold has expired.")
    if hold.status != Hold.Status.PENDING:
        raise ApplicationError(409, "hold_already_resolved", f"The hold is already {hold.status}.")
    return hold


def hold_post(
    *, tenant: Tenant, hold_id: Any, amount: Decimal | None = None, actor: Any = None
) -> Hold:
    """Post the hold, in full or in part (the rest is released), exactly once."""
    with transaction.atomic():
        hold = _hold_for_resolution(tenant=tenant, hold_id=hold_id)
        posted = hold.amount if amount is None else amount_parse(amount, currency=hold.currency)
        if posted > hold.amount:
            held = hold.amount.quantize(quantum(hold.currency))
            raise invalid({"amount": [f"At most the held {held} {hold.currency}."]})
        _lock_accounts(tenant=tenant, ids=[hold.debit_account_id, hold.credit_account_id])
        _reserve(hold, -1)
        entry = entry_post(
            tenant=tenant,
            entry_type=hold.entry_type,
            legs=[
                Leg(hold.debit_account_id, Side.DEBIT, posted),
                Leg(hold.credit_account_id, Side.CREDIT, posted),
            ],
            idempotency_key=f"hold:{hold.pk}:post",
            memo=hold.memo,
            actor=actor,
        )
        hold.status = Hold.Status.POSTED
        hold.posted_amount = posted
        hold.entry_id = entry.pk
        hold.resolved_at = timezone.now()
        hold.save(update_fields=["status", "posted_amount", "entry", "resolved_at"])
    return hold


def hold_void(*, tenant: Tenant, hold_id: Any) -> Hold:
    """Release the hold without moving money, exactly once."""
    with transaction.atomic():
        hold = _hold_for_resolution(tenant=tenant, hold_id=hold_id)
        _lock_accounts(tenant=tenant, ids=[hold.debit_account_id, hold.credit_account_id])
        _reserve(hold, -1)
        hold.status = Hold.Status.VOIDED
        hold.resolved_at = timezone.now()
        hold.save(update_fields=["status", "resolved_at"])
    return hold


def holds_expire(*, tenant: Tenant) -> int:
    """Release every pending hold past its expiry (a post racing this waits on the row)."""
    expired = 0
    overdue = (
        Hold.objects.filter(
            tenant=tenant, status=Hold.Status.PENDING, expires_at__lte=timezone.now()
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for hold_id in list(overdue):
        with transaction.atomic():
            hold = Hold.objects.select_for_update().get(pk=hold_id)
            if hold.status != Hold.Status.PENDING:
                continue  # resolved meanwhile
            _lock_accounts(tenant=tenant, ids=[hold.debit_account_id, hold.credit_account_id])
            _reserve(hold, -1)
            hold.status = Hold.Status.EXPIRED
            hold.resolved_at = timezone.now()
            hold.save(update_fields=["status", "resolved_at"])
            expired += 1
    return expired


# --- corrections ---------------------------------------------------------------------------


def entry_reverse(
    *, tenant: Tenant, entry_id: Any, idempotency_key: str, actor: Any = None, memo: str = ""
) -> JournalEntry:
    """The exact mirror of an entry, as a new entry. An entry is reversed at most once."""
    from platform_core.tenancy.access import access_object_by_id

    original = access_object_by_id(JournalEntry, tenant=tenant, object_id=entry_id)
    if original.entry_type == "reversal":
        raise ApplicationError(409, "reversal_of_reversal", "Post the original entry again.")
    legs = [
        Leg(p.account_id, Side.CREDIT if p.side == Side.DEBIT else Side.DEBIT, p.amount)
        for p in Posting.objects.filter(entry=original).order_by("pk")
    ]
    try:
        return entry_post(
            tenant=tenant,
            entry_type="reversal",
            legs=legs,
            idempotency_key=idempotency_key,
            memo=memo or f"reversal of entry {original.pk}",
            actor=actor,
            reverses=original,
        )
    except IntegrityError:
        raise ApplicationError(
            409, "already_reversed", f"Entry {original.pk} has been reversed already."
        ) from None


# --- the seal chain ------------------------------------------------------------------------


def journal_seal(*, tenant: Tenant, batch: int = 2000) -> int:
    """Chain the entries that became visible since the last seal, in id order.

    Off the write path (a periodic task, and ``ledger_verify``): posting never waits for it.
    One sealer per tenant at a time (advisory lock).
    """
    sealed = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_SEAL_LOCK_CLASS, tenant.pk])
        head = EntrySeal.objects.filter(tenant=tenant).order_by("-seq").first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        entries = list(
            JournalEntry.objects.filter(tenant=tenant, seal__isnull=True).order_by("pk")[:batch]
        )
        legs: dict[int, list[tuple[int, str, Decimal, str, Decimal]]] = defaultdict(list)
        for p in Posting.objects.filter(entry__in=entries).order_by("pk"):
            legs[p.entry_id].append((p.account_id, p.side, p.amount, p.currency, p.balance_after))
        seals = []
        for entry in entries:
            seq += 1
            prev = seal_hash(prev_hash=prev, seq=seq, digest=entry_digest_of(entry, legs[entry.pk]))
            seals.append(EntrySeal(tenant=tenant, seq=seq, entry=entry, prev_hash="", hash=prev))
        # prev_hash of each seal is the hash of the one before it.
        previous = head.hash if head else GENESIS_HASH
        for seal in seals:
            seal.prev_hash, previous = previous, seal.hash
        EntrySeal.objects.bulk_create(seals)
        sealed = len(seals)
    return sealed


def entry_digest_of(entry: JournalEntry, legs: list[tuple[int, str, Decimal, str, Decimal]]) -> str:
    return entry_digest(
        tenant_id=entry.tenant_id,
        entry_id=entry.pk,
        entry_type=entry.entry_type,
        memo=entry.memo,
        idempotency_key=entry.idempotency_key,
        created_at=entry.created_at,
        reverses_id=entry.reverses_id,
        postings=legs,
    )
