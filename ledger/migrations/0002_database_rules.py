"""The ledger's rules, kept by the database: row security, same-tenant references,
append-only journal, balanced entries at commit, and the posting function."""

from django.db import migrations

from platform_core.audit.append_only import append_only
from platform_core.tenancy.rls import tenant_foreign_key, tenant_policy

BALANCED_AT_COMMIT = """
CREATE FUNCTION ledger_entry_must_balance() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    legs integer;
    unbalanced text;
    outer_tenant text := current_setting('app.tenant_id', true);
BEGIN
    -- At commit the caller's row-security context may already be closed: read this entry's
    -- own postings as its tenant, then put the context back.
    PERFORM set_config('app.tenant_id', NEW.tenant_id::text, true);
    SELECT count(*) INTO legs FROM ledger_posting WHERE entry_id = NEW.id;
    IF legs < 2 THEN
        RAISE EXCEPTION 'journal entry % has % posting(s); at least two are needed', NEW.id, legs
            USING ERRCODE = 'LG010';
    END IF;
    SELECT string_agg(currency || ' ' || diff::text, ', ') INTO unbalanced FROM (
        SELECT currency,
               sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END) AS diff
        FROM ledger_posting WHERE entry_id = NEW.id GROUP BY currency
    ) per_currency WHERE diff <> 0;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance: %', NEW.id, unbalanced
            USING ERRCODE = 'LG010';
    END IF;
    PERFORM set_config('app.tenant_id', coalesce(outer_tenant, ''), true);
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER ledger_journalentry_balanced
    AFTER INSERT ON ledger_journalentry DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_must_balance();

-- Postings are written only by ledger_post_entry, for the entry it is writing (it names it in
-- a transaction-local setting): no leg is ever added to an entry already in the journal.
CREATE FUNCTION ledger_posting_joins_new_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.entry_id::text IS DISTINCT FROM current_setting('ledger.open_entry', true) THEN
        RAISE EXCEPTION 'posting for entry %: legs are added only with their entry', NEW.entry_id
            USING ERRCODE = 'LG011';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_posting_joins_new_entry BEFORE INSERT ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_joins_new_entry();
"""

BALANCED_AT_COMMIT_REVERSE = """
DROP TRIGGER IF EXISTS ledger_posting_joins_new_entry ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_posting_joins_new_entry();
DROP TRIGGER IF EXISTS ledger_journalentry_balanced ON ledger_journalentry;
DROP FUNCTION IF EXISTS ledger_entry_must_balance();
"""

# One round trip per entry: lock the touched accounts in id order, write the entry and its
# legs with the running balance, and refuse (SQLSTATE LG001) a leg that would take an account
# that may not go negative below zero, counting the amounts its holds reserve. An idempotency
# key already in the journal writes nothing and returns minus the id of the entry it names
# (a racing request with the same key waits for the first to commit, then gets its id).
POST_ENTRY = """
CREATE FUNCTION ledger_post_entry(
    p_tenant bigint, p_entry_type text, p_memo text, p_key text, p_request_hash text,
    p_actor bigint, p_actor_label text, p_reverses bigint,
    p_accounts bigint[], p_sides text[], p_amounts numeric[]
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_account ledger_ledgeraccount%ROWTYPE;
    v_balance numeric;
    v_short bigint;
    i integer;
BEGIN
    PERFORM 1 FROM ledger_ledgeraccount
        WHERE id = ANY(p_accounts) AND tenant_id = p_tenant ORDER BY id FOR UPDATE;
    INSERT INTO ledger_journalentry
        (tenant_id, entry_type, memo, idempotency_key, request_hash, actor_id, actor_label,
         reverses_id)
        VALUES (p_tenant, p_entry_type, p_memo, p_key, p_request_hash, p_actor, p_actor_label,
                p_reverses)
        ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
        RETURNING id INTO v_entry;
    IF v_entry IS NULL THEN
        SELECT id INTO v_entry FROM ledger_journalentry
            WHERE tenant_id = p_tenant AND idempotency_key = p_key;
        RETURN -v_entry;
    END IF;
    PERFORM set_config('ledger.open_entry', v_entry::text, true);
    FOR i IN 1 .. array_length(p_accounts, 1) LOOP
        UPDATE ledger_ledgeraccount SET
            posted_debits = posted_debits
                + CASE WHEN p_sides[i] = 'debit' THEN p_amounts[i] ELSE 0 END,
            posted_credits = posted_credits
                + CASE WHEN p_sides[i] = 'credit' THEN p_amounts[i] ELSE 0 END
        WHERE id = p_accounts[i] AND tenant_id = p_tenant
        RETURNING * INTO v_account;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'account_not_found:%', p_accounts[i] USING ERRCODE = 'LG002';
        END IF;
        v_balance := CASE WHEN v_account.normal_side = 'credit'
            THEN v_account.posted_credits - v_account.posted_debits
            ELSE v_account.posted_debits - v_account.posted_credits END;
        INSERT INTO ledger_posting
            (tenant_id, entry_id, account_id, side, amount, currency, balance_after)
            VALUES (p_tenant, v_entry, v_account.id, p_sides[i], p_amounts[i],
                    v_account.currency, v_balance);
    END LOOP;
    PERFORM set_config('ledger.open_entry', '', true);
    SELECT id INTO v_short FROM ledger_ledgeraccount
        WHERE id = ANY(p_accounts) AND NOT may_go_negative
          AND CASE WHEN normal_side = 'credit'
                   THEN posted_credits - posted_debits - pending_debits
                   ELSE posted_debits - posted_credits - pending_credits END < 0
        ORDER BY id LIMIT 1;
    IF v_short IS NOT NULL THEN
        RAISE EXCEPTION 'insufficient_funds:%', v_short USING ERRCODE = 'LG001';
    END IF;
    RETURN v_entry;
END;
$$;
"""

# Many entries in one round trip and one transaction (end-of-day jobs): all or none.
POST_ENTRIES = """
CREATE FUNCTION ledger_post_entries(p_tenant bigint, p_entries jsonb) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_entry jsonb;
    v_ids bigint[] := '{}';
BEGIN
    -- Every account of the batch is locked first, in id order: two batches never deadlock.
    PERFORM 1 FROM ledger_ledgeraccount
        WHERE tenant_id = p_tenant AND id IN (
            SELECT DISTINCT (leg->>'account')::bigint
            FROM jsonb_array_elements(p_entries) entry, jsonb_array_elements(entry->'legs') leg)
        ORDER BY id FOR UPDATE;
    FOR v_entry IN SELECT value FROM jsonb_array_elements(p_entries) LOOP
        v_ids := v_ids || ledger_post_entry(
            p_tenant, v_entry->>'type', v_entry->>'memo', v_entry->>'key', v_entry->>'hash',
            NULLIF(v_entry->>'actor', '')::bigint, coalesce(v_entry->>'actor_label', ''), NULL,
            ARRAY(SELECT (leg->>'account')::bigint
                  FROM jsonb_array_elements(v_entry->'legs') WITH ORDINALITY AS l(leg, n) ORDER BY n),
            ARRAY(SELECT leg->>'side'
                  FROM jsonb_array_elements(v_entry->'legs') WITH ORDINALITY AS l(leg, n) ORDER BY n),
            ARRAY(SELECT (leg->>'amount')::numeric
                  FROM jsonb_array_elements(v_entry->'legs') WITH ORDINALITY AS l(leg, n) ORDER BY n)
        );
    END LOOP;
    RETURN v_ids;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial"), ("tenancy", "0002_row_security")]

    operations = [
        *(
            tenant_policy(table)
            for table in (
                "ledger_ledgeraccount",
                "ledger_journalentry",
                "ledger_posting",
                "ledger_hold",
                "ledger_entryseal",
            )
        ),
        tenant_foreign_key("ledger_ledgeraccount", "owner_id", "tenancy_membership"),
        tenant_foreign_key("ledger_journalentry", "reverses_id", "ledger_journalentry"),
        tenant_foreign_key("ledger_posting", "entry_id", "ledger_journalentry"),
        tenant_foreign_key("ledger_posting", "account_id", "ledger_ledgeraccount"),
        tenant_foreign_key("ledger_hold", "debit_account_id", "ledger_ledgeraccount"),
        tenant_foreign_key("ledger_hold", "credit_account_id", "ledger_ledgeraccount"),
        tenant_foreign_key("ledger_hold", "entry_id", "ledger_journalentry"),
        tenant_foreign_key("ledger_entryseal", "entry_id", "ledger_journalentry"),
        append_only("ledger_journalentry"),
        append_only("ledger_posting"),
        append_only("ledger_entryseal"),
        migrations.RunSQL(BALANCED_AT_COMMIT, reverse_sql=BALANCED_AT_COMMIT_REVERSE),
        migrations.RunSQL(
            POST_ENTRY,
            reverse_sql="DROP FUNCTION IF EXISTS ledger_post_entry(bigint, text, text, text, "
            "text, bigint, text, bigint, bigint[], text[], numeric[]);",
        ),
        migrations.RunSQL(
            POST_ENTRIES, reverse_sql="DROP FUNCTION IF EXISTS ledger_post_entries(bigint, jsonb);"
        ),
    ]
