"""The portal's inbox: a member's own messages, newest first; reading one marks it read."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from platform_core.audit.notifications import notification_list, notification_mark_read


@require_http_methods(["GET", "POST"])
@login_required
def notifications_inbox(request: HttpRequest) -> HttpResponse:
    membership = getattr(request, "membership", None)
    if request.method == "POST":
        if membership is None:
            raise Http404("No notification with this id.")
        notification_mark_read(
            tenant=request.tenant,  # type: ignore[attr-defined]
            membership=membership,
            notification_id=request.POST.get("notification", ""),
        )
        return HttpResponseRedirect(reverse("portal-notifications"))
    notifications = (
        notification_list(tenant=request.tenant, membership=membership)[:100]  # type: ignore[attr-defined]
        if membership is not None
        else []
    )
    return render(request, "portal/notifications.html", {"notifications": notifications})
