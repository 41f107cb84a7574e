"""The base of every tenant API view: who is calling, for which tenant, in which role."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework.request import Request
from rest_framework.views import APIView

from platform_core.accounts.models import ApiToken
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.rls import rls_set
from platform_core.tenancy.roles import SECOND_FACTOR_ROLES


class TenantApiView(APIView):
    """Sets ``request.tenant`` and ``request.membership``; refuses roles not in ``allowed_roles``.

    A token carries its membership. A session uses the active membership chosen in the
    portal, and staff or auditor sessions must have passed their second factor.
    """

    allowed_roles: ClassVar[frozenset[str] | None] = None  # None: any member of the tenant

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if isinstance(request.auth, ApiToken):
            membership = request.auth.membership
            if not membership.is_active or membership.tenant.status != "active":
                raise ApplicationError(403, "permission_denied", "This membership is not active.")
        else:
            membership = getattr(request._request, "membership", None)
            if membership is not None and membership.role in SECOND_FACTOR_ROLES:
                if not request.user.is_verified():
                    raise ApplicationError(
                        403, "second_factor_required", "Verify your second factor first."
                    )
        if membership is None:
            raise ApplicationError(403, "permission_denied", "You are not a member of a tenant.")
        if self.allowed_roles is not None and membership.role not in self.allowed_roles:
            raise ApplicationError(403, "permission_denied", "Your role may not do this.")
        request.membership = membership
        request.tenant = membership.tenant
        rls_set(user=request.user, tenant=membership.tenant_id)
