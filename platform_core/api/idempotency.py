"""``Idempotency-Key`` for externally triggered writes: a replay returns the first result.

Rules (they follow ../shared/contracts/ledger-api.md and Stripe/TigerBeetle practice):
- keys are scoped to the tenant; a write without one is a 400 ``idempotency_key_required``;
- the request is compared by meaning (validated, normalised fields: "125.5" == "125.50");
- same key, same request: the first status and body again, ``Idempotent-Replayed: true``;
- same key, different request: 409 ``idempotency_conflict`` naming every differing field;
- a business refusal (409/422) is stored, so the key stays failed; a malformed request (400)
  never reaches this function and does not use the key up;
- concurrent requests with one key are serialised by a transaction-scoped advisory lock on
  (tenant, key): the first writes, the others wait and replay its result.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api.errors import error_body
from platform_core.api.models import IdempotencyRecord
from platform_core.exceptions import ApplicationError

IDEMPOTENCY_HEADER = "Idempotency-Key"
# How every idempotent write documents its header in the OpenAPI schema.
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="A unique key per intended write; a replay returns the first result.",
)
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
STORED_REFUSALS = frozenset({409, 422})


def canonical_fields(value: Any) -> Any:
    """Normalise validated request data so equal meanings compare equal."""
    if isinstance(value, dict):
        return {str(k): canonical_fields(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_fields(v) for v in value]
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in {"-0", ""} else text
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def _differing_fields(first: dict[str, Any], second: dict[str, Any]) -> dict[str, list[str]]:
    return {
        name: ["differs from the first request made with this Idempotency-Key"]
        for name in sorted(set(first) | set(second))
        if first.get(name) != second.get(name)
    }


def _replay(record: IdempotencyRecord, operation: str, fields: dict[str, Any]) -> Response:
    if record.operation != operation or record.request_fields != fields:
        differing = _differing_fields(record.request_fields, fields)
        if record.operation != operation:
            differing["operation"] = [f"the key was first used for {record.operation}"]
        raise ApplicationError(
            409,
            "idempotency_conflict",
            "This Idempotency-Key was already used for a different request.",
            differing,
        )
    response = Response(record.response_body, status=record.status_code)
    response[REPLAYED_HEADER] = "true"
    return response


def idempotency_key_of(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        raise ApplicationError(
            400, "idempotency_key_required", "This write needs an Idempotency-Key header."
        )
    if len(key) > MAX_KEY_LENGTH:
        raise ApplicationError(
            400,
            "invalid",
            "The Idempotency-Key is too long.",
            {IDEMPOTENCY_HEADER: [f"at most {MAX_KEY_LENGTH} characters"]},
        )
    return key


def idempotent_write(
    *,
    request: Request,
    tenant: Any,
    operation: str,
    request_fields: dict[str, Any],
    write: Callable[[], tuple[int, dict[str, Any]]],
) -> Response:
    """Run ``write`` once per (tenant, key); ``write`` returns (status, body) or raises."""
    key = idempotency_key_of(request)
    fields = canonical_fields(request_fields)
    with transaction.atomic():
        # Requests with one key queue here until the first commits, then replay its result.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"{tenant.pk}:{key}"]
            )
        record = IdempotencyRecord.objects.filter(tenant=tenant, key=key).first()
        if record is not None:
            return _replay(record, operation, fields)
        try:
            with transaction.atomic():
                status_code, body = write()
        except ApplicationError as refusal:
            if refusal.status_code not in STORED_REFUSALS:
                raise
            status_code = refusal.status_code
            body = error_body(refusal.error_code, refusal.message, refusal.fields)
        IdempotencyRecord.objects.create(
            tenant=tenant,
            key=key,
            operation=operation,
            request_fields=fields,
            status_code=status_code,
            response_body=body,
        )
        return Response(body, status=status_code)
