"""Schemathesis fuzzes the published OpenAPI schema against a live test server.

Issue 4, item 5: every operation in ``/api/schema/`` is called over real HTTP (pytest-django's
``live_server``) with requests Schemathesis generates from the schema, valid and invalid ones,
in its examples, coverage and fuzzing phases. No response may be a 5xx, every status code must
be documented for its operation, and every body, content type and header must match the schema.

Acme and Globex exist with one person per role; every call carries Acme's tenant admin's API
token (Schemathesis itself leaves it out where it tests a missing credential). Three things keep
the generated calls meaningful rather than stuck on one answer:

- ``DELETE /api/v1/auth/token`` revokes the token it is called with, so it gets one minted for
  that call alone, and the admin's token stays usable for everything else;
- a write whose generated ``Idempotency-Key`` would be accepted gets a fresh random key, so
  examples do not replay (or conflict with) each other; blank or too long keys are kept;
- the token-issuing throttle (10 a minute per address) is reset before each
  ``POST /api/v1/auth/token``, so generated bodies reach the view instead of a 429.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from platform_core.accounts.services import api_token_issue
from platform_core.api.idempotency import IDEMPOTENCY_HEADER, MAX_KEY_LENGTH
from tests.conftest import TenantPeople, api_token_for, as_tenant, make_tenant_people

pytestmark = [pytest.mark.django_db(transaction=True)]

TOKEN_PATH = "/api/v1/auth/token"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


class Caller:
    """Acme's tenant admin, as the generated calls present themselves."""

    def __init__(self, acme: TenantPeople) -> None:
        self.acme = acme
        self.token = api_token_for(Client(), acme.admin)

    def token_for(self, case: Case) -> str:
        if case.method.upper() == "DELETE" and case.path == TOKEN_PATH:
            # Revoking is what this call does: spend a token minted for it alone.
            with as_tenant(self.acme.tenant):
                key, _ = api_token_issue(membership=self.acme.admin.membership)
            return key
        return self.token


def prepare(case: Case) -> None:
    key = case.headers.get(IDEMPOTENCY_HEADER) if case.headers else None
    if isinstance(key, str) and key.strip() and len(key.strip()) <= MAX_KEY_LENGTH:
        case.headers[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
    if case.method.upper() == "POST" and case.path == TOKEN_PATH:
        cache.clear()  # the live server runs in this process and shares the local-memory cache


@pytest.fixture
def caller(live_server: Any) -> Caller:
    acme = make_tenant_people("acme")
    make_tenant_people("globex")  # another tenant's rows exist, for the API to keep out of reach
    return Caller(acme)


@pytest.fixture
def api_schema(request: pytest.FixtureRequest, live_server: Any, caller: Caller) -> Any:
    # schemathesis 4.32.5 renames the running test per operation through ``Node._nodeid``,
    # which pytest 9.2 no longer has (node ids live in ``Node._id``): give it one to read.
    request.node._nodeid = request.node.nodeid
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_its_schema(case: Case, caller: Caller) -> None:
    prepare(case)
    case.call_and_validate(
        headers={"Authorization": f"Token {caller.token_for(case)}"},
        checks=CHECKS,
    )
