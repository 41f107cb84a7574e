"""Every write of the margin-call loop: the ladder, calls and notices, the crash switch,
deleveraging and liquidation, client debt and its write-off, disputes.

The live sweep (``risk``) tells ``margin_status_changed`` when an account changes rung;
``ladder_apply`` takes those changes in bulk, in one transaction per batch: it records the
ratio history, opens and closes calls, stores the notices under idempotent keys and plans the
deleveraging, then hands delivery and execution to Celery after commit. Running the same
batch twice changes nothing: a change already seen for its sweep, or one that does not move
the account, is skipped, and calls and notices are unique by their keys in the database.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from psycopg.types.json import Jsonb

from ledger.models import LedgerAccount
from ledger.rules import Side, quantum
from ledger.services import Leg as LedgerLeg
from ledger.services import account_create, entry_post
from platform_core.audit.chain import canonical_json
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped
from risk.operations.ladder import (
    Ladder,
    call_deadline,
    deposit_needed,
    ladder_for,
)
from risk.operations.models import (
    SEVERITY,
    AccountLadder,
    ClientDebt,
    CrashSwitch,
    Dispute,
    MarginCall,
    MarginNotice,
    Proposal,
    RatioMark,
    Status,
)
from risk.operations.planning import AccountBook, GroupView, Leg, Recompute, deleverage_plan

logger = logging.getLogger(__name__)

_LADDER_LOCK_CLASS = 0x4C414452  # "LADR": one ladder batch per tenant at a time
SYSTEM = "system:margin_ladder"
DEADLINE_NEAR = timedelta(hours=24)
WRITEOFF_ACTION = "risk_operations.debt_writeoff"
EXECUTE_ACTION = "risk_operations.proposal_execute"
# A plan is priced at the marks it was made on: an approval left for hours would execute
# something nobody looked at.
EXECUTE_APPROVAL_EXPIRES = timedelta(hours=1)


def _invalid(fields: dict[str, list[str]]) -> ApplicationError:
    return ApplicationError(400, "invalid", "The request has invalid fields.", fields)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise _invalid({"reason": ["A reason is required."]})
    return reason


def _risk_officer_require(membership: Membership) -> None:
    if membership.role != Role.RISK_OFFICER:
        raise ApplicationError(403, "permission_denied", "Only a risk officer may do this.")


def _money(value: Decimal, currency: str) -> str:
    return format(value.quantize(quantum(currency)), "f")


# --- the crash switch ---------------------------------------------------------------------


def crash_switch_engaged(*, tenant: Tenant) -> bool:
    return tenant_scoped(CrashSwitch, tenant=tenant).filter(engaged=True).exists()


def _crash_switch_set(
    *,
    tenant: Tenant,
    engaged: bool,
    reason: str,
    actor: Any,
    actor_label: str,
    request: HttpRequest | None,
    payload: dict[str, Any] | None = None,
) -> CrashSwitch:
    with transaction.atomic():
        switch = tenant_scoped(
            CrashSwitch, tenant=tenant
        ).select_for_update().first() or CrashSwitch(
            tenant=tenant, engaged=False, changed_at=timezone.now()
        )
        if switch.pk is not None and switch.engaged == engaged:
            return switch  # already so: nothing to record
        if switch.pk is None and not engaged:
            return switch
        switch.engaged = engaged
        switch.reason = reason
        switch.changed_by = actor if getattr(actor, "pk", None) else None
        switch.changed_by_label = actor_label or getattr(actor, "email", "")
        switch.changed_at = timezone.now()
        switch.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            actor_label=actor_label,
            action="risk.crash_switch_engaged" if engaged else "risk.crash_switch_released",
            object_type="crash_switch",
            object_id=switch.pk,
            reason=reason,
            payload=payload or {},
            request=request,
        )
    return switch


def crash_switch_engage(
    *,
    tenant: Tenant,
    actor: Any,
    reason: str,
    request: HttpRequest | None = None,
    actor_label: str = "",
    payload: dict[str, Any] | None = None,
) -> CrashSwitch:
    """Pause automatic deleveraging and liquidation for the tenant (again: no change).

    While engaged, proposals queue for a risk officer's approval; calls and notices still go
    out. Only an explicit release resumes automatic action.
    """
    return _crash_switch_set(
        tenant=tenant,
        engaged=True,
        reason=_reason(reason),
        actor=actor,
        actor_label=actor_label,
        request=request,
        payload=payload,
    )


def crash_switch_release(
    *, tenant: Tenant, actor: Any, reason: str, request: HttpRequest | None = None
) -> CrashSwitch:
    """Resume automatic action. Proposals queued meanwhile stay queued for a person."""
    return _crash_switch_set(
        tenant=tenant,
        engaged=False,
        reason=_reason(reason),
        actor=actor,
        actor_label="",
        request=request,
    )


def _held_underlyings(*, tenant: Tenant) -> set[str]:
    """The underlyings of what the tenant's clients hold (an option counts as its underlying)."""
    from risk.models import Position

    rows = (
        tenant_scoped(Position, tenant=tenant)
        .exclude(quantity=0)
        .values_list("instrument__symbol", "instrument__underlying__symbol")
    )
    return {underlying or symbol for symbol, underlying in rows}


def _signal_moves(payload: dict[str, Any]) -> dict[str, Decimal]:
    """Each quoted underlying's return over the signal's window, from the oracle's quotes."""
    from risk.oracle import market_moves, oracle_settings

    at = datetime.fromisoformat(payload["at"]) if payload.get("at") else timezone.now()
    moves = market_moves(
        now=at,
        window=timedelta(seconds=int(payload.get("window_seconds") or 0)),
        freshness=oracle_settings().freshness_of("equity"),
    )
    return {s: after / before - 1 for s, (before, after) in moves.items() if before > 0}


def crash_signal_received(payload: dict[str, Any]) -> None:
    """``risk.hooks.crash_signal`` listener: the market broke; the switch engages by itself
    for each tenant whose own market fell (idempotent).

    The oracle's signal is market-wide (the median return of every quoted underlying). A
    tenant's market is the underlyings its clients hold: its switch engages when their median
    return over the signal's window is down by the signal's threshold or more, so a crash in
    one tenant's instruments does not pause a tenant trading other ones. A tenant holding
    nothing has nothing to liquidate and stays as it is.
    """
    from statistics import median

    from platform_core.tenancy.rls import rls_context

    if payload.get("direction") != "down":
        return
    threshold = Decimal(str(payload.get("threshold") or 0))
    returns = _signal_moves(payload)
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk"):
        with rls_context(tenant=tenant):
            moved = {s: returns[s] for s in _held_underlyings(tenant=tenant) if s in returns}
            if not moved:
                continue
            move = Decimal(median(moved.values())).quantize(Decimal("0.0001"))
            if move > -threshold:
                continue
            crash_switch_engage(
                tenant=tenant,
                actor=None,
                actor_label="system:crash_signal",
                reason=(
                    f"Oracle crash signal: the market moved {payload.get('move')} within "
                    f"{payload.get('window_seconds')} s (threshold {payload.get('threshold')}); "
                    f"this tenant's underlyings moved {move}."
                ),
                payload={
                    **payload,
                    "tenant_move": str(move),
                    "tenant_moves": {
                        s: str(r.quantize(Decimal("0.0001"))) for s, r in moved.items()
                    },
                },
            )


# --- the ladder -----------------------------------------------------------------------------


@dataclass
class LadderOutcome:
    """What one batch did (what the bench and the replay count)."""

    transitions: int = 0
    skipped: int = 0
    calls_issued: list[int] = field(default_factory=list)
    calls_met: list[int] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    proposals: list[int] = field(default_factory=list)
    to_execute: list[int] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)


# An account's book for planning, by account id (default: the engine on its positions at the
# oracle's prices); the bench plans on its own columns.
BookSource = Callable[[int], "tuple[AccountBook, Recompute | None]"]


def _decimal(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _ids_take(table: str, count: int) -> list[int]:
    """``count`` ids from the table's sequence, so rows can point at each other before insert."""
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _rows_insert(
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    skip_conflicts: bool = False,
) -> list[int]:
    """Insert plain tuples fast: COPY into a temporary table, then one INSERT … SELECT.

    (bulk_create's model instances and multi-row INSERTs cost ~10x at 30,000 rows, and
    PostgreSQL refuses COPY straight into a table under row security; the INSERT still passes
    its policy.) JSON values come wrapped in ``Jsonb``. Returns the inserted rows' ids;
    ``skip_conflicts`` leaves out rows whose unique key exists already.
    """
    if not rows:
        return []
    names = ", ".join(columns)
    # The columns' types without the table's constraints (the id comes from the INSERT).
    incoming = f"{table}_in_{hashlib.sha256(names.encode()).hexdigest()[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {incoming} ON COMMIT DELETE ROWS "  # noqa: S608
            f"AS SELECT {names} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY {incoming} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {incoming}"  # noqa: S608
            + (" ON CONFLICT DO NOTHING" if skip_conflicts else "")
            + " RETURNING id"
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"TRUNCATE {incoming}")
    return ids


def _rows_update(
    table: str, *, tenant: Tenant, columns: dict[str, str], rows: list[tuple[Any, ...]]
) -> None:
    """Set ``columns`` (name: SQL type) of many rows of one tenant in one statement; each row
    is (id, *values). One UPDATE … FROM unnest(arrays), where ``bulk_update`` builds a CASE per
    row and field."""
    if not rows:
        return
    names = list(columns)
    arrays = [list(column) for column in zip(*rows, strict=True)]
    sets = ", ".join(f"{n} = v.{n}" for n in names)
    casts = ", ".join(["%s::bigint[]"] + [f"%s::{columns[n]}[]" for n in names])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {sets} FROM unnest({casts}) "  # noqa: S608 (names are ours)
            f"AS v(id, {', '.join(names)}) WHERE t.id = v.id AND t.tenant_id = %s",
            [*arrays, tenant.pk],
        )


@dataclass(slots=True)
class _Change:
    account: int
    status: str
    sweep_id: str
    membership: int | None
    ratio: Decimal | None
    equity: Decimal
    maintenance: Decimal
    fully_paid: Decimal
    at: datetime
    cause: str


def _change_of(change: Mapping[str, Any], now: datetime) -> _Change:
    at = change.get("at") or now
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return _Change(
        account=int(change["account"]),
        status=str(Status(change["status"])),
        sweep_id=str(change.get("sweep_id") or ""),
        membership=change.get("membership"),
        ratio=_decimal(change.get("ratio")),
        equity=Decimal(str(change["equity"])),
        maintenance=Decimal(str(change["maintenance"])),
        fully_paid=Decimal(str(change.get("fully_paid") or 0)),
        at=at,
        cause=str(change.get("cause") or ""),
    )


def _rounds(changes: list[_Change]) -> list[list[_Change]]:
    """The batch in rounds where each account appears once, in the order given: an account's
    second change in a batch is judged against what its first one did."""
    rounds: list[list[_Change]] = []
    count: dict[int, int] = {}
    for change in changes:
        n = count.get(change.account, 0)
        count[change.account] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(change)
    return rounds


# One statement joins the sweep's changes to where each account stands: its client-money
# account (currency, owner), its rung and episode, its open call, whether its sweep was seen
# already; it keeps only the changes that move an account. Each join is a lookup by a unique
# index per change (LATERAL … LIMIT 1), so the plan does not hang on table statistics: a
# tenant's first big batch after onboarding has none yet.
_MOVERS = """
SELECT c.idx, a.currency, a.owner_id, s.id, COALESCE(s.status, 'healthy'),
       COALESCE(s.episode, 0), k.id, k.stage, k.membership_id, k.target_ratio,
       k.deposit_needed, k.deadline_date, k.deadline_at
  FROM risk_ops_change c
 CROSS JOIN LATERAL (
       SELECT currency, owner_id FROM ledger_ledgeraccount
        WHERE tenant_id = %(tenant)s AND id = c.account AND kind = %(kind)s LIMIT 1) a
  LEFT JOIN LATERAL (
       SELECT id, status, episode FROM risk_operations_accountladder
        WHERE tenant_id = %(tenant)s AND account_id = c.account LIMIT 1) s ON true
  LEFT JOIN LATERAL (
       SELECT id, stage, membership_id, target_ratio, deposit_needed, deadline_date,
              deadline_at
         FROM risk_operations_margincall
        WHERE tenant_id = %(tenant)s AND account_id = c.account AND status = 'open'
        LIMIT 1) k ON true
  LEFT JOIN LATERAL (
       SELECT true AS seen FROM risk_operations_ratiomark
        WHERE tenant_id = %(tenant)s AND account_id = c.account AND sweep_id = c.sweep_id
          AND sweep_id <> '' LIMIT 1) m ON c.sweep_id <> ''
 WHERE c.status <> COALESCE(s.status, 'healthy') AND m.seen IS NULL
 ORDER BY c.idx
"""


def _movers(*, tenant: Tenant, changes: list[_Change]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS risk_ops_change "
            "(idx integer, account bigint, status text, sweep_id text) ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy("COPY risk_ops_change FROM STDIN") as copy:
            for idx, change in enumerate(changes):
                copy.write_row((idx, change.account, change.status, change.sweep_id))
        cursor.execute("ANALYZE risk_ops_change")
        cursor.execute(_MOVERS, {"tenant": tenant.pk, "kind": LedgerAccount.Kind.CLIENT_CASH})
        movers = cursor.fetchall()
        cursor.execute("TRUNCATE risk_ops_change")
    return movers


_MARK_COLUMNS = (
    "tenant_id",
    "account_id",
    "previous",
    "status",
    "ratio",
    "equity",
    "maintenance",
    "at",
    "sweep_id",
    "episode",
)
_CALL_COLUMNS = (
    "id",
    "tenant_id",
    "account_id",
    "membership_id",
    "episode",
    "status",
    "stage",
    "currency",
    "issued_at",
    "deadline_date",
    "deadline_at",
    "ratio",
    "equity",
    "maintenance",
    "target_ratio",
    "deposit_needed",
    "policy_name",
    "policy_version",
    "policy_digest",
    "hints",
    "closed_reason",
)
_NOTICE_COLUMNS = (
    "tenant_id",
    "account_id",
    "membership_id",
    "call_id",
    "step",
    "key",
    "context",
    "created_at",
)
_LADDER_COLUMNS = ("tenant_id", "account_id", "membership_id", "status", "ratio", "episode")


@dataclass
class _Batch:
    """What a batch writes, as plain tuples (thousands of model instances cost seconds)."""

    marks: list[tuple[Any, ...]] = field(default_factory=list)
    marks_digest: list[list[Any]] = field(default_factory=list)
    plan_for: dict[int, str] = field(default_factory=dict)
    open_calls: dict[int, int] = field(default_factory=dict)


def _ladder_round(
    *,
    tenant: Tenant,
    ladder: Ladder,
    changes: list[_Change],
    now: datetime,
    switch: bool,
    deadline: list[tuple[Any, datetime]],
    batch: _Batch,
    outcome: LadderOutcome,
) -> None:
    """One round of a batch (each account once): read where the movers stand in one query,
    decide in plain Python over tuples, write each table in one statement."""
    movers = _movers(tenant=tenant, changes=changes)
    outcome.skipped += len(changes) - len(movers)
    if not movers:
        return
    new_states: list[tuple[Any, ...]] = []
    moved_states: list[tuple[Any, ...]] = []
    new_calls: list[list[Any]] = []
    raised_calls: list[tuple[Any, ...]] = []
    closed_calls: list[tuple[Any, ...]] = []
    notices: list[tuple[Any, ...]] = []
    call_ids = iter(
        _ids_take(
            MarginCall._meta.db_table,
            sum(
                1
                for m in movers
                if m[6] is None and SEVERITY[changes[m[0]].status] >= SEVERITY[Status.MARGIN_CALL]
            ),
        )
    )
    policy = f"{ladder.name} v{ladder.version}"
    for (
        idx,
        currency,
        owner_id,
        state_id,
        previous,
        episode,
        call_id,
        call_stage,
        call_membership,
        call_target,
        call_deposit,
        call_due,
        call_due_at,
    ) in movers:
        change = changes[idx]
        account_id, status, ratio = change.account, change.status, change.ratio
        equity, maintenance, fully_paid = change.equity, change.maintenance, change.fully_paid
        membership_id = change.membership or owner_id
        if SEVERITY[previous] == 0 and SEVERITY[status] > 0:
            episode += 1
        outcome.transitions += 1
        outcome.by_status[Status(status)] += 1
        batch.marks.append(
            (
                tenant.pk,
                account_id,
                previous,
                status,
                ratio,
                equity,
                maintenance,
                change.at,
                change.sweep_id,
                episode,
            )
        )
        batch.marks_digest.append([account_id, previous, status, str(ratio), change.sweep_id])
        base = f"ladder:{account_id}:{episode}"
        context: dict[str, Any] = {
            "account_id": account_id,
            "status": status,
            "ratio": None if ratio is None else str(ratio),
            "equity": _money(equity, currency),
            "maintenance": _money(maintenance, currency),
            "currency": currency,
            "policy": policy,
        }
        if SEVERITY[status] > SEVERITY[previous]:
            if SEVERITY[status] >= SEVERITY[Status.MARGIN_CALL]:
                if call_id is None:
                    if not deadline:  # one calendar lookup per batch
                        deadline.append(
                            call_deadline(tenant=tenant, issued_at=now, days=ladder.call_days)
                        )
                    call_due, call_due_at = deadline[0]
                    call_id, call_membership, call_target = (
                        next(call_ids),
                        membership_id,
                        ladder.target,
                    )
                    call_deposit = deposit_needed(
                        equity=equity - fully_paid,
                        maintenance=maintenance - fully_paid,
                        target=call_target,
                        currency=currency,
                    )
                    new_calls.append(
                        [
                            call_id,
                            tenant.pk,
                            account_id,
                            membership_id,
                            episode,
                            MarginCall.CallStatus.OPEN.value,
                            status,
                            currency,
                            now,
                            call_due,
                            call_due_at,
                            ratio,
                            equity,
                            maintenance,
                            call_target,
                            call_deposit,
                            ladder.name,
                            ladder.version,
                            ladder.digest,
                            Jsonb({}),
                            "",
                        ]
                    )
                    outcome.calls_issued.append(call_id)
                elif SEVERITY[status] > SEVERITY[call_stage]:
                    call_deposit = deposit_needed(
                        equity=equity - fully_paid,
                        maintenance=maintenance - fully_paid,
                        target=call_target,
                        currency=currency,
                    )
                    raised_calls.append((call_id, status, ratio, equity, maintenance, call_deposit))
                batch.open_calls[account_id] = call_id
                if call_membership is not None:
                    notices.append(
                        (
                            tenant.pk,
                            account_id,
                            call_membership,
                            call_id,
                            status,
                            f"{base}:{status}",
                            Jsonb(
                                {
                                    **context,
                                    "deadline": call_due.isoformat(),
                                    "deadline_at": call_due_at.isoformat(),
                                    "deposit_needed": _money(call_deposit, currency),
                                    "crash_switch": switch,
                                    "call_id": call_id,
                                }
                            ),
                            now,
                        )
                    )
                if SEVERITY[status] >= SEVERITY[Status.DELEVERAGE]:
                    batch.plan_for[account_id] = status
            elif membership_id is not None:
                notices.append(
                    (
                        tenant.pk,
                        account_id,
                        membership_id,
                        None,
                        MarginNotice.Step.WARNING.value,
                        f"{base}:warning",
                        Jsonb(context),
                        now,
                    )
                )
        elif SEVERITY[status] <= SEVERITY[Status.WARNING] and call_id is not None:
            reason = change.cause or "ratio_restored"
            closed_calls.append(
                (
                    call_id,
                    MarginCall.CallStatus.LIQUIDATED.value
                    if reason == "liquidation"
                    else MarginCall.CallStatus.MET.value,
                    now,
                    reason,
                )
            )
            outcome.calls_met.append(call_id)
            batch.open_calls.pop(account_id, None)
            # A later descent from here is a new episode: fresh call and notice keys.
            episode += 1
            if call_membership is not None:
                notices.append(
                    (
                        tenant.pk,
                        account_id,
                        call_membership,
                        call_id,
                        MarginNotice.Step.MET.value,
                        f"{base}:met",
                        Jsonb(
                            {
                                **context,
                                "reason": reason,
                                "crash_switch": switch,
                                "call_id": call_id,
                            }
                        ),
                        now,
                    )
                )
        row = (tenant.pk, account_id, membership_id, status, ratio, episode)
        if state_id is None:
            new_states.append(row)
        else:
            moved_states.append((state_id, *row[2:]))
    _rows_insert(
        AccountLadder._meta.db_table,
        (*_LADDER_COLUMNS, "changed_at"),
        [(*row, now) for row in new_states],
    )
    _rows_update(
        AccountLadder._meta.db_table,
        tenant=tenant,
        columns={
            "membership_id": "bigint",
            "status": "text",
            "ratio": "numeric",
            "episode": "integer",
            "changed_at": "timestamptz",
        },
        rows=[(*row, now) for row in moved_states],
    )
    _rows_insert(RatioMark._meta.db_table, _MARK_COLUMNS, batch.marks[-len(movers) :])
    _rows_insert(MarginCall._meta.db_table, _CALL_COLUMNS, [tuple(c) for c in new_calls])
    _rows_update(
        MarginCall._meta.db_table,
        tenant=tenant,
        columns={
            "stage": "text",
            "ratio": "numeric",
            "equity": "numeric",
            "maintenance": "numeric",
            "deposit_needed": "numeric",
        },
        rows=raised_calls,
    )
    _rows_update(
        MarginCall._meta.db_table,
        tenant=tenant,
        columns={"status": "text", "closed_at": "timestamptz", "closed_reason": "text"},
        rows=closed_calls,
    )
    _rows_insert(MarginNotice._meta.db_table, _NOTICE_COLUMNS, notices, skip_conflicts=True)
    outcome.notices.extend(n[5] for n in notices)


def ladder_apply(
    *,
    tenant: Tenant,
    changes: Iterable[Mapping[str, Any]],
    now: datetime | None = None,
    book_source: BookSource | None = None,
    dispatch: bool = True,
) -> LadderOutcome:
    """Move accounts on the ladder (see the module's docstring); one transaction.

    Each change: ``account``, ``status``, ``ratio``, ``equity``, ``maintenance``, and optionally
    ``membership``, ``at``, ``sweep_id``, ``fully_paid``, ``cause`` (why it improved: a
    ``deposit``, a ``reduction`` or a ``liquidation``). ``book_source`` gives an account's
    groups for planning (default: the engine on its positions at the oracle's prices).

    Set-based: the changes go to the database once (COPY), one query joins them to each
    account's rung, open call and seen sweeps, and every table is written in one statement.
    """
    now = now or timezone.now()
    normalized = [_change_of(c, now) for c in changes if c.get("account") is not None]
    outcome = LadderOutcome()
    if not normalized:
        return outcome
    ladder = ladder_for(tenant=tenant)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LADDER_LOCK_CLASS, tenant.pk])
            # Index lookups and bulk writes: compiling them (JIT) cost more than running them.
            cursor.execute("SET LOCAL jit = off")
        switch = crash_switch_engaged(tenant=tenant)
        batch = _Batch()
        deadline: list[tuple[Any, datetime]] = []
        for round_changes in _rounds(normalized):
            _ladder_round(
                tenant=tenant,
                ladder=ladder,
                changes=round_changes,
                now=now,
                switch=switch,
                deadline=deadline,
                batch=batch,
                outcome=outcome,
            )
        if batch.plan_for:
            planned = _proposals_plan(
                tenant=tenant,
                ladder=ladder,
                wanted=batch.plan_for,
                calls=batch.open_calls,
                now=now,
                book_source=book_source,
                paused=switch,
            )
            outcome.proposals = [p for p, _ in planned]
            outcome.to_execute = [
                p for p, status in planned if status == Proposal.ProposalStatus.PROPOSED
            ]
        if outcome.transitions:
            sweeps = sorted({change.sweep_id for change in normalized} - {""})
            audit_record(
                tenant=tenant,
                actor=None,
                actor_label=SYSTEM,
                action="risk.ladder_moved",
                object_type="ratio_marks",
                object_id=",".join(sweeps)[:200],
                payload={
                    "transitions": outcome.transitions,
                    "by_status": dict(outcome.by_status),
                    "calls_issued": len(outcome.calls_issued),
                    "calls_met": len(outcome.calls_met),
                    "notices": len(outcome.notices),
                    "proposals": len(outcome.proposals),
                    "policy": ladder.as_json(),
                    "marks_digest": hashlib.sha256(canonical_json(batch.marks_digest)).hexdigest(),
                    # small batches (a single sweep's few movers) list every transition
                    "moves": [[m[1], m[2], m[3], str(m[4])] for m in batch.marks[:200]],
                },
            )
        if dispatch:
            _after_commit(tenant=tenant, outcome=outcome)
    return outcome


def _after_commit(*, tenant: Tenant, outcome: LadderOutcome) -> None:
    from risk.operations import tasks

    for start in range(0, len(outcome.notices), 500):
        tasks.notices_dispatch_task.delay_on_commit(tenant.pk, outcome.notices[start : start + 500])
    for call_id in outcome.calls_issued[:1000]:  # hints for the first thousand at once
        tasks.call_hints_task.delay_on_commit(tenant.pk, call_id)
    if outcome.to_execute:
        tasks.proposals_execute_task.delay_on_commit(tenant.pk, outcome.to_execute)


def margin_status_changed_received(payload: dict[str, Any]) -> None:
    """``risk.hooks.margin_status_changed`` listener: one account moved (or a batch, under
    ``changes``)."""
    from platform_core.tenancy.rls import rls_context

    tenant = Tenant.objects.get(pk=payload["tenant"])
    changes = payload.get("changes") or [payload]
    with rls_context(tenant=tenant):
        ladder_apply(tenant=tenant, changes=changes)


# --- evaluating accounts (the deposit listener, executions, the replay) -----------------------


def _margin(*, tenant: Tenant, account: LedgerAccount, priced: Any, ladder: Ladder) -> Any:
    """The account's margin as the live sweep computes it (the tenant's stored policy)."""
    try:
        from risk.selectors import portfolio_margin  # type: ignore[attr-defined]
    except ImportError:
        from risk.engine.policies import margin_compute

        return margin_compute(priced.portfolio, ladder.engine_policy)
    return portfolio_margin(tenant=tenant, account=account, priced=priced)


def result_ratio(result: Any) -> Decimal | None:
    """The contract's margin ratio; an account with nothing to margin but negative equity
    has no ratio and is below every line (a sentinel ratio of -1)."""
    ratio = result.margin_ratio
    if ratio is None and result.excess_maintenance < 0:
        return Decimal(-1)
    return ratio


def account_book(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    ladder: Ladder | None = None,
    now: datetime | None = None,
) -> tuple[AccountBook, Recompute]:
    """The account's groups by the engine at the oracle's prices, and a function that
    re-margins it with some groups closed (their proceeds in cash) — the same engine."""
    from dataclasses import replace

    from risk.engine.portfolio import Position as EnginePosition
    from risk.selectors import priced_portfolio

    ladder = ladder or ladder_for(tenant=tenant)
    priced = priced_portfolio(tenant=tenant, account=account, now=now)
    portfolio = priced.portfolio
    result = _margin(tenant=tenant, account=account, priced=priced, ladder=ladder)
    groups = []
    for group in result.groups:
        legs = []
        for symbol, quantity in group.legs:
            instrument = portfolio.instrument(symbol)
            legs.append(
                Leg(
                    symbol=symbol,
                    quantity=quantity,
                    price=instrument.price,
                    multiplier=instrument.multiplier,
                    kind=instrument.kind,
                )
            )
        groups.append(GroupView(group.strategy, tuple(legs), group.maintenance))
    book = AccountBook(
        currency=portfolio.currency,
        equity=result.equity,
        maintenance=result.maintenance_requirement,
        groups=tuple(groups),
        ratio=result_ratio(result),
    )

    def recompute(closed: list[GroupView]) -> tuple[Decimal, Decimal, Decimal | None]:
        remaining: dict[str, Decimal] = {p.symbol: p.quantity for p in portfolio.positions}
        cash = portfolio.cash
        for group in closed:
            for leg in group.legs:
                remaining[leg.symbol] = remaining.get(leg.symbol, Decimal(0)) - leg.quantity
                cash += leg.value
        positions = tuple(
            EnginePosition(symbol=s, quantity=q) for s, q in sorted(remaining.items()) if q != 0
        )
        after_priced = replace(priced, portfolio=replace(portfolio, cash=cash, positions=positions))
        after = _margin(tenant=tenant, account=account, priced=after_priced, ladder=ladder)
        return after.equity, after.maintenance_requirement, result_ratio(after)

    return book, recompute


def account_change(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    sweep_id: str,
    cause: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The account's rung now, as a ladder change (the engine at the oracle's prices)."""
    from risk.selectors import priced_portfolio

    ladder = ladder_for(tenant=tenant)
    priced = priced_portfolio(tenant=tenant, account=account, now=now)
    result = _margin(tenant=tenant, account=account, priced=priced, ladder=ladder)
    ratio = result_ratio(result)
    return {
        "account": account.pk,
        "membership": account.owner_id,
        "status": ladder.status_of(ratio),
        "ratio": None if ratio is None else str(ratio),
        "equity": str(result.equity),
        "maintenance": str(result.maintenance_requirement),
        "fully_paid": str(result.fully_paid_value),
        "sweep_id": sweep_id,
        "cause": cause,
    }


def ladder_sweep(
    *,
    tenant: Tenant,
    sweep_id: str,
    accounts: Iterable[LedgerAccount] | None = None,
    now: datetime | None = None,
    **kwargs: Any,
) -> LadderOutcome:
    """Evaluate accounts with the engine and apply the changes: what the replay runs, and a
    stand-in for the live sweep where it is not running."""
    from ledger.selectors import account_list

    if accounts is None:
        accounts = account_list(tenant=tenant).filter(kind=LedgerAccount.Kind.CLIENT_CASH)
    changes = [
        account_change(tenant=tenant, account=a, sweep_id=sweep_id, now=now) for a in accounts
    ]
    return ladder_apply(tenant=tenant, changes=changes, now=now, **kwargs)


def deposit_received(payload: dict[str, Any]) -> None:
    """``ledger.entry_committed`` listener: a deposit into an account with an open call
    re-marks it at once, so a call met by a deposit closes itself."""
    from platform_core.tenancy.rls import rls_context

    if payload.get("entry_type") != "deposit":
        return
    tenant = Tenant.objects.get(pk=payload["tenant"])
    credited = [int(p["account"]) for p in payload["postings"] if p["side"] == Side.CREDIT]
    with rls_context(tenant=tenant):
        called = list(
            tenant_scoped(MarginCall, tenant=tenant)
            .filter(status=MarginCall.CallStatus.OPEN, account_id__in=credited)
            .values_list("account_id", flat=True)
        )
        for account in tenant_scoped(LedgerAccount, tenant=tenant).filter(pk__in=called):
            try:
                change = account_change(
                    tenant=tenant,
                    account=account,
                    sweep_id=f"entry:{payload['entry']}",
                    cause="deposit",
                )
            except ValueError as exc:  # an unpriced or unmarginable position: the sweep will see
                logger.warning("deposit on account %s not re-marked: %s", account.pk, exc)
                continue
            ladder_apply(tenant=tenant, changes=[change])


# --- deleveraging and liquidation proposals ---------------------------------------------------


_PROPOSAL_COLUMNS = (
    "tenant_id",
    "account_id",
    "membership_id",
    "call_id",
    "kind",
    "status",
    "currency",
    "ratio_before",
    "ratio_after",
    "target_ratio",
    "equity_before",
    "maintenance_before",
    "steps",
    "prices",
    "policy_version",
    "paused_by_switch",
    "created_at",
    "decided_by_label",
    "fills",
    "proceeds",
    "shortfall",
)


KIND_OF_RUNG = {
    Status.DELEVERAGE: Proposal.Kind.DELEVERAGE.value,
    Status.LIQUIDATE: Proposal.Kind.LIQUIDATION.value,
}


def _proposals_plan(
    *,
    tenant: Tenant,
    ladder: Ladder,
    wanted: dict[int, str],
    calls: dict[int, int],
    now: datetime,
    book_source: BookSource | None,
    paused: bool,
) -> list[tuple[int, str]]:
    """Plan a proposal for each account that crossed the deleverage or liquidation line (a
    liquidation supersedes an open deleveraging proposal); ``calls`` maps an account to its
    open call's id. Returns (proposal id, status) of the new proposals."""
    wanted = dict(wanted)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, account_id, kind FROM risk_operations_proposal WHERE tenant_id = %s "
            "AND account_id = ANY(%s) AND status = ANY(%s)",
            [tenant.pk, list(wanted), [str(s) for s in Proposal.OPEN]],
        )
        superseded = []
        for proposal_id, account_id, kind in cursor.fetchall():
            if wanted[account_id] == Status.LIQUIDATE and kind == Proposal.Kind.DELEVERAGE:
                superseded.append((proposal_id, Proposal.ProposalStatus.SUPERSEDED.value, now))
            else:
                del wanted[account_id]  # one open proposal per account: the first stands
        cursor.execute(
            "SELECT id, currency, owner_id FROM ledger_ledgeraccount WHERE tenant_id = %s "
            "AND id = ANY(%s)",
            [tenant.pk, list(wanted)],
        )
        accounts = {row[0]: row[1:] for row in cursor.fetchall()}
    _rows_update(
        Proposal._meta.db_table,
        tenant=tenant,
        columns={"status": "text", "decided_at": "timestamptz"},
        rows=superseded,
    )
    if superseded:
        Proposal.objects.filter(pk__in=[row[0] for row in superseded]).update(
            decided_by_label=SYSTEM
        )
    status = (Proposal.ProposalStatus.QUEUED if paused else Proposal.ProposalStatus.PROPOSED).value
    engine_accounts = (
        {}
        if book_source is not None
        else {a.pk: a for a in tenant_scoped(LedgerAccount, tenant=tenant).filter(pk__in=wanted)}
    )
    policy = f"{ladder.name} v{ladder.version}"
    rows = []
    for account_id, rung in sorted(wanted.items()):
        _, owner_id = accounts[account_id]
        try:
            if book_source is not None:
                book, recompute = book_source(account_id)
            else:
                book, recompute = account_book(
                    tenant=tenant, account=engine_accounts[account_id], ladder=ladder, now=now
                )
        except ValueError as exc:  # an instrument never quoted, an expired option…
            logger.warning("no plan for account %s: %s", account_id, exc)
            continue
        steps = deleverage_plan(book, target=ladder.target, recompute=recompute)
        rows.append(
            (
                tenant.pk,
                account_id,
                owner_id,
                calls.get(account_id),
                (
                    Proposal.Kind.LIQUIDATION
                    if rung == Status.LIQUIDATE
                    else Proposal.Kind.DELEVERAGE
                ).value,
                status,
                book.currency,
                book.ratio,
                _decimal(steps[-1]["ratio_after"] if steps else None),
                ladder.target,
                book.equity,
                book.maintenance,
                Jsonb(steps),
                Jsonb(book.prices),
                policy,
                paused,
                now,
                "",
                Jsonb([]),
                Decimal(0),
                Decimal(0),
            )
        )
    ids = _rows_insert(Proposal._meta.db_table, _PROPOSAL_COLUMNS, rows)
    return [(proposal_id, status) for proposal_id in ids]


def _system_account(*, tenant: Tenant, kind: str, currency: str) -> LedgerAccount:
    found = (
        tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(kind=kind, currency=currency, owner__isnull=True)
        .first()
    )
    if found is not None:
        return found
    return account_create(tenant=tenant, kind=kind, currency=currency, actor=None)


def _positions_close(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    legs: list[dict[str, Any]],
    key: str,
    memo: str,
    actor: Any,
    funding: Callable[[Decimal], Any],
    now: datetime,
) -> list[dict[str, Any]]:
    """Close the legs through the risk app's order service (``risk.orders.order_fill``): each
    leg an order filled at the oracle's price now, settled in the ledger under the
    ``liquidation`` entry type, its position moved, idempotent per leg.

    Returns the fills: symbol, quantity (the closing trade), price, the signed cash, the order.
    """
    from risk.models import Instrument, Position
    from risk.orders import order_fill

    symbols = [leg["symbol"] for leg in legs]
    instruments = {
        i.symbol: i
        for i in Instrument.objects.filter(symbol__in=symbols).select_related("underlying")
    }
    fills = []
    # Short legs first: a group's short call is bought back before its stock is sold.
    for index, leg in enumerate(sorted(legs, key=lambda leg: Decimal(leg["quantity"]))):
        instrument = instruments[leg["symbol"]]
        close = Decimal(leg["close"])
        held = (
            tenant_scoped(Position, tenant=tenant)
            .filter(account=account, instrument=instrument)
            .values_list("quantity", flat=True)
            .first()
        ) or Decimal(0)
        if held == 0 or (held + close) * held < 0:
            raise ApplicationError(
                409, "position_changed", f"{instrument.symbol}: the position changed; plan again."
            )
        order = order_fill(
            tenant=tenant,
            account=account,
            instrument=instrument,
            quantity=close,
            actor=actor,
            idempotency_key=f"{key}:{index}",
            entry_type="liquidation",
            memo_prefix=memo,
            # The market's price now: the fresh median even when it jumped (the fill is real).
            at_market=True,
            shortfall_funding=funding,
            now=now,
        )
        fills.append(
            {
                "symbol": instrument.symbol,
                "quantity": format(close.normalize(), "f"),
                "price": format(order.fill_price, "f"),
                "cash": format(order.cash, "f"),
                "key": order.idempotency_key,
                "order": order.pk,
                "entry": order.journal_entry_id,
            }
        )
    return fills


@dataclass
class _ShortfallLender:
    """A buy-back the client's cash cannot pay: the house pays the uncovered part into the
    client-money bank account (so no other client's money buys the short back) and lends it
    to the client (the client debt, written off later under four eyes)."""

    tenant: Tenant
    account: LedgerAccount
    label: str
    key: str
    actor: Any
    lent: Decimal = Decimal(0)
    entries: list[int] = field(default_factory=list)
    loan_entries: list[int] = field(default_factory=list)

    def __call__(self, amount: Decimal) -> Any:
        currency = self.account.currency
        bank = _system_account(tenant=self.tenant, kind="custodian_bank", currency=currency)
        house = _system_account(tenant=self.tenant, kind="house_cash", currency=currency)
        loans = _system_account(tenant=self.tenant, kind="loan_receivable", currency=currency)
        n = len(self.loan_entries) + 1
        topup = entry_post(
            tenant=self.tenant,
            entry_type="shortfall_topup",
            legs=[LedgerLeg(bank.pk, Side.DEBIT, amount), LedgerLeg(house.pk, Side.CREDIT, amount)],
            idempotency_key=f"{self.key}:topup:{n}",
            memo=f"{self.label}: house money for the shortfall",
            actor=self.actor,
            actor_label="" if self.actor else SYSTEM,
        )
        loan = entry_post(
            tenant=self.tenant,
            entry_type="loan_drawdown",
            legs=[
                LedgerLeg(loans.pk, Side.DEBIT, amount),
                LedgerLeg(self.account.pk, Side.CREDIT, amount),
            ],
            idempotency_key=f"{self.key}:shortfall:{n}",
            memo=f"{self.label}: shortfall lent to the client",
            actor=self.actor,
            actor_label="" if self.actor else SYSTEM,
        )
        self.lent += amount
        self.entries.extend([topup.pk, loan.pk])
        self.loan_entries.append(loan.pk)
        return loan

    def repay_from_proceeds(self) -> None:
        """A group's own sale, settled after its buy-back was lent, repays that loan from the
        client's cash, and the house takes its money back out of the client-money bank
        account; what the client's cash cannot repay stays lent (the debt)."""
        if self.lent <= 0:
            return
        account = LedgerAccount.objects.get(pk=self.account.pk)
        repay = min(self.lent, max(account.available, Decimal(0)))
        if repay <= 0:
            return
        currency = account.currency
        bank = _system_account(tenant=self.tenant, kind="custodian_bank", currency=currency)
        house = _system_account(tenant=self.tenant, kind="house_cash", currency=currency)
        loans = _system_account(tenant=self.tenant, kind="loan_receivable", currency=currency)
        for entry_type, legs, suffix, memo in (
            (
                "liquidation",
                [LedgerLeg(account.pk, Side.DEBIT, repay), LedgerLeg(loans.pk, Side.CREDIT, repay)],
                "repaid",
                "proceeds repay the shortfall loan",
            ),
            (
                "sweep",
                [LedgerLeg(house.pk, Side.DEBIT, repay), LedgerLeg(bank.pk, Side.CREDIT, repay)],
                "returned",
                "the house's money leaves the client-money bank account",
            ),
        ):
            self.entries.append(
                entry_post(
                    tenant=self.tenant,
                    entry_type=entry_type,
                    legs=legs,
                    idempotency_key=f"{self.key}:{suffix}",
                    memo=f"{self.label}: {memo}",
                    actor=self.actor,
                    actor_label="" if self.actor else SYSTEM,
                ).pk
            )
        self.lent -= repay


def _step_cash(step: dict[str, Any]) -> Decimal:
    """The cash a step's closings bring in at the plan's prices (negative: they cost)."""
    return sum(
        (
            -Decimal(leg["close"]) * Decimal(leg["price"]) * Decimal(leg.get("multiplier") or 1)
            for leg in step["legs"]
        ),
        Decimal(0),
    )


def proposal_execute(
    *,
    tenant: Tenant,
    proposal_id: Any,
    actor: Any = None,
    actor_label: str = "",
    automatic: bool = False,
    now: datetime | None = None,
    dispatch: bool = True,
) -> Proposal:
    """Close the proposal's groups, step by step, through the risk app's order service.

    Each leg is an order (``risk.orders.order_fill``) settled under the ``liquidation`` entry
    type: a sale's proceeds credit the client's money, a buy-back is paid from it; a buy-back
    the client's cash cannot pay is lent by the house (``_ShortfallLender``) and recorded as
    client debt, to be written off under four eyes. Automatic execution stops if the crash
    switch engaged meanwhile (the proposal waits in the queue).
    """
    with transaction.atomic():
        proposal = (
            tenant_scoped(Proposal, tenant=tenant)
            .select_for_update()
            .filter(pk=proposal_id)
            .first()
        )
        if proposal is None:
            raise ApplicationError(404, "not_found", "No proposal with this id.")
        if proposal.status not in Proposal.OPEN:
            return proposal
        if automatic and crash_switch_engaged(tenant=tenant):
            if proposal.status != Proposal.ProposalStatus.QUEUED:
                proposal.status = Proposal.ProposalStatus.QUEUED
                proposal.paused_by_switch = True
                proposal.save(update_fields=["status", "paused_by_switch"])
            return proposal
        account = tenant_scoped(LedgerAccount, tenant=tenant).get(pk=proposal.account_id)
        currency = account.currency
        key = f"risk_ops:proposal:{proposal.pk}"
        label = f"{proposal.kind} {proposal.pk}"
        lender = _ShortfallLender(tenant=tenant, account=account, label=label, key=key, actor=actor)
        fills: list[dict[str, Any]] = []
        # Each group closes whole, its short leg first; the groups that raise cash settle
        # before those that cost cash, so a buy-back is paid from the proceeds and only the
        # proposal's true shortfall is lent (the plan's groups and their effect are the same).
        for step in sorted(proposal.steps, key=_step_cash, reverse=True):
            step_fills = _positions_close(
                tenant=tenant,
                account=account,
                legs=step["legs"],
                key=f"{key}:step:{step['step']}",
                memo=label,
                actor=actor,
                funding=lender,
                now=now or timezone.now(),
            )
            for fill in step_fills:
                fill["step"] = step["step"]
            fills.extend(step_fills)
        fills.sort(key=lambda f: (f["step"], f["key"]))
        net = sum((Decimal(f["cash"]) for f in fills), Decimal(0))
        lender.repay_from_proceeds()
        shortfall = lender.lent
        entries = sorted([*lender.entries, *(f["entry"] for f in fills)])
        if shortfall > 0:
            ClientDebt.objects.create(
                tenant=tenant,
                account_id=account.pk,
                proposal=proposal,
                currency=currency,
                amount=shortfall,
                loan_entry_id=lender.loan_entries[0],
                created_at=timezone.now(),
            )
        proposal.status = Proposal.ProposalStatus.EXECUTED
        proposal.decided_at = now or timezone.now()
        proposal.decided_by_label = actor_label or getattr(actor, "email", "") or SYSTEM
        proposal.fills = fills
        proposal.proceeds = net
        proposal.shortfall = shortfall
        proposal.save(
            update_fields=[
                "status",
                "decided_at",
                "decided_by_label",
                "fills",
                "proceeds",
                "shortfall",
            ]
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            actor_label=actor_label or ("" if actor else SYSTEM),
            action="risk.proposal_executed",
            object_type="proposal",
            object_id=proposal.pk,
            payload={
                "kind": proposal.kind,
                "account": account.pk,
                "automatic": automatic,
                "steps": len(proposal.steps),
                "fills": fills,
                "net_cash": str(net),
                "shortfall": str(shortfall),
                "entries": entries,
            },
        )
        if proposal.membership_id:
            MarginNotice.objects.bulk_create(
                [
                    MarginNotice(
                        tenant=tenant,
                        account_id=account.pk,
                        membership_id=proposal.membership_id,
                        call_id=proposal.call_id,
                        step=MarginNotice.Step.EXECUTED,
                        key=f"proposal:{proposal.pk}:executed",
                        context={
                            "account_id": account.pk,
                            "proposal_id": proposal.pk,
                            "kind": proposal.kind,
                            "net_cash": _money(net, currency),
                            "shortfall": _money(shortfall, currency),
                            "currency": currency,
                            "steps": len(proposal.steps),
                        },
                        created_at=timezone.now(),
                    )
                ],
                ignore_conflicts=True,
            )
        _settlement_announce(
            tenant=tenant, proposal=proposal, account=account, entries=entries, net=net
        )
        from risk.operations import tasks

        if dispatch:
            tasks.notices_dispatch_task.delay_on_commit(
                tenant.pk, [f"proposal:{proposal.pk}:executed"]
            )
        # The account's new rung (a reduction can meet the call); if it cannot be priced now,
        # the next sweep moves it.
        account.refresh_from_db()
        try:
            change = account_change(
                tenant=tenant,
                account=account,
                sweep_id=f"proposal:{proposal.pk}",
                cause=(
                    "liquidation" if proposal.kind == Proposal.Kind.LIQUIDATION else "reduction"
                ),
                now=now,
            )
        except ValueError as exc:
            logger.warning(
                "account %s not re-marked after proposal %s: %s", account.pk, proposal.pk, exc
            )
        else:
            ladder_apply(tenant=tenant, changes=[change], now=now, dispatch=dispatch)
    return proposal


def _settlement_announce(
    *, tenant: Tenant, proposal: Proposal, account: LedgerAccount, entries: list[int], net: Decimal
) -> None:
    from risk import hooks

    settled = getattr(hooks, "liquidation_settled", None)
    if settled is None:
        return
    settled.send(
        {
            "tenant": tenant.pk,
            "account": account.pk,
            "membership": account.owner_id,
            "liquidation": f"risk_operations.proposal:{proposal.pk}",
            "orders": [f["order"] for f in proposal.fills if "order" in f],
            "currency": account.currency,
            "proceeds": str(max(net, Decimal(0))),
            "at": timezone.now().isoformat(),
            "kind": proposal.kind,
            "shortfall": str(proposal.shortfall),
            "entries": entries,
        }
    )


def proposal_execution_request(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    proposal_id: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> Any:
    """A risk officer asks to execute an open proposal by hand (one queued by the crash
    switch, or any proposed one): four eyes. A second risk officer, another person, approves
    it through the platform's approvals; the proposal executes inside that approval, so both
    happen or neither. Returns the approval request."""
    from platform_core.audit.approvals import approval_request_create

    proposal = _proposal_for_request(tenant=tenant, proposal_id=proposal_id)
    with transaction.atomic():
        approval = approval_request_create(
            tenant=tenant,
            actor=actor,
            membership=membership,
            action=EXECUTE_ACTION,
            params={"proposal_id": proposal.pk},
            reason=reason,
            request=request,
        )
        tenant_scoped(Proposal, tenant=tenant).filter(pk=proposal.pk).update(
            approval_id=approval.pk
        )
    return approval


def _proposal_for_request(*, tenant: Tenant, proposal_id: Any) -> Proposal:
    from platform_core.audit.models import ApprovalRequest
    from risk.operations.selectors import access_proposal_by_id

    proposal = access_proposal_by_id(tenant=tenant, proposal_id=proposal_id)
    if proposal.status not in Proposal.OPEN:
        raise ApplicationError(
            409, "proposal_decided", f"This proposal is already {proposal.status}."
        )
    if (
        proposal.approval_id
        and tenant_scoped(ApprovalRequest, tenant=tenant)
        .filter(
            pk=proposal.approval_id,
            status=ApprovalRequest.Status.PENDING,
            expires_at__gt=timezone.now(),
        )
        .exists()
    ):
        raise ApplicationError(
            409, "approval_pending", "Its execution already waits for a second risk officer."
        )
    return proposal


def proposal_execution_validate(*, tenant: Tenant, params: dict[str, Any]) -> dict[str, Any]:
    from django.core.exceptions import ValidationError

    try:
        proposal_id = int(str(params.get("proposal_id")))
    except ValueError:
        raise ValidationError({"proposal_id": ["A proposal id is required."]}) from None
    try:
        _proposal_for_request(tenant=tenant, proposal_id=proposal_id)
    except ApplicationError as refusal:
        raise ValidationError({"proposal_id": [refusal.message]}) from None
    return {"proposal_id": proposal_id}


def proposal_execution_execute(
    *, tenant: Tenant, params: dict[str, Any], maker: Any, approver: Any
) -> dict[str, Any]:
    """The approval's action: execute the proposal now, at the market's prices now."""
    proposal = _open_proposal(tenant=tenant, proposal_id=params["proposal_id"])
    audit_record(
        tenant=tenant,
        actor=approver,
        action="risk.proposal_approved",
        object_type="proposal",
        object_id=proposal.pk,
        payload={"maker": maker.email, "approver": approver.email, "kind": proposal.kind},
    )
    executed = proposal_execute(tenant=tenant, proposal_id=proposal.pk, actor=approver)
    return {
        "proposal_id": executed.pk,
        "status": executed.status,
        "proceeds": str(executed.proceeds),
        "shortfall": str(executed.shortfall),
    }


def proposal_reject(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    proposal_id: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> Proposal:
    reason = _reason(reason)
    _risk_officer_require(membership)
    with transaction.atomic():
        proposal = _open_proposal(tenant=tenant, proposal_id=proposal_id)
        proposal.status = Proposal.ProposalStatus.REJECTED
        proposal.decided_at = timezone.now()
        proposal.decided_by_label = actor.email
        proposal.save(update_fields=["status", "decided_at", "decided_by_label"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="risk.proposal_rejected",
            object_type="proposal",
            object_id=proposal.pk,
            reason=reason,
            request=request,
        )
    return proposal


def _open_proposal(*, tenant: Tenant, proposal_id: Any) -> Proposal:
    from risk.operations.selectors import access_proposal_by_id

    proposal = access_proposal_by_id(tenant=tenant, proposal_id=proposal_id)
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status not in Proposal.OPEN:
        raise ApplicationError(
            409, "proposal_decided", f"This proposal is already {proposal.status}."
        )
    return proposal


# --- deadlines ------------------------------------------------------------------------------


def calls_deadline_check(*, tenant: Tenant, now: datetime | None = None) -> dict[str, int]:
    """The beat's pass over open calls: a reminder once as the deadline nears; a call still
    open after its deadline is deleveraged (a proposal, executed unless the switch is on)."""
    now = now or timezone.now()
    with transaction.atomic():
        open_calls = list(
            tenant_scoped(MarginCall, tenant=tenant)
            .filter(status=MarginCall.CallStatus.OPEN, deadline_at__lte=now + DEADLINE_NEAR)
            .order_by("pk")
        )
        notices = []
        overdue: dict[int, str] = {}
        for call in open_calls:
            if call.deadline_at > now and call.membership_id:
                notices.append(
                    MarginNotice(
                        tenant=tenant,
                        account_id=call.account_id,
                        membership_id=call.membership_id,
                        call=call,
                        step=MarginNotice.Step.DEADLINE_NEAR,
                        key=f"call:{call.pk}:deadline_near",
                        context={
                            "account_id": call.account_id,
                            "call_id": call.pk,
                            "deadline": call.deadline_date.isoformat(),
                            "deadline_at": call.deadline_at.isoformat(),
                            "deposit_needed": _money(call.deposit_needed, call.currency),
                            "currency": call.currency,
                            "hours_left": int((call.deadline_at - now).total_seconds() // 3600),
                        },
                        created_at=now,
                    )
                )
            elif call.deadline_at <= now:
                overdue[call.account_id] = Status.DELEVERAGE
        MarginNotice.objects.bulk_create(notices, ignore_conflicts=True)
        keys = [n.key for n in notices]
        planned: list[Proposal] = []
        if overdue:
            planned = _proposals_plan(
                tenant=tenant,
                ladder=ladder_for(tenant=tenant),
                wanted=overdue,
                calls={c.account_id: c.pk for c in open_calls},
                now=now,
                book_source=None,
                paused=crash_switch_engaged(tenant=tenant),
            )
            for proposal in Proposal.objects.filter(pk__in=[p for p, _ in planned]):
                audit_record(
                    tenant=tenant,
                    actor=None,
                    actor_label=SYSTEM,
                    action="risk.call_overdue",
                    object_type="proposal",
                    object_id=proposal.pk,
                    payload={"call": proposal.call_id, "account": proposal.account_id},
                )
        from risk.operations import tasks

        if keys:
            tasks.notices_dispatch_task.delay_on_commit(tenant.pk, keys)
        execute = [p for p, status in planned if status == Proposal.ProposalStatus.PROPOSED]
        if execute:
            tasks.proposals_execute_task.delay_on_commit(tenant.pk, execute)
    return {"reminded": len(keys), "overdue": len(planned)}


# --- notices and hints ------------------------------------------------------------------------

NOTIFICATION_KIND_OF_STEP = {
    MarginNotice.Step.WARNING: "margin.warning",
    MarginNotice.Step.MARGIN_CALL: "margin.call",
    MarginNotice.Step.DEADLINE_NEAR: "margin.deadline_near",
    MarginNotice.Step.DELEVERAGE: "margin.deleverage",
    MarginNotice.Step.LIQUIDATE: "margin.liquidation",
    MarginNotice.Step.EXECUTED: "margin.executed",
    MarginNotice.Step.MET: "margin.call_met",
}


def notices_dispatch(*, tenant: Tenant, keys: list[str]) -> int:
    """Hand stored notices to the notification service (portal, e-mail, webhooks), once each:
    the notification's key is the notice's, so a re-run sends nothing new."""
    from platform_core.audit.notifications import notification_send

    sent = 0
    with transaction.atomic():
        pending = (
            tenant_scoped(MarginNotice, tenant=tenant)
            .select_for_update(skip_locked=True)
            .filter(key__in=keys, sent_at__isnull=True)
            .select_related("membership", "membership__user")
            .order_by("pk")
        )
        for notice in pending:
            notification = notification_send(
                tenant=tenant,
                recipient=notice.membership,
                kind=NOTIFICATION_KIND_OF_STEP[notice.step],
                context=notice.context,
                key=f"risk_ops:{notice.key}",
            )
            notice.notification_id = notification.pk
            notice.sent_at = timezone.now()
            notice.save(update_fields=["notification_id", "sent_at"])
            sent += 1
    return sent


def call_hints_compute(
    *, tenant: Tenant, call_id: int, now: datetime | None = None
) -> dict[str, Any]:
    """Store what would restore the call's ratio, computed by the engine (``risk.operations.
    hints``): the deposit, groups to close, a protective put, a collar."""
    from risk.operations.hints import hints_for_account

    with transaction.atomic():
        call = tenant_scoped(MarginCall, tenant=tenant).select_for_update().get(pk=call_id)
        account = tenant_scoped(LedgerAccount, tenant=tenant).get(pk=call.account_id)
        hints = hints_for_account(tenant=tenant, account=account, target=call.target_ratio, now=now)
        call.hints = hints
        call.save(update_fields=["hints"])
    return hints


# --- client debt and its write-off ------------------------------------------------------------


def debt_writeoff_validate(*, tenant: Tenant, params: dict[str, Any]) -> dict[str, Any]:
    from django.core.exceptions import ValidationError

    try:
        debt_id = int(str(params.get("debt_id")))
    except ValueError:
        raise ValidationError({"debt_id": ["A debt id is required."]}) from None
    debt = tenant_scoped(ClientDebt, tenant=tenant).filter(pk=debt_id).first()
    if debt is None:
        raise ValidationError({"debt_id": ["No such debt."]})
    if debt.status != ClientDebt.DebtStatus.OPEN:
        raise ValidationError({"debt_id": ["This debt is already written off."]})
    return {"debt_id": debt_id}


def debt_writeoff_execute(
    *, tenant: Tenant, params: dict[str, Any], maker: Any, approver: Any
) -> dict[str, Any]:
    """Write a client's debt off: the default fund first, the liquidity buffer for the rest.
    Runs inside the approval (four eyes); refuses if the two together cannot cover it."""
    debt = (
        tenant_scoped(ClientDebt, tenant=tenant).select_for_update().get(pk=int(params["debt_id"]))
    )
    if debt.status != ClientDebt.DebtStatus.OPEN:
        raise ApplicationError(409, "debt_written_off", "This debt is already written off.")
    currency = debt.currency
    loans = _system_account(tenant=tenant, kind="loan_receivable", currency=currency)
    sources = []
    remaining = debt.amount
    for kind in ("default_fund", "liquidity_buffer"):
        source = (
            tenant_scoped(LedgerAccount, tenant=tenant)
            .filter(kind=kind, currency=currency, owner__isnull=True)
            .first()
        )
        if source is None or remaining <= 0:
            continue
        take = min(max(source.available, Decimal(0)), remaining)
        if take > 0:
            sources.append((kind, source, take))
            remaining -= take
    if remaining > 0:
        raise ApplicationError(
            422,
            "insufficient_funds",
            f"The default fund and the liquidity buffer lack {_money(remaining, currency)} "
            f"{currency} to write this debt off.",
        )
    entries = []
    for kind, source, take in sources:
        entry = entry_post(
            tenant=tenant,
            entry_type="default_writeoff",
            legs=[LedgerLeg(source.pk, Side.DEBIT, take), LedgerLeg(loans.pk, Side.CREDIT, take)],
            idempotency_key=f"risk_ops:debt:{debt.pk}:writeoff:{kind}",
            memo=f"client debt {debt.pk} (proposal {debt.proposal_id}) written off from {kind}",
            actor=approver,
        )
        entries.append({"entry": entry.pk, "from": kind, "amount": str(take)})
    debt.status = ClientDebt.DebtStatus.WRITTEN_OFF
    debt.writeoff_entries = entries
    debt.written_off_at = timezone.now()
    debt.save(update_fields=["status", "writeoff_entries", "written_off_at"])
    audit_record(
        tenant=tenant,
        actor=approver,
        action="risk.debt_written_off",
        object_type="client_debt",
        object_id=debt.pk,
        payload={"amount": str(debt.amount), "currency": currency, "entries": entries},
    )
    return {"debt_id": debt.pk, "entries": entries}


# --- disputes -------------------------------------------------------------------------------


def dispute_open(
    *,
    tenant: Tenant,
    membership: Membership,
    proposal_id: Any,
    statement: str,
    request: HttpRequest | None = None,
) -> Dispute:
    """A client disputes an executed deleveraging or liquidation of their own account; the
    evidence is frozen into the case with its digest."""
    from risk.operations.selectors import access_proposal_by_id, dispute_evidence

    statement = (statement or "").strip()
    if not statement:
        raise _invalid({"statement": ["Say what you dispute."]})
    if len(statement) > 5000:
        raise _invalid({"statement": ["At most 5000 characters."]})
    with transaction.atomic():
        proposal = access_proposal_by_id(
            tenant=tenant, proposal_id=proposal_id, membership=membership
        )
        if proposal.status != Proposal.ProposalStatus.EXECUTED:
            raise ApplicationError(
                409, "not_executed", "Only an executed deleveraging or liquidation is disputed."
            )
        if (
            tenant_scoped(Dispute, tenant=tenant)
            .filter(proposal=proposal, status=Dispute.DisputeStatus.OPEN)
            .exists()
        ):
            raise ApplicationError(409, "dispute_open", "A dispute of this is already open.")
        evidence = dispute_evidence(tenant=tenant, proposal=proposal)
        dispute = Dispute.objects.create(
            tenant=tenant,
            proposal=proposal,
            membership=membership,
            statement=statement,
            evidence=evidence,
            evidence_digest=hashlib.sha256(canonical_json(evidence)).hexdigest(),
            created_at=timezone.now(),
        )
        audit_record(
            tenant=tenant,
            actor=membership.user,
            action="risk.dispute_opened",
            object_type="dispute",
            object_id=dispute.pk,
            reason=statement[:500],
            payload={"proposal": proposal.pk, "evidence_digest": dispute.evidence_digest},
            request=request,
        )
    return dispute


def dispute_resolve(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    dispute_id: Any,
    outcome: str,
    resolution: str,
    request: HttpRequest | None = None,
) -> Dispute:
    if membership.role not in (Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER):
        raise ApplicationError(403, "permission_denied", "Your role may not resolve disputes.")
    problems: dict[str, list[str]] = {}
    if outcome not in (Dispute.DisputeStatus.UPHELD, Dispute.DisputeStatus.DISMISSED):
        problems["outcome"] = ["Choose upheld or dismissed."]
    if not (resolution or "").strip():
        problems["resolution"] = ["Explain the resolution."]
    if problems:
        raise _invalid(problems)
    with transaction.atomic():
        dispute = access_object_by_id(Dispute, tenant=tenant, object_id=dispute_id)
        dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
        if dispute.status != Dispute.DisputeStatus.OPEN:
            raise ApplicationError(409, "dispute_resolved", "This dispute is already resolved.")
        dispute.status = outcome
        dispute.resolution = resolution.strip()
        dispute.resolved_by = actor
        dispute.resolved_at = timezone.now()
        dispute.save(update_fields=["status", "resolution", "resolved_by", "resolved_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="risk.dispute_resolved",
            object_type="dispute",
            object_id=dispute.pk,
            reason=dispute.resolution,
            payload={"outcome": outcome, "evidence_digest": dispute.evidence_digest},
            request=request,
        )
    return dispute
