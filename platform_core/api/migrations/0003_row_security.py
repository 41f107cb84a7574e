from django.db import migrations

from platform_core.tenancy.rls import tenant_policy


class Migration(migrations.Migration):
    dependencies = [("api", "0002_initial"), ("tenancy", "0002_row_security")]

    operations = [tenant_policy("api_idempotencyrecord")]
