"""Row-level security: the database's wall between tenants, second to the application's.

Every tenant-owned table has ENABLE + FORCE ROW LEVEL SECURITY and a policy comparing its
``tenant_id`` with the transaction-local setting ``app.tenant_id``. Entry points (the request
middleware, the API base view, Celery tasks, management commands) open the context; a query
outside any context sees no tenant rows at all.

Settings are made with ``set_config(..., is_local => true)`` only, so they end with the
transaction and never leak through pooled connections. ``rls_context`` restores the previous
values when its block ends (a savepoint rollback restores them by itself), so nested scopes
never outlive their block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, migrations, transaction

TENANT_SETTING = "app.tenant_id"
USER_SETTING = "app.user_id"
_KEEP: Any = object()

# The SQL the policies compare with; NULLIF makes "no context" match no row.
CURRENT_TENANT_SQL = f"NULLIF(current_setting('{TENANT_SETTING}', true), '')::bigint"
CURRENT_USER_SQL = f"NULLIF(current_setting('{USER_SETTING}', true), '')::bigint"


def _read(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        return cursor.fetchone()[0] or ""


def _write(name: str, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def _as_setting(value: Any) -> str:
    if value is None:
        return ""
    return str(int(getattr(value, "pk", value)))


def rls_set(*, tenant: Any = _KEEP, user: Any = _KEEP) -> None:
    """Set the context until the end of the current transaction (the caller restores it)."""
    if not connection.in_atomic_block:
        raise RuntimeError("Row-level-security context needs a transaction (transaction.atomic).")
    if tenant is not _KEEP:
        _write(TENANT_SETTING, _as_setting(tenant))
    if user is not _KEEP:
        _write(USER_SETTING, _as_setting(user))


@contextmanager
def rls_context(*, tenant: Any = _KEEP, user: Any = _KEEP) -> Iterator[None]:
    """Act as ``tenant`` (a Tenant, an id or None) and/or ``user`` inside the block."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        # The outermost block's transaction ends with the block, and the settings with it.
        previous = (
            {}
            if outermost
            else {
                name: _read(name)
                for name, value in ((TENANT_SETTING, tenant), (USER_SETTING, user))
                if value is not _KEEP
            }
        )
        rls_set(tenant=tenant, user=user)
        yield
        # On an exception the savepoint rollback restores the settings by itself.
        for name, value in previous.items():
            _write(name, value)


def current_tenant_id() -> int | None:
    value = _read(TENANT_SETTING)
    return int(value) if value else None


# --- migration operations -------------------------------------------------------------


def tenant_policy(
    table: str, *, using: str | None = None, check: str | None = None
) -> migrations.RunSQL:
    """ENABLE + FORCE row security on ``table`` with the tenant policy (or a given one)."""
    using = using or f"tenant_id = {CURRENT_TENANT_SQL}"
    check = check or f"tenant_id = {CURRENT_TENANT_SQL}"
    return migrations.RunSQL(
        f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check});
        """,
        reverse_sql=f"""
        DROP POLICY IF EXISTS tenant_isolation ON {table};
        ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
        ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
        """,
    )


def tenant_foreign_key(
    table: str, column: str, target_table: str, *, name: str | None = None
) -> migrations.RunSQL:
    """A composite foreign key (tenant_id, column) -> target (tenant_id, id).

    Foreign-key checks ignore row security, so a plain key could point at another tenant's
    row; the composite key makes the database refuse it. The target needs a unique
    (tenant_id, id) constraint.
    """
    name = name or f"{table}_{column}_same_tenant"
    return migrations.RunSQL(
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (tenant_id, {column}) "
        f"REFERENCES {target_table} (tenant_id, id) DEFERRABLE INITIALLY DEFERRED;",
        reverse_sql=f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name};",
    )
