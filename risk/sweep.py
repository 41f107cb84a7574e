"""The live margin sweep: each account's margin status under the tenant's active policy.

``margin_sweep`` margins a set of client accounts (all of a tenant's holders for the full-book
sweep; the holders of the moved underlyings for the incremental path, ``margin_sweep_moved``),
reads the status from the policy's ladder (healthy > warning > margin_call > deleverage >
liquidate, ``risk.stored_policy.status_for``), keeps the latest status per account
(``MarginStatus``) and, when it changed, appends a ``MarginStatusChange`` and tells the
``risk.hooks.margin_status_changed`` listeners after commit. A second sweep at the same prices
changes nothing and tells nothing. Sweeps of one tenant run one at a time (an advisory lock).

The engine step is one function, ``sweep_compute``: accounts in, results out. It margins each
account with ``risk.selectors.portfolio_margin`` (the same code as the what-if and the
pre-trade check); a vectorised book path can replace it there alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ledger.models import LedgerAccount
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.selectors import tenant_scoped
from risk.engine.portfolio import PortfolioError
from risk.engine.result import MarginResult
from risk.hooks import margin_status_changed
from risk.models import Instrument, MarginPolicyVersion, MarginStatus, MarginStatusChange, Position
from risk.oracle import OracleError
from risk.selectors import DEFAULT_POLICY, policy_active, portfolio_margin, priced_portfolio
from risk.stored_policy import DEFAULT_LADDER, status_for

MONEY_PLACES = Decimal("0.0001")


@dataclass
class SweepOutcome:
    sweep_id: str
    computed: int = 0
    failed: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)


def sweep_compute(
    *,
    tenant: Tenant,
    accounts: Sequence[LedgerAccount],
    stored: MarginPolicyVersion | None,
    now: datetime,
) -> dict[int, MarginResult | str]:
    """Margin each account under ``stored`` (or the built-in default): the sweep's engine step.

    Returns each account's result, or the reason it could not be margined (a price the
    oracle cannot give, a portfolio the engine refuses).
    """
    results: dict[int, MarginResult | str] = {}
    for account in accounts:
        try:
            priced = priced_portfolio(tenant=tenant, account=account, now=now)
            results[account.pk] = portfolio_margin(
                tenant=tenant,
                account=account,
                priced=priced,
                policy=None if stored is not None else DEFAULT_POLICY,
                stored=stored,
            )
        except (OracleError, PortfolioError) as exc:
            results[account.pk] = str(exc)[:300]
    return results


def _ladder_of(stored: MarginPolicyVersion | None) -> dict[str, Decimal]:
    ladder = stored.ladder if stored is not None else DEFAULT_LADDER
    return {line: Decimal(str(value)) for line, value in ladder.items()}


def _quantised(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(MONEY_PLACES)


def holder_accounts(
    *, tenant: Tenant, instruments: Iterable[Instrument] | None = None
) -> list[LedgerAccount]:
    """Client accounts holding any position (or, given ``instruments``, any position on them:
    the instrument, its options, or for an option its underlying and that underlying's
    options), plus those the sweep has seen before when sweeping the whole book."""
    positions = tenant_scoped(Position, tenant=tenant).exclude(quantity=0)
    if instruments is not None:
        ids = {i.pk for i in instruments}
        ids |= {i.underlying_id for i in instruments if i.underlying_id}
        positions = positions.filter(
            Q(instrument_id__in=ids) | Q(instrument__underlying_id__in=ids)
        )
        account_ids = set(positions.values_list("account_id", flat=True))
    else:
        account_ids = set(positions.values_list("account_id", flat=True))
        account_ids |= set(
            tenant_scoped(MarginStatus, tenant=tenant).values_list("account_id", flat=True)
        )
    return list(
        tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(pk__in=account_ids, kind=LedgerAccount.Kind.CLIENT_CASH)
        .order_by("pk")
    )


def margin_sweep(
    *,
    tenant: Tenant,
    accounts: Sequence[LedgerAccount] | None = None,
    now: datetime | None = None,
    sweep_id: str | None = None,
) -> SweepOutcome:
    """Sweep ``accounts`` (default: every holder) of ``tenant``; see the module docstring.

    The caller is in the tenant's row-security context.
    """
    now = now or timezone.now()
    outcome = SweepOutcome(sweep_id=sweep_id or f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"risk.sweep:{tenant.pk}"]
            )
        if accounts is None:
            accounts = holder_accounts(tenant=tenant)
        if not accounts:
            return outcome
        stored = policy_active(tenant=tenant)
        ladder = _ladder_of(stored)
        policy_name = f"{tenant.slug}:{stored.name}" if stored else DEFAULT_POLICY
        results = sweep_compute(tenant=tenant, accounts=accounts, stored=stored, now=now)
        latest = {
            s.account_id: s
            for s in tenant_scoped(MarginStatus, tenant=tenant)
            .select_for_update()
            .filter(account_id__in=[a.pk for a in accounts])
        }
        owners = {a.pk: a.owner_id for a in accounts}
        to_create, to_update, changes = [], [], []
        for account in accounts:
            result = results[account.pk]
            row = latest.get(account.pk)
            if isinstance(result, str):
                outcome.failed += 1
                if row is not None and row.error != result:
                    row.error, row.computed_at, row.sweep_id = result, now, outcome.sweep_id
                    to_update.append(row)
                continue
            outcome.computed += 1
            status = status_for(result=result, ladder=ladder)
            figures = {
                "status": status,
                "ratio": _quantised(result.margin_ratio),
                "equity": _quantised(result.equity),
                "maintenance": _quantised(result.maintenance_requirement),
                "initial": _quantised(result.initial_requirement),
                "collateral_ratio": _quantised(result.collateral_ratio),
                "policy": policy_name,
                "policy_digest": stored.digest if stored else "",
                "error": "",
            }
            previous = row.status if row is not None else None
            if row is None:
                row = MarginStatus(
                    tenant=tenant,
                    account=account,
                    sweep_id=outcome.sweep_id,
                    computed_at=now,
                    **figures,
                )
                to_create.append(row)
            elif any(getattr(row, k) != v for k, v in figures.items()):
                for name, value in figures.items():
                    setattr(row, name, value)
                row.sweep_id, row.computed_at = outcome.sweep_id, now
                to_update.append(row)
            if status != (previous or "healthy"):
                changes.append(
                    MarginStatusChange(
                        tenant=tenant,
                        account=account,
                        previous=previous or "",
                        status=status,
                        ratio=figures["ratio"],
                        equity=figures["equity"],
                        maintenance=figures["maintenance"],
                        sweep_id=outcome.sweep_id,
                        at=now,
                    )
                )
        MarginStatus.objects.bulk_create(to_create)
        MarginStatus.objects.bulk_update(
            to_update,
            [
                "status",
                "ratio",
                "equity",
                "maintenance",
                "initial",
                "collateral_ratio",
                "policy",
                "policy_digest",
                "error",
                "sweep_id",
                "computed_at",
            ],
        )
        MarginStatusChange.objects.bulk_create(changes)
        for change in changes:
            payload = {
                "tenant": tenant.pk,
                "account": change.account_id,
                "membership": owners[change.account_id],
                "previous": change.previous or None,
                "status": change.status,
                "ratio": None if change.ratio is None else format(change.ratio, "f"),
                "equity": format(change.equity, "f"),
                "maintenance": format(change.maintenance, "f"),
                "at": now.isoformat(),
                "sweep_id": outcome.sweep_id,
            }
            outcome.changes.append(payload)
            margin_status_changed.send(payload)
    return outcome


def margin_sweep_moved(
    *, tenant: Tenant, instrument_ids: Iterable[int], now: datetime | None = None
) -> SweepOutcome:
    """The incremental path: re-margin the holders of the instruments of a tick batch."""
    instruments = list(Instrument.objects.filter(pk__in=list(instrument_ids)))
    accounts = holder_accounts(tenant=tenant, instruments=instruments)
    return margin_sweep(tenant=tenant, accounts=accounts, now=now)
