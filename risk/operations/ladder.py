"""The ladder's arithmetic: which rung a ratio is on, what restores it, when a call is due.

Plain functions of numbers and dates; the policy's lines come from ``ladder_for`` (the tenant's
active margin policy, or the documented default until one is active).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from risk.engine.result import minor_unit
from risk.operations.models import SEVERITY, Status


@dataclass(frozen=True)
class Ladder:
    """The policy's lines (ratio = equity / maintenance requirement), highest first."""

    warning: Decimal
    margin_call: Decimal
    deleverage: Decimal
    liquidation: Decimal
    target: Decimal  # what a deposit or a deleveraging restores
    call_days: int  # business days to meet a call
    name: str
    version: str
    digest: str = ""
    engine_policy: str = "cboe-strategy"

    def status_of(self, ratio: Decimal | None) -> str:
        """The rung for ``ratio``; no requirement at all (None) is healthy."""
        if ratio is None or ratio >= self.warning:
            return Status.HEALTHY
        if ratio >= self.margin_call:
            return Status.WARNING
        if ratio >= self.deleverage:
            return Status.MARGIN_CALL
        if ratio >= self.liquidation:
            return Status.DELEVERAGE
        return Status.LIQUIDATE

    def as_json(self) -> dict[str, Any]:
        return {
            "warning": str(self.warning),
            "margin_call": str(self.margin_call),
            "deleverage": str(self.deleverage),
            "liquidation": str(self.liquidation),
            "target": str(self.target),
            "call_days": self.call_days,
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
        }


def _default_ladder() -> Ladder:
    """Until a tenant activates a policy: the risk app's default lines (the live sweep's), so
    the sweep and the loop never disagree on a rung."""
    try:
        from risk.stored_policy import DEFAULT_CALL_DEADLINE
        from risk.stored_policy import DEFAULT_LADDER as LINES
    except ImportError:  # the risk app without stored policies
        LINES = {
            "warning": "1.25",
            "margin_call": "1.00",
            "deleverage": "0.90",
            "liquidation": "0.75",
        }
        DEFAULT_CALL_DEADLINE = 2
    lines = {k: Decimal(str(v)) for k, v in LINES.items()}
    return Ladder(
        warning=lines["warning"],
        margin_call=lines["margin_call"],
        deleverage=lines["deleverage"],
        liquidation=lines["liquidation"],
        target=lines["warning"],
        call_days=int(DEFAULT_CALL_DEADLINE),
        name="default",
        version="0",
    )


DEFAULT_LADDER = _default_ladder()


def ladder_for(*, tenant: Any) -> Ladder:
    """The tenant's active policy's ladder (``risk.selectors.policy_active``), or the default."""
    try:
        from risk.selectors import policy_active  # type: ignore[attr-defined]
    except ImportError:
        return DEFAULT_LADDER
    policy = policy_active(tenant=tenant)
    if policy is None:
        return DEFAULT_LADDER
    lines = {k: Decimal(str(v)) for k, v in (policy.ladder or {}).items()}
    return Ladder(
        warning=lines["warning"],
        margin_call=lines["margin_call"],
        deleverage=lines["deleverage"],
        liquidation=lines["liquidation"],
        target=lines.get("target", lines["warning"]),
        call_days=int(getattr(policy, "call_deadline_business_days", 2) or 2),
        name=str(policy.name),
        version=str(policy.version),
        digest=str(getattr(policy, "digest", "") or ""),
        engine_policy=str(getattr(policy, "base", "") or "cboe-strategy"),
    )


def worse(first: str, second: str) -> bool:
    return SEVERITY[Status(first)] > SEVERITY[Status(second)]


def ratio_of(equity: Decimal, maintenance: Decimal) -> Decimal | None:
    if maintenance <= 0:
        return None
    return (equity / maintenance).quantize(Decimal("0.0001"))


def deposit_needed(
    *, equity: Decimal, maintenance: Decimal, target: Decimal, currency: str
) -> Decimal:
    """Cash that lifts equity to ``target`` x maintenance, rounded up to the minor unit."""
    need = target * maintenance - equity
    if need <= 0:
        return Decimal(0)
    return need.quantize(minor_unit(currency), rounding=ROUND_CEILING)


def _weekdays_add(day: date, days: int) -> date:
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def call_deadline(*, tenant: Any, issued_at: datetime, days: int) -> tuple[date, datetime]:
    """The last business day to meet a call issued at ``issued_at``, and the moment it ends
    (midnight after it, in the tenant's timezone), counted on the tenant's market calendar
    (``risk.calendar``) or, without one, Monday to Friday."""
    zone = ZoneInfo(tenant.timezone)
    day = issued_at.astimezone(zone).date()
    try:
        from risk.calendar import business_days_add, tenant_market  # type: ignore[import-not-found]
    except ImportError:
        due = _weekdays_add(day, days)
    else:
        due = business_days_add(market=tenant_market(tenant=tenant), day=day, days=days)
    return due, datetime.combine(due + timedelta(days=1), time(0), tzinfo=zone)
