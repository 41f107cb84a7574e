"""The three front doors: client portal, staff console, auditor area; and the tenant switcher."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from platform_core.accounts.services import has_confirmed_device
from platform_core.audit.selectors import audit_event_list
from platform_core.audit.services import audit_record
from platform_core.tenancy.middleware import ACTIVE_TENANT_SESSION_KEY
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.roles import STAFF_ROLES, Role
from platform_core.tenancy.selectors import memberships_of_user


def role_required(roles: frozenset[str]) -> Callable[..., Any]:
    """A page for some roles of the active tenant; staff and auditors also need a verified OTP."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = getattr(request, "membership", None)
            if membership is None or membership.role not in roles:
                raise PermissionDenied("Your role in this tenant may not open this page.")
            if not request.user.is_verified():  # type: ignore[union-attr]
                raise PermissionDenied("Verify your second factor first.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


@login_required
def portal_home(request: HttpRequest) -> HttpResponse:
    membership = getattr(request, "membership", None)
    if membership is not None and membership.role == Role.CLIENT:
        # Imported here: the portal reads the domain apps, and they import this module.
        from platform_core.portal.views import dashboard

        return dashboard(request)
    return render(
        request,
        "portal/home.html",
        {
            "membership": membership,
            "is_staff_role": membership is not None and membership.role in STAFF_ROLES,
            "two_factor_enrolled": has_confirmed_device(request.user),
        },
    )


@role_required(frozenset(STAFF_ROLES))
def console_home(request: HttpRequest) -> HttpResponse:
    """What needs action now, one section per role of the person in the active tenant."""
    # Imported here: the apps' views import role_required from this module, and the start
    # page reads those apps' selectors.
    from platform_core.console import console_start

    tenant = request.tenant  # type: ignore[attr-defined]
    return render(
        request,
        "console/home.html",
        {
            "sections": console_start(tenant=tenant, roles=[request.membership.role]),  # type: ignore[attr-defined]
            "events": audit_event_list(tenant=tenant).select_related("actor")[:10],
        },
    )


@role_required(frozenset({Role.AUDITOR}))
def audit_home(request: HttpRequest) -> HttpResponse:
    from platform_core.audit.report_views import auditor_home_context

    return render(request, "audit/home.html", auditor_home_context(request))


@require_POST
@login_required
def tenant_switch(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("tenant", "")
    membership = next(
        (m for m in memberships_of_user(user=request.user) if m.tenant.slug == slug), None
    )
    if membership is None:
        raise Http404("No such tenant among your memberships.")
    request.session[ACTIVE_TENANT_SESSION_KEY] = membership.tenant_id
    with rls_context(tenant=membership.tenant):
        audit_record(
            tenant=membership.tenant,
            actor=request.user,
            action="tenant.switched",
            object_type="membership",
            object_id=membership.pk,
            request=request,
        )
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = "/"
    return HttpResponseRedirect(target)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says; point them at the real icon."""
    return HttpResponseRedirect(static("favicon.svg"))
