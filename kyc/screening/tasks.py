"""Celery tasks of the screening app: thin wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from kyc.screening.services import list_version_delta_screen, subjects_rescreen
from platform_core.tenancy.models import Tenant


@shared_task(acks_late=True)
def list_version_delta_screen_task(version_id: int) -> int:
    """Screen a new list version's changes against every tenant's clients (idempotent)."""
    return list_version_delta_screen(version_id=version_id).subjects_rescreened


@shared_task(acks_late=True)
def subjects_rescreen_task(tenant_id: int, reason: str = "rescreen") -> int:
    """Screen every client of a tenant again, each storing a new run."""
    tenant = Tenant.objects.get(pk=tenant_id)
    return subjects_rescreen(tenant=tenant, reason=reason)
