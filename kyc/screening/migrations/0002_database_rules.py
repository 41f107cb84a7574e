"""The screening tables' rules, kept by the database.

Lists (sources, versions, entities and their keys) are global public data, listed with their
reason in tests/tenancy/test_row_security.py; list sources and versions are append-only.
Screening runs, results, whitelist entries and delta screenings are append-only and tenant
row-secured; hits and settings are row-secured. Tenant tables pointing at each other use
composite same-tenant keys.
"""

from django.db import migrations

from platform_core.audit.append_only import append_only
from platform_core.tenancy.rls import tenant_foreign_key, tenant_policy

TENANT_TABLES = [
    "screening_screeningsettings",
    "screening_screeningrun",
    "screening_screeningresult",
    "screening_screeninghit",
    "screening_whitelistentry",
    "screening_deltascreening",
]


class Migration(migrations.Migration):
    dependencies = [
        ("screening", "0001_initial"),
        ("audit", "0003_append_only_and_row_security"),
    ]

    operations = [
        *[tenant_policy(table) for table in TENANT_TABLES],
        tenant_foreign_key("screening_screeningresult", "run_id", "screening_screeningrun"),
        tenant_foreign_key("screening_screeninghit", "first_run_id", "screening_screeningrun"),
        tenant_foreign_key("screening_screeninghit", "last_run_id", "screening_screeningrun"),
        append_only("screening_listsource"),
        append_only("screening_listversion"),
        append_only("screening_screeningrun"),
        append_only("screening_screeningresult"),
        append_only("screening_whitelistentry"),
        append_only("screening_deltascreening"),
    ]
