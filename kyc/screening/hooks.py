"""The hooks the screening app offers to the apps above it.

- ``subject_source``: the one callable that tells screening who the clients are. The kyc app
  registers it in its ``AppConfig.ready()``; screening never stores client PII, it asks::

      def kyc_subjects(tenant, refs: Iterable[str] | None) -> Iterator[Subject]: ...
      subject_source.register(kyc_subjects)

  ``refs=None`` means every client of the tenant (delta and full re-screens); otherwise only
  those client profile ids (as text). It runs inside the tenant's row-security context.
- ``screening_changed``: listeners told, after commit, when a client's screening changed
  (a new hit, or a different band): ``{"tenant_id", "subject_ref", "run_id", "band",
  "previous_band", "new_hit_ids"}``. The kyc app can reopen a case or re-rate the client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kyc.screening.matching import Subject
from platform_core.hooks import Listeners, listener_hook_register

SubjectSource = Callable[[Any, Iterable[str] | None], Iterator[Subject]]


class SubjectSourceSlot:
    """A slot for exactly one subject source."""

    def __init__(self) -> None:
        self._source: SubjectSource | None = None

    def register(self, source: SubjectSource) -> SubjectSource:
        if self._source is not None and self._source is not source:
            raise ValueError("subject_source: a source is already registered")
        self._source = source
        return source

    def unregister(self) -> None:
        """For tests that register a temporary source."""
        self._source = None

    @property
    def registered(self) -> bool:
        return self._source is not None

    def subjects(self, tenant: Any, refs: Iterable[str] | None = None) -> Iterator[Subject]:
        if self._source is None:
            raise LookupError(
                "No subject source is registered: the kyc app registers one in its ready()."
            )
        return self._source(tenant, None if refs is None else list(refs))


subject_source = SubjectSourceSlot()

screening_changed: Listeners = listener_hook_register(Listeners("screening.changed"))
