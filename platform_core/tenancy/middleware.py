"""Each request runs in one transaction, inside its row-level-security context.

Sets ``request.tenant`` and ``request.membership`` from the person's active membership, and
the database context (``app.user_id``, ``app.tenant_id``) to match, restoring the previous
context when the request ends.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from platform_core.tenancy.models import Membership
from platform_core.tenancy.rls import rls_context, rls_set
from platform_core.tenancy.selectors import memberships_of_user

ACTIVE_TENANT_SESSION_KEY = "active_tenant_id"


def active_membership(request: HttpRequest) -> Membership | None:
    """The membership chosen in the session, else the person's default (their first)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = list(memberships_of_user(user=user))
    chosen = request.session.get(ACTIVE_TENANT_SESSION_KEY)
    for membership in memberships:
        if membership.tenant_id == chosen:
            return membership
    return memberships[0] if memberships else None


class ActiveTenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user if request.user.is_authenticated else None
        with rls_context(user=user, tenant=None):
            membership = active_membership(request)
            request.membership = membership  # type: ignore[attr-defined]
            request.tenant = membership.tenant if membership else None  # type: ignore[attr-defined]
            rls_set(tenant=request.tenant)  # type: ignore[attr-defined]
            return self.get_response(request)
