"""/api/v1/kyc/: the client's onboarding status and suitability; compliance's cases, hits and
the decision on a hit (idempotent, compliance officers only, 404 across tenants, 400 with
field errors on bad input)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from kyc.screening.models import ScreeningHit, WhitelistEntry
from kyc.screening.services import screening_settings_set
from platform_core.api.models import IdempotencyRecord
from platform_core.audit.models import AuditEvent
from tests.conftest import api_token_for, assert_foreign_object_is_404
from tests.kyc.factories import LISTED_NAME, client_with_hit, fill_profile, submit_profile

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, person: Any) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person)}"}

    def get(self, url: str) -> Any:
        return self.client.get(url, **self.headers)

    def post(self, url: str, body: dict[str, Any], key: str | None = "k-1") -> Any:
        extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        return self.client.post(url, body, content_type="application/json", **self.headers, **extra)


@pytest.fixture
def hit_case(acme: Any, tmp_path: Any) -> Any:
    return client_with_hit(acme.tenant, acme.client, tmp_path)


def the_hit(case: Any) -> ScreeningHit:
    return ScreeningHit.objects.get(subject_ref=str(case.profile_id))


def test_a_client_reads_their_onboarding_status_as_they_go(acme):
    api = Api(acme.client)
    fresh = api.get("/api/v1/kyc/me/onboarding")
    assert fresh.status_code == 200
    assert fresh.json()["status"] == "not_started"
    assert "personal" in fresh.json()["steps_missing"]
    assert api.get("/api/v1/kyc/me/suitability").json()["code"] == "not_assessed"
    fill_profile(acme.tenant, acme.client)
    body = api.get("/api/v1/kyc/me/onboarding").json()
    assert body["status"] == "draft" and body["steps_missing"] == []
    assert body["steps_done"][:2] == ["personal", "identity"]


def test_a_client_reads_their_suitability_provisional_then_approved(acme):
    """The modest answers give C3 (the questionnaire's bands, kyc/suitability.py)."""
    case = submit_profile(acme.tenant, acme.client)
    api = Api(acme.client)
    body = api.get("/api/v1/kyc/me/suitability").json()
    assert body["status"] == "provisional"
    assert body["investor_class"] == case.profile.assessments.get().investor_class
    assert body["allowed_risk_levels"] and body["current_questionnaire"] is True
    assert Decimal(body["leverage_cap"]) >= 0
    case.profile.__class__.objects.filter(pk=case.profile_id).update(status="approved")
    assert api.get("/api/v1/kyc/me/suitability").json()["status"] == "approved"


def test_staff_endpoints_refuse_a_client_and_client_endpoints_refuse_staff(acme):
    client_api, officer = Api(acme.client), Api(acme.compliance)
    for url in ("/api/v1/kyc/cases", "/api/v1/kyc/hits"):
        assert client_api.get(url).status_code == 403
    assert officer.get("/api/v1/kyc/me/onboarding").status_code == 403
    assert Client().get("/api/v1/kyc/cases").status_code == 401


def test_compliance_lists_and_reads_cases_with_what_blocks_them(acme, hit_case):
    officer = Api(acme.compliance)
    listed = officer.get("/api/v1/kyc/cases").json()
    assert listed["count"] == 1
    (row,) = listed["results"]
    assert row["id"] == hit_case.pk and row["status"] == "open"
    assert row["client"] == acme.client.membership.pk
    detail = officer.get(f"/api/v1/kyc/cases/{hit_case.pk}").json()
    assert detail["hits"] == [the_hit(hit_case).pk]
    assert any("Open screening hit" in reason for reason in detail["blocking"])
    assert {check["code"] for check in detail["checks"]} >= {"identity", "suitability"}
    assert detail["rating"]["level"] in ("low", "medium", "high") and detail["rating"]["reasons"]
    bad = officer.get("/api/v1/kyc/cases?status=sideways&kind=x")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"status", "kind"}
    assert officer.get("/api/v1/kyc/cases?status=approved").json()["count"] == 0


def test_compliance_lists_hits_and_reads_one_with_its_explanation(acme, hit_case):
    officer = Api(acme.compliance)
    hit = the_hit(hit_case)
    listed = officer.get("/api/v1/kyc/hits").json()
    (row,) = listed["results"]
    assert row["id"] == hit.pk and row["entity"]["caption"] == LISTED_NAME
    assert row["profile"] == hit_case.profile_id and row["client"] == acme.client.membership.pk
    assert Decimal(row["score"]) == hit.score and row["band"] == "hit"
    assert officer.get("/api/v1/kyc/hits?band=review").json()["count"] == 0
    assert officer.get("/api/v1/kyc/hits?band=maybe").status_code == 400
    detail = officer.get(f"/api/v1/kyc/hits/{hit.pk}").json()
    assert "name_match" in {f["name"] for f in detail["features"]}
    assert detail["matched_name"]


def test_resolving_a_hit_is_idempotent_audited_and_checked(acme, hit_case):
    screening_settings_set(
        tenant=acme.tenant,
        actor=acme.admin.user,
        match_threshold=Decimal("0.700"),
        review_threshold=Decimal("0.500"),
        strong_threshold=Decimal("1.000"),
        reason="one officer clears any hit in this test",
    )
    hit = the_hit(hit_case)
    officer = Api(acme.compliance)
    url = f"/api/v1/kyc/hits/{hit.pk}/resolve"
    no_key = officer.post(url, {"decision": "false_positive", "reason": "x"}, key=None)
    assert no_key.status_code == 400 and no_key.json()["code"] == "idempotency_key_required"
    bad = officer.post(url, {"decision": "maybe", "reason": "", "whitelist_days": 0})
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"decision", "reason", "whitelist_days"}
    confirm_listed = officer.post(
        url, {"decision": "true_match", "reason": "same", "whitelist_days": 5}
    )
    assert confirm_listed.status_code == 400
    assert ScreeningHit.objects.get(pk=hit.pk).status == "open"
    assert not IdempotencyRecord.objects.exists()  # a 400 does not use a key up
    body = {"decision": "false_positive", "reason": "other birth place", "whitelist_days": 90}
    first = officer.post(url, body, key="resolve-1")
    assert first.status_code == 200, first.content
    assert first.json()["hit"]["status"] == "cleared" and first.json()["approval_id"] is None
    again = officer.post(url, body, key="resolve-1")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert WhitelistEntry.objects.filter(subject_ref=hit.subject_ref).count() == 1
    assert AuditEvent.objects.filter(action="screening.hit_cleared").count() == 1
    decided = officer.post(url, {"decision": "true_match", "reason": "no"}, key="resolve-2")
    assert decided.status_code == 409 and decided.json()["code"] == "hit_already_decided"


def test_a_strong_hit_cleared_through_the_api_waits_for_four_eyes(acme, hit_case):
    screening_settings_set(
        tenant=acme.tenant,
        actor=acme.admin.user,
        match_threshold=Decimal("0.700"),
        review_threshold=Decimal("0.500"),
        strong_threshold=Decimal("0.700"),
        reason="every hit is strong in this test",
    )
    hit = the_hit(hit_case)
    response = Api(acme.compliance).post(
        f"/api/v1/kyc/hits/{hit.pk}/resolve", {"decision": "false_positive", "reason": "other"}
    )
    assert response.status_code == 200
    assert response.json()["approval_id"] and response.json()["hit"]["status"] == "open"
    twice = Api(acme.compliance).post(
        f"/api/v1/kyc/hits/{hit.pk}/resolve",
        {"decision": "true_match", "reason": "changed my mind"},
        key="k-2",
    )
    assert twice.status_code == 409 and twice.json()["code"] == "hit_clear_pending"
    assert ScreeningHit.objects.get(pk=hit.pk).status == "open"


def test_only_a_compliance_officer_resolves(acme, hit_case):
    hit = the_hit(hit_case)
    refused = Api(acme.admin).post(
        f"/api/v1/kyc/hits/{hit.pk}/resolve", {"decision": "true_match", "reason": "x"}
    )
    assert refused.status_code == 403
    assert ScreeningHit.objects.get(pk=hit.pk).status == "open"


def test_another_tenants_case_and_hit_are_404(acme, globex, hit_case):
    hit = the_hit(hit_case)
    foreign = Api(globex.compliance)
    assert_foreign_object_is_404(
        foreign.client, f"/api/v1/kyc/cases/{hit_case.pk}", **foreign.headers
    )
    assert_foreign_object_is_404(foreign.client, f"/api/v1/kyc/hits/{hit.pk}", **foreign.headers)
    resolve = foreign.post(
        f"/api/v1/kyc/hits/{hit.pk}/resolve", {"decision": "true_match", "reason": "x"}
    )
    assert resolve.status_code == 404
    assert ScreeningHit.objects.get(pk=hit.pk).status == "open"
    assert foreign.get("/api/v1/kyc/hits").json()["count"] == 0
    assert foreign.get("/api/v1/kyc/cases").json()["count"] == 0
