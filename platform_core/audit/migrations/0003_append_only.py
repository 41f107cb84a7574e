from django.db import migrations

from platform_core.audit.append_only import append_only, refuse_function


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_initial")]

    operations = [refuse_function(), append_only("audit_auditevent")]
