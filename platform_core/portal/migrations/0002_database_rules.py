"""The portal's tables under row security. A sandbox link is seen from both of its tenants
(the live one to open its clients' sandboxes, the sandbox to show its banner and way back)
and written only from the live one."""

from django.db import migrations

from platform_core.tenancy.rls import CURRENT_TENANT_SQL, tenant_foreign_key, tenant_policy


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [
        tenant_policy("portal_ratiosample"),
        tenant_foreign_key("portal_ratiosample", "account_id", "ledger_ledgeraccount"),
        tenant_policy(
            "portal_sandboxlink",
            using=f"tenant_id = {CURRENT_TENANT_SQL} OR sandbox_id = {CURRENT_TENANT_SQL}",
        ),
    ]
