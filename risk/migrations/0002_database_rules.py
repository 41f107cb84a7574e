"""The risk tables' rules, kept by the database: row security on positions, their same-tenant
account key, and append-only quotes. Instruments and quotes are global market data (listed
with their reason in tests/tenancy/test_row_security.py)."""

from django.db import migrations

from platform_core.audit.append_only import append_only
from platform_core.tenancy.rls import tenant_foreign_key, tenant_policy


class Migration(migrations.Migration):
    dependencies = [
        ("risk", "0001_initial"),
        ("ledger", "0002_database_rules"),
        ("audit", "0003_append_only_and_row_security"),
    ]

    operations = [
        tenant_policy("risk_position"),
        tenant_foreign_key("risk_position", "account_id", "ledger_ledgeraccount"),
        append_only("risk_quote"),
    ]
