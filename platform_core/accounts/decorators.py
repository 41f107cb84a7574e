"""``step_up_required``: a client action that needs a second factor verified moments ago."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from platform_core.accounts.services import has_confirmed_device, step_up_is_fresh


def step_up_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Withdrawals, signing and API keys: enrol first, then re-enter a code if it is stale."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if step_up_is_fresh(request):
            return view(request, *args, **kwargs)
        target = "accounts:step_up" if has_confirmed_device(request.user) else "accounts:two_factor"
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse(target)}?{query}")

    return wrapper
