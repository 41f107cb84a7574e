"""Tenants and memberships: creating them, changing roles, assigning clients to staff."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.text import slugify
from guardian.shortcuts import assign_perm

from platform_core.accounts.models import User
from platform_core.accounts.services import (
    backup_codes_issue,
    email_normalise,
    invitation_send,
    totp_device_create,
    user_create,
)
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.roles import Role


def tenant_create(
    *, slug: str, name: str, timezone: str, currency: str, actor: Any = None, actor_label: str = ""
) -> Tenant:
    tenant = Tenant(slug=slug, name=name, timezone=timezone, base_currency=(currency or "").upper())
    errors: dict[str, list[str]] = {}
    if slug != slugify(slug):
        errors["slug"] = [f"{slug!r} is not a slug: use lower-case letters, digits and hyphens."]
    try:
        tenant.full_clean()
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        try:
            with transaction.atomic():
                tenant.save()
        except IntegrityError:
            raise ValidationError({"slug": [f"Tenant {slug!r} already exists."]}) from None
        with rls_context(tenant=tenant):
            audit_record(
                tenant=tenant,
                actor=actor,
                actor_label=actor_label,
                action="tenant.created",
                object_type="tenant",
                object_id=tenant.pk,
                payload={"slug": slug, "name": name, "timezone": timezone, "currency": currency},
            )
    return tenant


@dataclass
class MemberAdded:
    membership: Membership
    user_created: bool
    initial_password: str | None = None
    otpauth_uri: str | None = None
    backup_codes: list[str] = field(default_factory=list)


def member_add(
    *,
    tenant: Tenant,
    email: str,
    role: str,
    password: str | None = None,
    invite: bool = False,
    actor: Any = None,
    actor_label: str = "",
    request: HttpRequest | None = None,
) -> MemberAdded:
    """Give a person a role in ``tenant``, creating the person if new.

    A new person is either handed credentials by the operator (a password, given or
    generated, and an enrolled TOTP device whose URI and backup codes are shown once) or,
    with ``invite``, e-mailed a set-password link and enrols their second factor at first
    sign-in. An existing person keeps their password and devices.
    """
    if role not in Role.values:
        raise ValidationError({"role": [f"{role!r} is not a role; choose one of {Role.values}."]})
    email = email_normalise(email)
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        created = user is None
        result_password = None
        if user is None:
            if not invite and not password:
                result_password = secrets.token_urlsafe(12)
            user = user_create(email=email, password=password or result_password)
        elif Membership.objects.filter(tenant=tenant, user=user).exists():
            # A business refusal (409), not malformed input: an idempotent API call keeps it.
            raise ApplicationError(
                409, "member_exists", f"{email} is already a member of {tenant.slug}."
            )
        membership = Membership.objects.create(tenant=tenant, user=user, role=role)
        result = MemberAdded(
            membership=membership, user_created=created, initial_password=result_password
        )
        if created and invite:
            transaction.on_commit(lambda: invitation_send(user=user, tenant=tenant))
        elif created:
            device = totp_device_create(user=user, confirmed=True)
            result.otpauth_uri = device.config_url
            result.backup_codes = backup_codes_issue(user=user)
        audit_record(
            tenant=tenant,
            actor=actor,
            actor_label=actor_label,
            action="membership.created",
            object_type="membership",
            object_id=membership.pk,
            payload={"email": email, "role": role, "user_created": created},
            request=request,
        )
    return result


def membership_role_change(
    *,
    membership: Membership,
    role: str,
    actor: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": [f"{role!r} is not a role; choose one of {Role.values}."]})
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        previous = locked.role
        if previous == role:
            return locked
        locked.role = role
        locked.save(update_fields=["role"])
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action="membership.role_changed",
            object_type="membership",
            object_id=locked.pk,
            reason=reason,
            payload={"from": previous, "to": role},
            request=request,
        )
    return locked


def membership_revoke(
    *, membership: Membership, actor: Any, reason: str, request: HttpRequest | None = None
) -> Membership:
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.status == Membership.Status.REVOKED:
            return locked
        locked.status = Membership.Status.REVOKED
        locked.save(update_fields=["status"])
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action="membership.revoked",
            object_type="membership",
            object_id=locked.pk,
            reason=reason,
            request=request,
        )
    return locked


def client_assign(
    *,
    tenant: Tenant,
    actor: Any,
    client: Membership,
    officer: Membership,
    request: HttpRequest | None = None,
) -> None:
    """Let one staff member review one client's file (a django-guardian object permission)."""
    if client.tenant_id != tenant.pk or officer.tenant_id != tenant.pk:
        raise ValidationError({"client": ["Both memberships must belong to this tenant."]})
    if client.role != Role.CLIENT:
        raise ValidationError({"client": ["Only a client's file can be assigned."]})
    if not officer.is_staff_role:
        raise ValidationError({"officer": ["Client files are assigned to staff only."]})
    with transaction.atomic():
        assign_perm("tenancy.review_client", officer.user, client)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="client.assigned",
            object_type="membership",
            object_id=client.pk,
            payload={"officer_membership": officer.pk},
            request=request,
        )
