"""The dashboard's reads, always for one tenant and the client's own account.

Every figure comes from risk's selectors (the same engine, prices and policy as the sweep, the
margin page and the pre-trade check), so the dashboard cannot disagree with them; this module
only gathers and shapes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Avg
from django.utils import timezone

from ledger.models import LedgerAccount
from ledger.selectors import account_list
from platform_core.portal.charts import Ladder, LineChart, bars, ladder_scale, line_chart
from platform_core.portal.models import RatioSample
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped
from risk.engine.portfolio import PortfolioError
from risk.engine.result import MarginResult
from risk.engine.stress import Shock
from risk.models import Quote
from risk.operations.models import MarginCall
from risk.operations.selectors import call_list
from risk.oracle import OracleError
from risk.selectors import (
    liquidation_prices_of,
    policy_active,
    portfolio_margin,
    priced_portfolio,
)
from risk.stored_policy import DEFAULT_LADDER, LADDER_LINES, leverage_of, status_for
from risk.stress import StressRow, account_stress

HISTORY_WINDOW = timedelta(hours=6)
PRICE_WINDOW = timedelta(minutes=30)
PRICE_POINTS = 240
PRICE_CHARTS_MAX = 4
CROSSINGS_FRESH_FOR = 10  # seconds


def client_accounts(*, tenant: Tenant, membership: Membership) -> list[LedgerAccount]:
    return list(
        account_list(tenant=tenant, owner=membership).filter(kind=LedgerAccount.Kind.CLIENT_CASH)
    )


def ladder_of(*, tenant: Tenant) -> dict[str, Decimal]:
    stored = policy_active(tenant=tenant)
    lines = stored.ladder if stored is not None else DEFAULT_LADDER
    return {line: Decimal(str(lines[line])) for line in LADDER_LINES}


def ratio_history(
    *, tenant: Tenant, account: LedgerAccount, since: datetime
) -> list[tuple[datetime, Decimal | None]]:
    return list(
        tenant_scoped(RatioSample, tenant=tenant)
        .filter(account=account, at__gte=since, ratio__isnull=False)
        .order_by("at")
        .values_list("at", "ratio")
    )


def price_history(*, symbol: str, since: datetime) -> list[tuple[datetime, Decimal]]:
    """The symbol's recent quotes, one point per instant (the venues' mean), oldest first."""
    rows = (
        Quote.objects.filter(instrument__symbol=symbol, at__gte=since)
        .values("at")
        .annotate(price=Avg("price"))
        .order_by("-at")[:PRICE_POINTS]
    )
    return [(row["at"], row["price"]) for row in reversed(rows)]


@dataclass
class Position:
    """One strategy group of the account, with the rule the engine says produced its numbers."""

    strategy: str
    legs: list[tuple[str, Decimal]]
    initial: Decimal
    maintenance: Decimal
    rule: str


@dataclass
class PriceChart:
    underlying: str
    current: Decimal
    call_down: Decimal | None
    call_up: Decimal | None
    liquidation_down: Decimal | None
    liquidation_up: Decimal | None
    chart: LineChart


@dataclass
class Dashboard:
    """What the live part of the dashboard shows for one account, at one instant."""

    account: LedgerAccount
    at: datetime
    problem: str = ""
    result: MarginResult | None = None
    status: str = ""
    ladder: dict[str, Decimal] = field(default_factory=dict)
    ladder_chart: Ladder | None = None
    leverage: Decimal | None = None
    positions: list[Position] = field(default_factory=list)
    stress: list[StressRow] = field(default_factory=list)
    history: LineChart | None = None
    funding: list[Any] = field(default_factory=list)
    prices: list[PriceChart] = field(default_factory=list)
    suspect: list[dict[str, Any]] = field(default_factory=list)
    call: MarginCall | None = None
    call_left: tuple[int, int, int, int] | None = None  # days, hours, minutes, seconds


def _open_call(
    *, tenant: Tenant, account: LedgerAccount, now: datetime
) -> tuple[MarginCall | None, tuple[int, int, int, int] | None]:
    """The account's open margin call and the time left to its deadline (0 once past)."""
    call = (
        call_list(tenant=tenant, status=MarginCall.CallStatus.OPEN)
        .filter(account_id=account.pk)
        .first()
    )
    if call is None:
        return None, None
    left = max(int((call.deadline_at - now).total_seconds()), 0)
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    return call, (days, hours, *divmod(rest, 60))


def _crossings(
    *, tenant: Tenant, account: LedgerAccount, priced: Any, ladder: dict[str, Decimal]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per line (call, liquidation) and underlying, the prices at which the account crosses it.

    The searches are most of the dashboard's cost (a few hundred ms an account on the loaded
    demo machine) while the answer barely moves with a tick (the rest of the book is held
    fixed), so it is kept for ``CROSSINGS_FRESH_FOR`` seconds per holding, cash and ladder.
    """
    positions = sorted((p.symbol, str(p.quantity)) for p in priced.portfolio.positions)
    basis = f"{tenant.pk}:{account.pk}:{account.balance}:{positions}:{sorted(ladder.items())}"
    key = "portal:crossings:" + hashlib.sha256(basis.encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        found = {
            line: {
                row["underlying"]: row
                for row in liquidation_prices_of(
                    tenant=tenant, account=account, priced=priced, line=ladder[line]
                )
            }
            for line in ("margin_call", "liquidation")
        }
        cache.set(key, found, CROSSINGS_FRESH_FOR)
    return found


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def dashboard_of(
    *, tenant: Tenant, account: LedgerAccount, now: datetime | None = None
) -> Dashboard:
    """The account's margin now, the ladder with its ratio, the requirement per strategy group
    with its rule, the stress table, the ratio history and the price charts with the prices
    at which the call and liquidation lines are crossed."""
    now = now or timezone.now()
    board = Dashboard(account=account, at=now, ladder=ladder_of(tenant=tenant))
    board.call, board.call_left = _open_call(tenant=tenant, account=account, now=now)
    try:
        priced = priced_portfolio(tenant=tenant, account=account, now=now)
        result = portfolio_margin(tenant=tenant, account=account, priced=priced)
        board.stress = account_stress(tenant=tenant, account=account, now=now)
        crossings = _crossings(tenant=tenant, account=account, priced=priced, ladder=board.ladder)
    except (OracleError, PortfolioError) as exc:
        board.problem = str(exc)
        return board
    board.result = result
    board.status = status_for(result=result, ladder=board.ladder)
    board.leverage = leverage_of(result)
    board.suspect = priced.prices_suspect
    board.ladder_chart = ladder_scale(ladder=board.ladder, ratio=result.margin_ratio)
    board.positions = [
        Position(g.strategy, list(g.legs), g.initial, g.maintenance, g.rule) for g in result.groups
    ]
    board.funding = bars(
        [
            ("equity", result.equity),
            ("initial", result.initial_requirement),
            ("maintenance", result.maintenance_requirement),
        ]
    )
    history = ratio_history(tenant=tenant, account=account, since=now - HISTORY_WINDOW)
    if result.margin_ratio is not None:
        history.append((now, result.margin_ratio))
    board.history = line_chart(
        history, [(line, board.ladder[line]) for line in ("warning", "margin_call", "liquidation")]
    )
    for underlying, call in sorted(crossings["margin_call"].items())[:PRICE_CHARTS_MAX]:
        liquidation = crossings["liquidation"].get(underlying, {})
        levels = {
            "call_down": _decimal(call.get("down")),
            "call_up": _decimal(call.get("up")),
            "liquidation_down": _decimal(liquidation.get("down")),
            "liquidation_up": _decimal(liquidation.get("up")),
        }
        current = Decimal(call["current"])
        series = price_history(symbol=underlying, since=now - PRICE_WINDOW)
        board.prices.append(
            PriceChart(
                underlying=underlying,
                current=current,
                chart=line_chart(
                    series or [(now, current)],
                    [(key, value) for key, value in levels.items() if value is not None],
                ),
                **levels,
            )
        )
    return board


@dataclass
class MoveOutcome:
    move: Decimal
    row: StressRow


def price_move_what_if(
    *, tenant: Tenant, account: LedgerAccount, move: Decimal, now: datetime | None = None
) -> MoveOutcome:
    """Every price moved by ``move`` (a fraction, e.g. -0.10), margined under the tenant's
    policy: the stress engine's market-wide shock, so it agrees with the stress table."""
    (row,) = account_stress(
        tenant=tenant,
        account=account,
        shocks=[Shock(f"market {move * 100:+}%", market_move=move)],
        now=now,
    )
    return MoveOutcome(move, row)
