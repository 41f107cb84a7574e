"""Hooks: typed registries, and listeners that act on committed data without breaking it."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from platform_core.hooks import (
    Listeners,
    MenuEntry,
    Registry,
    beat_schedule,
    listener_hook_register,
    menu_for,
)
from platform_core.tenancy.models import Tenant

CALLS: list[tuple[str, dict]] = []
FAILURES_LEFT = {"flaky": 0}


def steady_listener(payload: dict) -> None:
    CALLS.append(("steady", payload))


def flaky_listener(payload: dict) -> None:
    """Fails as many times as FAILURES_LEFT says, then works (a receiver that was down)."""
    CALLS.append(("flaky", payload))
    if FAILURES_LEFT["flaky"] > 0:
        FAILURES_LEFT["flaky"] -= 1
        raise ConnectionError("receiver down")


def broken_listener(payload: dict) -> None:
    CALLS.append(("broken", payload))
    raise ValueError("a bug in one listener")


HAPPENED = listener_hook_register(Listeners("test.happened", retry=True, max_retries=3))


@pytest.fixture
def hook():
    CALLS.clear()
    yield HAPPENED
    for listener in (steady_listener, flaky_listener, broken_listener):
        HAPPENED.disconnect(listener)


def test_a_registry_refuses_a_key_twice():
    registry: Registry[MenuEntry] = Registry("menus", key_of=lambda m: m.key)
    entry = MenuEntry("k", "console", "Label", "console-home", frozenset({"risk_officer"}))
    registry.register(entry)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(entry)
    assert registry.get("k") is entry and "k" in registry and registry.keys() == ["k"]


def test_menus_show_only_the_entries_of_the_role():
    keys = [m.key for m in menu_for(area="console", role="operations")]
    assert "console.approvals" in keys and "ledger.reconciliation" in keys
    assert menu_for(area="console", role="client") == []


def test_apps_register_their_periodic_tasks():
    schedule = beat_schedule()
    assert schedule["audit-chains-verify-nightly"]["task"] == (
        "platform_core.audit.tasks.audit_chains_verify_all_task"
    )
    assert {"ledger-journal-seal", "ledger-holds-expire", "approvals-expire"} <= set(schedule)


@pytest.mark.django_db(transaction=True)
def test_listeners_run_after_commit_and_never_for_a_rolled_back_change(hook):
    hook.connect(steady_listener)
    with transaction.atomic():
        Tenant.objects.create(slug="t1", name="T", timezone="UTC", base_currency="USD")
        hook.send({"n": 1})
        assert CALLS == []  # not before the commit
    assert CALLS == [("steady", {"n": 1})]
    with pytest.raises(RuntimeError), transaction.atomic():
        hook.send({"n": 2})
        raise RuntimeError("the change fails")
    assert CALLS == [("steady", {"n": 1})]


@pytest.mark.django_db(transaction=True)
def test_a_failing_listener_breaks_neither_the_change_nor_the_others_and_is_logged(hook, caplog):
    hook.connect(broken_listener)
    hook.connect(steady_listener)
    with caplog.at_level(logging.ERROR, logger="platform_core.hooks"), transaction.atomic():
        Tenant.objects.create(slug="t2", name="T", timezone="UTC", base_currency="USD")
        hook.send({"n": 3})
    assert Tenant.objects.filter(slug="t2").exists()  # the triggering change stands
    assert ("steady", {"n": 3}) in CALLS
    assert "listener tests.test_hooks.broken_listener failed" in caplog.text
    assert "a bug in one listener" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_failing_listener_is_retried_when_the_hook_says_so(hook):
    FAILURES_LEFT["flaky"] = 2
    hook.connect(flaky_listener)
    with transaction.atomic():
        hook.send({"n": 4})
    # Tasks run inline in tests: the retry task re-ran the listener until it worked.
    assert [name for name, _ in CALLS] == ["flaky", "flaky", "flaky"]
    assert FAILURES_LEFT["flaky"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_background_listener_runs_in_the_worker_task_after_commit(hook):
    """Slow listeners (transaction monitoring) leave the writer's request: the task runs them,
    never before commit and never for a rolled-back change."""
    from celery.signals import task_prerun

    ran_in: list[str] = []

    def record(sender=None, **_kwargs):
        ran_in.append(sender.name)

    task_prerun.connect(record)
    try:
        hook.connect(steady_listener, background=True)
        hook.connect(flaky_listener)
        with transaction.atomic():
            hook.send({"n": 5})
            assert CALLS == []
        with pytest.raises(RuntimeError), transaction.atomic():
            hook.send({"n": 6})
            raise RuntimeError("rolled back")
    finally:
        task_prerun.disconnect(record)
    assert sorted(CALLS, key=lambda c: c[0]) == [("flaky", {"n": 5}), ("steady", {"n": 5})]
    assert ran_in == ["platform_core.tasks.hook_listener_task"]


def test_only_a_retrying_hook_takes_background_listeners():
    plain = Listeners("test.plain")
    with pytest.raises(ValueError, match="retrying"):
        plain.connect(steady_listener, background=True)
