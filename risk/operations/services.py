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
from django.db.models import JSONField
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
    worse,
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


def crash_signal_received(payload: dict[str, Any]) -> None:
    """``risk.hooks.crash_signal`` listener: the market itself broke; every active tenant's
    switch engages by itself (idempotent)."""
    from platform_core.tenancy.rls import rls_context

    if payload.get("direction") != "down":
        return
    reason = (
        f"Oracle crash signal: market moved {payload.get('move')} within "
        f"{payload.get('window_seconds')} s (threshold {payload.get('threshold')})."
    )
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk"):
        with rls_context(tenant=tenant):
            crash_switch_engage(
                tenant=tenant,
                actor=None,
                actor_label="system:crash_signal",
                reason=reason,
                payload=payload,
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


BookSource = Callable[
    [LedgerAccount],
    "tuple[AccountBook, Callable[[list[GroupView]], tuple[Decimal, Decimal]] | None]",
]


def _decimal(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _notice(
    *,
    tenant: Tenant,
    account_id: int,
    membership_id: int | None,
    step: str,
    key: str,
    context: dict[str, Any],
    now: datetime,
    call: MarginCall | None = None,
) -> MarginNotice | None:
    if membership_id is None:
        return None
    return MarginNotice(
        tenant=tenant,
        account_id=account_id,
        membership_id=membership_id,
        call=call,
        step=step,
        key=key,
        context=context,
        created_at=now,
    )


def _rows_insert(model: Any, rows: list[Any], *, skip_conflicts: bool = False) -> None:
    """Insert many rows fast: COPY into a temporary table, then one INSERT … SELECT.

    (bulk_create's multi-row INSERTs cost ~10x at 30,000 rows, and PostgreSQL refuses COPY
    straight into a table under row security; the INSERT still passes its policy.) Ids come
    from the table's sequence first, so the caller's objects have them afterwards.
    ``skip_conflicts``: rows whose unique key exists already are left out, as
    ``bulk_create(ignore_conflicts=True)``.
    """
    if not rows:
        return
    table = model._meta.db_table
    fields = model._meta.concrete_fields
    columns = ", ".join(f.column for f in fields)
    incoming = f"{table}_incoming"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(rows)],
        )
        for row, (new_id,) in zip(rows, cursor.fetchall(), strict=True):
            row.pk = new_id
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {incoming} "
            f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        # psycopg adapts Decimals, datetimes, dates and ints itself; JSON needs its wrapper.
        # (get_db_prep_save per value went through the connection proxy each time: seconds.)
        names = [f.attname for f in fields]
        json_at = {i for i, f in enumerate(fields) if isinstance(f, JSONField)}
        with cursor.cursor.copy(f"COPY {incoming} ({columns}) FROM STDIN") as copy:
            for row in rows:
                values = [getattr(row, name) for name in names]
                for i in json_at:
                    values[i] = Jsonb(values[i])
                copy.write_row(values)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {incoming}"  # noqa: S608
            + (" ON CONFLICT DO NOTHING" if skip_conflicts else "")
        )
        cursor.execute(f"TRUNCATE {incoming}")


def _rows_update(model: Any, rows: list[Any], columns: dict[str, str]) -> None:
    """Update ``columns`` (name: SQL type) of many rows of one tenant in one statement.

    ``bulk_update`` builds a CASE per row and field, which costs seconds at thousands of
    rows; one UPDATE … FROM unnest(arrays) does not.
    """
    if not rows:
        return
    table = model._meta.db_table
    names = list(columns)
    arrays = [[row.pk for row in rows]] + [[getattr(row, n) for row in rows] for n in names]
    sets = ", ".join(f"{n} = v.{n}" for n in names)
    casts = ", ".join(["%s::bigint[]"] + [f"%s::{columns[n]}[]" for n in names])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {sets} FROM unnest({casts}) "  # noqa: S608 (names are ours)
            f"AS v(id, {', '.join(names)}) WHERE t.id = v.id AND t.tenant_id = %s",
            [*arrays, rows[0].tenant_id],
        )


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
    ``membership``, ``previous``, ``at``, ``sweep_id``, ``cause`` (why it improved: a
    ``deposit`` or a ``reduction``). ``book_source`` gives an account's groups for planning
    (default: the engine on its positions at the oracle's prices).
    """
    now = now or timezone.now()
    changes = [c for c in changes if c.get("account") is not None]
    outcome = LadderOutcome()
    if not changes:
        return outcome
    ladder = ladder_for(tenant=tenant)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LADDER_LOCK_CLASS, tenant.pk])
        ids = sorted({int(c["account"]) for c in changes})
        accounts = {
            row[0]: (row[1], row[2])
            for row in tenant_scoped(LedgerAccount, tenant=tenant)
            .filter(pk__in=ids, kind=LedgerAccount.Kind.CLIENT_CASH)
            .values_list("id", "currency", "owner_id")
        }
        states = {
            s.account_id: s
            for s in tenant_scoped(AccountLadder, tenant=tenant).filter(account_id__in=ids)
        }
        sweeps = {str(c.get("sweep_id") or "") for c in changes} - {""}
        seen = (
            set(
                tenant_scoped(RatioMark, tenant=tenant)
                .filter(sweep_id__in=sweeps, account_id__in=ids)
                .values_list("account_id", "sweep_id")
            )
            if sweeps
            else set()
        )
        open_calls = {
            c.account_id: c
            for c in tenant_scoped(MarginCall, tenant=tenant).filter(
                status=MarginCall.CallStatus.OPEN, account_id__in=ids
            )
        }
        marks: list[RatioMark] = []
        touched: dict[int, AccountLadder] = {}
        new_calls: list[MarginCall] = []
        raised_calls: dict[int, MarginCall] = {}
        closed_calls: list[MarginCall] = []
        notices: list[MarginNotice] = []
        call_notices: list[tuple[MarginCall, dict[str, Any]]] = []
        plan_for: dict[int, str] = {}
        deadline: tuple[Any, datetime] | None = None
        for change in changes:
            account_id = int(change["account"])
            if account_id not in accounts:
                outcome.skipped += 1
                continue
            currency, owner_id = accounts[account_id]
            sweep_id = str(change.get("sweep_id") or "")
            status = Status(change["status"])
            if (account_id, sweep_id) in seen:
                outcome.skipped += 1
                continue
            state = states.get(account_id)
            if state is None:
                state = AccountLadder(
                    tenant=tenant, account_id=account_id, status=Status.HEALTHY, changed_at=now
                )
                states[account_id] = state
            previous = state.status
            if previous == status:
                outcome.skipped += 1
                continue
            touched[account_id] = state
            seen.add((account_id, sweep_id))
            membership_id = change.get("membership") or owner_id
            ratio = _decimal(change.get("ratio"))
            equity = Decimal(str(change["equity"]))
            maintenance = Decimal(str(change["maintenance"]))
            fully_paid = Decimal(str(change.get("fully_paid") or 0))
            at = change.get("at") or now
            if isinstance(at, str):
                at = datetime.fromisoformat(at)
            if SEVERITY[Status(previous)] == 0 and SEVERITY[status] > 0:
                state.episode += 1
            state.status, state.ratio, state.changed_at = status, ratio, now
            state.membership_id = membership_id
            outcome.transitions += 1
            outcome.by_status[status] += 1
            marks.append(
                RatioMark(
                    tenant=tenant,
                    account_id=account_id,
                    previous=previous,
                    status=status,
                    ratio=ratio,
                    equity=equity,
                    maintenance=maintenance,
                    at=at,
                    sweep_id=sweep_id,
                    episode=state.episode,
                )
            )
            base = f"ladder:{account_id}:{state.episode}"
            context = {
                "account_id": account_id,
                "status": str(status),
                "ratio": None if ratio is None else str(ratio),
                "equity": _money(equity, currency),
                "maintenance": _money(maintenance, currency),
                "currency": currency,
                "policy": f"{ladder.name} v{ladder.version}",
            }
            call = open_calls.get(account_id)
            if worse(status, previous):
                if SEVERITY[status] >= SEVERITY[Status.MARGIN_CALL]:
                    if call is None:
                        if deadline is None:  # one calendar lookup per batch
                            deadline = call_deadline(
                                tenant=tenant, issued_at=now, days=ladder.call_days
                            )
                        due, due_at = deadline
                        call = MarginCall(
                            tenant=tenant,
                            account_id=account_id,
                            membership_id=membership_id,
                            episode=state.episode,
                            stage=status,
                            currency=currency,
                            issued_at=now,
                            deadline_date=due,
                            deadline_at=due_at,
                            ratio=ratio,
                            equity=equity,
                            maintenance=maintenance,
                            target_ratio=ladder.target,
                            deposit_needed=deposit_needed(
                                equity=equity - fully_paid,
                                maintenance=maintenance - fully_paid,
                                target=ladder.target,
                                currency=currency,
                            ),
                            policy_name=ladder.name,
                            policy_version=ladder.version,
                            policy_digest=ladder.digest,
                        )
                        open_calls[account_id] = call
                        new_calls.append(call)
                    elif worse(status, call.stage):
                        call.stage = status
                        call.ratio, call.equity, call.maintenance = ratio, equity, maintenance
                        call.deposit_needed = deposit_needed(
                            equity=equity - fully_paid,
                            maintenance=maintenance - fully_paid,
                            target=call.target_ratio,
                            currency=currency,
                        )
                        if call.pk is not None:
                            raised_calls[call.pk] = call
                    step_context = {
                        **context,
                        "deadline": call.deadline_date.isoformat(),
                        "deadline_at": call.deadline_at.isoformat(),
                        "deposit_needed": _money(call.deposit_needed, currency),
                    }
                    call_notices.append(
                        (call, {"step": status, "key": f"{base}:{status}", **step_context})
                    )
                    if SEVERITY[status] >= SEVERITY[Status.DELEVERAGE]:
                        plan_for[account_id] = status
                else:
                    notice = _notice(
                        tenant=tenant,
                        account_id=account_id,
                        membership_id=membership_id,
                        step=MarginNotice.Step.WARNING,
                        key=f"{base}:warning",
                        context=context,
                        now=now,
                    )
                    if notice is not None:
                        notices.append(notice)
            elif SEVERITY[status] <= SEVERITY[Status.WARNING] and call is not None:
                call.closed_reason = str(change.get("cause") or "ratio_restored")
                call.status = (
                    MarginCall.CallStatus.LIQUIDATED
                    if call.closed_reason == "liquidation"
                    else MarginCall.CallStatus.MET
                )
                call.closed_at = now
                del open_calls[account_id]
                # A later descent from here is a new episode: fresh call and notice keys.
                state.episode += 1
                if call.pk is not None:
                    closed_calls.append(call)
                else:
                    new_calls.remove(call)
                call_notices.append(
                    (
                        call,
                        {
                            "step": MarginNotice.Step.MET,
                            "key": f"{base}:met",
                            **context,
                            "reason": call.closed_reason,
                        },
                    )
                )
        moved = [s for s in touched.values() if s.pk is not None]
        _rows_insert(AccountLadder, [s for s in touched.values() if s.pk is None])
        _rows_update(
            AccountLadder,
            moved,
            {
                "status": "text",
                "ratio": "numeric",
                "episode": "integer",
                "changed_at": "timestamptz",
                "membership_id": "bigint",
            },
        )
        _rows_insert(RatioMark, marks)
        _rows_insert(MarginCall, new_calls)
        _rows_update(
            MarginCall,
            list(raised_calls.values()),
            {
                "stage": "text",
                "ratio": "numeric",
                "equity": "numeric",
                "maintenance": "numeric",
                "deposit_needed": "numeric",
            },
        )
        _rows_update(
            MarginCall,
            closed_calls,
            {"status": "text", "closed_at": "timestamptz", "closed_reason": "text"},
        )
        switch = crash_switch_engaged(tenant=tenant)
        for call, data in call_notices:
            step = data.pop("step")
            key = data.pop("key")
            data["crash_switch"] = switch
            if call.pk is not None:
                data["call_id"] = call.pk
            notice = _notice(
                tenant=tenant,
                account_id=call.account_id,
                membership_id=call.membership_id,
                step=step,
                key=key,
                context=data,
                now=now,
                call=call if call.pk is not None else None,
            )
            if notice is not None:
                notices.append(notice)
        _rows_insert(MarginNotice, notices, skip_conflicts=True)
        outcome.calls_issued = [c.pk for c in new_calls]
        outcome.calls_met = [c.pk for c in closed_calls]
        outcome.notices = [n.key for n in notices]
        if plan_for:
            planned = _proposals_plan(
                tenant=tenant,
                ladder=ladder,
                wanted=plan_for,
                calls=open_calls,
                now=now,
                book_source=book_source,
                paused=switch,
            )
            outcome.proposals = [p.pk for p in planned]
            outcome.to_execute = [
                p.pk for p in planned if p.status == Proposal.ProposalStatus.PROPOSED
            ]
        if outcome.transitions:
            digest = hashlib.sha256(
                canonical_json(
                    [[m.account_id, m.previous, m.status, str(m.ratio), m.sweep_id] for m in marks]
                )
            ).hexdigest()
            audit_record(
                tenant=tenant,
                actor=None,
                actor_label=SYSTEM,
                action="risk.ladder_moved",
                object_type="ratio_marks",
                object_id=",".join(sorted(sweeps))[:200],
                payload={
                    "transitions": outcome.transitions,
                    "by_status": dict(outcome.by_status),
                    "calls_issued": len(outcome.calls_issued),
                    "calls_met": len(outcome.calls_met),
                    "notices": len(outcome.notices),
                    "proposals": len(outcome.proposals),
                    "policy": ladder.as_json(),
                    "marks_digest": digest,
                    # small batches (a single sweep's few movers) list every transition
                    "moves": [
                        [m.account_id, m.previous, m.status, str(m.ratio)] for m in marks[:200]
                    ],
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


def _proposals_plan(
    *,
    tenant: Tenant,
    ladder: Ladder,
    wanted: dict[int, str],
    calls: dict[int, MarginCall],
    now: datetime,
    book_source: BookSource | None,
    paused: bool,
) -> list[Proposal]:
    """Plan a proposal for each account that crossed the deleverage or liquidation line; a
    liquidation supersedes an open deleveraging proposal."""
    existing = {
        p.account_id: p
        for p in tenant_scoped(Proposal, tenant=tenant).filter(
            account_id__in=list(wanted), status__in=Proposal.OPEN
        )
    }
    superseded = []
    for account_id, status in list(wanted.items()):
        open_one = existing.get(account_id)
        if open_one is None:
            continue
        if status == Status.LIQUIDATE and open_one.kind == Proposal.Kind.DELEVERAGE:
            open_one.status = Proposal.ProposalStatus.SUPERSEDED
            open_one.decided_at = now
            open_one.decided_by_label = SYSTEM
            superseded.append(open_one)
        else:
            del wanted[account_id]  # one open proposal per account: the first stands
    if superseded:
        Proposal.objects.bulk_update(superseded, ["status", "decided_at", "decided_by_label"])
    accounts = {
        a.pk: a for a in tenant_scoped(LedgerAccount, tenant=tenant).filter(pk__in=list(wanted))
    }
    proposals = []
    for account_id, status in sorted(wanted.items()):
        account = accounts[account_id]
        try:
            if book_source is not None:
                book, recompute = book_source(account)
            else:
                book, recompute = account_book(
                    tenant=tenant, account=account, ladder=ladder, now=now
                )
        except ValueError as exc:  # an instrument never quoted, an expired option…
            logger.warning("no plan for account %s: %s", account_id, exc)
            continue
        liquidation = status == Status.LIQUIDATE
        steps = deleverage_plan(book, target=ladder.target, recompute=recompute)
        last = steps[-1]["ratio_after"] if steps else None
        call = calls.get(account_id)
        proposals.append(
            Proposal(
                tenant=tenant,
                account_id=account_id,
                membership_id=account.owner_id,
                call=call if call is not None and call.pk else None,
                kind=Proposal.Kind.LIQUIDATION if liquidation else Proposal.Kind.DELEVERAGE,
                status=(
                    Proposal.ProposalStatus.QUEUED if paused else Proposal.ProposalStatus.PROPOSED
                ),
                currency=book.currency,
                ratio_before=book.ratio,
                ratio_after=_decimal(last),
                target_ratio=ladder.target,
                equity_before=book.equity,
                maintenance_before=book.maintenance,
                steps=steps,
                prices=book.prices,
                policy_version=f"{ladder.name} v{ladder.version}",
                paused_by_switch=paused,
                created_at=now,
            )
        )
    _rows_insert(Proposal, proposals)
    return proposals


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
    now: datetime,
) -> list[dict[str, Any]]:
    """Close the legs at the oracle's price now, through the risk app's simulated fills.

    Returns the fills: symbol, quantity (the closing trade), price and the signed cash.
    """
    from risk.models import Instrument, Position
    from risk.oracle import oracle_prices

    symbols = [leg["symbol"] for leg in legs]
    instruments = {
        i.symbol: i
        for i in Instrument.objects.filter(symbol__in=symbols).select_related("underlying")
    }
    prices = oracle_prices(instruments=instruments.values(), now=now)
    fills = []
    # Short legs first: a group's short call is bought back before its stock is sold.
    for index, leg in enumerate(sorted(legs, key=lambda leg: Decimal(leg["quantity"]))):
        instrument = instruments[leg["symbol"]]
        close = Decimal(leg["close"])
        oracle = prices[instrument.symbol]
        # The market's price now: the fresh median even when it jumped (the fill is real).
        price = oracle.observed if oracle.observed is not None else oracle.price
        cash = -close * price * instrument.multiplier
        position = (
            tenant_scoped(Position, tenant=tenant)
            .select_for_update()
            .get(account=account, instrument=instrument)
        )
        if (position.quantity + close) * position.quantity < 0:
            raise ApplicationError(
                409, "position_changed", f"{instrument.symbol}: the position changed; plan again."
            )
        position.quantity += close
        position.save(update_fields=["quantity", "updated_at"])
        fills.append(
            {
                "symbol": instrument.symbol,
                "quantity": format(close.normalize(), "f"),
                "price": format(price, "f"),
                "cash": format(cash, "f"),
                "key": f"{key}:{index}",
            }
        )
    return fills


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
    """Close the proposal's groups, step by step, at simulated fills; post the cash.

    Proceeds are credited to the client's money; a buy-back the client's cash cannot pay is
    lent by the house (``loan_drawdown``) and recorded as client debt, to be written off under
    four eyes. Automatic execution stops if the crash switch engaged meanwhile (the proposal
    waits in the queue).
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
        account = (
            tenant_scoped(LedgerAccount, tenant=tenant)
            .select_for_update()
            .get(pk=proposal.account_id)
        )
        currency = account.currency
        fills: list[dict[str, Any]] = []
        for step in proposal.steps:
            step_fills = _positions_close(
                tenant=tenant,
                account=account,
                legs=step["legs"],
                key=f"proposal:{proposal.pk}:step:{step['step']}",
                now=now or timezone.now(),
            )
            for fill in step_fills:
                fill["step"] = step["step"]
            fills.extend(step_fills)
        net = sum((Decimal(f["cash"]) for f in fills), Decimal(0)).quantize(
            quantum(currency), rounding="ROUND_FLOOR"
        )
        bank = _system_account(tenant=tenant, kind="custodian_bank", currency=currency)
        entries: list[int] = []
        shortfall = Decimal(0)
        loan_entry = None
        key = f"risk_ops:proposal:{proposal.pk}"
        if net > 0:
            entries.append(
                entry_post(
                    tenant=tenant,
                    entry_type="liquidation",
                    legs=[
                        LedgerLeg(bank.pk, Side.DEBIT, net),
                        LedgerLeg(account.pk, Side.CREDIT, net),
                    ],
                    idempotency_key=f"{key}:proceeds",
                    memo=f"{proposal.kind} {proposal.pk}: net proceeds",
                    actor=actor,
                    actor_label=actor_label or SYSTEM,
                ).pk
            )
        elif net < 0:
            cost = -net
            account.refresh_from_db()
            available = max(account.available, Decimal(0))
            shortfall = max(cost - available, Decimal(0))
            if shortfall > 0:
                # The house pays the uncovered part into the client-money bank account (so no
                # other client's money buys the short back) and lends it to the client.
                house = _system_account(tenant=tenant, kind="house_cash", currency=currency)
                entries.append(
                    entry_post(
                        tenant=tenant,
                        entry_type="shortfall_topup",
                        legs=[
                            LedgerLeg(bank.pk, Side.DEBIT, shortfall),
                            LedgerLeg(house.pk, Side.CREDIT, shortfall),
                        ],
                        idempotency_key=f"{key}:topup",
                        memo=f"{proposal.kind} {proposal.pk}: house money for the shortfall",
                        actor=actor,
                        actor_label=actor_label or SYSTEM,
                    ).pk
                )
                loans = _system_account(tenant=tenant, kind="loan_receivable", currency=currency)
                loan_entry = entry_post(
                    tenant=tenant,
                    entry_type="loan_drawdown",
                    legs=[
                        LedgerLeg(loans.pk, Side.DEBIT, shortfall),
                        LedgerLeg(account.pk, Side.CREDIT, shortfall),
                    ],
                    idempotency_key=f"{key}:shortfall",
                    memo=f"{proposal.kind} {proposal.pk}: shortfall lent to the client",
                    actor=actor,
                    actor_label=actor_label or SYSTEM,
                )
                entries.append(loan_entry.pk)
            entries.append(
                entry_post(
                    tenant=tenant,
                    entry_type="liquidation",
                    legs=[
                        LedgerLeg(account.pk, Side.DEBIT, cost),
                        LedgerLeg(bank.pk, Side.CREDIT, cost),
                    ],
                    idempotency_key=f"{key}:cost",
                    memo=f"{proposal.kind} {proposal.pk}: net cost of closing",
                    actor=actor,
                    actor_label=actor_label or SYSTEM,
                ).pk
            )
            if loan_entry is not None:
                ClientDebt.objects.create(
                    tenant=tenant,
                    account_id=account.pk,
                    proposal=proposal,
                    currency=currency,
                    amount=shortfall,
                    loan_entry_id=loan_entry.pk,
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
            "orders": [],
            "currency": account.currency,
            "proceeds": str(max(net, Decimal(0))),
            "at": timezone.now().isoformat(),
            "kind": proposal.kind,
            "shortfall": str(proposal.shortfall),
            "entries": entries,
        }
    )


def proposal_approve(
    *,
    tenant: Tenant,
    actor: Any,
    membership: Membership,
    proposal_id: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> Proposal:
    """A risk officer executes a queued (or proposed) proposal by hand."""
    reason = _reason(reason)
    _risk_officer_require(membership)
    with transaction.atomic():
        proposal = _open_proposal(tenant=tenant, proposal_id=proposal_id)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="risk.proposal_approved",
            object_type="proposal",
            object_id=proposal.pk,
            reason=reason,
            request=request,
        )
        return proposal_execute(tenant=tenant, proposal_id=proposal.pk, actor=actor)


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
                calls={c.account_id: c for c in open_calls},
                now=now,
                book_source=None,
                paused=crash_switch_engaged(tenant=tenant),
            )
            for proposal in planned:
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
        execute = [p.pk for p in planned if p.status == Proposal.ProposalStatus.PROPOSED]
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
