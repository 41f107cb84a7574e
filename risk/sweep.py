"""The live margin sweep: each account's margin status under the tenant's active policy.

``margin_sweep`` margins a set of client accounts (all of a tenant's holders for the full-book
sweep; the holders of the moved underlyings for the incremental path, ``margin_sweep_moved``),
reads the status from the policy's ladder (healthy > warning > margin_call > deleverage >
liquidate, ``risk.stored_policy.status_for``), keeps the latest status per account
(``MarginStatus``) and, when it changed, appends a ``MarginStatusChange`` and tells the
``risk.hooks.margin_status_changed`` listeners after commit. A second sweep at the same prices
changes nothing and tells nothing. Sweeps of one tenant run one at a time (an advisory lock).

The engine step is one function, ``sweep_compute``: accounts in, results out. It margins the
accounts as one book per currency with the engine's vectorised sweep (``risk.engine.sweep``),
which answers what ``risk.selectors.portfolio_margin`` (the what-if's and the pre-trade check's
path) answers account by account; the accounts the book cannot carry go through that path.
The loans come from ``risk.hooks.loan_sources`` in one batch per sweep.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ledger.models import LedgerAccount
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.selectors import tenant_scoped
from risk.engine.book import BookAccount, book_build
from risk.engine.portfolio import PortfolioError, portfolio_parse
from risk.engine.portfolio import Position as EnginePosition
from risk.engine.result import MarginResult
from risk.engine.sweep import SWEEP_POLICIES, account_result, sweep_full
from risk.hooks import margin_status_changed
from risk.models import Instrument, MarginPolicyVersion, MarginStatus, MarginStatusChange, Position
from risk.oracle import OracleError, oracle_prices_available
from risk.selectors import (
    DEFAULT_POLICY,
    VOLATILITY_POLICIES,
    instrument_document,
    investor_class_of,
    loans_of,
    policy_active,
    portfolio_margin,
    portfolio_with_volatility,
    priced_portfolio,
)
from risk.stored_policy import (
    DEFAULT_LADDER,
    house_factors_neutral,
    house_rules_apply,
    status_for,
)

MONEY_PLACES = Decimal("0.0001")


@dataclass
class SweepOutcome:
    sweep_id: str
    computed: int = 0
    failed: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)


def _account_compute(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    stored: MarginPolicyVersion | None,
    now: datetime,
    loan: Decimal,
) -> MarginResult | str:
    """One account through the single-portfolio path (the what-if's and the page's)."""
    try:
        priced = priced_portfolio(tenant=tenant, account=account, now=now, loan=loan)
        return portfolio_margin(
            tenant=tenant,
            account=account,
            priced=priced,
            policy=None if stored is not None else DEFAULT_POLICY,
            stored=stored,
        )
    except (OracleError, PortfolioError) as exc:
        return str(exc)[:300]


@dataclass
class _BookInputs:
    """What the book sweep reads from the database for one currency's accounts."""

    accounts: list[LedgerAccount]
    holdings: dict[int, dict[Instrument, Decimal]]


def _book_policy(stored: MarginPolicyVersion | None) -> tuple[str, dict[str, Decimal]] | None:
    """The base policy and parameters the book sweep runs, or None when the stored policy's
    house rules need what only the single-portfolio path has (a VaR add-on's history)."""
    if stored is None:
        return DEFAULT_POLICY, {}
    if stored.base not in SWEEP_POLICIES:
        return None
    dynamic = stored.parameters.get("dynamic_addon") or {}
    if dynamic.get("method") == "var":
        return None
    base = stored.parameters.get("base_parameters") or {}
    return stored.base, {k: Decimal(v) for k, v in base.items()}


def _usable_prices(
    instruments: dict[str, Instrument], *, as_of: date, now: datetime
) -> dict[str, Decimal]:
    """The oracle's price of each instrument the book can carry: quoted, not suspect (a suspect
    price's add-on goes with each account's exposure, so one book price cannot serve all),
    not an expired option, and an option's underlying usable too."""
    prices: dict[str, Decimal] = {}
    for symbol, oracle in oracle_prices_available(
        instruments=instruments.values(), now=now
    ).items():
        instrument = instruments[symbol]
        expired = instrument.kind == "option" and (
            instrument.expiry is None or instrument.expiry < as_of
        )
        if not oracle.suspect and not expired:
            prices[symbol] = oracle.price
    return {
        symbol: price
        for symbol, price in prices.items()
        if instruments[symbol].underlying is None or instruments[symbol].underlying.symbol in prices  # type: ignore[union-attr]
    }


def sweep_compute(
    *,
    tenant: Tenant,
    accounts: Sequence[LedgerAccount],
    stored: MarginPolicyVersion | None,
    now: datetime,
) -> dict[int, MarginResult | str]:
    """Margin each account under ``stored`` (or the built-in default): the sweep's engine step.

    Returns each account's result, or the reason it could not be margined (a price the
    oracle cannot give, a portfolio the engine refuses). The book is margined at once by the
    engine's vectorised sweep (``risk.engine.sweep``, one book per currency), which answers
    what ``portfolio_margin`` answers account by account (decision 18); the house's add-ons
    are laid over its totals per account by the stored policy's own code. An account goes
    through the single-portfolio path instead when it holds an instrument the book cannot
    price for everyone (unquoted, suspect, expired), when the house scales its groups (a
    risk tier or investor-class factor other than 1), or when the policy needs price
    histories (a VaR add-on).
    """
    loans = loans_of(tenant=tenant, accounts=accounts)
    results: dict[int, MarginResult | str] = {}
    book_policy = _book_policy(stored)
    fallback: list[LedgerAccount] = []
    if book_policy is None:
        fallback = list(accounts)
    else:
        by_id = {a.pk: a for a in accounts}
        holdings: dict[int, dict[Instrument, Decimal]] = {a.pk: {} for a in accounts}
        for position in (
            tenant_scoped(Position, tenant=tenant)
            .filter(account_id__in=list(by_id))
            .exclude(quantity=0)
            .select_related("instrument", "instrument__underlying")
        ):
            holdings[position.account_id][position.instrument] = position.quantity
        by_currency: dict[str, _BookInputs] = {}
        for account in accounts:
            inputs = by_currency.setdefault(account.currency, _BookInputs([], {}))
            inputs.accounts.append(account)
            inputs.holdings[account.pk] = holdings[account.pk]
        for currency, inputs in sorted(by_currency.items()):
            fallback += _book_compute(
                tenant=tenant,
                currency=currency,
                inputs=inputs,
                stored=stored,
                policy=book_policy,
                loans=loans,
                now=now,
                results=results,
            )
    for account in fallback:
        results[account.pk] = _account_compute(
            tenant=tenant,
            account=account,
            stored=stored,
            now=now,
            loan=loans.get(account.pk, Decimal(0)),
        )
    return results


def _book_compute(
    *,
    tenant: Tenant,
    currency: str,
    inputs: _BookInputs,
    stored: MarginPolicyVersion | None,
    policy: tuple[str, dict[str, Decimal]],
    loans: dict[int, Decimal],
    now: datetime,
    results: dict[int, MarginResult | str],
) -> list[LedgerAccount]:
    """Margin one currency's accounts as a book into ``results``; returns those it left to the
    single-portfolio path."""
    from risk.policies import stored_policy_of

    as_of = timezone.localdate(now, ZoneInfo(tenant.timezone))
    instruments: dict[str, Instrument] = {}
    for held in inputs.holdings.values():
        for instrument in held:
            instruments[instrument.symbol] = instrument
            if instrument.underlying is not None:
                instruments.setdefault(instrument.underlying.symbol, instrument.underlying)
    prices = _usable_prices(instruments, as_of=as_of, now=now)
    policy_of = stored_policy_of(stored) if stored is not None else None
    tiers = {s: int(i.risk_tier) for s, i in instruments.items()}
    class_table = (stored.parameters.get("investor_classes") or {}) if stored else {}
    fallback, members = [], []
    for account in inputs.accounts:
        held = inputs.holdings[account.pk]
        usable = all(i.symbol in prices for i in held)
        if usable and policy_of is not None:
            investor_class = (
                investor_class_of(tenant=tenant, membership=account.owner) if class_table else None
            )
            symbols = {i.symbol for i in held} | {i.underlying.symbol for i in held if i.underlying}
            usable = house_factors_neutral(
                policy_of, tiers=(tiers[s] for s in symbols), investor_class=investor_class
            )
        (members if usable else fallback).append(account)
    if not members:
        return fallback
    document = {
        "currency": currency,
        "as_of": as_of.isoformat(),
        "instruments": [instrument_document(instruments[s], prices[s]) for s in sorted(prices)],
        "positions": [],
    }
    try:
        catalogue = portfolio_parse(document)
        volatility: dict[str, Decimal] = {}
        needs_volatility = policy[0] in VOLATILITY_POLICIES or (
            stored is not None
            and (stored.parameters.get("dynamic_addon") or {}).get("method") == "volatility"
        )
        if needs_volatility:
            names = {i.underlying or s for s, i in catalogue.instruments.items()}
            volatility = portfolio_with_volatility(catalogue, names=names).volatility
        book = book_build(
            currency=currency,
            as_of=as_of,
            instruments=list(catalogue.instruments.values()),
            accounts=[
                BookAccount(
                    account_id=account.pk,
                    cash=account.balance,
                    loan=loans.get(account.pk, Decimal(0)),
                    positions=[
                        EnginePosition(i.symbol, q) for i, q in inputs.holdings[account.pk].items()
                    ],
                )
                for account in members
            ],
            volatility=volatility,
        )
        state = sweep_full(book, policy[0], policy[1])
    except PortfolioError:  # the book refused something: each account says what, on its own
        return fallback + members
    for index, account in enumerate(members):
        result = account_result(book, state, index)
        if policy_of is not None:
            try:
                result = house_rules_apply(
                    result,
                    book.portfolio(index),
                    policy_of,
                    label=f"{tenant.slug}:{stored.name}",  # type: ignore[union-attr]
                )
            except PortfolioError as exc:
                results[account.pk] = str(exc)[:300]
                continue
        results[account.pk] = result
    return fallback


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


_STATUS_COLUMNS = (
    ("status", "text"),
    ("ratio", "numeric"),
    ("equity", "numeric"),
    ("maintenance", "numeric"),
    ("initial", "numeric"),
    ("collateral_ratio", "numeric"),
    ("policy", "text"),
    ("policy_digest", "text"),
    ("error", "text"),
    ("sweep_id", "text"),
    ("computed_at", "timestamptz"),
)


def _statuses_update(rows: Sequence[MarginStatus]) -> None:
    """Write the changed statuses in one UPDATE joined to arrays: Django's ``bulk_update``
    builds a CASE per column with one branch per row, quadratic in the rows of a book."""
    if not rows:
        return
    columns = ", ".join(f"{name} = changed.{name}" for name, _ in _STATUS_COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for _, kind in _STATUS_COLUMNS)
    names = ", ".join(name for name, _ in _STATUS_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE risk_marginstatus AS m SET {columns} "  # noqa: S608 (fixed column names)
            f"FROM unnest(%s::bigint[], {arrays}) AS changed(id, {names}) "
            "WHERE m.id = changed.id",
            [[row.pk for row in rows]]
            + [[getattr(row, name) for row in rows] for name, _ in _STATUS_COLUMNS],
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
        _statuses_update(to_update)
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
