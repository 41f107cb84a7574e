"""Row-level security, same-tenant keys, append-only tables and immutable published rules."""

from django.db import migrations

from platform_core.audit.append_only import append_only
from platform_core.tenancy.rls import tenant_foreign_key, tenant_policy

TENANT_TABLES = [
    "kyc_clientdatakey",
    "kyc_clientprofile",
    "kyc_profilesnapshot",
    "kyc_profiledocument",
    "kyc_suitabilityassessment",
    "kyc_riskratingconfig",
    "kyc_riskrating",
    "kyc_kyccase",
    "kyc_casecheck",
    "kyc_inforequest",
    "kyc_monitoringrule",
    "kyc_monitoringalert",
    "kyc_suspicioustransactionreport",
]

SAME_TENANT_KEYS = [
    ("kyc_clientdatakey", "membership_id", "tenancy_membership"),
    ("kyc_clientprofile", "membership_id", "tenancy_membership"),
    ("kyc_profilesnapshot", "profile_id", "kyc_clientprofile"),
    ("kyc_profiledocument", "profile_id", "kyc_clientprofile"),
    ("kyc_suitabilityassessment", "profile_id", "kyc_clientprofile"),
    ("kyc_riskrating", "profile_id", "kyc_clientprofile"),
    ("kyc_kyccase", "profile_id", "kyc_clientprofile"),
    ("kyc_casecheck", "case_id", "kyc_kyccase"),
    ("kyc_inforequest", "case_id", "kyc_kyccase"),
    ("kyc_monitoringalert", "rule_id", "kyc_monitoringrule"),
    ("kyc_monitoringalert", "membership_id", "tenancy_membership"),
    ("kyc_monitoringalert", "case_id", "kyc_kyccase"),
    ("kyc_suspicioustransactionreport", "case_id", "kyc_kyccase"),
]

APPEND_ONLY = [
    "kyc_profilesnapshot",
    "kyc_profiledocument",
    "kyc_suitabilityassessment",
    "kyc_riskrating",
]

# A published rule version keeps its parameters and score for ever; it may only be retired.
RULE_FROZEN_SQL = """
CREATE OR REPLACE FUNCTION kyc_rule_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'rule % v% is %: it cannot be deleted', OLD.code, OLD.version,
                OLD.status USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.params IS DISTINCT FROM OLD.params
            OR NEW.score IS DISTINCT FROM OLD.score OR NEW.code IS DISTINCT FROM OLD.code
            OR NEW.version IS DISTINCT FROM OLD.version
            OR (OLD.status = 'retired' AND NEW.status <> 'retired')) THEN
        RAISE EXCEPTION 'rule % v% is published: make a new version', OLD.code, OLD.version
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER kyc_monitoringrule_frozen BEFORE UPDATE OR DELETE ON kyc_monitoringrule
    FOR EACH ROW EXECUTE FUNCTION kyc_rule_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("kyc", "0001_initial"),
        ("audit", "0003_append_only_and_row_security"),
    ]

    operations = [
        *[tenant_policy(table) for table in TENANT_TABLES],
        *[tenant_foreign_key(src, col, dst) for src, col, dst in SAME_TENANT_KEYS],
        *[append_only(table) for table in APPEND_ONLY],
        migrations.RunSQL(
            RULE_FROZEN_SQL,
            reverse_sql="DROP TRIGGER IF EXISTS kyc_monitoringrule_frozen ON kyc_monitoringrule;"
            " DROP FUNCTION IF EXISTS kyc_rule_frozen();",
        ),
    ]
