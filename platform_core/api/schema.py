"""OpenAPI generation hooks."""

from __future__ import annotations

from typing import Any


def paths_without_trailing_slash(endpoints: list[Any], **kwargs: Any) -> list[Any]:
    """Document ``/api/v1/auth/token`` as the contracts write it (the slash is optional)."""
    return [
        (path.rstrip("/") if path != "/" else path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


# Refusals every operation may answer, all with the platform's error body.
ERROR_RESPONSES = {
    "400": "Malformed request or invalid fields (`fields` names them).",
    "401": "Not authenticated: no, an invalid, an expired or a revoked token.",
    "403": "Authenticated, but your role or second factor does not allow this.",
    "404": "No such object in your tenant (another tenant's object is the same 404).",
    "409": "Conflict: e.g. an Idempotency-Key reused with other content, already decided.",
    "422": "Refused by a business rule (e.g. insufficient_funds, segregation_violation).",
    "429": "Too many attempts; try again later.",
}


def error_responses(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """Document the uniform error body and the refusal statuses on every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "required": ["code", "message", "fields"],
        "properties": {
            "code": {"type": "string", "description": "machine-readable reason"},
            "message": {"type": "string", "description": "a sentence for people"},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
    }
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(status, {"description": description, "content": body})
    return result
