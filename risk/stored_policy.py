"""A tenant's stored margin policy: a built-in base policy plus the house's own parameters.

Plain Python (no ORM): ``stored_margin_compute`` runs the engine's base policy and lays the
house's rules over its groups, each as a visible group of the result so a client sees how
every number was reached:

- ``risk_tiers`` / ``investor_classes``: multipliers of a group's requirement by the highest
  risk tier among its instruments and by the client's investor class (from KYC). Only the part
  that is not the full value of long options is scaled (a fully paid option stays at 100%).
- ``house_addon``: a rate (for every name, or per symbol) of the market value held in a name.
- ``concentration``: a name whose market value is beyond ``share`` of the account's equity adds
  ``rate`` of the value beyond it.
- ``dynamic_addon``: a rate of the name's market value from volatility,
  ``max(floor, k*sigma)`` (sigma the annualised volatility), or from VaR: the ``confidence``
  quantile of the absolute ``holding_days``-day returns in its daily price history (historical
  simulation), never below ``floor``.

The market value "held in a name" is the sum of the absolute market values of every position
on it (the stock or ETF, and options on it at their premium). Add-ons count in both the initial
and the maintenance requirement. The ladder, the call deadline and the leverage cap are used by
the sweep and the pre-trade check (``status_for``, ``leverage_of``).

Parameters document (the ``parameters`` JSON of a ``MarginPolicyVersion``), all optional::

    {"base_parameters": {"NAME": "value"},            # overrides the base policy reads
     "risk_tiers": {"2": "1.25", "3": "1.5"},
     "investor_classes": {"retail": "1.2", "professional": "1"},
     "house_addon": {"rate": "0", "by_symbol": {"XYZ": "0.05"}},
     "concentration": {"share": "0.25", "rate": "0.10"},
     "dynamic_addon": {"method": "volatility", "floor": "0.02", "k": "0.10"}
                   | {"method": "var", "confidence": "0.99", "holding_days": 2, "floor": "0"}}
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from risk.engine.policies import margin_compute
from risk.engine.portfolio import Portfolio, PortfolioError
from risk.engine.result import Group, MarginResult, round_up

BUILT_IN_POLICIES = ("cboe-strategy", "finra-pm", "span-like", "cn-rzrq")
LADDER_LINES = ("warning", "margin_call", "deleverage", "liquidation")
# Status per line crossed, in order of severity (healthy when no line is crossed).
STATUS_BY_LINE = {
    "warning": "warning",
    "margin_call": "margin_call",
    "deleverage": "deleverage",
    "liquidation": "liquidate",
}
STATUS_ORDER = ("healthy", "warning", "margin_call", "deleverage", "liquidate")
# Ratios of equity to the maintenance requirement (the contract's margin ratio): warn at 125%,
# call at 100%, deleverage at 90%, liquidate at 75%; a call is due within two business days
# (the legacy 融资融券 rule's top-up period).
DEFAULT_LADDER = {
    "warning": "1.25",
    "margin_call": "1.00",
    "deleverage": "0.90",
    "liquidation": "0.75",
}
DEFAULT_CALL_DEADLINE = 2
DEFAULT_LEVERAGE_CAP = Decimal(4)
PARAMETER_KEYS = (
    "base_parameters",
    "risk_tiers",
    "investor_classes",
    "house_addon",
    "concentration",
    "dynamic_addon",
)
RATE_PLACES = Decimal("0.000001")


class PolicyError(ValueError):
    """A stored policy that cannot be used; ``field`` names where (``parameters.risk_tiers``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class StoredPolicy:
    """What a policy version holds, as the engine side needs it."""

    name: str
    version: int
    base: str
    parameters: Mapping[str, Any]
    ladder: Mapping[str, str]
    call_deadline_business_days: int
    leverage_cap: Decimal

    def content(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "base": self.base,
            "parameters": self.parameters,
            "ladder": self.ladder,
            "call_deadline_business_days": self.call_deadline_business_days,
            "leverage_cap": format(self.leverage_cap.normalize(), "f"),
        }

    @property
    def digest(self) -> str:
        return policy_digest(self.content())

    def ladder_lines(self) -> dict[str, Decimal]:
        return {line: Decimal(str(self.ladder[line])) for line in LADDER_LINES}


def policy_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- validation ----------------------------------------------------------------------------


def _number(value: Any, where: str, *, low: Decimal | None = None, high: Decimal | None = None):
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise PolicyError(where, f"{value!r} is not a number (give it as a string)")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PolicyError(where, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise PolicyError(where, f"{value!r} is not a finite number")
    if low is not None and number < low:
        raise PolicyError(where, f"{number} is below {low}")
    if high is not None and number > high:
        raise PolicyError(where, f"{number} is above {high}")
    return number


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(where, "must be an object")
    return value


def _normalised_number(value: Any, where: str, **bounds: Decimal) -> str:
    return format(_number(value, where, **bounds).normalize(), "f")


def ladder_normalise(ladder: Any) -> dict[str, str]:
    """The four lines as decimal strings, strictly falling from warning to liquidation."""
    ladder = _mapping(ladder, "ladder")
    unknown = sorted(set(ladder) - set(LADDER_LINES))
    if unknown:
        raise PolicyError(f"ladder.{unknown[0]}", f"not a line (lines: {', '.join(LADDER_LINES)})")
    lines: dict[str, Decimal] = {}
    for line in LADDER_LINES:
        if line not in ladder:
            raise PolicyError(f"ladder.{line}", "is required")
        lines[line] = _number(ladder[line], f"ladder.{line}", low=Decimal(0), high=Decimal(100))
        if lines[line] <= 0:
            raise PolicyError(f"ladder.{line}", "must be greater than zero")
    for upper, lower in itertools.pairwise(LADDER_LINES):
        if not lines[upper] > lines[lower]:
            raise PolicyError(f"ladder.{lower}", f"must be below {upper} ({lines[upper]})")
    return {line: format(value.quantize(Decimal("0.0001")), "f") for line, value in lines.items()}


def parameters_normalise(parameters: Any) -> dict[str, Any]:
    """Check a parameters document and return it with every number as a canonical string."""
    parameters = _mapping(parameters or {}, "parameters")
    unknown = sorted(set(parameters) - set(PARAMETER_KEYS))
    if unknown:
        raise PolicyError(
            f"parameters.{unknown[0]}", f"not a parameter (known: {', '.join(PARAMETER_KEYS)})"
        )
    result: dict[str, Any] = {}
    if "base_parameters" in parameters:
        where = "parameters.base_parameters"
        result["base_parameters"] = {
            str(k): _normalised_number(
                v, f"{where}.{k}", low=Decimal(-1_000_000), high=Decimal(1_000_000)
            )
            for k, v in _mapping(parameters["base_parameters"], where).items()
        }
    for key in ("risk_tiers", "investor_classes"):
        if key in parameters:
            where = f"parameters.{key}"
            table = _mapping(parameters[key], where)
            if key == "risk_tiers":
                for tier in table:
                    if not str(tier).isdigit():
                        raise PolicyError(f"{where}.{tier}", "a risk tier is a whole number")
            result[key] = {
                str(k): _normalised_number(v, f"{where}.{k}", low=Decimal(1), high=Decimal(10))
                for k, v in table.items()
            }
    if "house_addon" in parameters:
        where = "parameters.house_addon"
        raw = _mapping(parameters["house_addon"], where)
        extra = sorted(set(raw) - {"rate", "by_symbol"})
        if extra:
            raise PolicyError(f"{where}.{extra[0]}", "not a field (rate, by_symbol)")
        result["house_addon"] = {
            "rate": _normalised_number(
                raw.get("rate", "0"), f"{where}.rate", low=Decimal(0), high=Decimal(1)
            ),
            "by_symbol": {
                str(s): _normalised_number(
                    v, f"{where}.by_symbol.{s}", low=Decimal(0), high=Decimal(1)
                )
                for s, v in _mapping(raw.get("by_symbol", {}), f"{where}.by_symbol").items()
            },
        }
    if "concentration" in parameters:
        where = "parameters.concentration"
        raw = _mapping(parameters["concentration"], where)
        for name in ("share", "rate"):
            if name not in raw:
                raise PolicyError(f"{where}.{name}", "is required")
        extra = sorted(set(raw) - {"share", "rate"})
        if extra:
            raise PolicyError(f"{where}.{extra[0]}", "not a field (share, rate)")
        result["concentration"] = {
            "share": _normalised_number(
                raw["share"], f"{where}.share", low=Decimal("0.01"), high=Decimal(10)
            ),
            "rate": _normalised_number(
                raw["rate"], f"{where}.rate", low=Decimal(0), high=Decimal(1)
            ),
        }
    if "dynamic_addon" in parameters:
        result["dynamic_addon"] = _dynamic_normalise(parameters["dynamic_addon"])
    return result


def _dynamic_normalise(value: Any) -> dict[str, Any]:
    where = "parameters.dynamic_addon"
    raw = _mapping(value, where)
    method = raw.get("method")
    if method == "volatility":
        fields = {"method", "floor", "k"}
    elif method == "var":
        fields = {"method", "floor", "confidence", "holding_days"}
    else:
        raise PolicyError(f"{where}.method", f"{method!r} is not volatility or var")
    extra = sorted(set(raw) - fields)
    if extra:
        raise PolicyError(f"{where}.{extra[0]}", f"not a field ({', '.join(sorted(fields))})")
    result: dict[str, Any] = {
        "method": method,
        "floor": _normalised_number(
            raw.get("floor", "0"), f"{where}.floor", low=Decimal(0), high=Decimal(1)
        ),
    }
    if method == "volatility":
        result["k"] = _normalised_number(
            raw.get("k", "0"), f"{where}.k", low=Decimal(0), high=Decimal(10)
        )
    else:
        result["confidence"] = _normalised_number(
            raw.get("confidence", "0.99"),
            f"{where}.confidence",
            low=Decimal("0.5"),
            high=Decimal("0.9999"),
        )
        days = raw.get("holding_days", 2)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 20:
            raise PolicyError(f"{where}.holding_days", "a whole number of days from 1 to 20")
        result["holding_days"] = days
    return result


def base_normalise(base: Any) -> str:
    if base not in BUILT_IN_POLICIES:
        raise PolicyError(
            "base", f"{base!r} is not a built-in policy ({', '.join(BUILT_IN_POLICIES)})"
        )
    return str(base)


# --- the computation -----------------------------------------------------------------------


def status_for(*, result: MarginResult, ladder: Mapping[str, Decimal]) -> str:
    """The status the ladder gives the account's margin ratio (equity to maintenance).

    No ratio (nothing required beyond fully paid positions) is healthy unless the equity has
    fallen below what is required, which can only be settled by liquidation.
    """
    ratio = result.margin_ratio
    if ratio is None:
        return "liquidate" if result.excess_maintenance < 0 else "healthy"
    status = "healthy"
    for line in LADDER_LINES:
        if ratio < ladder[line]:
            status = STATUS_BY_LINE[line]
    return status


def leverage_of(result: MarginResult) -> Decimal | None:
    """Gross market value over equity (None when the equity is not positive)."""
    if result.equity <= 0:
        return (
            None
            if result.long_market_value + result.short_market_value == 0
            else Decimal("Infinity")
        )
    return (result.long_market_value + result.short_market_value) / result.equity


def _underlying_symbol(portfolio: Portfolio, symbol: str) -> str:
    instrument = portfolio.instruments[symbol]
    return instrument.underlying if instrument.is_option else symbol  # type: ignore[return-value]


def _held_by_name(portfolio: Portfolio) -> dict[str, Decimal]:
    held: dict[str, Decimal] = defaultdict(Decimal)
    for position in portfolio.positions:
        held[_underlying_symbol(portfolio, position.symbol)] += abs(
            portfolio.market_value(position)
        )
    return dict(held)


def _legs_on(portfolio: Portfolio, name: str) -> list[tuple[str, Decimal]]:
    return [
        (p.symbol, p.quantity)
        for p in portfolio.positions
        if _underlying_symbol(portfolio, p.symbol) == name
    ]


def var_rate(*, closes: Sequence[Decimal], confidence: Decimal, holding_days: int) -> Decimal:
    """Historical-simulation VaR as a rate: the ``confidence`` quantile of the absolute
    ``holding_days``-day returns (overlapping windows) of a daily close series."""
    prices = [float(c) for c in closes]
    moves = sorted(
        abs(prices[i + holding_days] / prices[i] - 1)
        for i in range(len(prices) - holding_days)
        if prices[i] > 0
    )
    if not moves:
        return Decimal(0)
    # The smallest observed move not exceeded in ``confidence`` of the windows.
    index = min(len(moves) - 1, max(0, math.ceil(float(confidence) * len(moves)) - 1))
    return Decimal(repr(moves[index])).quantize(RATE_PLACES)


MIN_VAR_HISTORY = 30


def base_parameters_of(portfolio: Portfolio, policy: StoredPolicy) -> dict[str, Decimal]:
    """The parameters the base policy reads: the portfolio's, overridden by the house's."""
    return {
        **portfolio.parameters,
        **{k: Decimal(v) for k, v in policy.parameters.get("base_parameters", {}).items()},
    }


def house_factors_neutral(
    policy: StoredPolicy, *, tiers: Iterable[int], investor_class: str | None
) -> bool:
    """True when no group made of instruments of these risk ``tiers`` is scaled for a client of
    this ``investor_class``: the house rules then only add add-on groups (the book sweep's test
    for whether the base policy's totals can be taken as they are)."""
    parameters = policy.parameters
    tier_table = {int(k): Decimal(v) for k, v in parameters.get("risk_tiers", {}).items()}
    class_table = {k: Decimal(v) for k, v in parameters.get("investor_classes", {}).items()}
    if class_table.get(investor_class or "", Decimal(1)) != 1:
        return False
    return all(tier_table.get(int(tier), Decimal(1)) == 1 for tier in set(tiers) | {1})


def stored_margin_compute(
    portfolio: Portfolio,
    policy: StoredPolicy,
    *,
    label: str | None = None,
    risk_tiers: Mapping[str, int] | None = None,
    investor_class: str | None = None,
    history: Mapping[str, Sequence[Decimal]] | None = None,
) -> MarginResult:
    """Margin ``portfolio`` under a stored policy (see the module's docstring).

    ``risk_tiers``: each instrument's risk tier by symbol (1 if absent); ``history``: daily
    closes per underlying, oldest first, for a VaR add-on. Raises ``PortfolioError`` naming the
    field when something the policy needs is missing.
    """
    result = margin_compute(
        replace(portfolio, parameters=base_parameters_of(portfolio, policy)), policy.base
    )
    return house_rules_apply(
        result,
        portfolio,
        policy,
        label=label,
        risk_tiers=risk_tiers,
        investor_class=investor_class,
        history=history,
    )


def house_rules_apply(
    result: MarginResult,
    portfolio: Portfolio,
    policy: StoredPolicy,
    *,
    label: str | None = None,
    risk_tiers: Mapping[str, int] | None = None,
    investor_class: str | None = None,
    history: Mapping[str, Sequence[Decimal]] | None = None,
) -> MarginResult:
    """The base policy's ``result`` for ``portfolio`` with the house's rules laid over it: its
    groups scaled by tier and investor class, the add-on groups added, the totals re-summed.

    A ``result`` without groups (the book sweep's) carries its totals; it is only right when
    ``house_factors_neutral`` holds, since there is no group to scale.
    """
    parameters = policy.parameters
    currency = portfolio.currency
    tiers = risk_tiers or {}
    tier_table = {int(k): Decimal(v) for k, v in parameters.get("risk_tiers", {}).items()}
    class_table = {k: Decimal(v) for k, v in parameters.get("investor_classes", {}).items()}
    class_factor = class_table.get(investor_class or "", Decimal(1))
    for group in result.groups:
        symbols = {s for s, _ in group.legs}
        symbols |= {_underlying_symbol(portfolio, s) for s in symbols}
        tier = max((int(tiers.get(s, 1)) for s in symbols), default=1)
        factor = tier_table.get(tier, Decimal(1)) * class_factor
        if factor != 1:
            paid = group.fully_paid
            group.initial = round_up(paid + (group.initial - paid) * factor, currency)
            group.maintenance = round_up(paid + (group.maintenance - paid) * factor, currency)
            notes = []
            if tier_table.get(tier, Decimal(1)) != 1:
                notes.append(f"risk tier {tier} x{tier_table[tier]}")
            if class_factor != 1:
                notes.append(f"investor class {investor_class} x{class_factor}")
            group.rule = f"{group.rule}; house: {', '.join(notes)}".lstrip("; ")
    held = _held_by_name(portfolio)
    addons = _addon_groups(portfolio, parameters, held, result.equity, history or {})
    if result.groups:
        groups = [*result.groups, *addons]
        initial = sum((g.initial for g in groups), Decimal(0))
        maintenance = sum((g.maintenance for g in groups), Decimal(0))
    else:
        groups = addons
        initial = result.initial_requirement + sum((g.initial for g in addons), Decimal(0))
        maintenance = result.maintenance_requirement + sum(
            (g.maintenance for g in addons), Decimal(0)
        )
    extra = {
        **result.extra,
        "policy_version": policy.version,
        "policy_base": policy.base,
        "policy_digest": policy.digest,
    }
    if investor_class:
        extra["investor_class"] = investor_class
    return replace(
        result,
        policy=label or policy.name,
        groups=groups,
        initial_requirement=initial,
        maintenance_requirement=maintenance,
        extra=extra,
    )


def _addon_groups(
    portfolio: Portfolio,
    parameters: Mapping[str, Any],
    held: Mapping[str, Decimal],
    equity: Decimal,
    history: Mapping[str, Sequence[Decimal]],
) -> list[Group]:
    currency = portfolio.currency
    groups: list[Group] = []

    def add(strategy: str, name: str, amount: Decimal, rule: str) -> None:
        amount = round_up(amount, currency)
        if amount > 0:
            groups.append(Group(strategy, _legs_on(portfolio, name), amount, amount, rule=rule))

    house = parameters.get("house_addon")
    if house:
        for name, value in sorted(held.items()):
            rate = Decimal(house["by_symbol"].get(name, house["rate"]))
            add("house_addon", name, rate * value, f"house add-on {rate} x market value {value}")
    concentration = parameters.get("concentration")
    if concentration:
        share, rate = Decimal(concentration["share"]), Decimal(concentration["rate"])
        limit = max(equity, Decimal(0)) * share
        for name, value in sorted(held.items()):
            if value > limit:
                add(
                    "concentration",
                    name,
                    (value - limit) * rate,
                    f"concentration: {rate} x ({value} held - {share} x equity {equity})",
                )
    dynamic = parameters.get("dynamic_addon")
    if dynamic:
        floor = Decimal(dynamic["floor"])
        for name, value in sorted(held.items()):
            if dynamic["method"] == "volatility":
                if name not in portfolio.volatility:
                    raise PortfolioError(
                        f"volatility.{name}", "the policy's volatility add-on needs it"
                    )
                sigma = portfolio.volatility[name]
                rate = max(floor, Decimal(dynamic["k"]) * sigma)
                rule = f"volatility add-on max({floor}, {dynamic['k']} x sigma {sigma}) = {rate}"
            else:
                closes = history.get(name, ())
                if len(closes) < MIN_VAR_HISTORY:
                    raise PortfolioError(
                        f"history.{name}",
                        f"the policy's VaR add-on needs at least {MIN_VAR_HISTORY} daily prices",
                    )
                var = var_rate(
                    closes=closes,
                    confidence=Decimal(dynamic["confidence"]),
                    holding_days=dynamic["holding_days"],
                )
                rate = max(floor, var)
                rule = (
                    f"VaR add-on: {dynamic['confidence']} quantile of "
                    f"{dynamic['holding_days']}-day moves over {len(closes)} days = {var}"
                )
            add(f"{dynamic['method']}_addon", name, rate * value, f"{rule} x {value}")
    return groups
