import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from platform_core.tenancy.rls import tenant_foreign_key, tenant_policy

# After the request only its decision is written (status, approvals, who, when, why), and
# only while it is pending; a request is never deleted.
DECIDE_ONCE = """
CREATE FUNCTION ledger_withdrawalrequest_decide_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'withdrawal request % is kept: delete refused', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status NOT IN ('requested', 'awaiting_second_approval')
       OR (NEW.tenant_id, NEW.account_id, NEW.amount, NEW.currency, NEW.destination,
           NEW.hold_id, NEW.requested_by_id, NEW.idempotency_key, NEW.request_hash,
           NEW.created_at)
          IS DISTINCT FROM
          (OLD.tenant_id, OLD.account_id, OLD.amount, OLD.currency, OLD.destination,
           OLD.hold_id, OLD.requested_by_id, OLD.idempotency_key, OLD.request_hash,
           OLD.created_at) THEN
        RAISE EXCEPTION 'withdrawal request %: only a pending request''s decision is written',
            OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_withdrawalrequest_decide_once BEFORE UPDATE OR DELETE
    ON ledger_withdrawalrequest FOR EACH ROW
    EXECUTE FUNCTION ledger_withdrawalrequest_decide_once();
"""

DECIDE_ONCE_REVERSE = """
DROP TRIGGER IF EXISTS ledger_withdrawalrequest_decide_once ON ledger_withdrawalrequest;
DROP FUNCTION IF EXISTS ledger_withdrawalrequest_decide_once();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0004_approvals'),
        ('ledger', '0004_reconciliation'),
        ('tenancy', '0003_tenant_withdrawal_four_eyes_above'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='WithdrawalRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.DecimalField(decimal_places=4, max_digits=28)),
                ('currency', models.CharField(max_length=3)),
                ('destination', models.CharField(max_length=40)),
                ('status', models.CharField(choices=[('requested', 'Requested'), ('awaiting_second_approval', 'Awaiting a second approval'), ('paid', 'Paid'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled')], default='requested', max_length=32)),
                ('reason', models.TextField(blank=True)),
                ('idempotency_key', models.CharField(max_length=255)),
                ('request_hash', models.CharField(max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('account', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.ledgeraccount')),
                ('approval', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='audit.approvalrequest')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('first_approved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('hold', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='withdrawal', to='ledger.hold')),
                ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.tenant')),
            ],
            options={
                'indexes': [models.Index(fields=['tenant', 'status', 'created_at'], name='withdrawal_queue_idx'), models.Index(fields=['tenant', 'account', 'created_at'], name='withdrawal_account_idx')],
                'constraints': [models.UniqueConstraint(fields=('tenant', 'id'), name='withdrawalrequest_tenant_id_key'), models.UniqueConstraint(fields=('tenant', 'idempotency_key'), name='withdrawalrequest_idempotency_key'), models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='withdrawalrequest_amount_positive'), models.CheckConstraint(condition=models.Q(models.Q(('decided_at__isnull', True), ('status__in', ['requested', 'awaiting_second_approval'])), models.Q(('decided_at__isnull', False), ('status__in', ['paid', 'rejected', 'cancelled'])), _connector='OR'), name='withdrawalrequest_decided_has_time')],
            },
        ),
        tenant_policy("ledger_withdrawalrequest"),
        tenant_foreign_key("ledger_withdrawalrequest", "account_id", "ledger_ledgeraccount"),
        tenant_foreign_key("ledger_withdrawalrequest", "hold_id", "ledger_hold"),
        tenant_foreign_key("ledger_withdrawalrequest", "approval_id", "audit_approvalrequest"),
        migrations.RunSQL(DECIDE_ONCE, reverse_sql=DECIDE_ONCE_REVERSE),
    ]
