"""People and their second factors: every write about a user or a device lives here."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from platform_core.accounts.models import ApiToken, User
from platform_core.audit.services import audit_record

BACKUP_CODE_COUNT = 10
STEP_UP_SESSION_KEY = "otp_verified_at"
# Set when a person signs in with a backup code: they must enrol a new authenticator first.
RECOVERY_SESSION_KEY = "second_factor_recovery"


def email_normalise(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": [f"{email!r} is not a valid e-mail address."]}) from None
    return email


def user_create(*, email: str, password: str | None = None, full_name: str = "") -> User:
    email = email_normalise(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": [f"A user with e-mail {email} already exists."]})
    user = User(email=email, full_name=full_name)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
    return User.objects.create_user(email=email, password=password, full_name=full_name)


def totp_device_create(*, user: User, name: str = "Authenticator", confirmed: bool) -> TOTPDevice:
    """A new TOTP secret. Unconfirmed until the person proves they hold it (enrolment)."""
    return TOTPDevice.objects.create(user=user, name=name, confirmed=confirmed)


def backup_codes_issue(*, user: User) -> list[str]:
    """Replace the person's backup codes with a fresh set of single-use codes."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name="Backup codes", defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def has_confirmed_device(user: Any) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


@dataclass(frozen=True)
class OtpOutcome:
    device: Any | None
    throttled: bool


def otp_verify(*, user: User, token: str) -> OtpOutcome:
    """Check a code against the person's confirmed devices.

    Each device throttles its own failures (django-otp's exponential back-off), a TOTP
    code is accepted once (``last_t``) and a backup code is deleted when used.
    """
    token = "".join((token or "").split())
    throttled = False
    # Rows locked (for_verify) so two requests racing with one code cannot both pass.
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            allowed, _ = device.verify_is_allowed()
            if not allowed:
                throttled = True
                continue
            if device.verify_token(token):
                return OtpOutcome(device=device, throttled=False)
    return OtpOutcome(device=None, throttled=throttled)


def session_otp_mark_verified(*, request: HttpRequest, device: Any) -> None:
    """Mark the session verified (django-otp) and remember when, for step-up checks."""
    from django_otp import login as otp_login

    otp_login(request, device)
    request.session[STEP_UP_SESSION_KEY] = timezone.now().timestamp()


def step_up_is_fresh(request: HttpRequest) -> bool:
    verified_at = request.session.get(STEP_UP_SESSION_KEY)
    if not verified_at or not request.user.is_verified():  # type: ignore[union-attr]
        return False
    age = timezone.now().timestamp() - float(verified_at)
    return 0 <= age <= settings.STEP_UP_MAX_AGE_SECONDS


def _token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_issue(*, membership: Any, request: HttpRequest | None = None) -> tuple[str, ApiToken]:
    """A new bearer token for a membership whose second factor was just checked."""
    key = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            membership=membership,
            user=membership.user,
            key_digest=_token_digest(key),
            expires_at=timezone.now() + timedelta(seconds=settings.API_TOKEN_TTL_SECONDS),
        )
        audit_record(
            tenant=membership.tenant,
            actor=membership.user,
            action="auth.token_issued",
            object_type="api_token",
            object_id=token.pk,
            payload={"expires_at": token.expires_at},
            request=request,
        )
    return key, token


def api_token_by_key(key: str) -> ApiToken | None:
    # No join to the membership here: it is row-level secured and the caller sets the
    # user context from the token first.
    token = ApiToken.objects.select_related("user").filter(key_digest=_token_digest(key)).first()
    return token if token is not None and token.is_usable() else None


def api_token_revoke(*, token: ApiToken, actor: Any, request: HttpRequest | None = None) -> None:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated:
            audit_record(
                tenant=token.membership.tenant,
                actor=actor,
                action="auth.token_revoked",
                object_type="api_token",
                object_id=token.pk,
                request=request,
            )


def set_password_link(*, user: User) -> str:
    """A one-time link (Django's password-reset token) where a person chooses a password."""
    path = reverse(
        "accounts:set_password",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return settings.PLATFORM_BASE_URL.rstrip("/") + path


def invitation_send(*, user: User, tenant: Any) -> None:
    """E-mail a new member their set-password link. Runs after the membership commits."""
    context = {"user": user, "tenant": tenant, "link": set_password_link(user=user)}
    send_mail(
        subject=render_to_string("accounts/email/invitation_subject.txt", context).strip(),
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


def second_factor_reset_validate(*, tenant: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The membership whose person lost every factor; it must belong to this tenant."""
    from platform_core.tenancy.models import Membership

    try:
        membership_id = int(params.get("membership_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError({"membership_id": ["A membership id is required."]}) from None
    if not Membership.objects.filter(tenant=tenant, pk=membership_id).exists():
        raise ValidationError({"membership_id": ["No membership with this id in this tenant."]})
    return {"membership_id": membership_id}


def second_factor_reset_execute(
    *, tenant: Any, params: dict[str, Any], maker: Any, approver: Any
) -> dict[str, Any]:
    """Remove every device of the person (four eyes approved); they enrol anew at sign-in."""
    from platform_core.audit.approvals import same_person
    from platform_core.audit.notifications import notification_send
    from platform_core.exceptions import ApplicationError
    from platform_core.tenancy.models import Membership

    membership = Membership.objects.select_related("user").get(
        tenant=tenant, pk=params["membership_id"]
    )
    person = membership.user
    if same_person(approver, person):
        raise ApplicationError(
            403, "subject_cannot_approve", "Nobody approves the reset of their own second factor."
        )
    removed = 0
    for device in devices_for_user(person, confirmed=None):
        device.delete()
        removed += 1
    audit_record(
        tenant=tenant,
        actor=approver,
        action="auth.second_factor_reset",
        object_type="user",
        object_id=person.pk,
        payload={"devices_removed": removed, "requested_by": maker.pk},
    )
    # Told on every channel, so a reset the person did not ask for cannot go unnoticed.
    notification_send(
        tenant=tenant,
        recipient=membership,
        kind="auth.second_factor_reset",
        context={"devices_removed": removed},
        key=f"second-factor-reset:{membership.pk}:{timezone.now().isoformat()}",
    )
    return {"user": person.pk, "devices_removed": removed}
