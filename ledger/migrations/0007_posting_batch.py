"""A set-based batch path, and no index that another already provides (docs/ledger.md).

- ``ledger_post_entries`` (replacing 0002's loop over the per-entry function): a batch of
  entries in one call. It locks every account of the batch once, in id order; writes the
  entries whose key is new in one INSERT (a key already in the journal is a replay when its
  request hash matches, a conflict otherwise, raised with the entry's index); judges every
  no-negative account after each entry in batch order, holds counted, on the balance read under
  the lock, and raises with the first refused entry's index before a leg is written; then one
  UPDATE for the balances and one INSERT for all legs, their running balances from a window
  function across the batch. Any refusal raises: the batch is all or none.
- ``ledger_postings_join_open_entry`` accepts the batch's entries: the open entry setting holds
  one id or a comma-separated list of them.
- The single-column indexes Django made for ``tenant`` (postings, entries) and for ``entry`` and
  ``account`` (postings) go: row security adds ``tenant_id`` to every query, so the composite
  (tenant_id, entry_id) and (tenant_id, account_id, id) indexes serve every lookup (the plans of
  the statement, verification and balanced-entry queries were checked with EXPLAIN).
"""

import django.db.models.deletion
from django.db import migrations, models

POST_ENTRIES = """
DROP FUNCTION ledger_post_entries(bigint, jsonb);
CREATE FUNCTION ledger_post_entries(
    p_tenant bigint, p_types text[], p_memos text[], p_keys text[], p_hashes text[],
    p_actor bigint, p_actor_label text,
    p_leg_entries integer[], p_leg_accounts bigint[], p_leg_sides text[], p_leg_amounts numeric[]
) RETURNS bigint[]
LANGUAGE plpgsql
-- As ledger_entry_write (0006): custom plans remade on every call cost more than they save.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_context text := coalesce(current_setting('app.tenant_id', true), '');
    v_locked integer;
    v_ids bigint[];
    v_conflict integer;
    v_short_entry integer;
    v_short_account bigint;
BEGIN
    IF v_context = '' THEN
        PERFORM set_config('app.tenant_id', p_tenant::text, true);
    END IF;
    -- Every account of the batch, once, in id order: two batches (or a batch and a single
    -- entry) never deadlock.
    SELECT count(*) INTO v_locked FROM (
        SELECT a.id FROM ledger_ledgeraccount a
        WHERE a.tenant_id = p_tenant AND a.id = ANY(p_leg_accounts)
        ORDER BY a.id
        FOR UPDATE OF a
    ) locked;
    IF v_locked < (SELECT count(DISTINCT account) FROM unnest(p_leg_accounts) AS account) THEN
        RAISE EXCEPTION 'account_not_found' USING ERRCODE = 'LG002';
    END IF;
    -- The entries whose key is new (a racing writer of the same key is waited for).
    WITH written AS (
        INSERT INTO ledger_journalentry
            (tenant_id, entry_type, memo, idempotency_key, request_hash, actor_id, actor_label)
        SELECT p_tenant, b.entry_type, b.memo, b.key, b.hash, p_actor, p_actor_label
        FROM unnest(p_types, p_memos, p_keys, p_hashes) WITH ORDINALITY
            AS b(entry_type, memo, key, hash, n)
        ORDER BY b.n
        ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
        RETURNING id, idempotency_key
    )
    SELECT array_agg(coalesce(w.id, 0) ORDER BY b.n) INTO v_ids
    FROM unnest(p_keys) WITH ORDINALITY AS b(key, n)
    LEFT JOIN written w ON w.idempotency_key = b.key;
    -- A key already in the journal (a new statement: it sees what committed meanwhile):
    -- the same request is a replay (its entry's id, negated), another one a conflict.
    IF 0 = ANY(v_ids) THEN
        SELECT array_agg(CASE WHEN v_ids[b.n] <> 0 THEN v_ids[b.n] ELSE -e.id END ORDER BY b.n),
               min(b.n) FILTER (WHERE v_ids[b.n] = 0 AND e.request_hash <> b.hash)
            INTO v_ids, v_conflict
        FROM unnest(p_keys, p_hashes) WITH ORDINALITY AS b(key, hash, n)
        LEFT JOIN ledger_journalentry e
            ON v_ids[b.n] = 0 AND e.tenant_id = p_tenant AND e.idempotency_key = b.key;
        IF v_conflict IS NOT NULL THEN
            RAISE EXCEPTION 'idempotency_conflict:%', v_conflict - 1 USING ERRCODE = 'LG003';
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM unnest(v_ids) AS id WHERE id > 0) THEN
        IF v_context = '' THEN PERFORM set_config('app.tenant_id', '', true); END IF;
        RETURN v_ids;
    END IF;
    -- Each no-negative account after each new entry, in batch order, holds counted: as if the
    -- entries were posted one by one (an account is judged on the result of an entry's legs).
    SELECT r.entry, r.account INTO v_short_entry, v_short_account FROM (
        SELECT t.entry, t.account,
               CASE WHEN a.normal_side = 'credit'
                    THEN a.posted_credits - a.posted_debits - a.pending_debits
                    ELSE a.posted_debits - a.posted_credits - a.pending_credits END
               + sum(CASE WHEN a.normal_side = 'credit' THEN t.credits - t.debits
                          ELSE t.debits - t.credits END)
                   OVER (PARTITION BY t.account ORDER BY t.entry) AS available
        FROM (
            SELECT l.entry, l.account,
                   coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0) AS debits,
                   coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0) AS credits
            FROM unnest(p_leg_entries, p_leg_accounts, p_leg_sides, p_leg_amounts)
                AS l(entry, account, side, amount)
            WHERE v_ids[l.entry] > 0
            GROUP BY l.entry, l.account
        ) t
        JOIN ledger_ledgeraccount a ON a.id = t.account AND a.tenant_id = p_tenant
        WHERE NOT a.may_go_negative
    ) r
    WHERE r.available < 0
    ORDER BY r.entry, r.account
    LIMIT 1;
    IF v_short_entry IS NOT NULL THEN
        RAISE EXCEPTION 'insufficient_funds:%:%', v_short_account, v_short_entry - 1
            USING ERRCODE = 'LG001';
    END IF;
    PERFORM set_config('ledger.open_entry',
                       array_to_string(ARRAY(SELECT id FROM unnest(v_ids) AS id WHERE id > 0), ','),
                       true);
    WITH legs AS (
        SELECT l.entry, l.account, l.side, l.amount, l.n
        FROM unnest(p_leg_entries, p_leg_accounts, p_leg_sides, p_leg_amounts) WITH ORDINALITY
            AS l(entry, account, side, amount, n)
        WHERE v_ids[l.entry] > 0
    ), totals AS (
        SELECT account,
               coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS debits,
               coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS credits
        FROM legs GROUP BY account
    ), moved AS (
        UPDATE ledger_ledgeraccount a SET
            posted_debits = a.posted_debits + t.debits,
            posted_credits = a.posted_credits + t.credits
        FROM totals t
        WHERE a.tenant_id = p_tenant AND a.id = ANY(p_leg_accounts) AND a.id = t.account
        RETURNING a.id, a.currency, a.normal_side,
            CASE WHEN a.normal_side = 'credit'
                 THEN a.posted_credits - t.credits - a.posted_debits + t.debits
                 ELSE a.posted_debits - t.debits - a.posted_credits + t.credits END AS opening
    )
    INSERT INTO ledger_posting
        (tenant_id, entry_id, account_id, side, amount, currency, balance_after)
    SELECT p_tenant, v_ids[legs.entry], legs.account, legs.side, legs.amount, moved.currency,
           moved.opening + sum(CASE WHEN legs.side = moved.normal_side
                                    THEN legs.amount ELSE -legs.amount END)
               OVER (PARTITION BY legs.account ORDER BY legs.entry, legs.n)
    FROM legs JOIN moved ON moved.id = legs.account
    ORDER BY legs.entry, legs.n;
    PERFORM set_config('ledger.open_entry', '', true);
    IF v_context = '' THEN PERFORM set_config('app.tenant_id', '', true); END IF;
    RETURN v_ids;
END;
$$;
"""

# 0002's loop, for the way back.
POST_ENTRIES_REVERSE = """
DROP FUNCTION ledger_post_entries(bigint, text[], text[], text[], text[], bigint, text,
    integer[], bigint[], text[], numeric[]);
CREATE FUNCTION ledger_post_entries(p_tenant bigint, p_entries jsonb) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_entry jsonb;
    v_ids bigint[] := '{}';
BEGIN
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

LEGS_JOIN_OPEN_ENTRIES = """
CREATE OR REPLACE FUNCTION ledger_postings_join_open_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_open bigint[] := string_to_array(
        NULLIF(current_setting('ledger.open_entry', true), ''), ',')::bigint[];
    v_entry bigint;
BEGIN
    -- Every leg joins one of the open entries, which is in the journal (and in the current
    -- tenant: row security) with the leg's tenant.
    SELECT p.entry_id INTO v_entry
    FROM new_postings p
    LEFT JOIN ledger_journalentry e ON e.id = p.entry_id AND e.id = ANY(v_open)
    WHERE e.id IS NULL OR e.tenant_id IS DISTINCT FROM p.tenant_id
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting for entry %: legs are added only with their entry', v_entry
            USING ERRCODE = 'LG011';
    END IF;
    RETURN NULL;
END;
$$;
"""

# 0006's version, for the way back.
LEGS_JOIN_OPEN_ENTRY_REVERSE = """
CREATE OR REPLACE FUNCTION ledger_postings_join_open_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_open bigint := NULLIF(current_setting('ledger.open_entry', true), '')::bigint;
    v_tenant bigint;
    v_entry bigint;
BEGIN
    SELECT tenant_id INTO v_tenant FROM ledger_journalentry WHERE id = v_open;
    SELECT p.entry_id INTO v_entry FROM new_postings p
        WHERE p.entry_id IS DISTINCT FROM v_open OR p.tenant_id IS DISTINCT FROM v_tenant
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting for entry %: legs are added only with their entry', v_entry
            USING ERRCODE = 'LG011';
    END IF;
    RETURN NULL;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0006_posting_throughput"),
        ("tenancy", "0003_tenant_withdrawal_four_eyes_above"),
    ]

    operations = [
        migrations.AlterField(
            model_name="journalentry",
            name="tenant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenancy.tenant",
            ),
        ),
        migrations.AlterField(
            model_name="posting",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="postings",
                to="ledger.ledgeraccount",
            ),
        ),
        migrations.AlterField(
            model_name="posting",
            name="entry",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="postings",
                to="ledger.journalentry",
            ),
        ),
        migrations.AlterField(
            model_name="posting",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenancy.tenant",
            ),
        ),
        migrations.RunSQL(POST_ENTRIES, reverse_sql=POST_ENTRIES_REVERSE),
        migrations.RunSQL(LEGS_JOIN_OPEN_ENTRIES, reverse_sql=LEGS_JOIN_OPEN_ENTRY_REVERSE),
    ]
