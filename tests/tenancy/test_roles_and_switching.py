"""Roles map to groups; assignments are object permissions; staff switch between tenants."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import get_objects_for_user

from platform_core.audit.models import AuditEvent
from platform_core.tenancy.models import Membership, MembershipUserObjectPermission
from platform_core.tenancy.roles import ROLE_PERMISSIONS, Role, role_group_name
from platform_core.tenancy.services import client_assign, member_add
from tests.conftest import as_tenant, make_person, sign_in

pytestmark = pytest.mark.django_db


def test_each_role_has_a_group_with_exactly_its_permissions():
    for role in Role.values:
        group = Group.objects.get(name=role_group_name(role))
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert granted == set(ROLE_PERMISSIONS[role])


def test_assigning_a_client_is_an_object_permission_on_a_direct_table(acme):
    other_client = make_person(acme.tenant, "second@acme.example", Role.CLIENT)
    client_assign(
        tenant=acme.tenant,
        actor=acme.admin.user,
        client=acme.client.membership,
        officer=acme.compliance.membership,
    )
    assert MembershipUserObjectPermission.objects.filter(
        user=acme.compliance.user, content_object=acme.client.membership
    ).exists()
    with CaptureQueriesContext(connection) as queries:
        visible = list(
            get_objects_for_user(acme.compliance.user, "tenancy.review_client", Membership)
        )
    assert visible == [acme.client.membership]
    assert other_client.membership not in visible
    # The direct table is joined on its foreign key, not on a text cast of the primary key.
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "content_object_id" in sql and "::text" not in sql.lower().replace(" ", "")
    assert AuditEvent.objects.filter(
        action="client.assigned", object_id=str(acme.client.membership.pk)
    ).exists()


def test_a_client_file_goes_to_staff_of_the_same_tenant_only(acme, globex):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        client_assign(
            tenant=acme.tenant,
            actor=acme.admin.user,
            client=acme.client.membership,
            officer=globex.compliance.membership,
        )
    with pytest.raises(ValidationError):
        client_assign(
            tenant=acme.tenant,
            actor=acme.admin.user,
            client=acme.risk.membership,
            officer=acme.compliance.membership,
        )
    assert MembershipUserObjectPermission.objects.count() == 0


def test_staff_switch_their_active_tenant(acme, globex):
    with as_tenant(globex.tenant):
        member_add(tenant=globex.tenant, email=acme.risk.email, role="compliance_officer")
    client = sign_in(Client(), acme.risk)
    assert "Acme" in client.get("/console/").content.decode()
    response = client.post("/tenant/switch/", {"tenant": "globex", "next": "/console/"})
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert "Globex" in client.get("/console/").content.decode()
    with as_tenant(globex.tenant):
        assert AuditEvent.objects.filter(tenant=globex.tenant, action="tenant.switched").exists()


def test_switching_to_a_tenant_without_a_membership_is_a_404_and_changes_nothing(acme, globex):
    client = sign_in(Client(), acme.risk)
    assert client.post("/tenant/switch/", {"tenant": "globex"}).status_code == 404
    assert "Acme" in client.get("/console/").content.decode()


def test_a_revoked_membership_no_longer_opens_the_console(acme):
    from platform_core.tenancy.services import membership_revoke

    client = sign_in(Client(), acme.risk)
    membership_revoke(
        membership=acme.risk.membership, actor=acme.admin.user, reason="left the firm"
    )
    assert client.get("/console/").status_code == 403
