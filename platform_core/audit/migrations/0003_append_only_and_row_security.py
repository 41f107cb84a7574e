from django.db import migrations

from platform_core.audit.append_only import append_only, refuse_function
from platform_core.tenancy.rls import CURRENT_TENANT_SQL, tenant_policy

# The platform chain (tenant NULL) is what a session without a tenant sees and writes.
CHAIN_OF_CURRENT_TENANT = f"tenant_id IS NOT DISTINCT FROM {CURRENT_TENANT_SQL}"


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_initial"), ("tenancy", "0002_row_security")]

    operations = [
        refuse_function(),
        append_only("audit_auditevent"),
        tenant_policy(
            "audit_auditevent", using=CHAIN_OF_CURRENT_TENANT, check=CHAIN_OF_CURRENT_TENANT
        ),
    ]
