"""A real Celery worker consumes the audit-verification task through the configured broker.

Not eager mode, which only emulates Celery: the message goes through the broker (Redis in
CI via CELERY_BROKER_URL, kombu's filesystem transport by default) to a worker thread that
runs the task against the test database.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from platform_core.audit.models import AuditEvent
from platform_core.audit.services import audit_record
from platform_core.celery import app
from platform_core.tenancy.services import tenant_create
from tests.conftest import as_tenant

pytestmark = [pytest.mark.celery_integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker():
    # The test settings run tasks inline; here every message must go through the broker.
    app.conf.task_always_eager = False
    for option in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = app.conf.broker_transport_options.get(option)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=20
        ) as running:
            yield running
    finally:
        app.conf.task_always_eager = True


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_the_worker_verifies_a_chain_and_records_a_checkpoint(worker):
    from platform_core.audit.tasks import audit_chain_verify_task

    tenant = tenant_create(slug="celery", name="Celery", timezone="UTC", currency="USD")
    with as_tenant(tenant):
        audit_record(tenant=tenant, actor=None, action="test.step")
    audit_chain_verify_task.delay(tenant.pk)

    def checkpoint_written() -> bool:
        with as_tenant(tenant):
            return AuditEvent.objects.filter(action="audit.chain_verified").exists()

    assert wait_for(checkpoint_written)
    with as_tenant(tenant):
        checkpoint = AuditEvent.objects.get(action="audit.chain_verified")
        head = AuditEvent.objects.get(seq=2)
    assert checkpoint.payload == {"events": 2, "head_seq": 2, "head_hash": head.hash}


def test_the_nightly_fan_out_reaches_every_tenant(worker):
    from platform_core.audit.tasks import audit_chains_verify_all_task

    tenants = [
        tenant_create(slug=f"t{n}", name=f"T{n}", timezone="UTC", currency="USD") for n in range(3)
    ]
    audit_chains_verify_all_task.delay()

    def every_tenant_checked() -> bool:
        checked = 0
        for tenant in tenants:
            with as_tenant(tenant):
                checked += AuditEvent.objects.filter(action="audit.chain_verified").exists()
        return checked == len(tenants)

    assert wait_for(every_tenant_checked)
