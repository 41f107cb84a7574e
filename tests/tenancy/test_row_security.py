"""The second wall: PostgreSQL row-level security and least-privilege roles.

The suite connects as the application role, as production does; these tests prove what that
role can and cannot see or do, and that every table follows the pattern (a new model without
it fails here, and so in CI).
"""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from psycopg_pool import ConnectionPool

from platform_core.tenancy import selectors
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import current_tenant_id, rls_context
from tests.conftest import api_token_for, as_owner, as_tenant, owner_connection_params

# Tables without a tenant column, each with the reason it is global by nature.
GLOBAL_TABLES = {
    "tenancy_tenant": "the registry of operators itself; holds no client data",
    "accounts_user": "a person can belong to several tenants; memberships carry the tenant",
    "accounts_apitoken": "looked up by secret digest before the tenant is known; the token's "
    "membership (row-level secured) decides the tenant",
    "accounts_user_groups": "role groups are the same for every tenant (docs/roles.md)",
    "accounts_user_user_permissions": "unused: permissions come from the membership's role",
    "auth_group": "one group per role, shared by all tenants",
    "auth_group_permissions": "the role groups' model permissions",
    "auth_permission": "Django's catalogue of model permissions",
    "django_content_type": "Django's catalogue of models",
    "django_migrations": "schema history; the application role may only read it",
    "django_session": "sessions belong to a person, who may switch tenants within one",
    "django_admin_log": "platform operators' admin actions, across tenants by design",
    "platform_cache": "cache entries (login throttling counters), keyed by hashes",
    "otp_totp_totpdevice": "a person's authenticator, the same in every tenant",
    "otp_static_staticdevice": "a person's backup-code device, the same in every tenant",
    "otp_static_statictoken": "a person's backup codes",
    "guardian_userobjectpermission": "generic grants; tenant objects use direct tables",
    "guardian_groupobjectpermission": "generic grants; tenant objects use direct tables",
    "tenancy_membershipuserobjectpermission": "grants on a membership; reachable only "
    "through the membership, which is row-level secured",
    "tenancy_membershipgroupobjectpermission": "as above, for groups",
    "kyc_kyccaseuserobjectpermission": "assignments of KYC cases (guardian, direct key); "
    "reachable only through the case, which is row-level secured",
    "django_celery_beat_periodictask": "the platform's schedule; tasks take tenant ids",
    "django_celery_beat_crontabschedule": "schedule definitions",
    "django_celery_beat_intervalschedule": "schedule definitions",
    "django_celery_beat_solarschedule": "schedule definitions",
    "django_celery_beat_clockedschedule": "schedule definitions",
    "django_celery_beat_periodictasks": "the scheduler's change marker",
    "risk_instrument": "market reference data (symbols, option terms), the same for every "
    "operator; positions, which say who holds what, are tenant-owned",
    "risk_quote": "market prices from public sources, the same for every operator; append-only",
    "risk_tradingholiday": "exchange holiday calendars (published by the exchanges), the same "
    "for every operator",
    "screening_listsource": "published sanctions/PEP lists: public data shared by every "
    "operator; append-only",
    "screening_listversion": "imported versions of those public lists; append-only",
    "screening_listentity": "listed persons and organisations (public list data, no client "
    "data); screening runs and hits, which name a client, are tenant-owned",
    "screening_listentityname": "trigram index of the listed names (public list data)",
    "screening_listnamekey": "blocking keys of the listed names (public list data)",
}


def catalog(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def public_tables() -> dict[str, dict]:
    rows = catalog(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner),
               EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                       AND a.attname = 'tenant_id' AND NOT a.attisdropped)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
        """
    )
    return {
        name: {"rls": rls, "force": force, "owner": owner, "tenant": has_tenant}
        for name, rls, force, owner, has_tenant in rows
    }


@pytest.mark.django_db
def test_the_suite_runs_as_the_application_role_which_can_bypass_nothing():
    ((user, superuser, bypass),) = catalog(
        "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    assert user == settings.DATABASE_APP_ROLE != settings.DATABASE_OWNER["USER"]
    assert not superuser and not bypass
    # Not a member of the owner role either (so it cannot SET ROLE to it).
    assert not catalog(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
        "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    )


@pytest.mark.django_db
def test_every_table_is_tenant_secured_or_listed_as_global_with_a_reason():
    tables = public_tables()
    unexplained = sorted(
        t for t, info in tables.items() if not info["tenant"] and t not in GLOBAL_TABLES
    )
    assert unexplained == [], (
        f"tables without tenant_id must be listed in GLOBAL_TABLES: {unexplained}"
    )
    stale = sorted(t for t in GLOBAL_TABLES if t in tables and tables[t]["tenant"])
    assert stale == [], f"GLOBAL_TABLES lists tables that are now tenant-owned: {stale}"
    for table, info in tables.items():
        assert info["owner"] != settings.DATABASE_APP_ROLE, (
            f"{table} is owned by the application role"
        )
        if not info["tenant"]:
            continue
        assert info["rls"] and info["force"], f"{table} needs ENABLE and FORCE ROW LEVEL SECURITY"
        policies = catalog(
            "SELECT qual, with_check FROM pg_policies WHERE schemaname = current_schema() "
            "AND tablename = %s",
            [table],
        )
        assert policies, f"{table} has no row-level-security policy"
        for using, check in policies:
            assert "app.tenant_id" in (using or ""), f"{table}: USING must compare app.tenant_id"
            assert "app.tenant_id" in (check or ""), (
                f"{table}: WITH CHECK must compare app.tenant_id"
            )


@pytest.mark.django_db
def test_the_application_role_has_exactly_its_privileges():
    append_only = {
        name
        for (name,) in catalog(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgname LIKE '%%\\_append\\_only'"
        )
    }
    assert "audit_auditevent" in append_only
    role = settings.DATABASE_APP_ROLE
    for table in public_tables():

        def has(privilege: str, table: str = table) -> bool:
            return catalog("SELECT has_table_privilege(%s, %s, %s)", [role, table, privilege])[0][0]

        assert not has("TRUNCATE"), f"{table}: the application role may TRUNCATE"
        assert has("SELECT"), f"{table}: the application role cannot read it"
        if table in append_only:
            assert has("INSERT") and not has("UPDATE") and not has("DELETE"), table
        elif table == "django_migrations":
            assert not has("INSERT") and not has("UPDATE") and not has("DELETE")
        else:
            assert has("INSERT") and has("UPDATE") and has("DELETE"), table


@pytest.mark.django_db
def test_references_between_tenant_tables_carry_the_tenant():
    """Foreign-key checks ignore row security: a plain key could point at another tenant's row."""
    tenant_tables = {t for t, info in public_tables().items() if info["tenant"]}
    keys = catalog(
        """
        SELECT src.relname, dst.relname,
               ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = src.oid
                     AND attnum = ANY(con.conkey))
        FROM pg_constraint con
        JOIN pg_class src ON src.oid = con.conrelid JOIN pg_class dst ON dst.oid = con.confrelid
        WHERE con.contype = 'f'
        """
    )
    plain = [
        (src, dst, cols)
        for src, dst, cols in keys
        if src in tenant_tables and dst in tenant_tables and "tenant_id" not in cols
    ]
    single = {(src, dst) for src, dst, cols in plain}
    composite = {(src, dst) for src, dst, cols in keys if "tenant_id" in cols and len(cols) > 1}
    assert single <= composite, (
        f"add a composite (tenant_id, …) key beside: {sorted(single - composite)}"
    )


@pytest.mark.django_db
def test_no_tenant_context_means_no_tenant_rows(acme):
    with rls_context(tenant=None):
        assert Membership.objects.count() == 0
        assert current_tenant_id() is None
    assert Membership.objects.count() == 6  # back in Acme's context


@pytest.mark.django_db
def test_a_person_sees_their_own_memberships_in_every_tenant_and_nothing_more(acme, globex):
    with rls_context(tenant=None, user=acme.risk.user):
        assert list(Membership.objects.all()) == [acme.risk.membership]


@pytest.mark.django_db
def test_nested_contexts_restore_the_outer_tenant(acme, globex):
    with as_tenant(globex.tenant):
        assert current_tenant_id() == globex.tenant.pk
        with as_tenant(acme.tenant):
            assert current_tenant_id() == acme.tenant.pk
        assert current_tenant_id() == globex.tenant.pk
        with pytest.raises(ZeroDivisionError), as_tenant(acme.tenant):
            raise ZeroDivisionError
        assert current_tenant_id() == globex.tenant.pk
        assert {m.tenant_id for m in Membership.objects.all()} == {globex.tenant.pk}
    assert current_tenant_id() == acme.tenant.pk


@pytest.mark.django_db(transaction=True)
def test_the_context_ends_with_its_transaction_and_never_reaches_the_next():
    tenant = Tenant.objects.create(slug="pooled", name="P", timezone="UTC", base_currency="USD")
    with transaction.atomic(), rls_context(tenant=tenant):
        assert current_tenant_id() == tenant.pk
    with transaction.atomic():
        assert current_tenant_id() is None
    # The same through a connection pool of one connection: the next borrower sees nothing.
    app = settings.DATABASES["default"]
    params = {"dbname": connection.settings_dict["NAME"], "user": app["USER"]}
    params.update({k.lower(): v for k, v in app.items() if k in ("HOST", "PORT", "PASSWORD") and v})
    with ConnectionPool(kwargs=params, min_size=1, max_size=1, open=True) as pool:
        with pool.connection() as first:
            first.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
        with pool.connection() as second:
            assert second.execute("SELECT current_setting('app.tenant_id', true)").fetchone()[
                0
            ] in ("", None)


@pytest.mark.django_db
def test_with_check_refuses_a_row_for_another_tenant(acme, globex):
    with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        Membership.objects.create(tenant=globex.tenant, user=acme.risk.user, role="client")


@pytest.mark.django_db
def test_a_forgotten_tenant_filter_still_leaks_nothing(acme, globex, monkeypatch):
    """Break the first wall on purpose: the selector stops filtering by tenant."""
    monkeypatch.setattr(
        selectors,
        "tenant_scoped",
        lambda model_or_queryset, *, tenant: model_or_queryset._default_manager.all(),
    )
    monkeypatch.setattr("platform_core.tenancy.access.tenant_scoped", selectors.tenant_scoped)
    listed = selectors.membership_list(tenant=acme.tenant)
    assert {m.tenant_id for m in listed} == {acme.tenant.pk}
    token = api_token_for(Client(), acme.compliance)
    response = Client().get(
        f"/api/v1/tenancy/members/{globex.client.membership.pk}",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 404
    assert globex.client.email not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE tenancy_membership DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE tenancy_membership NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON tenancy_membership",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only",
        "DROP TRIGGER audit_auditevent_append_only ON audit_auditevent",
        "ALTER TABLE audit_auditevent OWNER TO CURRENT_USER",
    ],
)
def test_the_application_role_cannot_switch_the_walls_off(acme, statement):
    with (
        pytest.raises(DatabaseError, match=r"must be owner|permission denied|privileges"),
        transaction.atomic(),
    ):
        with connection.cursor() as cursor:
            cursor.execute(statement)


@pytest.mark.django_db
def test_row_security_cannot_be_turned_off_per_session(acme):
    with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL row_security = off")
            cursor.execute("SELECT count(*) FROM tenancy_membership")


@pytest.mark.django_db(transaction=True)
def test_the_reporting_role_reads_every_tenant_and_writes_nothing():
    from tests.conftest import make_tenant_people

    if "reporting" not in connections:
        pytest.skip("DATABASE_URL is set without DATABASE_REPORTING_URL: no reporting login")
    acme, globex = make_tenant_people("acme"), make_tenant_people("globex")
    login = connections["reporting"].settings_dict
    params = {"dbname": connection.settings_dict["NAME"], "user": login["USER"]}
    params.update(
        {k.lower(): v for k, v in login.items() if k in ("HOST", "PORT", "PASSWORD") and v}
    )
    with psycopg.connect(**params) as reporting:
        rows = reporting.execute("SELECT DISTINCT tenant_id FROM tenancy_membership").fetchall()
        assert {row[0] for row in rows} == {acme.tenant.pk, globex.tenant.pk}
        with pytest.raises(psycopg.Error, match="permission denied"):
            reporting.execute("UPDATE tenancy_membership SET role = 'client'")


@pytest.mark.django_db(transaction=True)
def test_even_the_owner_sees_no_tenant_rows_without_a_context():
    """FORCE ROW LEVEL SECURITY binds the table owner too (a migration must set a context)."""
    from tests.conftest import make_tenant_people

    make_tenant_people("acme")
    assert as_owner("SELECT count(*) FROM tenancy_membership") == [[(0,)]]
    with psycopg.connect(**owner_connection_params()) as owner:
        assert owner.execute("SELECT count(*) FROM tenancy_tenant").fetchone()[0] == 1
