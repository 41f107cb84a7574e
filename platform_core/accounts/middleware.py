"""No staff, auditor or enrolled person gets past sign-in without a verified second factor."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from platform_core.accounts.services import RECOVERY_SESSION_KEY, has_confirmed_device
from platform_core.tenancy.models import Membership
from platform_core.tenancy.roles import SECOND_FACTOR_ROLES

# Paths that must stay reachable before the second factor: signing in and enrolling,
# static files, and the API (which checks tokens and sessions itself).
_OPEN_PREFIXES = (
    "/accounts/login/",
    "/accounts/verify/",
    "/accounts/step-up/",
    "/accounts/two-factor/",
    "/accounts/logout/",
    "/accounts/set-password/",
    "/static/",
    "/api/",
    "/i18n/",
    "/favicon.ico",
    "/healthz",
)


def needs_second_factor(user: object) -> bool:
    """Staff, auditors, platform operators and anyone who enrolled a device."""
    if getattr(user, "is_staff", False):
        return True
    if Membership.objects.filter(
        user=user, role__in=SECOND_FACTOR_ROLES, status=Membership.Status.ACTIVE
    ).exists():
        return True
    return has_confirmed_device(user)


def second_factor_redirect(request: HttpRequest) -> HttpResponse:
    target = "accounts:verify" if has_confirmed_device(request.user) else "accounts:two_factor"
    return HttpResponseRedirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


class SecondFactorRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not user.is_authenticated or request.path.startswith(_OPEN_PREFIXES):
            return self.get_response(request)
        if request.session.get(RECOVERY_SESSION_KEY):
            target = reverse("accounts:two_factor")
            return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        if not user.is_verified() and needs_second_factor(user):  # type: ignore[union-attr]
            return second_factor_redirect(request)
        return self.get_response(request)
