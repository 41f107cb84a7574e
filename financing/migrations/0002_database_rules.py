"""The financing tables' rules, kept by the database: row security on every table, same-tenant
composite keys between them (and to memberships), and append-only history: rate-card versions,
rendered documents, signature records, pledges, accruals and charges."""

from django.db import migrations

from platform_core.audit.append_only import append_only
from platform_core.tenancy.rls import tenant_foreign_key, tenant_policy

TABLES = [
    "financing_ratecard",
    "financing_fundingpool",
    "financing_disclosuredocument",
    "financing_signaturerecord",
    "financing_creditline",
    "financing_financingcontract",
    "financing_pledge",
    "financing_interestaccrual",
    "financing_interestcharge",
]
APPEND_ONLY = [
    "financing_ratecard",
    "financing_disclosuredocument",
    "financing_signaturerecord",
    "financing_pledge",
    "financing_interestaccrual",
    "financing_interestcharge",
]
KEYS = [
    ("financing_disclosuredocument", "membership_id", "tenancy_membership"),
    ("financing_signaturerecord", "membership_id", "tenancy_membership"),
    ("financing_signaturerecord", "document_id", "financing_disclosuredocument"),
    ("financing_creditline", "membership_id", "tenancy_membership"),
    ("financing_creditline", "rate_card_id", "financing_ratecard"),
    ("financing_financingcontract", "membership_id", "tenancy_membership"),
    ("financing_financingcontract", "credit_line_id", "financing_creditline"),
    ("financing_financingcontract", "pool_id", "financing_fundingpool"),
    ("financing_financingcontract", "rolled_from_id", "financing_financingcontract"),
    ("financing_financingcontract", "signature_id", "financing_signaturerecord"),
    ("financing_pledge", "contract_id", "financing_financingcontract"),
    ("financing_interestaccrual", "contract_id", "financing_financingcontract"),
    ("financing_interestcharge", "contract_id", "financing_financingcontract"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("financing", "0001_initial"),
        ("ledger", "0002_database_rules"),
        ("audit", "0003_append_only_and_row_security"),
    ]

    operations = [
        *(tenant_policy(table) for table in TABLES),
        *(tenant_foreign_key(table, column, target) for table, column, target in KEYS),
        *(append_only(table) for table in APPEND_ONLY),
    ]
