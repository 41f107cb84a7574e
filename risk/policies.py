"""Stored margin policies: versions per tenant, four-eyes activation (writes).

A risk officer writes a draft version (``policy_version_create``); activation is asked for
as a ``risk.policy_activate`` approval pinning the version's digest, and runs only when a
second risk officer approves (``policy_activate_execute``): the version becomes active, the
one active before it retired. Active and retired versions are frozen by the database.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.selectors import tenant_scoped
from risk.engine.policies import margin_compute
from risk.engine.portfolio import PortfolioError, portfolio_parse
from risk.models import MarginPolicyVersion
from risk.stored_policy import (
    DEFAULT_CALL_DEADLINE,
    DEFAULT_LADDER,
    PolicyError,
    StoredPolicy,
    base_normalise,
    ladder_normalise,
    parameters_normalise,
)

ACTIVATE_ACTION = "risk.policy_activate"

# A small portfolio the base policy can margin, to check the base parameters it is given.
_SAMPLE = {
    "currency": "USD",
    "as_of": "2026-01-02",
    "cash": "10000",
    "instruments": [
        {"symbol": "S", "kind": "equity", "price": "100"},
        {
            "symbol": "S C",
            "kind": "option",
            "underlying": "S",
            "right": "call",
            "strike": "110",
            "expiry": "2026-03-20",
            "multiplier": "100",
            "price": "2",
        },
    ],
    "positions": [{"symbol": "S", "quantity": "100"}, {"symbol": "S C", "quantity": "-1"}],
    "volatility": {"S": "0.3"},
}


def stored_policy_of(version: MarginPolicyVersion) -> StoredPolicy:
    return StoredPolicy(
        name=version.name,
        version=version.version,
        base=version.base,
        parameters=version.parameters,
        ladder=version.ladder,
        call_deadline_business_days=version.call_deadline_business_days,
        leverage_cap=version.leverage_cap,
    )


def _base_parameters_check(base: str, parameters: dict[str, Any]) -> None:
    overrides = parameters.get("base_parameters") or {}
    if not overrides:
        return
    portfolio = portfolio_parse(_SAMPLE)
    portfolio = replace(portfolio, parameters={k: Decimal(v) for k, v in overrides.items()})
    try:
        margin_compute(portfolio, base)
    except PortfolioError as exc:
        field = exc.field.removeprefix("parameters.")
        raise PolicyError(f"parameters.base_parameters.{field}", exc.problem) from None


def policy_content_normalise(
    *,
    name: Any,
    base: Any,
    parameters: Any,
    ladder: Any,
    call_deadline_business_days: Any,
    leverage_cap: Any,
) -> dict[str, Any]:
    """Check a policy's content; raises ``PolicyError`` naming the first bad field."""
    name = str(name or "").strip()
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise PolicyError("name", "letters, digits, - and _ only, at most 64")
    base = base_normalise(base)
    parameters = parameters_normalise(parameters)
    _base_parameters_check(base, parameters)
    ladder = ladder_normalise(ladder if ladder is not None else DEFAULT_LADDER)
    days = call_deadline_business_days
    if days is None:
        days = DEFAULT_CALL_DEADLINE
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 30:
        raise PolicyError("call_deadline_business_days", "a whole number from 0 to 30")
    try:
        cap = Decimal(str(leverage_cap))
    except ArithmeticError:
        raise PolicyError("leverage_cap", f"{leverage_cap!r} is not a number") from None
    if not cap.is_finite() or cap <= 0 or cap > 100:
        raise PolicyError("leverage_cap", "must be greater than 0 and at most 100")
    return {
        "name": name,
        "base": base,
        "parameters": parameters,
        "ladder": ladder,
        "call_deadline_business_days": days,
        "leverage_cap": cap.quantize(Decimal("0.0001")),
    }


def _invalid(error: PolicyError) -> ApplicationError:
    return ApplicationError(
        400, "invalid", "The request has invalid fields.", {error.field: [error.problem]}
    )


def policy_version_create(
    *,
    tenant: Tenant,
    actor: Any,
    name: str,
    base: str,
    parameters: dict[str, Any] | None = None,
    ladder: dict[str, Any] | None = None,
    call_deadline_business_days: int | None = None,
    leverage_cap: Any = "4",
    request: HttpRequest | None = None,
) -> MarginPolicyVersion:
    """A new draft version of the tenant's policy ``name`` (numbered after the last one)."""
    try:
        content = policy_content_normalise(
            name=name,
            base=base,
            parameters=parameters or {},
            ladder=ladder,
            call_deadline_business_days=call_deadline_business_days,
            leverage_cap=leverage_cap,
        )
    except PolicyError as error:
        raise _invalid(error) from None
    with transaction.atomic():
        # One writer per tenant and name at a time picks the next number.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"risk.policy:{tenant.pk}:{content['name']}"],
            )
        last = (
            tenant_scoped(MarginPolicyVersion, tenant=tenant)
            .filter(name=content["name"])
            .aggregate(last=Max("version"))["last"]
        )
        version = MarginPolicyVersion(tenant=tenant, version=(last or 0) + 1, **content)
        version.digest = stored_policy_of(version).digest
        version.created_by = actor if getattr(actor, "pk", None) else None
        version.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="risk.policy.drafted",
            object_type="margin_policy",
            object_id=version.pk,
            payload={"name": version.name, "version": version.version, "digest": version.digest},
            request=request,
        )
    return version


def policy_activate_validate(*, tenant: Tenant, params: dict[str, Any]) -> dict[str, Any]:
    """``{"policy_id": id}``: a draft of this tenant; the approval pins its digest."""
    raw = params.get("policy_id")
    try:
        policy_id = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({"policy_id": ["A policy version id is required."]}) from None
    version = tenant_scoped(MarginPolicyVersion, tenant=tenant).filter(pk=policy_id).first()
    if version is None:
        raise ValidationError({"policy_id": ["No policy version with this id."]})
    if version.status != MarginPolicyVersion.Status.DRAFT:
        raise ValidationError({"policy_id": [f"This version is {version.status}, not a draft."]})
    return {"policy_id": version.pk, "digest": version.digest}


def policy_activate_execute(
    *, tenant: Tenant, params: dict[str, Any], maker: Any, approver: Any
) -> dict[str, Any]:
    """A second risk officer approved: activate the pinned version, retire the active one."""
    version = (
        tenant_scoped(MarginPolicyVersion, tenant=tenant)
        .select_for_update()
        .filter(pk=params["policy_id"])
        .first()
    )
    if version is None or version.status != MarginPolicyVersion.Status.DRAFT:
        raise ApplicationError(409, "policy_not_draft", "This version is no longer a draft.")
    if version.digest != params.get("digest") or stored_policy_of(version).digest != version.digest:
        raise ApplicationError(
            409, "policy_changed", "The version changed since its activation was asked for."
        )
    now = timezone.now()
    previous = (
        tenant_scoped(MarginPolicyVersion, tenant=tenant)
        .select_for_update()
        .filter(status=MarginPolicyVersion.Status.ACTIVE)
        .first()
    )
    if previous is not None:
        previous.status = MarginPolicyVersion.Status.RETIRED
        previous.retired_at = now
        previous.save(update_fields=["status", "retired_at"])
    version.status = MarginPolicyVersion.Status.ACTIVE
    version.activated_at = now
    version.save(update_fields=["status", "activated_at"])
    audit_record(
        tenant=tenant,
        actor=approver,
        action="risk.policy.activated",
        object_type="margin_policy",
        object_id=version.pk,
        payload={
            "name": version.name,
            "version": version.version,
            "digest": version.digest,
            "retired": previous.pk if previous else None,
            "asked_by": maker.pk,
        },
    )
    return {
        "policy_id": version.pk,
        "digest": version.digest,
        "retired_policy_id": previous.pk if previous else None,
    }
