"""Hooks: how a lower app lets a higher one act, without importing it.

One small pattern for every hook named in ARCHITECTURE.md. A lower app declares its hooks in its
``hooks.py`` (the platform's are at the bottom of this module); a higher app fills them in its
``AppConfig.ready()``. Two kinds:

- ``Registry``: named entries looked up by key (report types, approvable actions, menu entries,
  scheduled tasks, pre-trade gates). Registering a key twice is an error.
- ``Listeners``: callables told about something that happened (committed ledger entries,
  settled liquidations). They run after the triggering transaction commits, each on its own:
  an exception in one is logged, does not touch the committed data or the other listeners, and
  is retried by Celery with back-off when the hook says so.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

E = TypeVar("E")


class Registry(Generic[E]):
    """Entries of type ``E`` by key; ``key_of`` says which attribute is the key."""

    def __init__(self, name: str, *, key_of: Callable[[E], str]) -> None:
        self.name = name
        self._key_of = key_of
        self._entries: dict[str, E] = {}

    def register(self, entry: E) -> E:
        key = self._key_of(entry)
        if key in self._entries:
            raise ValueError(f"{self.name}: {key!r} is registered twice")
        self._entries[key] = entry
        return entry

    def unregister(self, key: str) -> None:
        """For tests that register a temporary entry."""
        self._entries.pop(key, None)

    def get(self, key: str) -> E | None:
        return self._entries.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[E]:
        return iter(self._entries.values())

    def keys(self) -> list[str]:
        return sorted(self._entries)


Listener = Callable[[dict[str, Any]], None]


def listener_path(listener: Callable[..., Any]) -> str:
    return f"{listener.__module__}.{listener.__qualname__}"


class Listeners:
    """Callables taking one JSON-serialisable payload, called after commit.

    ``retry``: a failing listener is re-run by a Celery task with exponential back-off (so the
    payload must be JSON and the listener importable by its dotted path, and idempotent).
    A listener connected with ``background=True`` always runs in that task, so slow work
    (transaction monitoring on every ledger entry) does not hold the writer's request.
    """

    def __init__(self, name: str, *, retry: bool = False, max_retries: int = 5) -> None:
        self.name = name
        self.retry = retry
        self.max_retries = max_retries
        self._listeners: list[Listener] = []
        self._background: set[str] = set()

    def connect(self, listener: Listener, *, background: bool = False) -> Listener:
        if background:
            if not self.retry:
                raise ValueError(f"{self.name}: background listeners need a retrying hook")
            self._background.add(listener_path(listener))
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    def disconnect(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
        self._background.discard(listener_path(listener))

    def send(self, payload: dict[str, Any]) -> None:
        """Tell every listener, once the current transaction has committed."""
        for listener in list(self._listeners):
            if listener_path(listener) in self._background:
                transaction.on_commit(functools.partial(self._enqueue, listener, payload))
            else:
                transaction.on_commit(functools.partial(self._deliver, listener, payload))

    def _enqueue(self, listener: Listener, payload: dict[str, Any], countdown: int = 0) -> None:
        from platform_core.tasks import hook_listener_task

        hook_listener_task.apply_async(
            args=[self.name, listener_path(listener), payload], countdown=countdown
        )

    def _deliver(self, listener: Listener, payload: dict[str, Any]) -> None:
        try:
            listener(payload)
        except Exception:
            logger.exception("hook %s: listener %s failed", self.name, listener_path(listener))
            if self.retry:
                self._enqueue(listener, payload, countdown=2)


def listener_run(hook_name: str, path: str, payload: dict[str, Any]) -> None:
    """Run one listener again (from the retry task)."""
    hook = LISTENER_HOOKS[hook_name]
    listener = import_string(path)
    if listener not in hook._listeners:
        raise LookupError(f"{path} is no longer a listener of {hook_name}")
    listener(payload)


# --- the platform's own hooks --------------------------------------------------------------


@dataclass(frozen=True)
class ApprovableAction:
    """A high-impact action that needs a second person (four eyes).

    ``execute(tenant=, params=, maker=, approver=)`` runs inside the approval's transaction and
    returns a JSON-serialisable result; raising refuses the approval and changes nothing.
    ``validate(tenant=, params=)`` checks the parameters when the request is made.
    """

    key: str
    description: str
    maker_roles: frozenset[str]
    approver_role: str
    execute: Callable[..., dict[str, Any]]
    validate: Callable[..., dict[str, Any]] | None = None
    expires_after: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class MenuEntry:
    """A link in an area's navigation, shown to the roles listed."""

    key: str
    area: str  # "portal", "console" or "audit"
    label: str
    url_name: str
    roles: frozenset[str]
    order: int = 100


@dataclass(frozen=True)
class ScheduledTask:
    """A periodic Celery task (django-celery-beat copies it into its tables)."""

    key: str
    task: str
    every: timedelta
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportType:
    """A report the pipeline (``platform_core.audit.reports``) builds, renders, signs and stores.

    An app registers its types in ``AppConfig.ready()``; an auditor's engagement names them in
    its scope. The contract (``platform_core.audit.report_content`` has the types):

    ``build(*, tenant, period, appendix) -> ReportBody`` runs inside the tenant's row-security
    context and only reads. ``period`` is a ``ReportPeriod`` (business dates in the tenant's
    time zone; ``period.start``/``period.end`` are the aware instants bounding it). Put every
    row-level record into ``appendix.csv(name, header, rows)`` / ``appendix.json(name, doc)``
    and return what a person reads: ``ReportBody(summary=[(label, value)], sections=[
    ReportSection(title, text, columns, rows, numeric, chart_svg, note)], empty=...)``, with
    amounts as display strings (``amount_text``) and at most ``PDF_ROWS_MAX`` rows a table
    (totals by account and day, exceptions; the pipeline cuts longer tables and points to the
    appendix). ``empty=True`` when the period holds no data: the report still issues, signed,
    and says so. Raise ``platform_core.exceptions.ApplicationError`` for a refusal the
    requester should read; the job then fails with that message and stores nothing.

    The pipeline adds the cover (tenant, scope, period, generated at, the SHA-256 of every
    appendix file), page numbers, the CJK font, the signature and the manifest. ``template``
    may name another PDF template extending ``audit/pdf/report.html``; ``title`` and
    ``description`` are translatable (``gettext_lazy``).
    """

    key: str
    title: str
    build: Callable[..., Any]
    description: str = ""
    template: str = "audit/pdf/report.html"


@dataclass(frozen=True)
class CheckpointLog:
    """An append-only log of a tenant that checkpoints seal into an RFC 6962 Merkle tree.

    ``leaves(*, tenant, size=None)`` returns the leaf data (bytes, in log order; the first
    ``size`` only when given) and must only ever grow: leaf ``i`` never changes once it
    exists. ``scope`` is the report type an auditor's engagement must include to read the
    log's signed heads and proofs. ``describe(*, tenant, index)`` names the record behind
    leaf ``index`` (a JSON object) for inclusion proofs.
    """

    key: str
    title: str
    scope: str
    leaves: Callable[..., list[bytes]]
    describe: Callable[..., dict[str, Any]]


approvable_actions: Registry[ApprovableAction] = Registry(
    "approvable_actions", key_of=lambda a: a.key
)
menu_entries: Registry[MenuEntry] = Registry("menu_entries", key_of=lambda m: m.key)
scheduled_tasks: Registry[ScheduledTask] = Registry("scheduled_tasks", key_of=lambda t: t.key)
report_types: Registry[ReportType] = Registry("report_types", key_of=lambda r: r.key)
checkpoint_logs: Registry[CheckpointLog] = Registry("checkpoint_logs", key_of=lambda c: c.key)

# Listener hooks by name, so a retry task can find them again. Apps add theirs here through
# ``listener_hook_register`` when they declare them.
LISTENER_HOOKS: dict[str, Listeners] = {}


def listener_hook_register(hook: Listeners) -> Listeners:
    if hook.name in LISTENER_HOOKS and LISTENER_HOOKS[hook.name] is not hook:
        raise ValueError(f"listener hook {hook.name!r} declared twice")
    LISTENER_HOOKS[hook.name] = hook
    return hook


def menu_for(*, area: str, role: str | None) -> list[MenuEntry]:
    return sorted(
        (m for m in menu_entries if m.area == area and role in m.roles),
        key=lambda m: (m.order, m.label),
    )


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        t.key: {"task": t.task, "schedule": t.every.total_seconds(), "kwargs": t.kwargs}
        for t in scheduled_tasks
    }
