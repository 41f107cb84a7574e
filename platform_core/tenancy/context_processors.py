from typing import Any

from django.http import HttpRequest

from platform_core.hooks import menu_for
from platform_core.tenancy.selectors import memberships_of_user


def active_tenant(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    role = membership.role if membership else None
    return {
        "active_tenant": getattr(request, "tenant", None),
        "active_membership": membership,
        "console_menu": menu_for(area="console", role=role),
        "switchable_memberships": memberships_of_user(user=user),
    }
