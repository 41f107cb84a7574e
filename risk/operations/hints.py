"""Hedge hints: what would restore a called account's ratio, each computed by the engine.

The deposit needed; each strategy group closed whole (never a leg alone); and for each stock
holding, a protective put and a collar from the listed options, as what-if orders on the
account's own positions at the oracle's prices (``risk.selectors.margin_what_if``): the same
engine and prices as the live check.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ledger.models import LedgerAccount
from platform_core.tenancy.models import Tenant
from risk.engine.result import MarginResult
from risk.operations.ladder import deposit_needed, ladder_for, ratio_of
from risk.operations.planning import plan_order
from risk.operations.services import account_book

MIN_DAYS_TO_EXPIRY = 20
MAX_HINTS_PER_KIND = 3


def _effect(result: MarginResult) -> dict[str, Any]:
    ratio = ratio_of(result.equity, result.maintenance_requirement)
    return {
        "equity_after": format(result.equity.quantize(Decimal("0.01")), "f"),
        "maintenance_after": format(result.maintenance_requirement, "f"),
        "ratio_after": None if ratio is None else format(ratio, "f"),
    }


def _listed(underlying: Any, right: str, price: Decimal, *, below: bool) -> Any:
    """The listed option on ``underlying`` nearest the money on the protective side."""
    from risk.models import Instrument

    soonest = timezone.localdate() + timedelta(days=MIN_DAYS_TO_EXPIRY)
    options = Instrument.objects.filter(
        underlying=underlying, kind="option", right=right, expiry__gte=soonest
    )
    options = options.filter(strike__lte=price) if below else options.filter(strike__gte=price)
    return options.order_by("-strike" if below else "strike", "expiry").first()


def hints_for_account(
    *, tenant: Tenant, account: LedgerAccount, target: Decimal, now: datetime | None = None
) -> dict[str, Any]:
    from risk.models import Instrument
    from risk.oracle import OracleError
    from risk.selectors import margin_what_if

    ladder = ladder_for(tenant=tenant)
    policy = ladder.engine_policy
    book, _ = account_book(tenant=tenant, account=account, ladder=ladder, now=now)
    hints: dict[str, Any] = {
        "target_ratio": format(target, "f"),
        "ratio": None
        if ratio_of(book.equity, book.maintenance) is None
        else format(ratio_of(book.equity, book.maintenance), "f"),  # type: ignore[arg-type]
        "currency": book.currency,
        "deposit": format(
            deposit_needed(
                equity=book.equity,
                maintenance=book.maintenance,
                target=target,
                currency=book.currency,
            ),
            "f",
        ),
        "reduce": [],
        "hedges": [],
        "computed_at": timezone.now().isoformat(),
    }
    symbols = {leg.symbol for g in book.groups for leg in g.legs}
    instruments = {
        i.symbol: i
        for i in Instrument.objects.filter(symbol__in=symbols).select_related("underlying")
    }
    for group in plan_order(book.groups)[:MAX_HINTS_PER_KIND]:
        orders = {instruments[leg.symbol]: -leg.quantity for leg in group.legs}
        try:
            result = margin_what_if(
                tenant=tenant, account=account, orders=orders, policy=policy, now=now
            )
        except (OracleError, ValueError):
            continue
        hints["reduce"].append(
            {
                "strategy": group.strategy,
                "legs": [
                    {"symbol": leg.symbol, "close": format((-leg.quantity).normalize(), "f")}
                    for leg in group.legs
                ],
                **_effect(result),
            }
        )
    stocks = [
        (leg, instruments[leg.symbol])
        for g in book.groups
        for leg in g.legs
        if leg.kind in ("equity", "etf") and leg.quantity > 0
    ]
    for leg, stock in stocks[:MAX_HINTS_PER_KIND]:
        put = _listed(stock, "put", leg.price, below=True)
        if put is None:
            continue
        contracts = (leg.quantity / put.multiplier).to_integral_value(rounding="ROUND_FLOOR")
        if contracts <= 0:
            continue
        candidates: list[tuple[str, dict[Any, Decimal]]] = [("protective_put", {put: contracts})]
        call = _listed(stock, "call", leg.price, below=False)
        if call is not None and call.expiry == put.expiry:
            candidates.append(("collar", {put: contracts, call: -contracts}))
        for name, orders in candidates:
            try:
                result = margin_what_if(
                    tenant=tenant, account=account, orders=orders, policy=policy, now=now
                )
            except (OracleError, ValueError):
                continue
            hints["hedges"].append(
                {
                    "kind": name,
                    "underlying": stock.symbol,
                    "orders": [
                        {"symbol": i.symbol, "quantity": format(q.normalize(), "f")}
                        for i, q in orders.items()
                    ],
                    **_effect(result),
                }
            )
    return hints
