"""The balanced-entry check names the entry's tenant itself.

Since 0007 the postings have no index on ``entry_id`` alone: row security puts ``tenant_id`` in
the check's query, and (tenant_id, entry_id) serves it. A session that bypasses row security (a
superuser restoring or repairing data) scanned every posting once per entry at commit (measured:
about 2 ms per entry more); naming the tenant keeps the index in use whatever the role.
"""

import importlib

from django.db import migrations

BALANCED_0006 = importlib.import_module(
    "ledger.migrations.0006_posting_throughput"
).BALANCED_AT_COMMIT
BALANCED = BALANCED_0006.replace(
    "FROM ledger_posting WHERE entry_id = NEW.id",
    "FROM ledger_posting WHERE tenant_id = NEW.tenant_id AND entry_id = NEW.id",
)
assert BALANCED != BALANCED_0006


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_posting_batch")]

    operations = [migrations.RunSQL(BALANCED, reverse_sql=BALANCED_0006)]
