from django.db import migrations

from platform_core.tenancy.rls import CURRENT_TENANT_SQL, CURRENT_USER_SQL, tenant_policy


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]

    operations = [
        # A person also sees their own memberships in every tenant: that is how the tenant
        # switcher and token sign-in find which tenants they may act for. Writes stay
        # within the current tenant.
        tenant_policy(
            "tenancy_membership",
            using=f"tenant_id = {CURRENT_TENANT_SQL} OR user_id = {CURRENT_USER_SQL}",
        ),
    ]
