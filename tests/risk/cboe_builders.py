"""Portfolio documents in the margin contract's JSON shape, and the engine's answer as JSON."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from risk.engine.policies import margin_compute
from risk.engine.portfolio import portfolio_parse

AS_OF = "2026-01-02"
NEAR = "2026-03-20"  # well inside nine months of AS_OF
FAR = "2027-06-18"  # more than nine months after AS_OF


def stock(symbol: str, price: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "kind": "equity", "price": price, **extra}


def index(symbol: str, price: str, underlying_class: str = "broad_index") -> dict[str, Any]:
    return {"symbol": symbol, "kind": "index", "price": price, "underlying_class": underlying_class}


def option(
    symbol: str,
    underlying: str,
    right: str,
    strike: str,
    price: str,
    *,
    expiry: str = NEAR,
    multiplier: int = 100,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "kind": "option",
        "underlying": underlying,
        "right": right,
        "strike": strike,
        "expiry": expiry,
        "multiplier": multiplier,
        "price": price,
        **extra,
    }


def book(
    instruments: list[dict[str, Any]],
    positions: dict[str, str | int],
    *,
    as_of: str = AS_OF,
    cash: str = "0",
    loan: str = "0",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "currency": "USD",
        "as_of": as_of,
        "cash": cash,
        "loan": loan,
        "instruments": instruments,
        "positions": [{"symbol": s, "quantity": str(q)} for s, q in positions.items()],
        **extra,
    }


def margin(document: dict[str, Any], policy: str = "cboe-strategy") -> dict[str, Any]:
    """The contract's ``--json`` answer for ``document``."""
    return margin_compute(portfolio_parse(document), policy).as_json()


def strategies(result: dict[str, Any]) -> list[str]:
    return sorted(group["strategy"] for group in result["groups"])


def held(result: dict[str, Any], field: str = "initial_requirement") -> Decimal:
    return Decimal(result[field])
