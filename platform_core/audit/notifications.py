"""Notifications: in-portal messages, e-mail and signed webhooks, each sent once per key.

``notification_send`` records the notification, and one delivery per outside channel (the
e-mail, each subscribed webhook endpoint), in the caller's transaction, and hands the
deliveries to Celery after commit. Each task run makes one attempt
(``notification_delivery_attempt``), logs it append-only, and asks to be retried with
exponential back-off until the delivery succeeds or runs out of attempts.

Webhook bodies are signed with HMAC-SHA256 over ``f"{timestamp}.{body}"`` with the endpoint's
secret; ``docs/webhooks.md`` is the receiver's side of that contract.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone, translation

from platform_core.audit.chain import canonical_json, canonical_time
from platform_core.audit.models import (
    Notification,
    NotificationAttempt,
    NotificationDelivery,
    WebhookEndpoint,
)
from platform_core.audit.services import audit_record
from platform_core.audit.tasks import notification_delivery_task
from platform_core.exceptions import ApplicationError
from platform_core.hooks import Registry
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped

SIGNATURE_HEADER = "X-Platform-Signature"
ALL_CHANNELS = tuple(Notification.Channel.values)
UNRESOLVABLE = "The host name does not resolve."
KEY_MAX_LENGTH = 255  # Notification.key
URL_MAX_LENGTH = 2000  # WebhookEndpoint.url


# --- kinds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationKind:
    """A kind of notification, rendered from ``templates/notifications/<key>/``.

    ``subject.txt`` and ``body.txt`` there are rendered in the recipient's language with the
    sender's context, which must hold every name in ``context``. The key is also the webhook
    event type.
    """

    key: str
    description: str
    context: frozenset[str] = frozenset()


# Apps above the platform register their kinds here in ``AppConfig.ready()``.
notification_kinds: Registry[NotificationKind] = Registry(
    "notification_kinds", key_of=lambda kind: kind.key
)
notification_kinds.register(
    NotificationKind(
        "approval.requested",
        "A four-eyes request waits for the recipient's decision.",
        frozenset({"approval_id", "action", "maker", "reason"}),
    )
)
notification_kinds.register(
    NotificationKind(
        "approval.decided",
        "The recipient's four-eyes request was approved or rejected.",
        frozenset({"approval_id", "action", "approved", "reason"}),
    )
)


# --- sending -------------------------------------------------------------------------------


def _invalid(fields: dict[str, list[str]]) -> ApplicationError:
    return ApplicationError(400, "invalid", "The request has invalid fields.", fields)


def _advisory_lock(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])


def _render(*, kind: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    with translation.override(language):
        subject = render_to_string(f"notifications/{kind}/subject.txt", context)
        body = render_to_string(f"notifications/{kind}/body.txt", context)
    return " ".join(subject.split()), body.strip() + "\n"


def _webhook_body(*, notification: Notification, tenant: Tenant) -> str:
    """The event as receivers get it; built once, so every attempt sends the same bytes."""
    event = {
        "id": str(notification.event_id),
        "type": notification.kind,
        "created": canonical_time(notification.created_at),
        "tenant": tenant.slug,
        "recipient": {"membership_id": notification.recipient_id},
        "data": notification.context,
    }
    return canonical_json(event).decode()


def notification_send(
    *,
    tenant: Tenant,
    recipient: Membership,
    kind: str,
    context: dict[str, Any],
    key: str,
    channels: Iterable[str] = ALL_CHANNELS,
) -> Notification:
    """Record a notification to ``recipient`` and send it on ``channels`` after commit.

    Idempotent by ``key`` (unique per tenant): the same key again returns the first
    notification and sends nothing; the same key for another kind or recipient is a 409.
    Webhooks go to the tenant's active endpoints subscribed to ``kind``.
    """
    problems: dict[str, list[str]] = {}
    spec = notification_kinds.get(kind)
    if spec is None:
        problems["kind"] = [f"Unknown notification kind {kind!r}."]
    elif missing := spec.context - set(context):
        problems["context"] = [f"Missing {', '.join(sorted(missing))}."]
    chosen = list(dict.fromkeys(channels))
    if not chosen or set(chosen) - set(ALL_CHANNELS):
        problems["channels"] = [f"Choose among {', '.join(ALL_CHANNELS)}."]
    key = key.strip()
    if not key or len(key) > KEY_MAX_LENGTH:
        problems["key"] = [f"A key of 1 to {KEY_MAX_LENGTH} characters is required."]
    if recipient.tenant_id != tenant.pk:
        problems["recipient"] = ["The recipient is not a member of this tenant."]
    try:
        data = json.loads(canonical_json(context))
    except TypeError as exc:
        problems.setdefault("context", []).append(f"The context must be JSON: {exc}.")
    if problems:
        raise _invalid(problems)

    with transaction.atomic():
        # Two senders with one key queue here; the second finds the first's notification.
        _advisory_lock(f"notification:{tenant.pk}:{key}")
        existing = Notification.objects.filter(tenant=tenant, key=key).first()
        if existing is not None:
            if existing.kind != kind or existing.recipient_id != recipient.pk:
                raise ApplicationError(
                    409,
                    "idempotency_conflict",
                    "This notification key was already used for another notification.",
                    {"key": ["already used for another kind or recipient"]},
                )
            return existing
        language = recipient.user.language or settings.LANGUAGE_CODE
        subject, body = _render(
            kind=kind,
            language=language,
            context={**data, "tenant": tenant, "recipient": recipient},
        )
        notification = Notification.objects.create(
            tenant=tenant,
            recipient=recipient,
            key=key,
            kind=kind,
            context=data,
            channels=chosen,
            language=language,
            subject=subject[:300],
            body=body,
        )
        deliveries = []
        if Notification.Channel.EMAIL in chosen:
            deliveries.append(
                NotificationDelivery(
                    tenant=tenant,
                    notification=notification,
                    channel=Notification.Channel.EMAIL,
                    target=recipient.user.email,
                )
            )
        if Notification.Channel.WEBHOOK in chosen:
            webhook_body = _webhook_body(notification=notification, tenant=tenant)
            for endpoint in webhook_endpoint_list(tenant=tenant).filter(
                status=WebhookEndpoint.Status.ACTIVE, events__contains=[kind]
            ):
                deliveries.append(
                    NotificationDelivery(
                        tenant=tenant,
                        notification=notification,
                        channel=Notification.Channel.WEBHOOK,
                        endpoint=endpoint,
                        target=endpoint.url,
                        body=webhook_body,
                    )
                )
        for delivery in NotificationDelivery.objects.bulk_create(deliveries):
            notification_delivery_task.delay_on_commit(tenant.pk, delivery.pk)
    return notification


# --- delivering ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    succeeded: bool
    status_code: int | None = None
    error: str = ""
    permanent: bool = False  # retrying cannot help (the URL is refused here)


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str
    retry_in: int | None  # seconds until the next attempt; None: no further attempt


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Platform-Signature`` value: ``t=<unix seconds>,v1=<hex HMAC-SHA256>``.

    The MAC covers ``f"{timestamp}.".encode() + body`` with the whole secret (``whsec_…``,
    UTF-8) as the key, so a captured request cannot be replayed with a new timestamp.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` may not receive webhooks under the current settings, or None."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return "The port is not valid."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Enter an absolute https:// URL."
    if settings.WEBHOOKS_REQUIRE_HTTPS and parts.scheme != "https":
        return "Webhook URLs must use https."
    if parts.username is not None or parts.password is not None:
        return "Put no credentials in the URL; receivers verify the signature instead."
    if settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS:
        return None
    try:
        infos = socket.getaddrinfo(
            parts.hostname,
            port or (443 if parts.scheme == "https" else 80),
            proto=socket.IPPROTO_TCP,
        )
    except (OSError, UnicodeError):
        return UNRESOLVABLE
    if not all(_address_is_public(str(info[4][0])) for info in infos):
        return "The host is on a private or local network."
    return None


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed attempt: following it could leave https or reach inside."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_RefuseRedirects)


def _webhook_post(delivery: NotificationDelivery) -> AttemptResult:
    endpoint = delivery.endpoint
    assert endpoint is not None
    problem = webhook_url_problem(endpoint.url)
    if problem:
        # A name that does not resolve may resolve later; a refused URL stays refused.
        return AttemptResult(False, error=problem, permanent=problem != UNRESOLVABLE)
    body = delivery.body.encode()
    request = urllib.request.Request(  # noqa: S310 (webhook_url_problem allows http(s) only)
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "MarginPlatform-Webhooks/1",
            SIGNATURE_HEADER: webhook_signature(
                secret=endpoint.secret, timestamp=int(time.time()), body=body
            ),
            "X-Platform-Event-Id": str(delivery.notification.event_id),
            "X-Platform-Event-Type": delivery.notification.kind,
            "X-Platform-Delivery-Id": str(delivery.pk),
        },
    )
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return AttemptResult(False, status_code=exc.code, error=f"HTTP {exc.code} {exc.reason}")
    except (OSError, http.client.HTTPException) as exc:
        return AttemptResult(False, error=f"{type(exc).__name__}: {exc}"[:1000])
    if 200 <= status < 300:
        return AttemptResult(True, status_code=status)
    return AttemptResult(False, status_code=status, error=f"HTTP {status}")


def _email_send(delivery: NotificationDelivery) -> AttemptResult:
    notification = delivery.notification
    try:
        send_mail(
            subject=notification.subject,
            message=notification.body,
            from_email=None,
            recipient_list=[delivery.target],
        )
    except OSError as exc:  # smtplib's errors are OSErrors too
        return AttemptResult(False, error=f"{type(exc).__name__}: {exc}"[:1000])
    return AttemptResult(True)


def notification_retry_delay(*, attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failure: 2, 4, 8 … up to the cap."""
    return min(2**attempts, settings.NOTIFICATION_RETRY_MAX_DELAY_SECONDS)


def notification_delivery_attempt(*, tenant: Tenant, delivery_id: int) -> DeliveryOutcome:
    """Make the next attempt at one delivery, log it, and say whether to retry and when.

    The delivery row stays locked during the attempt, so a task that Celery delivers twice
    waits for the first and then finds the delivery done, instead of sending it again.
    Anything but a pending delivery (delivered, failed, cancelled) is left alone.
    """
    with transaction.atomic():
        delivery = (
            tenant_scoped(NotificationDelivery, tenant=tenant)
            .select_for_update(of=("self",))
            .select_related("notification", "endpoint")
            .get(pk=delivery_id)
        )
        if delivery.status != NotificationDelivery.Status.PENDING:
            return DeliveryOutcome(delivery.status, None)
        started = time.monotonic()
        if delivery.channel == Notification.Channel.EMAIL:
            result = _email_send(delivery)
        else:
            result = _webhook_post(delivery)
        now = timezone.now()
        number = delivery.attempts + 1
        retry_in = None
        if result.succeeded:
            delivery.status = NotificationDelivery.Status.DELIVERED
            delivery.delivered_at = now
        elif result.permanent or number >= settings.NOTIFICATION_MAX_ATTEMPTS:
            delivery.status = NotificationDelivery.Status.FAILED
        else:
            retry_in = notification_retry_delay(attempts=number)
        NotificationAttempt.objects.create(
            tenant=tenant,
            delivery=delivery,
            number=number,
            attempted_at=now,
            succeeded=result.succeeded,
            status_code=result.status_code,
            error=result.error,
            duration_ms=int((time.monotonic() - started) * 1000),
            retry_in_seconds=retry_in,
        )
        delivery.attempts = number
        delivery.next_attempt_at = now + timedelta(seconds=retry_in) if retry_in else None
        delivery.last_error = result.error
        delivery.save(
            update_fields=["status", "attempts", "next_attempt_at", "delivered_at", "last_error"]
        )
    return DeliveryOutcome(delivery.status, retry_in)


# --- the portal inbox ----------------------------------------------------------------------


def notification_list(
    *, tenant: Tenant, membership: Membership, unread: bool = False
) -> QuerySet[Notification]:
    """The member's own in-portal messages, newest first."""
    queryset = tenant_scoped(Notification, tenant=tenant).filter(
        recipient=membership, channels__contains=[Notification.Channel.PORTAL]
    )
    if unread:
        queryset = queryset.filter(read_at__isnull=True)
    return queryset.order_by("-created_at", "-id")


def access_notification_by_id(
    *, tenant: Tenant, membership: Membership, notification_id: object
) -> Notification:
    """One of the member's own messages; anyone else's is the same 404 as a missing one."""
    try:
        return notification_list(tenant=tenant, membership=membership).get(
            pk=int(str(notification_id))
        )
    except (Notification.DoesNotExist, ValueError, OverflowError):
        raise Http404("No notification with this id.") from None


def notification_mark_read(
    *, tenant: Tenant, membership: Membership, notification_id: object
) -> Notification:
    """Mark one of the member's messages read (again: no change)."""
    with transaction.atomic():
        notification = access_notification_by_id(
            tenant=tenant, membership=membership, notification_id=notification_id
        )
        if notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(update_fields=["read_at"])
    return notification


# --- webhook endpoints ---------------------------------------------------------------------


def webhook_endpoint_list(*, tenant: Tenant) -> QuerySet[WebhookEndpoint]:
    return tenant_scoped(WebhookEndpoint, tenant=tenant).order_by("id")


def access_webhook_endpoint_by_id(*, tenant: Tenant, endpoint_id: object) -> WebhookEndpoint:
    return access_object_by_id(WebhookEndpoint, tenant=tenant, object_id=endpoint_id)


def webhook_delivery_list(
    *, tenant: Tenant, endpoint: WebhookEndpoint
) -> QuerySet[NotificationDelivery]:
    """An endpoint's deliveries, newest first, each with its log of attempts."""
    return (
        tenant_scoped(NotificationDelivery, tenant=tenant)
        .filter(endpoint=endpoint)
        .select_related("notification")
        .prefetch_related(Prefetch("log", queryset=NotificationAttempt.objects.order_by("number")))
        .order_by("-created_at", "-id")
    )


def webhook_endpoint_register(
    *,
    tenant: Tenant,
    actor: Any,
    url: str,
    events: Iterable[str],
    description: str = "",
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    """Register ``url`` for ``events`` (notification kinds) with a new signing secret.

    The caller shows ``endpoint.secret`` once; it is never listed again. A refused URL or
    event writes nothing.
    """
    url = url.strip()
    events = list(dict.fromkeys(events))
    problems: dict[str, list[str]] = {}
    if len(url) > URL_MAX_LENGTH:
        problems["url"] = [f"At most {URL_MAX_LENGTH} characters."]
    elif problem := webhook_url_problem(url):
        problems["url"] = [problem]
    if not events:
        problems["events"] = ["Choose at least one event."]
    elif unknown := [event for event in events if event not in notification_kinds]:
        problems["events"] = [f"Unknown event {event!r}." for event in unknown]
    if problems:
        raise _invalid(problems)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant,
            url=url,
            events=events,
            description=description,
            secret=f"whsec_{secrets.token_hex(32)}",
            created_by=actor,
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="webhook.registered",
            object_type="webhook_endpoint",
            object_id=endpoint.pk,
            payload={"url": url, "events": events},
            request=request,
        )
    return endpoint


def webhook_endpoint_disable(
    *, tenant: Tenant, actor: Any, endpoint_id: object, request: HttpRequest | None = None
) -> WebhookEndpoint:
    """Stop sending to an endpoint and cancel its pending deliveries (again: no change)."""
    with transaction.atomic():
        endpoint = access_webhook_endpoint_by_id(tenant=tenant, endpoint_id=endpoint_id)
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if endpoint.status == WebhookEndpoint.Status.DISABLED:
            return endpoint
        endpoint.status = WebhookEndpoint.Status.DISABLED
        endpoint.disabled_by = actor
        endpoint.disabled_at = timezone.now()
        endpoint.save(update_fields=["status", "disabled_by", "disabled_at"])
        # Waits for an attempt in flight (it holds its delivery's row lock), then cancels.
        cancelled = (
            tenant_scoped(NotificationDelivery, tenant=tenant)
            .filter(endpoint=endpoint, status=NotificationDelivery.Status.PENDING)
            .update(
                status=NotificationDelivery.Status.CANCELLED,
                next_attempt_at=None,
                last_error="The endpoint was disabled.",
            )
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="webhook.disabled",
            object_type="webhook_endpoint",
            object_id=endpoint.pk,
            payload={"url": endpoint.url, "pending_cancelled": cancelled},
            request=request,
        )
    return endpoint


def notification_deliveries_overdue(
    *, tenant: Tenant, grace: timedelta = timedelta(minutes=5)
) -> list[int]:
    """Pending deliveries whose next attempt is well past due: their message was lost."""
    cutoff = timezone.now() - grace
    return list(
        NotificationDelivery.objects.filter(
            tenant=tenant, status=NotificationDelivery.Status.PENDING
        )
        .filter(
            Q(next_attempt_at__lte=cutoff) | Q(next_attempt_at__isnull=True, created_at__lte=cutoff)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
