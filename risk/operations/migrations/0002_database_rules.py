"""The margin-call loop's rules, kept by the database: row security on every table, composite
same-tenant keys wherever one tenant table points at another, and an append-only ratio
history (the evidence a dispute is judged on)."""

from django.db import migrations

from platform_core.audit.append_only import append_only
from platform_core.tenancy.rls import tenant_foreign_key, tenant_policy

TABLES = (
    "accountladder",
    "ratiomark",
    "margincall",
    "marginnotice",
    "crashswitch",
    "proposal",
    "clientdebt",
    "dispute",
)
KEYS = (
    ("accountladder", "account_id", "ledger_ledgeraccount"),
    ("accountladder", "membership_id", "tenancy_membership"),
    ("ratiomark", "account_id", "ledger_ledgeraccount"),
    ("margincall", "account_id", "ledger_ledgeraccount"),
    ("margincall", "membership_id", "tenancy_membership"),
    ("marginnotice", "account_id", "ledger_ledgeraccount"),
    ("marginnotice", "membership_id", "tenancy_membership"),
    ("marginnotice", "call_id", "risk_operations_margincall"),
    ("proposal", "account_id", "ledger_ledgeraccount"),
    ("proposal", "membership_id", "tenancy_membership"),
    ("proposal", "call_id", "risk_operations_margincall"),
    ("clientdebt", "account_id", "ledger_ledgeraccount"),
    ("clientdebt", "proposal_id", "risk_operations_proposal"),
    ("dispute", "proposal_id", "risk_operations_proposal"),
    ("dispute", "membership_id", "tenancy_membership"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("risk_operations", "0001_initial"),
        ("ledger", "0002_database_rules"),
        ("audit", "0003_append_only_and_row_security"),
    ]

    operations = [
        *(tenant_policy(f"risk_operations_{table}") for table in TABLES),
        *(
            tenant_foreign_key(f"risk_operations_{table}", column, target)
            for table, column, target in KEYS
        ),
        append_only("risk_operations_ratiomark"),
    ]
