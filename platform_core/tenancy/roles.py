"""Roles a membership can hold and the model permissions each role's group carries.

The table is the single source of truth; ``docs/roles.md`` renders it for people.
A permission whose model does not exist yet is skipped, so a domain app adds its
codenames here in the same change that adds its models.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CLIENT = "client", _("Client")
    COMPLIANCE_OFFICER = "compliance_officer", _("Compliance officer")
    RISK_OFFICER = "risk_officer", _("Risk officer")
    OPERATIONS = "operations", _("Operations")
    TENANT_ADMIN = "tenant_admin", _("Tenant admin")
    AUDITOR = "auditor", _("Auditor")


STAFF_ROLES = frozenset(
    {Role.COMPLIANCE_OFFICER, Role.RISK_OFFICER, Role.OPERATIONS, Role.TENANT_ADMIN}
)
# Roles whose every page needs a verified second factor.
SECOND_FACTOR_ROLES = STAFF_ROLES | {Role.AUDITOR}

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.CLIENT: (),
    Role.COMPLIANCE_OFFICER: (
        "tenancy.view_membership",
        "tenancy.review_client",
        "audit.view_auditevent",
    ),
    Role.RISK_OFFICER: (
        "tenancy.view_membership",
        "audit.view_auditevent",
    ),
    Role.OPERATIONS: (
        "tenancy.view_membership",
        "audit.view_auditevent",
    ),
    Role.TENANT_ADMIN: (
        "tenancy.view_tenant",
        "tenancy.change_tenant",
        "tenancy.view_membership",
        "tenancy.add_membership",
        "tenancy.change_membership",
        "tenancy.assign_client",
        "audit.view_auditevent",
    ),
    Role.AUDITOR: ("audit.view_auditevent",),
}


def role_group_name(role: str) -> str:
    return f"role:{role}"


def role_groups_sync() -> None:
    """Make each role's group hold exactly the permissions in ROLE_PERMISSIONS."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role_group_name(role))
        wanted: list[Permission] = []
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            wanted.extend(
                Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)


def role_groups_sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    """Run once per migrate, after the last app has had its permissions created."""
    from django.apps import apps

    # Django sends post_migrate only for apps that have a models module.
    with_models = [config for config in apps.get_app_configs() if config.models_module]
    if sender is with_models[-1]:
        role_groups_sync()


def role_has_perm(role: str, perm: str) -> bool:
    """Whether a role's group carries ``app_label.codename``."""
    return perm in ROLE_PERMISSIONS.get(role, ())
