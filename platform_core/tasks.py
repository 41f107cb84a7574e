"""Platform-level Celery tasks."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from platform_core.hooks import LISTENER_HOOKS, listener_run


@shared_task(bind=True, max_retries=None)
def hook_listener_task(self: Any, hook_name: str, path: str, payload: dict[str, Any]) -> None:
    """Run one listener in a worker: a background listener, or one that failed after commit;
    a failure is retried, backing off 2, 4, 8 … seconds."""
    hook = LISTENER_HOOKS[hook_name]
    try:
        listener_run(hook_name, path, payload)
    except Exception as exc:
        if self.request.retries >= hook.max_retries:
            raise
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


def tenants_fan_out(task: Any, *, include_closed: bool = True) -> int:
    """Queue ``task(tenant_id)`` once per tenant (the periodic jobs' fan-out); return the count."""
    from platform_core.tenancy.models import Tenant

    tenants = Tenant.objects.all()
    if not include_closed:
        tenants = tenants.exclude(status=Tenant.Status.CLOSED)
    tenant_ids = list(tenants.values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        task.delay(tenant_id)
    return len(tenant_ids)
