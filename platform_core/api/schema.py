"""OpenAPI generation hooks."""

from __future__ import annotations

from typing import Any


def paths_without_trailing_slash(endpoints: list[Any], **kwargs: Any) -> list[Any]:
    """Document ``/api/v1/auth/token`` as the contracts write it (the slash is optional)."""
    return [
        (path.rstrip("/") if path != "/" else path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]
