"""Tenant-scoped reads. Views and APIs read tenant data only through functions like these."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from django.db.models import QuerySet

from platform_core.tenancy.models import Membership, Tenant

M = TypeVar("M", bound=models.Model)


def tenant_scoped(model_or_queryset: type[M] | QuerySet[M], *, tenant: Tenant) -> QuerySet[M]:
    """The one way to start a query on tenant data: every row of it belongs to ``tenant``."""
    if tenant is None or getattr(tenant, "pk", None) is None:
        raise ValueError("A tenant is required to read tenant data.")
    queryset = (
        model_or_queryset
        if isinstance(model_or_queryset, QuerySet)
        else model_or_queryset._default_manager.all()
    )
    return queryset.filter(tenant=tenant)


def membership_list(*, tenant: Tenant, role: str | None = None) -> QuerySet[Membership]:
    queryset = tenant_scoped(Membership, tenant=tenant).select_related("user")
    if role:
        queryset = queryset.filter(role=role)
    return queryset.order_by("id")


def memberships_of_user(*, user: Any) -> QuerySet[Membership]:
    """A person's active memberships in active tenants; the first is their default."""
    return (
        Membership.objects.filter(
            user=user, status=Membership.Status.ACTIVE, tenant__status=Tenant.Status.ACTIVE
        )
        .select_related("tenant")
        .order_by("id")
    )
