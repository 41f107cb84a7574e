"""Migration operations that make a table append-only in the database.

The triggers state the intent and stop the ORM and any role; missing UPDATE/DELETE/TRUNCATE
privileges for the application role are the guarantee (see docs/database-roles.md). The test
suite's flush, run by the owner, switches the TRUNCATE triggers off for its own statement.
Later apps use ``append_only(table)`` in their first migration for each such table.
"""

from django.db import migrations

REFUSE_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION platform_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Correct with a new, compensating record.';
END;
$$;
"""


def refuse_function() -> migrations.RunSQL:
    return migrations.RunSQL(
        REFUSE_FUNCTION_SQL, reverse_sql="DROP FUNCTION IF EXISTS platform_refuse_change();"
    )


def append_only(table: str) -> migrations.RunSQL:
    """Refuse UPDATE and DELETE (row trigger) and TRUNCATE (statement trigger) on ``table``."""
    trigger = f"{table}_append_only"
    return migrations.RunSQL(
        f"""
        CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION platform_refuse_change();
        CREATE TRIGGER {trigger}_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION platform_refuse_change();
        """,
        reverse_sql=f"""
        DROP TRIGGER IF EXISTS {trigger}_truncate ON {table};
        DROP TRIGGER IF EXISTS {trigger} ON {table};
        """,
    )
