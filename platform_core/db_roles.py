"""The three database roles and their privileges.

- owner (``platform_owner``): owns the schema, runs migrations; nothing else connects as it.
- application (``platform_app``): what web, worker and beat connect as. Owns nothing, cannot
  bypass row security, and has no UPDATE, DELETE or TRUNCATE on append-only tables (those
  with a ``*_append_only`` trigger) nor write access to the migration history.
- reporting (``platform_reporting``): reads across tenants for auditors' exports (BYPASSRLS),
  writes nothing.

Create them once per server with a superuser (the embedded server does it by itself)::

    python -m platform_core.db_roles --superuser-url postgresql://admin@host/postgres \\
        --database platform

``privileges_apply`` runs after every ``migrate`` (as the owner), so new tables get their
grants in the same step that creates them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

OWNER_ROLE = "platform_owner"
APP_ROLE = "platform_app"
REPORTING_ROLE = "platform_reporting"
APPEND_ONLY_TRIGGER_SUFFIX = "_append_only"


def _quote(identifier: str) -> str:
    if not identifier.replace("_", "").isalnum():
        raise ValueError(f"{identifier!r} is not a plain role or database name")
    return f'"{identifier}"'


def roles_create(
    cursor: Any,
    *,
    database: str,
    owner: str = OWNER_ROLE,
    app: str = APP_ROLE,
    reporting: str = REPORTING_ROLE,
) -> None:
    """Create the roles if missing and give the database to the owner. Needs a superuser."""
    attributes = {
        owner: "LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOBYPASSRLS",
        app: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT",
        reporting: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS NOINHERIT",
    }
    for role, attrs in attributes.items():
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        cursor.execute(f"{verb} ROLE {_quote(role)} {attrs}")
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
    if not cursor.fetchone():
        cursor.execute(f"CREATE DATABASE {_quote(database)} OWNER {_quote(owner)}")
    else:
        cursor.execute(f"ALTER DATABASE {_quote(database)} OWNER TO {_quote(owner)}")
    for role in (app, reporting):
        cursor.execute(f"GRANT CONNECT ON DATABASE {_quote(database)} TO {_quote(role)}")


def append_only_tables(cursor: Any) -> list[str]:
    cursor.execute(
        """
        SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND t.tgname LIKE %s
        ORDER BY c.relname
        """,
        [f"%{APPEND_ONLY_TRIGGER_SUFFIX}"],
    )
    return [row[0] for row in cursor.fetchall()]


def privileges_apply(cursor: Any, *, app: str, reporting: str | None) -> None:
    """Grant the application and reporting roles exactly what they may do. Run as the owner."""
    schema = "current_schema()"
    cursor.execute("SELECT current_schema()")
    schema = _quote(cursor.fetchone()[0])
    app_q = _quote(app)
    cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {app_q}")
    cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {app_q}")
    cursor.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app_q}"
    )
    cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app_q}")
    cursor.execute(f"REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {app_q}")
    for table in append_only_tables(cursor):
        cursor.execute(f"REVOKE UPDATE, DELETE ON {_quote(table)} FROM {app_q}")
    if reporting:
        reporting_q = _quote(reporting)
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {reporting_q}")
        cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {reporting_q}")
        cursor.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {reporting_q}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Create the platform's database roles.")
    parser.add_argument("--superuser-url", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--owner", default=OWNER_ROLE)
    parser.add_argument("--app", default=APP_ROLE)
    parser.add_argument("--reporting", default=REPORTING_ROLE)
    options = parser.parse_args(argv)
    import psycopg

    with psycopg.connect(options.superuser_url, autocommit=True) as connection:
        with connection.cursor() as cursor:
            roles_create(
                cursor,
                database=options.database,
                owner=options.owner,
                app=options.app,
                reporting=options.reporting,
            )
    print(f"roles {options.owner}, {options.app}, {options.reporting} ready on {options.database}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
