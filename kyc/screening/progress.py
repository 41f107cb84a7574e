"""A progress line for long commands, shown only on a terminal (quiet in CI and tests)."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressLine:
    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and done != total:
            return
        self._last = now
        elapsed = now - self.started
        if total:
            share = min(done / total, 1.0)
            bar = "#" * int(share * 30)
            eta = elapsed / share - elapsed if share else 0.0
            text = f"{self.label} [{bar:<30}] {done:,}/{total:,} {share:6.1%} eta {eta:5.0f}s"
        else:
            text = f"{self.label} {done:,} read, {elapsed:5.0f}s"
        self.stream.write(f"\r{text}")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
