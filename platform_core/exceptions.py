"""Business refusals with a machine code, raised by services and shown by every interface.

The API answers them with the platform's error body (``platform_core.api.errors``), the console
shows the message, commands exit non-zero with it.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """``raise ApplicationError(422, "insufficient_funds", "…", {"amount": ["…"]})``."""

    def __init__(
        self, status_code: int, code: str, message: str, fields: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.fields = fields or {}
