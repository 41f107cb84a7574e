"""Django admin stays for raw records: every append-only table is there, read-only.

The database is the source of truth: a table is append-only when it carries the
``<table>_append_only`` trigger (``platform_core.audit.append_only``); the admin must offer
no add, change or delete on its model, for a superuser too.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client, RequestFactory

from platform_core.accounts.models import User
from platform_core.admin_site import platform_admin_site
from tests.conftest import TenantPeople

pytestmark = pytest.mark.django_db


def _append_only_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE t.tgname = c.relname || '_append_only'"
        )
        return {row[0] for row in cursor.fetchall()}


def test_every_append_only_model_is_in_the_admin_and_read_only() -> None:
    tables = _append_only_tables()
    assert {"ledger_journalentry", "ledger_posting", "audit_auditevent"} <= tables
    models = [m for m in apps.get_models() if m._meta.db_table in tables]
    assert len(models) == len(tables), tables - {m._meta.db_table for m in models}
    superuser = User(email="root@example.com", is_staff=True, is_superuser=True, is_active=True)
    request = RequestFactory().get("/")
    request.user = superuser

    unregistered, writable = [], []
    for model in models:
        model_admin = platform_admin_site._registry.get(model)
        if model_admin is None:
            unregistered.append(model._meta.label)
            continue
        if (
            model_admin.has_add_permission(request)
            or model_admin.has_change_permission(request)
            or model_admin.has_delete_permission(request)
        ):
            writable.append(model._meta.label)
        assert model_admin.has_view_permission(request)

    assert unregistered == []
    assert writable == []


def test_a_superuser_cannot_add_a_journal_entry_through_the_admin(
    client: Client, acme: TenantPeople
) -> None:
    """The admin is behind a verified second factor; even then there is no add page."""
    from tests.conftest import sign_in

    admin_person = acme.admin
    User.objects.filter(pk=admin_person.user.pk).update(is_staff=True, is_superuser=True)
    sign_in(client, admin_person)

    listing = client.get("/admin/ledger/journalentry/")
    add = client.get("/admin/ledger/journalentry/add/")

    assert listing.status_code == 200
    assert b"/admin/ledger/journalentry/add/" not in listing.content
    assert add.status_code == 403
