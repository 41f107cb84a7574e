"""Checking a password, with throttling and an audit trail of every attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest

from platform_core.accounts.models import User
from platform_core.accounts.throttle import (
    login_attempt_allowed,
    login_failure_record,
    login_success_reset,
)
from platform_core.audit.services import audit_record
from platform_core.tenancy.models import Membership
from platform_core.tenancy.rls import rls_context


@dataclass(frozen=True)
class PasswordCheck:
    user: User | None
    throttled: bool


def audit_tenant_of(user: Any) -> Any:
    """Where a person's sign-in events go: their default tenant's chain, else the platform's."""
    if user is None:
        return None
    with rls_context(user=user):
        membership = (
            Membership.objects.filter(user=user, status=Membership.Status.ACTIVE)
            .select_related("tenant")
            .order_by("id")
            .first()
        )
    return membership.tenant if membership else None


def sign_in_audit(
    *,
    request: HttpRequest,
    user: Any,
    action: str,
    password_verified: bool,
    tenant: Any = None,
    actor_label: str = "",
    **payload: Any,
) -> None:
    """Record a sign-in step about ``user`` in ``tenant``'s chain (by default the request's
    tenant, else the person's default tenant, else the platform chain). The person is the
    actor only once their password was verified; before that, the label says who tried."""
    tenant = tenant or getattr(request, "tenant", None) or audit_tenant_of(user)
    with rls_context(tenant=tenant):
        audit_record(
            tenant=tenant,
            actor=user if password_verified else None,
            actor_label=actor_label,
            action=action,
            object_type="user",
            object_id=user.pk if user is not None else "",
            payload=payload,
            request=request,
        )


def password_check(
    *, request: HttpRequest, email: str, password: str, channel: str
) -> PasswordCheck:
    ip = request.META.get("REMOTE_ADDR")
    email = (email or "").strip().lower()
    if not login_attempt_allowed(email=email, ip=ip):
        known = User.objects.filter(email__iexact=email).first()
        sign_in_audit(
            request=request,
            user=known,
            action="auth.login_throttled",
            password_verified=False,
            actor_label=email[:254],
            channel=channel,
        )
        return PasswordCheck(user=None, throttled=True)
    user = authenticate(request, username=email, password=password)
    if user is None:
        login_failure_record(email=email, ip=ip)
        known = User.objects.filter(email__iexact=email).first()
        sign_in_audit(
            request=request,
            user=known,
            action="auth.login_failed",
            password_verified=False,
            actor_label=email[:254],
            channel=channel,
        )
        return PasswordCheck(user=None, throttled=False)
    login_success_reset(email=email)
    return PasswordCheck(user=user, throttled=False)  # type: ignore[arg-type]
