"""The margin policy a client signs: read from the risk app's active policy version.

Disclosures and agreements are rendered from these terms, and a signature pins the policy's
name, version and digest. A policy with another digest is materially new: the client signs
again before drawing more credit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from platform_core.tenancy.models import Tenant

LADDER_STEPS = ("warning", "margin_call", "deleverage", "liquidation")


@dataclass(frozen=True)
class PolicyTerms:
    name: str
    version: str
    digest: str
    base: str
    leverage_cap: Decimal
    ladder: dict[str, Decimal]  # ratio of equity to the maintenance requirement, per step
    call_deadline_business_days: int

    def as_document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "base": self.base,
            "leverage_cap": str(self.leverage_cap),
            "ladder": {step: str(value) for step, value in self.ladder.items()},
            "call_deadline_business_days": self.call_deadline_business_days,
        }


def policy_terms_of(version: Any) -> PolicyTerms:
    """The terms of a risk ``MarginPolicyVersion`` (or anything with its fields)."""
    ladder = version.ladder or {}
    return PolicyTerms(
        name=str(version.name),
        version=str(version.version),
        digest=str(version.digest),
        base=str(version.base),
        leverage_cap=Decimal(str(version.leverage_cap)),
        ladder={step: Decimal(str(ladder[step])) for step in LADDER_STEPS if step in ladder},
        call_deadline_business_days=int(version.call_deadline_business_days),
    )


def policy_terms_active(*, tenant: Tenant) -> PolicyTerms | None:
    """The tenant's active margin policy, or None when it has none (nothing can be signed)."""
    try:
        from risk.selectors import policy_active
    except ImportError:  # the risk app's policies are not installed in this build
        return None
    version = policy_active(tenant=tenant)
    return policy_terms_of(version) if version is not None else None
