"""Replay: the whole margin-call loop over a price path, on the tenant's book, rolled back.

A scenario is a list of steps; each step moves every underlying by a factor (a market move)
or sets named prices. For each step the replay writes the quotes, sweeps every client account
with the engine (``ladder_sweep``), executes the proposals that would execute (the crash
switch as it stands, or as the ``switch`` argument says), and counts what happened. It all
runs in one transaction that is rolled back: nothing persists — no quote, call, notice, fill,
ledger entry or audit event — and no notification leaves (they are sent only after commit).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from ledger.models import LedgerAccount
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.selectors import tenant_scoped

# Dow Jones Industrial Average closes, 13 to 21 October 1987 (Black Monday was the 19th).
BLACK_MONDAY_1987 = [2508.16, 2412.70, 2355.09, 2246.74, 1738.74, 1841.01, 2027.85]


def _moves_from_closes(closes: list[float]) -> list[Decimal]:
    return [
        (Decimal(str(b)) / Decimal(str(a))).quantize(Decimal("0.000001"))
        for a, b in pairwise(closes)
    ]


SCENARIOS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "black-monday-1987": (
        "The Dow's path from 13 to 21 October 1987 applied to every underlying",
        [{"move": m} for m in _moves_from_closes(BLACK_MONDAY_1987)],
    ),
    "gap-20": (
        "A synthetic overnight gap: every underlying 20% lower at once, then flat",
        [{"move": Decimal("0.80")}, {"move": Decimal("1")}, {"move": Decimal("1")}],
    ),
    "shock-10": ("A fixed shock: every underlying 10% lower", [{"move": Decimal("0.90")}]),
}


class ScenarioError(ValueError):
    pass


def scenario_load(name_or_file: str) -> tuple[str, list[dict[str, Any]]]:
    """A built-in scenario by name, or a CSV file: ``step,move`` (a factor for every
    underlying) or ``step,symbol,price`` rows."""
    if name_or_file in SCENARIOS:
        return SCENARIOS[name_or_file]
    path = Path(name_or_file)
    if not path.is_file():
        raise ScenarioError(
            f"scenario: no built-in {name_or_file!r} ({', '.join(SCENARIOS)}) and no such file"
        )
    steps: dict[int, dict[str, Any]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if not ({"step", "move"} <= columns or {"step", "symbol", "price"} <= columns):
            raise ScenarioError("scenario: a CSV needs the columns step,move or step,symbol,price")
        for number, row in enumerate(reader, start=2):
            try:
                step = int(row["step"])
                if "move" in columns and row.get("move"):
                    move = Decimal(row["move"])
                    if not move.is_finite() or move <= 0:
                        raise ValueError
                    steps.setdefault(step, {})["move"] = move
                else:
                    price = Decimal(row["price"])
                    if not price.is_finite() or price <= 0:
                        raise ValueError
                    steps.setdefault(step, {}).setdefault("prices", {})[row["symbol"]] = price
            except (ValueError, ArithmeticError, KeyError, TypeError):
                raise ScenarioError(f"scenario: line {number} is not valid: {row}") from None
    if not steps:
        raise ScenarioError("scenario: the file has no steps")
    return f"from {path.name}", [steps[k] for k in sorted(steps)]


@dataclass
class StepReport:
    step: int
    at: datetime
    statuses: Counter[str]
    calls_issued: int = 0
    deleveraged: int = 0
    liquidated: int = 0
    queued: int = 0
    shortfall: Decimal = Decimal(0)
    failures: list[str] = field(default_factory=list)


@dataclass
class ReplayReport:
    tenant: str
    scenario: str
    description: str
    accounts: int
    steps: list[StepReport]
    default_fund: Decimal
    buffer: Decimal
    restored_after: int | None  # steps after the first call until no call is open

    @property
    def calls_issued(self) -> int:
        return sum(s.calls_issued for s in self.steps)

    @property
    def shortfall(self) -> Decimal:
        return sum((s.shortfall for s in self.steps), Decimal(0))

    @property
    def buffer_use(self) -> Decimal:
        return min(max(self.shortfall - self.default_fund, Decimal(0)), self.buffer)

    @property
    def uncovered(self) -> Decimal:
        return max(self.shortfall - self.default_fund - self.buffer, Decimal(0))


def _option_price(instrument: Any, old: Decimal, underlying_old: Decimal, underlying_new: Decimal):
    """Keep the option's time value, move its intrinsic value with the underlying."""
    strike = instrument.strike
    if instrument.right == "call":
        before, after = max(underlying_old - strike, 0), max(underlying_new - strike, 0)
    else:
        before, after = max(strike - underlying_old, 0), max(strike - underlying_new, 0)
    time_value = max(old - before, Decimal(0))
    return max(after + time_value, Decimal("0.01")).quantize(Decimal("0.01"), ROUND_HALF_UP)


def replay_run(
    *, tenant: Tenant, scenario: str, switch: str = "as-is", minutes_per_step: int = 1
) -> ReplayReport:
    """Run ``scenario`` on ``tenant``'s book and roll everything back (see the module)."""

    description, steps = scenario_load(scenario)
    with transaction.atomic():
        report = _replay_steps(
            tenant=tenant,
            scenario=scenario,
            switch=switch,
            description=description,
            steps=steps,
            minutes_per_step=minutes_per_step,
        )
        transaction.set_rollback(True)  # nothing the replay did persists
    return report


def _replay_steps(
    *,
    tenant: Tenant,
    scenario: str,
    switch: str,
    description: str,
    steps: list[dict[str, Any]],
    minutes_per_step: int,
) -> ReplayReport:
    from risk.models import Instrument, Position, Quote
    from risk.operations.models import AccountLadder, MarginCall, Proposal
    from risk.operations.services import crash_switch_engaged, ladder_sweep, proposal_execute
    from risk.oracle import OracleError, oracle_prices

    with rls_context(tenant=tenant):
        accounts = list(
            tenant_scoped(LedgerAccount, tenant=tenant).filter(kind=LedgerAccount.Kind.CLIENT_CASH)
        )
        held = set(
            tenant_scoped(Position, tenant=tenant)
            .exclude(quantity=0)
            .values_list("instrument_id", flat=True)
        )
        instruments = list(
            Instrument.objects.filter(pk__in=held).select_related("underlying").order_by("symbol")
        )
        underlyings = {i.underlying or i for i in instruments}
        options = [i for i in instruments if i.kind == "option"]
        start = timezone.now()
        try:
            current = {
                s: p.observed or p.price
                for s, p in oracle_prices(instruments=[*underlyings, *options], now=start).items()
            }
        except OracleError as exc:
            raise ScenarioError(f"prices: {exc}") from None
        reserves = {
            kind: sum(
                (a.balance for a in tenant_scoped(LedgerAccount, tenant=tenant).filter(kind=kind)),
                Decimal(0),
            )
            for kind in ("default_fund", "liquidity_buffer")
        }
        paused = {"on": True, "off": False}.get(switch, crash_switch_engaged(tenant=tenant))
        reports: list[StepReport] = []
        first_call: int | None = None
        restored: int | None = None
        for number, step in enumerate(steps, start=1):
            at = start + timedelta(minutes=minutes_per_step * number)
            new = dict(current)
            for underlying in underlyings:
                if "move" in step:
                    new[underlying.symbol] = (current[underlying.symbol] * step["move"]).quantize(
                        Decimal("0.0001")
                    )
            for symbol, price in step.get("prices", {}).items():
                new[symbol] = price
            for option in options:
                if option.symbol not in step.get("prices", {}):
                    base = option.underlying.symbol  # type: ignore[union-attr]
                    new[option.symbol] = _option_price(
                        option, current[option.symbol], current[base], new[base]
                    )
            Quote.objects.bulk_create(
                Quote(instrument=i, source=source, price=new[i.symbol], at=at)
                for i in [*underlyings, *options]
                for source in ("replay-a", "replay-b", "replay-c")
            )
            current = new
            # Fresh each step: the cash moved with the previous step's fills.
            accounts = list(
                tenant_scoped(LedgerAccount, tenant=tenant).filter(
                    kind=LedgerAccount.Kind.CLIENT_CASH
                )
            )
            outcome = ladder_sweep(
                tenant=tenant,
                sweep_id=f"replay-{number}",
                accounts=accounts,
                now=at,
                dispatch=False,
            )
            this = StepReport(number, at, Counter())
            this.calls_issued = len(outcome.calls_issued)
            for proposal_id in outcome.proposals:
                proposal = Proposal.objects.get(pk=proposal_id)
                if paused:
                    this.queued += 1
                    continue
                try:
                    done = proposal_execute(
                        tenant=tenant, proposal_id=proposal_id, now=at, dispatch=False
                    )
                except ApplicationError as refusal:
                    this.failures.append(f"proposal {proposal_id}: {refusal.message}")
                    continue
                if done.kind == Proposal.Kind.LIQUIDATION:
                    this.liquidated += 1
                else:
                    this.deleveraged += 1
                this.shortfall += done.shortfall
                del proposal
            this.statuses = Counter(
                tenant_scoped(AccountLadder, tenant=tenant).values_list("status", flat=True)
            )
            this.statuses = Counter({k: v for k, v in this.statuses.items() if v})
            unseen = len(accounts) - sum(this.statuses.values())  # never left healthy
            if unseen:
                this.statuses["healthy"] += unseen
            reports.append(this)
            open_calls = (
                tenant_scoped(MarginCall, tenant=tenant)
                .filter(status=MarginCall.CallStatus.OPEN)
                .count()
            )
            if first_call is None and this.calls_issued:
                first_call = number
            if first_call is not None and restored is None and open_calls == 0:
                restored = number - first_call
        return ReplayReport(
            tenant=tenant.slug,
            scenario=scenario,
            description=description,
            accounts=len(accounts),
            steps=reports,
            default_fund=reserves["default_fund"],
            buffer=reserves["liquidity_buffer"],
            restored_after=restored,
        )
