"""Reaching one tenant object by id: missing and not-yours are the same 404."""

from __future__ import annotations

from typing import TypeVar

from django.db import models
from django.http import Http404

from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped

M = TypeVar("M", bound=models.Model)


def access_object_by_id(model: type[M], *, tenant: Tenant, object_id: object) -> M:
    """Fetch ``model`` row ``object_id`` of ``tenant`` or raise the one 404."""
    try:
        return tenant_scoped(model, tenant=tenant).get(pk=int(str(object_id)))
    except (model.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404(f"No {model._meta.verbose_name} with this id.") from None


def access_membership_by_id(
    *, tenant: Tenant, actor_membership: Membership, membership_id: object
) -> Membership:
    """Staff see any membership of their tenant; a client sees only their own."""
    membership = access_object_by_id(Membership, tenant=tenant, object_id=membership_id)
    if actor_membership.role == Role.CLIENT and membership.pk != actor_membership.pk:
        raise Http404("No membership with this id.")
    return membership
