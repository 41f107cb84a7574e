"""The new risk tables' rules, kept by the database, and the trading calendar's seed.

- Row security on every tenant table, composite same-tenant keys where one points at another.
- Orders and margin status changes are append-only.
- A margin policy version is frozen once it leaves draft: its content cannot be updated and it
  cannot be deleted; the only changes allowed are draft -> active -> retired (with their times).
- Trading holidays (global reference data) for XNYS, XSHG and XSHE, 2025-2027, from
  ``risk/calendar_data.py`` (which names its sources).
"""

from django.db import migrations

from platform_core.audit.append_only import append_only
from platform_core.tenancy.rls import tenant_foreign_key, tenant_policy

POLICY_FROZEN_SQL = """
CREATE OR REPLACE FUNCTION risk_marginpolicy_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'margin policy % v% is %: DELETE refused', OLD.name, OLD.version,
                OLD.status USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'draft' THEN
        IF NEW.status NOT IN ('draft', 'active') THEN
            RAISE EXCEPTION 'margin policy % v%: draft cannot become %', OLD.name,
                OLD.version, NEW.status USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.tenant_id, NEW.name, NEW.version, NEW.base, NEW.parameters, NEW.ladder,
        NEW.call_deadline_business_days, NEW.leverage_cap, NEW.digest, NEW.created_by_id,
        NEW.created_at, NEW.activated_at)
       IS DISTINCT FROM
       (OLD.tenant_id, OLD.name, OLD.version, OLD.base, OLD.parameters, OLD.ladder,
        OLD.call_deadline_business_days, OLD.leverage_cap, OLD.digest, OLD.created_by_id,
        OLD.created_at, OLD.activated_at)
       OR OLD.status = 'retired'
       OR NEW.status <> 'retired' AND NEW.status IS DISTINCT FROM OLD.status
       OR NEW.status = 'active' AND NEW.retired_at IS DISTINCT FROM OLD.retired_at THEN
        RAISE EXCEPTION 'margin policy % v% is % and immutable: UPDATE refused', OLD.name,
            OLD.version, OLD.status USING ERRCODE = 'insufficient_privilege',
            HINT = 'Create a new version and activate it.';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER risk_marginpolicyversion_frozen BEFORE UPDATE OR DELETE
    ON risk_marginpolicyversion FOR EACH ROW EXECUTE FUNCTION risk_marginpolicy_frozen();
"""

POLICY_FROZEN_REVERSE = """
DROP TRIGGER IF EXISTS risk_marginpolicyversion_frozen ON risk_marginpolicyversion;
DROP FUNCTION IF EXISTS risk_marginpolicy_frozen();
"""


def holidays_seed(apps, schema_editor):
    from datetime import date

    from risk.calendar_data import HOLIDAYS

    TradingHoliday = apps.get_model("risk", "TradingHoliday")
    TradingHoliday.objects.bulk_create(
        [
            TradingHoliday(market=market, day=date.fromisoformat(day), name=name)
            for market, days in HOLIDAYS.items()
            for day, name in days
        ],
        ignore_conflicts=True,
    )


def holidays_unseed(apps, schema_editor):
    apps.get_model("risk", "TradingHoliday").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("risk", "0003_policies_calendar_orders_status"),
    ]

    operations = [
        tenant_policy("risk_marginpolicyversion"),
        migrations.RunSQL(POLICY_FROZEN_SQL, reverse_sql=POLICY_FROZEN_REVERSE),
        tenant_policy("risk_risksettings"),
        tenant_policy("risk_order"),
        tenant_foreign_key("risk_order", "account_id", "ledger_ledgeraccount"),
        tenant_foreign_key("risk_order", "membership_id", "tenancy_membership"),
        append_only("risk_order"),
        tenant_policy("risk_marginstatus"),
        tenant_foreign_key("risk_marginstatus", "account_id", "ledger_ledgeraccount"),
        tenant_policy("risk_marginstatuschange"),
        tenant_foreign_key("risk_marginstatuschange", "account_id", "ledger_ledgeraccount"),
        append_only("risk_marginstatuschange"),
        migrations.RunPython(holidays_seed, holidays_unseed),
    ]
