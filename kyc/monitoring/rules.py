"""The monitoring rules: plain functions over a client's money movements.

Each rule takes its parameters (from the rule version in the database), the movement being
judged and the client's earlier movements, and returns a finding (score, a key that makes the
alert unique, the evidence) or None. No ORM, no Django: back-tests and the live path run the
same code. Thresholds: PBOC Order 2016 No. 3, Art. 5 (large-value transactions); the rest are
typologies with parameters a tenant tunes by publishing a new version.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

IN_KINDS = ("deposit",)
OUT_KINDS = ("withdrawal",)


@dataclass(frozen=True)
class Movement:
    entry_id: int
    at: datetime
    kind: str  # deposit, withdrawal, loan (a margin-loan drawdown credited to cash)
    amount: Decimal
    currency: str
    day: str  # the tenant's business date, ISO
    channel: str = "transfer"  # cash or transfer
    payer: str = ""  # the payer's name on a deposit's bank notice
    country: str = ""  # the counterparty bank's country


@dataclass(frozen=True)
class Client:
    membership_id: int
    names: tuple[str, ...] = ()
    corporate: bool = False
    home_country: str = "CN"
    # turnover(since, until) -> (Decimal, known): traded value between two instants.
    turnover: Callable[[datetime, datetime], tuple[Decimal, bool]] = field(
        default=lambda since, until: (Decimal(0), False)
    )


@dataclass(frozen=True)
class Finding:
    score: int
    dedupe_key: str
    evidence: dict[str, Any]


def name_key(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name or "").casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _inflows(history: list[Movement]) -> list[Movement]:
    return [m for m in history if m.kind in IN_KINDS]


# --- the rules -----------------------------------------------------------------------------


def large_cash(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """Cash in or out on one business day, single or together, at or above the threshold."""
    if now.channel != "cash" or now.kind not in (*IN_KINDS, *OUT_KINDS):
        return None
    if now.currency != p["currency"]:
        return None
    same_day = [
        m
        for m in history
        if m.day == now.day
        and m.channel == "cash"
        and m.currency == now.currency
        and m.kind in (*IN_KINDS, *OUT_KINDS)
    ]
    total = sum((m.amount for m in same_day), Decimal(0))
    if total < _d(p["threshold"]):
        return None
    return Finding(
        p["score"],
        f"{client.membership_id}:{now.day}",
        {
            "day": now.day,
            "cash_total": _money(total),
            "threshold": p["threshold"],
            "entries": [m.entry_id for m in same_day],
            "report": "large_value",
        },
    )


def large_transfer(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """Transfers on one business day at or above the PBOC figure for this kind of client."""
    if now.channel == "cash" or now.kind not in (*IN_KINDS, *OUT_KINDS):
        return None
    if now.currency != p["currency"]:
        return None
    same_day = [
        m
        for m in history
        if m.day == now.day
        and m.channel != "cash"
        and m.currency == now.currency
        and m.kind in (*IN_KINDS, *OUT_KINDS)
    ]
    cross = [m for m in same_day if m.country and m.country != client.home_country]
    total = sum((m.amount for m in same_day), Decimal(0))
    cross_total = sum((m.amount for m in cross), Decimal(0))
    limit = _d(p["corporate"] if client.corporate else p["individual"])
    if total >= limit:
        which, amount = ("corporate" if client.corporate else "individual"), total
    elif not client.corporate and cross and cross_total >= _d(p["cross_border"]):
        which, amount, limit = "cross_border", cross_total, _d(p["cross_border"])
    else:
        return None
    return Finding(
        p["score"],
        f"{client.membership_id}:{now.day}:{which}",
        {
            "day": now.day,
            "kind": which,
            "total": _money(amount),
            "threshold": str(limit),
            "entries": [m.entry_id for m in same_day],
            "report": "large_value",
        },
    )


def structuring(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """Several deposits each just under the threshold within a short window, adding up to it."""
    if now.kind not in IN_KINDS or now.currency != p["currency"]:
        return None
    threshold = _d(p["threshold"])
    low = threshold * _d(p["lower_ratio"])
    since = now.at - timedelta(days=int(p["window_days"]))
    near = [
        m
        for m in _inflows(history)
        if m.at > since and m.currency == now.currency and low <= m.amount < threshold
    ]
    total = sum((m.amount for m in near), Decimal(0))
    if now not in near or len(near) < int(p["min_count"]) or total < threshold:
        return None
    return Finding(
        p["score"],
        f"{client.membership_id}:{near[0].entry_id}",
        {
            "deposits": [m.entry_id for m in near],
            "amounts": [_money(m.amount) for m in near],
            "total": _money(total),
            "threshold": p["threshold"],
            "window_days": p["window_days"],
        },
    )


def rapid_in_out(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """Money in, then most of it out within days, with little or no trading in between."""
    if now.kind not in OUT_KINDS:
        return None
    since = now.at - timedelta(days=int(p["window_days"]))
    for inflow in sorted(_inflows(history), key=lambda m: m.at, reverse=True):
        if inflow.at < since or inflow.currency != now.currency:
            continue
        if inflow.amount < _d(p["min_inflow"]) or now.amount < inflow.amount * _d(p["out_ratio"]):
            continue
        traded, known = client.turnover(inflow.at, now.at)
        if traded >= inflow.amount * _d(p["max_turnover_ratio"]):
            continue
        return Finding(
            p["score"],
            f"{client.membership_id}:in:{inflow.entry_id}",
            {
                "inflow": inflow.entry_id,
                "inflow_amount": _money(inflow.amount),
                "outflow": now.entry_id,
                "outflow_amount": _money(now.amount),
                "hours_between": round((now.at - inflow.at).total_seconds() / 3600, 1),
                "turnover": _money(traded),
                "turnover_source": known,
            },
        )
    return None


def third_party(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """A deposit paid by someone other than the client (the payer's name on the notice)."""
    if now.kind not in IN_KINDS or not now.payer or not client.names:
        return None
    own = {name_key(n) for n in client.names}
    if name_key(now.payer) in own:
        return None
    since = now.at - timedelta(days=int(p["window_days"]))
    payers = {
        name_key(m.payer): m.payer
        for m in _inflows(history)
        if m.at > since and m.payer and name_key(m.payer) not in own
    }
    many = len(payers) >= int(p["distinct_payers_for_block"])
    return Finding(
        p["block_score"] if many else p["score"],
        f"{client.membership_id}:entry:{now.entry_id}",
        {
            "entry": now.entry_id,
            "payer": now.payer,
            "amount": _money(now.amount),
            "third_party_payers_in_window": sorted(payers.values()),
        },
    )


def round_amounts(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """Several deposits in exact round amounts within a month."""
    unit = _d(p["unit"])
    if now.kind not in IN_KINDS or now.amount < unit or now.amount % unit:
        return None
    since = now.at - timedelta(days=int(p["window_days"]))
    round_ones = [
        m for m in _inflows(history) if m.at > since and m.amount >= unit and not m.amount % unit
    ]
    if len(round_ones) < int(p["min_count"]):
        return None
    return Finding(
        p["score"],
        f"{client.membership_id}:{round_ones[0].entry_id}",
        {
            "deposits": [m.entry_id for m in round_ones],
            "amounts": [_money(m.amount) for m in round_ones],
            "unit": p["unit"],
        },
    )


def velocity(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """Inflow far above the client's own normal: the month against the earlier months, or one
    deposit against the largest of the previous quarter."""
    if now.kind not in IN_KINDS:
        return None
    recent_since = now.at - timedelta(days=30)
    base_since = now.at - timedelta(days=180)
    inflows = [m for m in _inflows(history) if m.currency == now.currency]
    recent = sum((m.amount for m in inflows if m.at > recent_since), Decimal(0))
    base = [m for m in inflows if base_since < m.at <= recent_since]
    monthly = sum((m.amount for m in base), Decimal(0)) / 5
    if base and recent > monthly * _d(p["month_multiple"]) and recent > _d(p["month_floor"]):
        return Finding(
            p["score"],
            f"{client.membership_id}:month:{now.day[:7]}",
            {
                "last_30_days": _money(recent),
                "monthly_average": _money(monthly),
                "multiple": p["month_multiple"],
            },
        )
    prior = [m for m in inflows if now.at - timedelta(days=90) < m.at < now.at]
    if prior:
        largest = max(m.amount for m in prior)
        if now.amount > largest * _d(p["single_multiple"]):
            return Finding(
                p["score"],
                f"{client.membership_id}:entry:{now.entry_id}",
                {
                    "deposit": _money(now.amount),
                    "largest_prior_90_days": _money(largest),
                    "multiple": p["single_multiple"],
                },
            )
    return None


def dormant_reactivation(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """Money moving again after a long silence."""
    earlier = [m for m in history if m.at < now.at and m.entry_id != now.entry_id]
    if not earlier:
        return None
    # The last gap of at least the dormancy period, and what has moved since it ended.
    ordered = sorted([*earlier, now], key=lambda m: (m.at, m.entry_id))
    gap = timedelta(days=int(p["dormant_days"]))
    woke = None
    for before, after in pairwise(ordered):
        if after.at - before.at >= gap:
            woke = (before, after)
    if woke is None:
        return None
    last_before, first_after = woke
    if now.at - first_after.at > timedelta(days=int(p["window_days"])):
        return None
    moved = sum(
        (m.amount for m in ordered if m.at >= first_after.at and m.kind in (*IN_KINDS, *OUT_KINDS)),
        Decimal(0),
    )
    if moved < _d(p["min_amount"]):
        return None
    return Finding(
        p["score"],
        f"{client.membership_id}:woke:{first_after.entry_id}",
        {
            "silent_days": (first_after.at - last_before.at).days,
            "moved_since": _money(moved),
            "first_entry_after": first_after.entry_id,
        },
    )


def high_risk_country(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """Money from or to a bank in a high-risk jurisdiction."""
    country = (now.country or "").upper()
    if not country:
        return None
    if country in p["call_for_action"]:
        score, listed = p["call_for_action_score"], "call_for_action"
    elif country in p["increased_monitoring"]:
        score, listed = p["score"], "increased_monitoring"
    else:
        return None
    return Finding(
        score,
        f"{client.membership_id}:entry:{now.entry_id}",
        {"entry": now.entry_id, "country": country, "list": listed, "amount": _money(now.amount)},
    )


def loan_cash_out(p: dict[str, Any], now: Movement, history: list[Movement], client: Client):
    """A margin loan drawn, then taken out as cash without buying securities with it."""
    if now.kind not in OUT_KINDS:
        return None
    since = now.at - timedelta(days=int(p["window_days"]))
    loans = [m for m in history if m.kind == "loan" and m.at > since and m.at <= now.at]
    drawn = sum((m.amount for m in loans), Decimal(0))
    if not loans or now.amount < drawn * _d(p["out_ratio"]):
        return None
    traded, known = client.turnover(loans[0].at, now.at)
    if traded >= drawn * _d(p["min_purchase_ratio"]):
        return None
    return Finding(
        p["score"],
        f"{client.membership_id}:out:{now.entry_id}",
        {
            "loans": [m.entry_id for m in loans],
            "drawn": _money(drawn),
            "withdrawal": now.entry_id,
            "withdrawn": _money(now.amount),
            "purchases": _money(traded),
            "turnover_source": known,
        },
    )


# --- the catalogue -------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    code: str
    title: str
    check: Callable[..., Finding | None]
    defaults: dict[str, Any]
    score: int


def _spec(code: str, title: str, check: Callable[..., Any], score: int, **defaults: Any):
    return RuleSpec(code, title, check, defaults, score)


CATALOGUE: dict[str, RuleSpec] = {
    spec.code: spec
    for spec in (
        _spec("large_cash", "Large cash (PBOC)", large_cash, 20, threshold="50000", currency="CNY"),
        _spec(
            "large_transfer",
            "Large transfers (PBOC)",
            large_transfer,
            20,
            individual="500000",
            corporate="2000000",
            cross_border="200000",
            currency="CNY",
        ),
        _spec(
            "structuring",
            "Structuring under a threshold",
            structuring,
            40,
            threshold="50000",
            lower_ratio="0.8",
            min_count=3,
            window_days=7,
            currency="CNY",
        ),
        _spec(
            "rapid_in_out",
            "Rapid in and out without trading",
            rapid_in_out,
            40,
            min_inflow="50000",
            out_ratio="0.8",
            window_days=5,
            max_turnover_ratio="0.1",
        ),
        _spec(
            "third_party",
            "Third-party funding",
            third_party,
            30,
            window_days=30,
            distinct_payers_for_block=2,
            block_score=60,
        ),
        _spec(
            "round_amounts",
            "Round amounts",
            round_amounts,
            20,
            unit="10000",
            min_count=3,
            window_days=30,
        ),
        _spec(
            "velocity",
            "Velocity spike",
            velocity,
            30,
            month_multiple="3",
            month_floor="200000",
            single_multiple="5",
        ),
        _spec(
            "dormant",
            "Dormant account reactivated",
            dormant_reactivation,
            30,
            dormant_days=180,
            window_days=30,
            min_amount="100000",
        ),
        _spec(
            "high_risk_country",
            "High-risk jurisdiction",
            high_risk_country,
            20,
            call_for_action=["KP", "IR", "MM"],
            increased_monitoring=[
                "DZ",
                "AO",
                "BG",
                "BO",
                "CM",
                "CI",
                "CD",
                "HT",
                "KE",
                "LA",
                "LB",
                "MC",
                "NA",
                "NP",
                "SS",
                "SY",
                "VE",
                "VN",
                "VG",
                "YE",
            ],
            call_for_action_score=100,
        ),
        _spec(
            "loan_cash_out",
            "Margin loan cashed out without purchases",
            loan_cash_out,
            60,
            out_ratio="0.5",
            window_days=5,
            min_purchase_ratio="0.5",
        ),
    )
}

OUTCOME_THRESHOLDS = (("decline", 100), ("block_and_review", 50), ("review", 20))


def outcome_for(score: int) -> str:
    """Marble's ladder: the highest outcome whose threshold the score reaches."""
    return next((name for name, floor in OUTCOME_THRESHOLDS if score >= floor), "approve")


def params_check(code: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Parameters merged over the defaults and type-checked like them; (params, problems)."""
    spec = CATALOGUE.get(code)
    if spec is None:
        return {}, {"code": [f"Unknown rule {code!r}."]}
    merged = {**spec.defaults}
    problems: dict[str, list[str]] = {}
    for key, value in params.items():
        if key not in spec.defaults:
            problems.setdefault(f"params.{key}", []).append("Unknown parameter.")
            continue
        default = spec.defaults[key]
        try:
            if isinstance(default, bool):
                raise TypeError
            if isinstance(default, int):
                value = int(value)
                if value < 0:
                    raise ValueError
            elif isinstance(default, list):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise TypeError
                value = [v.upper() for v in value]
            elif key == "currency":
                value = str(value).upper()
                if len(value) != 3:
                    raise ValueError
            else:
                number = Decimal(str(value))
                if not number.is_finite() or number < 0:
                    raise ValueError
                value = str(number)
        except (TypeError, ValueError, InvalidOperation):
            problems.setdefault(f"params.{key}", []).append(f"Expected a value like {default!r}.")
            continue
        merged[key] = value
    return merged, problems


def evaluate(
    code: str,
    params: dict[str, Any],
    score: int,
    now: Movement,
    history: list[Movement],
    client: Client,
) -> Finding | None:
    spec = CATALOGUE[code]
    return spec.check({**params, "score": score}, now, history, client)
