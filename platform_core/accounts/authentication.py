"""Checking a password, with throttling and an audit trail of every attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest

from platform_core.accounts.models import User
from platform_core.accounts.throttle import (
    login_attempt_allowed,
    login_failure_record,
    login_success_reset,
)
from platform_core.audit.services import audit_record
from platform_core.tenancy.models import Membership


@dataclass(frozen=True)
class PasswordCheck:
    user: User | None
    throttled: bool


def audit_tenant_of(user: Any) -> Any:
    """Where a person's sign-in events go: their default tenant's chain, else the platform's."""
    if user is None:
        return None
    membership = (
        Membership.objects.filter(user=user, status=Membership.Status.ACTIVE)
        .select_related("tenant")
        .order_by("id")
        .first()
    )
    return membership.tenant if membership else None


def password_check(
    *, request: HttpRequest, email: str, password: str, channel: str
) -> PasswordCheck:
    ip = request.META.get("REMOTE_ADDR")
    email = (email or "").strip().lower()
    if not login_attempt_allowed(email=email, ip=ip):
        known = User.objects.filter(email__iexact=email).first()
        with transaction.atomic():
            audit_record(
                tenant=audit_tenant_of(known),
                actor=None,
                actor_label=email[:254],
                action="auth.login_throttled",
                object_type="user",
                object_id=known.pk if known else "",
                payload={"channel": channel},
                request=request,
            )
        return PasswordCheck(user=None, throttled=True)
    user = authenticate(request, username=email, password=password)
    if user is None:
        login_failure_record(email=email, ip=ip)
        known = User.objects.filter(email__iexact=email).first()
        with transaction.atomic():
            audit_record(
                tenant=audit_tenant_of(known),
                actor=None,
                actor_label=email[:254],
                action="auth.login_failed",
                object_type="user",
                object_id=known.pk if known else "",
                payload={"channel": channel},
                request=request,
            )
        return PasswordCheck(user=None, throttled=False)
    login_success_reset(email=email)
    return PasswordCheck(user=user, throttled=False)  # type: ignore[arg-type]
