"""Celery tasks of the screening app: thin wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from kyc.screening.hooks import subject_source
from kyc.screening.services import list_version_delta_screen, subjects_rescreen
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context

RESCREEN_CHUNK = 500


@shared_task(acks_late=True)
def list_version_delta_screen_task(version_id: int) -> int:
    """Screen a new list version's changes against every tenant's clients (idempotent)."""
    return list_version_delta_screen(version_id=version_id).subjects_rescreened


@shared_task(acks_late=True)
def subjects_rescreen_task(
    tenant_id: int, refs: list[str] | None = None, reason: str = "rescreen"
) -> int:
    """Screen clients of a tenant again (all, or ``refs``), each storing a new run."""
    tenant = Tenant.objects.get(pk=tenant_id)
    return subjects_rescreen(tenant=tenant, refs=refs, reason=reason)


@shared_task
def subjects_rescreen_fan_out_task(tenant_id: int, reason: str = "rescreen") -> int:
    """A full re-screen spread over the workers: one task per 500 clients; returns the count."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        refs = [subject.ref for subject in subject_source.subjects(tenant, None)]
    for start in range(0, len(refs), RESCREEN_CHUNK):
        subjects_rescreen_task.delay(tenant_id, refs[start : start + RESCREEN_CHUNK], reason)
    return len(refs)
