"""The OpenAPI schema is generated, valid, and documents the error body and idempotency."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_schema_lists_the_api_and_its_security():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    # Paths as the contracts write them; the trailing slash is accepted but not documented.
    assert {"/api/v1/auth/token", "/api/v1/me", "/api/v1/tenancy/members"} <= set(paths)
    create = paths["/api/v1/tenancy/members"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in create["parameters"])
    assert list(create["requestBody"]["content"]) == ["application/json"]
    # Issuing a token needs no prior authentication; revoking needs the token.
    token = paths["/api/v1/auth/token"]
    assert not token["post"].get("security")
    assert token["delete"]["security"] == [{"tokenAuth": []}]


def test_the_docs_page_uses_local_assets_only():
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
