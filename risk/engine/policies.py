"""The built-in policies by name: each turns a portfolio into a ``MarginResult``."""

from __future__ import annotations

from collections.abc import Callable

from risk.engine.portfolio import Portfolio, PortfolioError
from risk.engine.result import MarginResult

Policy = Callable[[Portfolio], MarginResult]

# Filled by the policy modules (risk/engine/cboe.py, scenario.py, rzrq.py) when imported.
POLICIES: dict[str, Policy] = {}


def policy_register(name: str) -> Callable[[Policy], Policy]:
    def register(policy: Policy) -> Policy:
        if name in POLICIES:
            raise ValueError(f"policy {name!r} is registered twice")
        POLICIES[name] = policy
        return policy

    return register


def margin_compute(portfolio: Portfolio, policy: str = "cboe-strategy") -> MarginResult:
    """The one entry point: margin ``portfolio`` under the built-in ``policy``."""
    from risk.engine import load_policies

    load_policies()
    if policy not in POLICIES:
        raise PortfolioError(
            "policy", f"unknown policy {policy!r}; choose one of {', '.join(sorted(POLICIES))}"
        )
    return POLICIES[policy](portfolio)
