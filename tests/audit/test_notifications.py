# ruff: noqa: RUF001 (Simplified Chinese is written with full-width punctuation)
"""Notifications: the portal, e-mail and signed webhooks, sent once per key, after commit.

Webhooks go to real HTTP receivers on 127.0.0.1 (a thread per test), which check the
signature the way docs/webhooks.md tells receivers to, with their own code. Delivery tasks
run in Celery's eager mode (deterministic, no sleeping through back-offs), except one test
where a real worker consumes them through the broker and waits out a real back-off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import smtplib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import DatabaseError, transaction
from django.test import Client

from platform_core.api.models import IdempotencyRecord
from platform_core.audit import notifications
from platform_core.audit.models import (
    AuditEvent,
    Notification,
    NotificationAttempt,
    NotificationDelivery,
    WebhookEndpoint,
)
from platform_core.audit.notifications import (
    notification_send,
    webhook_endpoint_disable,
    webhook_endpoint_register,
)
from platform_core.audit.tasks import notification_delivery_task
from platform_core.celery import app
from platform_core.exceptions import ApplicationError
from tests.conftest import (
    TenantPeople,
    api_token_for,
    as_tenant,
    make_tenant_people,
    sign_in,
)

APPROVAL = {
    "approval_id": 7,
    "action": "withdrawal.approve",
    "maker": "ops@acme.example",
    "reason": "margin < 110% & rising",
}
REPLAY_WINDOW_SECONDS = 300  # docs/webhooks.md: "more than 5 minutes from your clock"


# --- a real webhook receiver ------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that answers POSTs with ``statuses`` in turn, then 200."""

    statuses: list[int] = field(default_factory=list)
    location: str = ""
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(Received(self.path, dict(self.headers), body, time.time()))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/margin"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings: Any) -> Iterator[Callable[..., Receiver]]:
    """Make receivers; plain http on 127.0.0.1 is allowed, as in development."""
    settings.WEBHOOKS_REQUIRE_HTTPS = False
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None, location: str = "") -> Receiver:
        made.append(Receiver(list(statuses or []), location))
        return made[-1]

    yield make
    for each in made:
        each.stop()


@pytest.fixture(autouse=True)
def celery_inline() -> Iterator[None]:
    """Tasks queued after commit run at once, in this thread, retries too, without waiting.

    Celery runs an eager retry only when the ``Retry`` is not propagated to the caller.
    """
    names = ("task_always_eager", "task_eager_propagates")
    before = {name: app.conf[name] for name in names}
    app.conf.update(task_always_eager=True, task_eager_propagates=False)
    yield
    app.conf.update(before)


def verify_as_documented(secret: str, header: str, body: bytes) -> bool:
    """docs/webhooks.md, "The signature", written again from the text, not imported."""
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    if match is None:
        return False
    timestamp, received = int(match[1]), match[2]
    if abs(time.time() - timestamp) > REPLAY_WINDOW_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), received)


# --- helpers ----------------------------------------------------------------------------------


def register(people: TenantPeople, url: str, events: tuple[str, ...] = ("approval.requested",)):
    with as_tenant(people.tenant):
        return webhook_endpoint_register(
            tenant=people.tenant, actor=people.admin.user, url=url, events=events
        )


def send(people: TenantPeople, key: str = "approval-7-compliance", **options: Any) -> Notification:
    """Acme's (or ``people``'s) compliance officer is told an approval waits for them."""
    options.setdefault("recipient", people.compliance.membership)
    options.setdefault("kind", "approval.requested")
    options.setdefault("context", APPROVAL)
    with as_tenant(people.tenant):
        return notification_send(tenant=people.tenant, key=key, **options)


def deliveries(people: TenantPeople, **filters: Any) -> list[NotificationDelivery]:
    with as_tenant(people.tenant):
        return list(NotificationDelivery.objects.filter(**filters).order_by("id"))


def log_of(delivery: NotificationDelivery) -> list[tuple[Any, ...]]:
    with as_tenant(delivery.tenant_id):
        return list(
            NotificationAttempt.objects.filter(delivery=delivery)
            .order_by("number")
            .values_list("number", "succeeded", "status_code", "retry_in_seconds")
        )


def token_headers(person: Any, tenant: str | None = None) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person, tenant)}"}


def post(url: str, headers: dict[str, str], body: Any = None, key: str = "key-1") -> Any:
    return Client().post(
        url, body or {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **headers
    )


# --- sending: after commit, once per key -----------------------------------------------------


@pytest.mark.django_db
def test_a_notification_is_recorded_with_the_senders_change_and_sent_only_after_commit(
    acme, receiver, mailoutbox, django_capture_on_commit_callbacks
):
    rx = receiver()
    register(acme, rx.url)
    with django_capture_on_commit_callbacks() as after_commit:
        notification = send(acme)
    pending = deliveries(acme, notification=notification)
    assert [(d.channel, d.status) for d in pending] == [
        ("email", "pending"),
        ("webhook", "pending"),
    ]
    assert len(after_commit) == 2
    assert mailoutbox == [] and rx.requests == []

    for callback in after_commit:
        callback()
    assert [m.to for m in mailoutbox] == [[acme.compliance.email]]
    assert len(rx.requests) == 1
    assert {d.status for d in deliveries(acme, notification=notification)} == {"delivered"}

    # Celery delivering a task twice (acks_late) sends nothing twice.
    for delivery in pending:
        assert notification_delivery_task.apply(args=[acme.tenant.pk, delivery.pk]).get() == (
            "delivered"
        )
    assert len(mailoutbox) == 1 and len(rx.requests) == 1
    assert [len(log_of(d)) for d in pending] == [1, 1]


@pytest.mark.django_db
def test_a_rolled_back_change_sends_nothing(
    acme, receiver, mailoutbox, django_capture_on_commit_callbacks
):
    rx = receiver()
    register(acme, rx.url)
    with django_capture_on_commit_callbacks(execute=True) as after_commit:
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            send(acme)
            raise ZeroDivisionError
    assert after_commit == []
    with as_tenant(acme.tenant):
        assert not Notification.objects.exists()
    assert mailoutbox == [] and rx.requests == []


@pytest.mark.django_db
def test_the_same_key_twice_sends_once(
    acme, receiver, mailoutbox, django_capture_on_commit_callbacks
):
    rx = receiver()
    register(acme, rx.url)
    with django_capture_on_commit_callbacks(execute=True):
        first = send(acme)
    with django_capture_on_commit_callbacks(execute=True) as after_commit:
        second = send(acme)
    assert second.pk == first.pk
    assert after_commit == []
    with as_tenant(acme.tenant):
        assert Notification.objects.count() == 1
        assert NotificationDelivery.objects.count() == 2
    assert len(mailoutbox) == 1
    assert len(rx.requests) == 1


@pytest.mark.django_db
def test_a_key_used_for_another_notification_is_refused(acme):
    send(acme)
    with pytest.raises(ApplicationError) as refused:
        send(acme, kind="approval.decided", context={**APPROVAL, "approved": True})
    assert refused.value.status_code == 409
    with pytest.raises(ApplicationError):
        send(acme, recipient=acme.risk.membership)
    with as_tenant(acme.tenant):
        assert Notification.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"kind": "margin.nonsense"}, "kind"),
        ({"context": {"approval_id": 7}}, "context"),
        ({"context": {**APPROVAL, "when": object()}}, "context"),
        ({"channels": ("pigeon",)}, "channels"),
        ({"key": "  "}, "key"),
    ],
)
def test_a_malformed_notification_is_refused_and_records_nothing(acme, options, field):
    with pytest.raises(ApplicationError) as refused:
        send(acme, **options)
    assert refused.value.status_code == 400
    assert field in refused.value.fields
    with as_tenant(acme.tenant):
        assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_recipient_of_another_tenant_is_refused(acme, globex):
    with pytest.raises(ApplicationError) as refused:
        send(acme, recipient=globex.client.membership)
    assert "recipient" in refused.value.fields


# --- webhooks: signed as documented, retried with back-off ------------------------------------


@pytest.mark.django_db
def test_the_webhook_is_signed_and_shaped_as_documented(
    acme, receiver, django_capture_on_commit_callbacks
):
    rx = receiver()
    endpoint = register(acme, rx.url)
    with django_capture_on_commit_callbacks(execute=True):
        notification = send(acme, channels=("webhook",))

    (request,) = rx.requests
    assert request.path == "/hooks/margin"
    assert request.headers["Content-Type"] == "application/json"
    signature = request.headers["X-Platform-Signature"]
    assert verify_as_documented(endpoint.secret, signature, request.body)
    assert abs(int(signature.split(",")[0].removeprefix("t=")) - time.time()) < 60
    # The check means something: another body, another secret or an old timestamp fail it.
    assert not verify_as_documented(endpoint.secret, signature, request.body + b" ")
    assert not verify_as_documented("whsec_" + "0" * 64, signature, request.body)
    old = int(time.time()) - REPLAY_WINDOW_SECONDS - 5
    mac = hmac.new(endpoint.secret.encode(), f"{old}.".encode() + request.body, hashlib.sha256)
    assert not verify_as_documented(endpoint.secret, f"t={old},v1={mac.hexdigest()}", request.body)

    event = json.loads(request.body)
    assert event == {
        "id": str(notification.event_id),
        "type": "approval.requested",
        "created": notification.created_at.isoformat(timespec="microseconds"),
        "tenant": "acme",
        "recipient": {"membership_id": acme.compliance.membership.pk},
        "data": APPROVAL,
    }
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert request.body == canonical.encode()
    assert request.headers["X-Platform-Event-Id"] == str(notification.event_id)
    assert request.headers["X-Platform-Event-Type"] == "approval.requested"


@pytest.mark.django_db
def test_a_failing_receiver_is_retried_with_exponential_back_off(
    acme, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    rx = receiver([500, 503])
    endpoint = register(acme, rx.url)
    with django_capture_on_commit_callbacks():  # queued, not run: the test runs the task
        send(acme, channels=("webhook",))
    (delivery,) = deliveries(acme)
    countdowns: list[int] = []
    real_retry = notification_delivery_task.retry

    def retry(*args: Any, **kwargs: Any) -> Any:
        countdowns.append(kwargs["countdown"])
        return real_retry(*args, **kwargs)

    monkeypatch.setattr(notification_delivery_task, "retry", retry)

    result = notification_delivery_task.apply(args=[acme.tenant.pk, delivery.pk])

    assert result.get() == "delivered"
    assert countdowns == [2, 4]
    assert log_of(delivery) == [(1, False, 500, 2), (2, False, 503, 4), (3, True, 200, None)]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("delivered", 3, None)
    # Each retry sends the same event, freshly signed.
    assert len({r.body for r in rx.requests}) == 1
    assert all(
        verify_as_documented(endpoint.secret, r.headers["X-Platform-Signature"], r.body)
        for r in rx.requests
    )


@pytest.mark.django_db
def test_a_delivery_gives_up_after_its_last_attempt_and_never_waits_beyond_the_cap(
    acme, receiver, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_MAX_ATTEMPTS = 4
    settings.NOTIFICATION_RETRY_MAX_DELAY_SECONDS = 5
    rx = receiver([500] * 10)
    register(acme, rx.url)
    with django_capture_on_commit_callbacks(execute=True):
        send(acme, channels=("webhook",))
    (delivery,) = deliveries(acme)
    assert log_of(delivery) == [
        (1, False, 500, 2),
        (2, False, 500, 4),
        (3, False, 500, 5),
        (4, False, 500, None),
    ]
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        "failed",
        4,
        "HTTP 500 Internal Server Error",
    )
    assert notification_delivery_task.apply(args=[acme.tenant.pk, delivery.pk]).get() == "failed"
    assert len(rx.requests) == 4


@pytest.mark.django_db
def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    acme, receiver, django_capture_on_commit_callbacks
):
    elsewhere = receiver()
    rx = receiver([302], location=elsewhere.url)
    register(acme, rx.url)
    with django_capture_on_commit_callbacks(execute=True):
        send(acme, channels=("webhook",))
    (delivery,) = deliveries(acme)
    assert log_of(delivery)[0] == (1, False, 302, 2)
    assert delivery.status == "delivered"  # the retry, answered 200 by the first receiver
    assert elsewhere.requests == []


@pytest.mark.django_db
def test_an_email_the_mail_server_refuses_is_retried(
    acme, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    real_send_mail = notifications.send_mail
    failures = [smtplib.SMTPServerDisconnected("Connection unexpectedly closed")]

    def flaky_send_mail(**kwargs: Any) -> int:
        if failures:
            raise failures.pop()
        return real_send_mail(**kwargs)

    monkeypatch.setattr(notifications, "send_mail", flaky_send_mail)
    with django_capture_on_commit_callbacks(execute=True):
        send(acme, channels=("email",))
    (delivery,) = deliveries(acme)
    assert log_of(delivery) == [(1, False, None, 2), (2, True, None, None)]
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_tenants_webhooks_never_receive_another_tenants_events(
    acme, globex, receiver, django_capture_on_commit_callbacks
):
    acme_rx, globex_rx = receiver(), receiver()
    register(acme, acme_rx.url)
    register(globex, globex_rx.url)
    with django_capture_on_commit_callbacks(execute=True):
        send(acme)
        send(globex)  # the same key: keys are per tenant
    assert [json.loads(r.body)["tenant"] for r in acme_rx.requests] == ["acme"]
    assert [json.loads(r.body)["tenant"] for r in globex_rx.requests] == ["globex"]
    with as_tenant(acme.tenant):
        assert WebhookEndpoint.objects.count() == 1
        assert {d.target for d in NotificationDelivery.objects.filter(channel="webhook")} == {
            acme_rx.url
        }


@pytest.mark.django_db
def test_an_endpoint_gets_only_the_events_it_subscribed_to(
    acme, receiver, django_capture_on_commit_callbacks
):
    decided_rx = receiver()
    register(acme, decided_rx.url, events=("approval.decided",))
    with django_capture_on_commit_callbacks(execute=True):
        send(acme)
        send(
            acme,
            key="approval-7-decided",
            kind="approval.decided",
            recipient=acme.operations.membership,
            context={**APPROVAL, "approved": False},
        )
    assert [json.loads(r.body)["type"] for r in decided_rx.requests] == ["approval.decided"]


@pytest.mark.django_db
def test_disabling_an_endpoint_cancels_what_it_has_pending(
    acme, receiver, django_capture_on_commit_callbacks
):
    rx = receiver()
    endpoint = register(acme, rx.url)
    with django_capture_on_commit_callbacks() as after_commit:
        send(acme, channels=("webhook",))
    with as_tenant(acme.tenant):
        webhook_endpoint_disable(tenant=acme.tenant, actor=acme.admin.user, endpoint_id=endpoint.pk)
    for callback in after_commit:
        callback()
    (delivery,) = deliveries(acme)
    assert (delivery.status, delivery.attempts, log_of(delivery)) == ("cancelled", 0, [])
    assert rx.requests == []
    with as_tenant(acme.tenant):
        event = AuditEvent.objects.get(action="webhook.disabled")
        assert event.payload["pending_cancelled"] == 1
    send(acme, key="approval-8-compliance", channels=("webhook",))
    assert len(deliveries(acme)) == 1  # a disabled endpoint gets no new deliveries


@pytest.mark.django_db
def test_the_delivery_log_is_append_only(acme, receiver, django_capture_on_commit_callbacks):
    register(acme, receiver().url)
    with django_capture_on_commit_callbacks(execute=True):
        send(acme, channels=("webhook",))
    with as_tenant(acme.tenant):
        attempts = NotificationAttempt.objects.all()
        assert attempts.count() == 1
        with pytest.raises(DatabaseError, match=r"append-only|permission denied"):
            with transaction.atomic():
                attempts.update(succeeded=False)
        with pytest.raises(DatabaseError, match=r"append-only|permission denied"):
            with transaction.atomic():
                attempts.delete()


# --- languages ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_recipient_reads_it_in_their_own_language(
    acme, mailoutbox, django_capture_on_commit_callbacks
):
    acme.risk.user.language = "en"
    acme.risk.user.save(update_fields=["language"])
    assert acme.compliance.user.language == "zh-hans"  # the default
    with django_capture_on_commit_callbacks(execute=True):
        chinese = send(acme, channels=("portal", "email"))
        english = send(
            acme, key="approval-7-risk", recipient=acme.risk.membership, channels=("email",)
        )

    assert chinese.language == "zh-hans"
    assert chinese.subject == "待审批：withdrawal.approve"
    assert "ops@acme.example 在 Acme 请求第二人审批。" in chinese.body
    assert "理由： margin < 110% & rising" in chinese.body  # plain text: nothing escaped
    assert english.subject == "Approval needed: withdrawal.approve"
    assert "ops@acme.example asks for a second person's decision in Acme." in english.body
    assert "Reason: margin < 110% & rising" in english.body
    by_address = {m.to[0]: m for m in mailoutbox}
    assert by_address[acme.compliance.email].subject == chinese.subject
    assert by_address[acme.risk.email].subject == english.subject
    assert by_address[acme.risk.email].body == english.body


@pytest.mark.django_db
def test_a_decision_is_announced_in_both_languages(acme):
    decided = {**APPROVAL, "approved": False, "reason": "limit exceeded"}
    chinese = send(acme, key="d-zh", kind="approval.decided", context=decided)
    acme.risk.user.language = "en"
    acme.risk.user.save(update_fields=["language"])
    english = send(
        acme,
        key="d-en",
        kind="approval.decided",
        recipient=acme.risk.membership,
        context={**decided, "approved": True},
    )
    assert chinese.subject == "已驳回：withdrawal.approve"
    assert "您的申请 #7（withdrawal.approve）已被驳回。" in chinese.body
    assert english.subject == "Approved: withdrawal.approve"
    assert "Your request #7 (withdrawal.approve) was approved and has run." in english.body


# --- the API: registering endpoints ------------------------------------------------------------

WEBHOOKS = "/api/v1/webhooks"


def registered_anything(people: TenantPeople) -> tuple[int, int, int]:
    with as_tenant(people.tenant):
        return (
            WebhookEndpoint.objects.count(),
            AuditEvent.objects.filter(action__startswith="webhook.").count(),
            IdempotencyRecord.objects.count(),
        )


@pytest.mark.django_db
def test_a_plain_http_url_is_refused_in_production_and_nothing_is_written(acme, settings):
    assert settings.WEBHOOKS_REQUIRE_HTTPS is True  # DEBUG is off, as in production
    headers = token_headers(acme.admin)
    response = post(
        WEBHOOKS, headers, {"url": "http://hooks.example.com/in", "events": ["approval.requested"]}
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "The request has invalid fields.",
        "fields": {"url": ["Webhook URLs must use https."]},
    }
    assert registered_anything(acme) == (0, 0, 0)
    # The refusal did not use the key up: the corrected request goes through with it.
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True  # no DNS for example.com in the test
    response = post(
        WEBHOOKS, headers, {"url": "https://hooks.example.com/in", "events": ["approval.requested"]}
    )
    assert response.status_code == 201, response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://127.0.0.1/in", "The host is on a private or local network."),
        ("https://localhost:8443/in", "The host is on a private or local network."),
        ("https://10.1.2.3/in", "The host is on a private or local network."),
        ("https://169.254.169.254/latest/meta-data", "The host is on a private or local network."),
        ("https://[::1]/in", "The host is on a private or local network."),
        ("https://[::ffff:127.0.0.1]/in", "The host is on a private or local network."),
        (
            "https://user:pass@hooks.example.com/in",
            "Put no credentials in the URL; receivers verify the signature instead.",
        ),
    ],
)
def test_urls_that_reach_inside_are_refused_in_production(acme, url, problem):
    response = post(
        WEBHOOKS, token_headers(acme.admin), {"url": url, "events": ["approval.decided"]}
    )
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"url": [problem]}
    assert registered_anything(acme) == (0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://hooks.example.com/in", "events": ["margin.nonsense"]}, "events"),
        ({"url": "https://hooks.example.com/in", "events": []}, "events"),
        ({"url": "ftp://hooks.example.com/in", "events": ["approval.decided"]}, "url"),
        ({"events": ["approval.decided"]}, "url"),
    ],
)
def test_a_malformed_registration_is_refused(acme, settings, body, field):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    response = post(WEBHOOKS, token_headers(acme.admin), body)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert registered_anything(acme) == (0, 0, 0)


@pytest.mark.django_db
def test_a_tenant_admin_registers_an_endpoint_and_sees_its_secret_once(acme, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    headers = token_headers(acme.admin)
    body = {"url": "https://hooks.example.com/in", "events": ["approval.requested"]}
    created = post(WEBHOOKS, headers, body)
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert re.fullmatch(r"whsec_[0-9a-f]{64}", secret)
    replay = post(WEBHOOKS, headers, body)
    assert replay.json() == created.json() and replay["Idempotent-Replayed"] == "true"

    listed = Client().get(WEBHOOKS, **headers)
    assert listed.status_code == 200
    (item,) = listed.json()["results"]
    assert item["url"] == body["url"] and item["status"] == "active"
    assert secret not in listed.content.decode() and "secret" not in item
    with as_tenant(acme.tenant):
        event = AuditEvent.objects.get(action="webhook.registered")
    assert event.actor_id == acme.admin.user.pk
    assert event.payload == {"url": body["url"], "events": body["events"]}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["client", "compliance", "risk", "operations", "auditor"])
def test_only_a_tenant_admin_may_see_or_register_endpoints(acme, settings, role):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    headers = token_headers(getattr(acme, role))
    assert Client().get(WEBHOOKS, **headers).status_code == 403
    body = {"url": "https://hooks.example.com/in", "events": ["approval.requested"]}
    assert post(WEBHOOKS, headers, body).status_code == 403
    assert registered_anything(acme) == (0, 0, 0)


@pytest.mark.django_db
def test_anonymous_callers_are_asked_to_authenticate(acme):
    for response in (
        Client().get(WEBHOOKS),
        post(WEBHOOKS, {}, {"url": "https://hooks.example.com/in", "events": ["approval.decided"]}),
        Client().get("/api/v1/notifications"),
    ):
        assert response.status_code == 401
    assert registered_anything(acme) == (0, 0, 0)


@pytest.mark.django_db
def test_another_tenants_admin_neither_sees_nor_adds_to_acmes_endpoints(acme, globex, receiver):
    register(acme, receiver().url)
    headers = token_headers(globex.admin)
    assert Client().get(WEBHOOKS, **headers).json()["results"] == []
    created = post(
        WEBHOOKS, headers, {"url": "http://127.0.0.1:9/in", "events": ["approval.decided"]}
    )
    assert created.status_code == 201
    assert registered_anything(acme)[0] == 1
    with as_tenant(globex.tenant):
        assert WebhookEndpoint.objects.get().created_by_id == globex.admin.user.pk


# --- the API: disabling endpoints and reading their log ---------------------------------------


@pytest.fixture
def acme_endpoint(acme, receiver, django_capture_on_commit_callbacks) -> WebhookEndpoint:
    """An Acme endpoint with one delivery, answered 500 once, then 200."""
    rx = receiver([500])
    endpoint = register(acme, rx.url)
    with django_capture_on_commit_callbacks(execute=True):
        send(acme, channels=("webhook",))
    return endpoint


def endpoint_state(people: TenantPeople, endpoint: WebhookEndpoint) -> tuple[Any, ...]:
    with as_tenant(people.tenant):
        endpoint.refresh_from_db()
        disabled = AuditEvent.objects.filter(action="webhook.disabled").count()
    return endpoint.status, endpoint.disabled_at, disabled


@pytest.mark.django_db
def test_an_endpoints_delivery_log_four_ways(acme, globex, acme_endpoint):
    url = f"{WEBHOOKS}/{acme_endpoint.pk}/deliveries"
    assert Client().get(url).status_code == 401
    globex_admin = token_headers(globex.admin)
    foreign = Client().get(url, **globex_admin)
    missing = Client().get(f"{WEBHOOKS}/999999999/deliveries", **globex_admin)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert Client().get(url, **token_headers(acme.compliance)).status_code == 403

    response = Client().get(url, **token_headers(acme.admin))
    assert response.status_code == 200
    (delivery,) = response.json()["results"]
    assert (delivery["status"], delivery["attempts"], delivery["event_type"]) == (
        "delivered",
        2,
        "approval.requested",
    )
    assert [
        (a["number"], a["succeeded"], a["status_code"], a["retry_in_seconds"])
        for a in delivery["log"]
    ] == [(1, False, 500, 2), (2, True, 200, None)]


@pytest.mark.django_db
def test_disabling_an_endpoint_four_ways(acme, globex, acme_endpoint):
    url = f"{WEBHOOKS}/{acme_endpoint.pk}/disable"
    before = endpoint_state(acme, acme_endpoint)
    assert before[0] == "active"

    assert post(url, {}).status_code == 401
    foreign = post(url, token_headers(globex.admin))
    missing = post(f"{WEBHOOKS}/999999999/disable", token_headers(globex.admin))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert post(url, token_headers(acme.operations)).status_code == 403
    assert endpoint_state(acme, acme_endpoint) == before

    response = post(url, token_headers(acme.admin))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "disabled"
    status, disabled_at, audited = endpoint_state(acme, acme_endpoint)
    assert (status, audited) == ("disabled", 1) and disabled_at is not None


# --- the API and the portal: a member's own messages ------------------------------------------


@pytest.fixture
def messages(acme, globex) -> dict[str, Notification]:
    """A message each to Acme's client and risk officer and to Globex's client."""
    context = {**APPROVAL, "action": "credit_line.raise"}
    return {
        "mine": send(acme, key="to-client", recipient=acme.client.membership, context=context),
        "colleague": send(acme, key="to-risk", recipient=acme.risk.membership),
        "e-mail only": send(
            acme, key="mail-only", recipient=acme.client.membership, channels=("email",)
        ),
        "globex": send(globex, key="to-client", recipient=globex.client.membership),
    }


@pytest.mark.django_db
def test_a_member_lists_only_their_own_portal_messages(acme, messages):
    headers = token_headers(acme.client)
    listed = Client().get("/api/v1/notifications", **headers)
    assert listed.status_code == 200
    assert [n["id"] for n in listed.json()["results"]] == [messages["mine"].pk]
    (item,) = listed.json()["results"]
    assert item["subject"] == "待审批：credit_line.raise"
    assert item["context"]["action"] == "credit_line.raise" and item["read_at"] is None
    unread = Client().get("/api/v1/notifications?unread=true", **headers).json()["results"]
    assert len(unread) == 1


@pytest.mark.django_db
def test_marking_a_message_read_four_ways(acme, globex, messages):
    """Messages have no role rule: anyone but the recipient gets the 404 of a missing one."""
    mine = messages["mine"]
    url = f"/api/v1/notifications/{mine.pk}/read"
    missing_url = "/api/v1/notifications/999999999/read"

    assert post(url, {}).status_code == 401
    for stranger in (token_headers(globex.client), token_headers(acme.risk)):
        refused, missing = post(url, stranger), post(missing_url, stranger)
        assert refused.status_code == missing.status_code == 404
        assert refused.content == missing.content
    with as_tenant(acme.tenant):
        mine.refresh_from_db()
        assert mine.read_at is None
        assert not IdempotencyRecord.objects.exists()

    read = post(url, token_headers(acme.client))
    assert read.status_code == 200, read.content
    assert read.json()["read_at"] is not None
    with as_tenant(acme.tenant):
        mine.refresh_from_db()
    assert mine.read_at is not None
    unread = Client().get("/api/v1/notifications?unread=1", **token_headers(acme.client))
    assert unread.json()["results"] == []


@pytest.mark.django_db
def test_the_portal_inbox_shows_my_messages_and_marks_them_read(acme, messages):
    assert Client().get("/notifications/").status_code == 302  # to the sign-in page
    client = sign_in(Client(), acme.client)
    page = client.get("/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "待审批：credit_line.raise" in html
    assert messages["colleague"].subject not in html
    assert "margin &lt; 110% &amp; rising" in html  # escaped on the page

    assert (
        client.post("/notifications/", {"notification": messages["colleague"].pk}).status_code
        == 404
    )
    assert client.post("/notifications/", {"notification": messages["mine"].pk}).status_code == 302
    with as_tenant(acme.tenant):
        assert Notification.objects.get(pk=messages["mine"].pk).read_at is not None
        assert Notification.objects.get(pk=messages["colleague"].pk).read_at is None


# --- a real worker ------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def private_queue() -> Iterator[str]:
    """A queue of this test's own on the shared broker: other test runs' workers never see it."""
    queue = f"notifications-test-{uuid.uuid4().hex}"
    default_queue = app.conf.task_default_queue
    app.amqp.queues.select_add(queue)  # declared before the worker starts, so it consumes it
    app.conf.task_default_queue = queue
    yield queue
    app.conf.task_default_queue = default_queue


@pytest.mark.celery_integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_after_commit_and_retries_after_the_back_off(
    receiver, private_queue
):
    app.conf.task_always_eager = False  # celery_inline restores it
    for option in ("data_folder_in", "data_folder_out", "processed_folder"):
        folder = app.conf.broker_transport_options.get(option)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
    people = make_tenant_people("relay")
    rx = receiver([500])
    endpoint = register(people, rx.url)

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        send(people, channels=("webhook",))  # commits: the message goes through the broker

        def delivered() -> bool:
            return deliveries(people)[0].status == "delivered"

        assert wait_for(delivered), (deliveries(people), log_of(deliveries(people)[0]))

    (delivery,) = deliveries(people)
    assert log_of(delivery) == [(1, False, 500, 2), (2, True, 200, None)]
    first, second = rx.requests
    assert second.at - first.at >= 1.9  # the 2-second countdown, waited out by the broker
    assert first.body == second.body
    assert verify_as_documented(
        endpoint.secret, second.headers["X-Platform-Signature"], second.body
    )
