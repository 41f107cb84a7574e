"""The audit trail: chained per tenant, append-only in the database, verifiable from outside."""

from __future__ import annotations

import itertools
import threading

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from platform_core.audit.chain import GENESIS_HASH, canonical_json, sha256_hex
from platform_core.audit.models import AuditEvent
from platform_core.audit.selectors import audit_chain_verify
from platform_core.audit.services import audit_record
from platform_core.tenancy.rls import rls_set
from platform_core.tenancy.services import membership_role_change, tenant_create
from tests.conftest import as_owner, as_tenant


@pytest.fixture
def tenant(db):
    tenant = tenant_create(slug="chain", name="Chain", timezone="UTC", currency="USD")
    rls_set(tenant=tenant)
    return tenant


@pytest.mark.django_db
def test_each_event_links_to_the_one_before(tenant):
    for n in range(3):
        audit_record(tenant=tenant, actor=None, action="test.step", payload={"n": n})
    events = list(AuditEvent.objects.filter(tenant=tenant).order_by("seq"))
    # tenant_create wrote the first event of the chain.
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert events[-1].payload_digest == sha256_hex(canonical_json({"n": 2}))
    assert audit_chain_verify(tenant_id=tenant.pk) == (4, None)


@pytest.mark.django_db
def test_chains_of_two_tenants_are_independent(tenant):
    other = tenant_create(slug="other", name="Other", timezone="UTC", currency="USD")
    with as_tenant(other):
        audit_record(tenant=other, actor=None, action="test.other")
        assert list(AuditEvent.objects.values_list("seq", flat=True).order_by("seq")) == [1, 2]
    assert AuditEvent.objects.filter(tenant=tenant).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET reason = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_the_application_role_may_not_update_delete_or_truncate(tenant, statement):
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.filter(tenant=tenant, reason="").count() == 1


@pytest.mark.django_db
def test_the_orm_cannot_edit_an_event(tenant):
    event = AuditEvent.objects.get(tenant=tenant)
    event.reason = "rewritten"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "statement", ["UPDATE audit_auditevent SET reason = 'x'", "DELETE FROM audit_auditevent"]
)
def test_the_trigger_refuses_even_the_owner(statement):
    tenant = tenant_create(slug="chain", name="Chain", timezone="UTC", currency="USD")
    with pytest.raises(psycopg.Error, match="append-only"):
        as_owner(statement, tenant=tenant)


def _tamper(tenant, event_id: int, sql: str) -> None:
    """What someone with the owner's rights could do: switch the trigger off and edit."""
    as_owner(
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only",
        (sql, [event_id]),
        "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only",
        tenant=tenant,
    )


@pytest.mark.django_db
def test_audit_verify_passes_on_an_intact_chain(tenant, capsys):
    audit_record(tenant=tenant, actor=None, action="test.step")
    call_command("audit_verify", "--tenant", "chain")
    assert "2 events, chain intact" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("sql", "first_broken", "problem"),
    [
        ("UPDATE audit_auditevent SET reason = 'edited' WHERE id = %s", 3, "was altered"),
        ("UPDATE audit_auditevent SET payload = '{\"n\": 99}' WHERE id = %s", 3, "payload"),
        # A deleted event shows as a gap where the next one takes its place.
        ("DELETE FROM audit_auditevent WHERE id = %s", 4, "out of sequence"),
    ],
)
def test_audit_verify_names_the_first_broken_event(sql, first_broken, problem):
    tenant = tenant_create(slug="chain", name="Chain", timezone="UTC", currency="USD")
    with as_tenant(tenant):
        for n in range(4):
            audit_record(tenant=tenant, actor=None, action="test.step", payload={"n": n})
        victim = AuditEvent.objects.get(tenant=tenant, seq=3)
    _tamper(tenant, victim.pk, sql)
    with pytest.raises(CommandError) as excinfo:
        call_command("audit_verify", "--tenant", "chain")
    message = str(excinfo.value)
    assert f"event #{first_broken} " in message
    assert problem in message


@pytest.mark.django_db
def test_audit_verify_rejects_an_unknown_tenant(tenant):
    with pytest.raises(CommandError, match="Unknown tenant 'nope'"):
        call_command("audit_verify", "--tenant", "nope")


@pytest.mark.django_db
def test_a_role_change_is_audited_with_who_what_and_why(acme):
    membership_role_change(
        membership=acme.risk.membership,
        role="operations",
        actor=acme.admin.user,
        reason="moved to the operations desk",
    )
    event = AuditEvent.objects.filter(tenant=acme.tenant, action="membership.role_changed").get()
    assert event.actor == acme.admin.user
    assert event.object_id == str(acme.risk.membership.pk)
    assert event.payload == {"from": "risk_officer", "to": "operations"}
    assert event.reason == "moved to the operations desk"


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    tenant = tenant_create(slug="busy", name="Busy", timezone="UTC", currency="USD")
    writers, per_writer = 6, 15
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            barrier.wait()
            for n in range(per_writer):
                with as_tenant(tenant):
                    audit_record(
                        tenant=tenant, actor=None, action="test.race", payload={"w": worker, "n": n}
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with as_tenant(tenant):
        seqs = list(
            AuditEvent.objects.filter(tenant=tenant).order_by("seq").values_list("seq", flat=True)
        )
        assert seqs == list(range(1, writers * per_writer + 2))
        assert audit_chain_verify(tenant_id=tenant.pk) == (writers * per_writer + 1, None)
