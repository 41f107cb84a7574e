"""Sign-in (password, then second factor), enrolment, step-up, API keys, set password."""

from __future__ import annotations

import io
from base64 import b32encode
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from platform_core.accounts.authentication import password_check, sign_in_audit
from platform_core.accounts.decorators import step_up_required
from platform_core.accounts.forms import LoginForm, OtpForm
from platform_core.accounts.middleware import needs_second_factor
from platform_core.accounts.models import ApiToken
from platform_core.accounts.services import (
    RECOVERY_SESSION_KEY,
    api_token_issue,
    api_token_revoke,
    backup_codes_issue,
    has_confirmed_device,
    otp_verify,
    session_otp_mark_verified,
    step_up_is_fresh,
    totp_device_create,
)
from platform_core.tenancy.rls import rls_set

PENDING_DEVICE_SESSION_KEY = "pending_totp_device_id"


def _next_url(request: HttpRequest, default: str = "/") -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure()):
        return candidate
    return default


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def _audit(request: HttpRequest, action: str, **payload: object) -> None:
    sign_in_audit(
        request=request, user=request.user, action=action, password_verified=True, **payload
    )


def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        checked = password_check(
            request=request,
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            channel="web",
        )
        if checked.throttled:
            form.add_error(None, _("Too many failed attempts. Try again in a few minutes."))
        elif checked.user is None:
            form.add_error(None, _("E-mail or password is wrong."))
        else:
            login(request, checked.user, backend="django.contrib.auth.backends.ModelBackend")
            rls_set(user=checked.user)  # signed in: their memberships become readable
            _audit(request, "auth.login", channel="web", step="password")
            if has_confirmed_device(checked.user):
                return HttpResponseRedirect(_with_next("accounts:verify", next_url))
            if needs_second_factor(checked.user):
                return HttpResponseRedirect(_with_next("accounts:two_factor", next_url))
            return HttpResponseRedirect(next_url)
    return render(request, "accounts/login.html", {"form": form, "next": next_url})


def _otp_step(request: HttpRequest, template: str, action: str) -> HttpResponse:
    next_url = _next_url(request)
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = otp_verify(user=request.user, token=form.cleaned_data["otp"])  # type: ignore[arg-type]
        if outcome.device is not None:
            session_otp_mark_verified(request=request, device=outcome.device)
            _audit(request, action, device=outcome.device.persistent_id)
            if isinstance(outcome.device, StaticDevice):
                # A backup code means the authenticator is lost: replace it before anything else.
                request.session[RECOVERY_SESSION_KEY] = True
                return HttpResponseRedirect(_with_next("accounts:two_factor", next_url))
            return HttpResponseRedirect(next_url)
        _audit(request, "auth.otp_failed", channel="web", throttled=outcome.throttled)
        if outcome.throttled:
            form.add_error("otp", _("Too many wrong codes. Wait a moment and try again."))
        else:
            form.add_error("otp", _("This code is wrong or was already used."))
    return render(request, template, {"form": form, "next": next_url})


@login_required
def verify_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_verified():  # type: ignore[union-attr]
        return HttpResponseRedirect(_next_url(request))
    if not has_confirmed_device(request.user):
        return HttpResponseRedirect(_with_next("accounts:two_factor", _next_url(request)))
    return _otp_step(request, "accounts/verify.html", "auth.otp_verified")


@login_required
def step_up_view(request: HttpRequest) -> HttpResponse:
    if not has_confirmed_device(request.user):
        return HttpResponseRedirect(_with_next("accounts:two_factor", _next_url(request)))
    return _otp_step(request, "accounts/step_up.html", "auth.step_up")


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


@login_required
def two_factor_view(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app; a person who already has one must be verified first.

    After a sign-in with a backup code (recovery) the new app replaces the old ones, and
    nothing else opens until it is enrolled. New backup codes need a fresh step-up.
    """
    user = request.user
    enrolled = has_confirmed_device(user)
    recovering = bool(request.session.get(RECOVERY_SESSION_KEY))
    if enrolled and not user.is_verified():  # type: ignore[union-attr]
        return HttpResponseRedirect(_with_next("accounts:verify", request.get_full_path()))
    next_url = _next_url(request)
    context: dict[str, object] = {"enrolled": enrolled, "recovering": recovering, "next": next_url}
    form = OtpForm(request.POST or None)
    pending = TOTPDevice.objects.filter(
        user=user, confirmed=False, pk=request.session.get(PENDING_DEVICE_SESSION_KEY)
    ).first()
    if request.method == "POST" and request.POST.get("action") == "confirm" and pending:
        if form.is_valid() and pending.verify_token(form.cleaned_data["otp"].strip()):
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            del request.session[PENDING_DEVICE_SESSION_KEY]
            session_otp_mark_verified(request=request, device=pending)
            codes = backup_codes_issue(user=user)  # type: ignore[arg-type]
            _audit(request, "auth.totp_enrolled", device=pending.persistent_id)
            if recovering:
                replaced = TOTPDevice.objects.filter(user=user, confirmed=True).exclude(
                    pk=pending.pk
                )
                _audit(request, "auth.device_replaced", devices_removed=replaced.count())
                replaced.delete()
                del request.session[RECOVERY_SESSION_KEY]
            return render(request, "accounts/backup_codes.html", {"codes": codes, "next": next_url})
        form.add_error("otp", _("This code does not match. Check the time on your phone."))
    elif request.method == "POST" and request.POST.get("action") == "backup_codes" and enrolled:
        if not step_up_is_fresh(request):
            return HttpResponseRedirect(_with_next("accounts:step_up", request.get_full_path()))
        codes = backup_codes_issue(user=user)  # type: ignore[arg-type]
        _audit(request, "auth.backup_codes_issued")
        return render(request, "accounts/backup_codes.html", {"codes": codes, "next": next_url})
    if (request.method == "POST" and request.POST.get("action") == "enrol") or (
        (not enrolled or recovering) and pending is None
    ):
        pending = totp_device_create(user=user, confirmed=False)  # type: ignore[arg-type]
        request.session[PENDING_DEVICE_SESSION_KEY] = pending.pk
    if pending is not None:
        context.update(
            pending=pending,
            qr_svg=_qr_svg(pending.config_url),
            secret=b32encode(pending.bin_key).decode(),
            otpauth_uri=pending.config_url,
        )
    context["form"] = form
    return render(request, "accounts/two_factor.html", context)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        _audit(request, "auth.logout")
    logout(request)
    return HttpResponseRedirect(reverse("accounts:login"))


@step_up_required
def api_tokens_view(request: HttpRequest) -> HttpResponse:
    """A person's API tokens in the active tenant: create (shown once) and revoke."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return render(request, "accounts/api_tokens.html", {"tokens": [], "no_tenant": True})
    new_key = None
    if request.method == "POST":
        if request.POST.get("action") == "create":
            new_key, _token = api_token_issue(membership=membership, request=request)
        elif request.POST.get("action") == "revoke":
            token = ApiToken.objects.filter(
                membership=membership, pk=request.POST.get("token_id", "0") or 0
            ).first()
            if token is not None:
                api_token_revoke(token=token, actor=request.user, request=request)
                messages.success(request, _("Token revoked."))
    tokens = ApiToken.objects.filter(membership=membership).order_by("-created_at")
    return render(request, "accounts/api_tokens.html", {"tokens": tokens, "new_key": new_key})


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The link in an invitation: the person chooses their password."""

    template_name = "accounts/set_password.html"
    success_url = reverse_lazy("accounts:login")
    post_reset_login = False
