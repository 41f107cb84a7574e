"""Stored margin policies: versions, four-eyes activation, frozen once active, the command.

acme.risk drafts the house policy; a second risk officer (``risk2``) approves its activation.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction

from platform_core.audit.approvals import approval_request_approve, approval_request_create
from platform_core.audit.models import ApprovalRequest
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from risk.engine.policies import margin_compute
from risk.engine.portfolio import portfolio_parse
from risk.models import MarginPolicyVersion
from risk.policies import ACTIVATE_ACTION, policy_version_create, stored_policy_of
from risk.selectors import policy_active
from risk.stored_policy import StoredPolicy, policy_digest, status_for, stored_margin_compute
from tests.conftest import TenantPeople, make_person

pytestmark = pytest.mark.django_db

LADDER = {"warning": "1.5", "margin_call": "1.3", "deleverage": "1.2", "liquidation": "1.1"}
HOUSE = {
    "risk_tiers": {"2": "1.5"},
    "concentration": {"share": "0.5", "rate": "0.1"},
}


def draft(acme: TenantPeople, **changes: Any) -> MarginPolicyVersion:
    fields = {
        "name": "house",
        "base": "cboe-strategy",
        "parameters": HOUSE,
        "ladder": LADDER,
        "call_deadline_business_days": 2,
        "leverage_cap": "3",
        **changes,
    }
    return policy_version_create(tenant=acme.tenant, actor=acme.risk.user, **fields)


def activate(acme: TenantPeople, version: MarginPolicyVersion, approver: Any) -> ApprovalRequest:
    approval = approval_request_create(
        tenant=acme.tenant,
        actor=acme.risk.user,
        membership=acme.risk.membership,
        action=ACTIVATE_ACTION,
        params={"policy_id": version.pk},
        reason="new house ladder",
    )
    return approval_request_approve(
        tenant=acme.tenant,
        actor=approver.user,
        membership=approver.membership,
        approval_id=approval.pk,
        reason="checked the ladder",
    )


@pytest.fixture
def risk2(acme: TenantPeople) -> Any:
    return make_person(acme.tenant, "risk2@acme.example", Role.RISK_OFFICER)


def test_a_draft_is_versioned_and_digested(acme: TenantPeople) -> None:
    first = draft(acme)
    second = draft(acme, leverage_cap="2.5")
    assert (first.version, second.version) == (1, 2)
    assert first.status == second.status == "draft"
    assert first.digest == stored_policy_of(first).digest
    assert first.digest == policy_digest(stored_policy_of(first).content())
    assert first.digest != second.digest
    assert first.ladder == {
        "warning": "1.5000",
        "margin_call": "1.3000",
        "deleverage": "1.2000",
        "liquidation": "1.1000",
    }


def test_four_eyes_activation(acme: TenantPeople, risk2: Any) -> None:
    version = draft(acme)
    assert policy_active(tenant=acme.tenant) is None
    approval = activate(acme, version, risk2)
    assert approval.status == "approved"
    active = policy_active(tenant=acme.tenant)
    assert active is not None and active.pk == version.pk
    assert active.activated_at is not None
    assert active.ladder["margin_call"] == "1.3000"
    assert active.leverage_cap == Decimal("3.0000")
    assert approval.result["digest"] == version.digest


def test_the_maker_cannot_approve_their_own_activation(acme: TenantPeople) -> None:
    version = draft(acme)
    with pytest.raises(ApplicationError) as refused:
        activate(acme, version, acme.risk)
    assert refused.value.status_code == 403
    version.refresh_from_db()
    assert version.status == "draft"
    assert policy_active(tenant=acme.tenant) is None


def test_a_client_may_not_ask_for_activation(acme: TenantPeople) -> None:
    version = draft(acme)
    with pytest.raises(ApplicationError) as refused:
        approval_request_create(
            tenant=acme.tenant,
            actor=acme.client.user,
            membership=acme.client.membership,
            action=ACTIVATE_ACTION,
            params={"policy_id": version.pk},
            reason="me",
        )
    assert refused.value.status_code == 403


def test_activating_a_second_version_retires_the_first(acme: TenantPeople, risk2: Any) -> None:
    first = draft(acme)
    activate(acme, first, risk2)
    second = draft(acme, ladder={**LADDER, "warning": "1.6"})
    activate(acme, second, risk2)
    first.refresh_from_db()
    assert first.status == "retired" and first.retired_at is not None
    assert policy_active(tenant=acme.tenant).pk == second.pk


def test_a_draft_changed_after_the_request_is_not_activated(acme: TenantPeople, risk2: Any) -> None:
    version = draft(acme)
    approval = approval_request_create(
        tenant=acme.tenant,
        actor=acme.risk.user,
        membership=acme.risk.membership,
        action=ACTIVATE_ACTION,
        params={"policy_id": version.pk},
        reason="r",
    )
    MarginPolicyVersion.objects.filter(pk=version.pk).update(leverage_cap=Decimal(9))
    with pytest.raises(ApplicationError) as refused:
        approval_request_approve(
            tenant=acme.tenant,
            actor=risk2.user,
            membership=risk2.membership,
            approval_id=approval.pk,
            reason="ok",
        )
    assert refused.value.error_code == "policy_changed"
    assert policy_active(tenant=acme.tenant) is None


@pytest.mark.parametrize(
    "change",
    [
        {"parameters": {"risk_tiers": {"2": "1"}}},
        {"ladder": {**LADDER, "liquidation": "0.5"}},
        {"leverage_cap": Decimal(10)},
        {"base": "finra-pm"},
        {"status": "draft"},
    ],
    ids=["parameters", "ladder", "leverage cap", "base", "back to draft"],
)
def test_the_database_refuses_to_change_an_active_version(
    acme: TenantPeople, risk2: Any, change: dict[str, Any]
) -> None:
    version = draft(acme)
    activate(acme, version, risk2)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        MarginPolicyVersion.objects.filter(pk=version.pk).update(**change)
    version.refresh_from_db()
    assert version.status == "active" and version.digest == stored_policy_of(version).digest


def test_the_database_refuses_to_delete_or_revive_a_retired_version(
    acme: TenantPeople, risk2: Any
) -> None:
    first = draft(acme)
    activate(acme, first, risk2)
    activate(acme, draft(acme), risk2)
    with pytest.raises(DatabaseError), transaction.atomic():
        MarginPolicyVersion.objects.filter(pk=first.pk).update(status="active")
    with pytest.raises(DatabaseError), transaction.atomic():
        MarginPolicyVersion.objects.filter(pk=first.pk).delete()
    assert MarginPolicyVersion.objects.get(pk=first.pk).status == "retired"


def test_a_draft_may_still_change(acme: TenantPeople) -> None:
    version = draft(acme)
    MarginPolicyVersion.objects.filter(pk=version.pk).update(leverage_cap=Decimal(2))
    MarginPolicyVersion.objects.filter(pk=version.pk).delete()
    assert not MarginPolicyVersion.objects.filter(pk=version.pk).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"base": "reg-t"}, "base"),
        ({"ladder": {**LADDER, "margin_call": "1.6"}}, "ladder.margin_call"),
        ({"ladder": {"warning": "1.5"}}, "ladder.margin_call"),
        ({"parameters": {"risk_tiers": {"two": "1.5"}}}, "parameters.risk_tiers.two"),
        ({"parameters": {"concentration": {"share": "0.2"}}}, "parameters.concentration.rate"),
        ({"parameters": {"surprise": {}}}, "parameters.surprise"),
        (
            {"parameters": {"base_parameters": {"naked_rate": "0.3"}}},
            "parameters.base_parameters.naked_rate",
        ),
        ({"parameters": {"dynamic_addon": {"method": "guess"}}}, "parameters.dynamic_addon.method"),
        ({"leverage_cap": "0"}, "leverage_cap"),
        ({"call_deadline_business_days": -1}, "call_deadline_business_days"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(
    acme: TenantPeople, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApplicationError) as refused:
        draft(acme, **changes)
    assert refused.value.status_code == 400
    assert field in refused.value.fields, refused.value.fields
    assert not MarginPolicyVersion.objects.exists()


# --- the computation ------------------------------------------------------------------------

DOCUMENT = {
    "currency": "USD",
    "as_of": "2026-11-26",
    "cash": "-7000.00",
    "instruments": [
        {"symbol": "XYZ", "kind": "equity", "price": "50.00"},
        {"symbol": "ABC", "kind": "equity", "price": "20.00"},
    ],
    "positions": [{"symbol": "XYZ", "quantity": "200"}, {"symbol": "ABC", "quantity": "100"}],
    "volatility": {"XYZ": "0.40", "ABC": "0.10"},
}


def policy(**parameters: Any) -> StoredPolicy:
    return StoredPolicy("house", 1, "cboe-strategy", parameters, LADDER, 2, Decimal(3))


def test_tiers_add_ons_and_concentration_are_groups_of_their_own() -> None:
    portfolio = portfolio_parse(DOCUMENT)
    base = margin_compute(portfolio, "cboe-strategy")
    # Equity 5000; XYZ 10,000 held, ABC 2,000. Maintenance 25%: XYZ 2,500, ABC 500.
    assert base.maintenance_requirement == Decimal("3000.00")
    result = stored_margin_compute(
        portfolio,
        policy(
            risk_tiers={"2": "1.5"},
            investor_classes={"retail": "1.2"},
            concentration={"share": "0.5", "rate": "0.1"},
            dynamic_addon={"method": "volatility", "floor": "0.02", "k": "0.1"},
        ),
        risk_tiers={"XYZ": 2},
        investor_class="retail",
    )
    by = {(g.strategy, g.legs[0][0]): g for g in result.groups}
    # XYZ: 2,500 x 1.5 (tier 2) x 1.2 (retail) = 4,500; ABC: 500 x 1.2 = 600.
    assert by[("long_stock", "XYZ")].maintenance == Decimal("4500.00")
    assert by[("long_stock", "ABC")].maintenance == Decimal("600.00")
    # Concentration: XYZ 10,000 held beyond 0.5 x 5,000 equity by 7,500, at 10%.
    assert by[("concentration", "XYZ")].maintenance == Decimal("750.00")
    assert ("concentration", "ABC") not in by
    # Volatility add-on: max(0.02, 0.1 x 0.40) = 0.04 of 10,000; ABC max(0.02, 0.01) of 2,000.
    assert by[("volatility_addon", "XYZ")].maintenance == Decimal("400.00")
    assert by[("volatility_addon", "ABC")].maintenance == Decimal("40.00")
    assert result.maintenance_requirement == sum(g.maintenance for g in result.groups)
    assert result.maintenance_requirement == Decimal("6290.00")
    assert result.equity == base.equity


def test_a_var_add_on_needs_history_and_uses_its_quantile() -> None:
    portfolio = portfolio_parse(DOCUMENT)
    var = policy(
        dynamic_addon={"method": "var", "confidence": "0.9", "holding_days": 1, "floor": "0"}
    )
    with pytest.raises(Exception, match=r"history\.ABC"):
        stored_margin_compute(portfolio, var, history={"XYZ": [Decimal(50)] * 40})
    # Ten daily moves of 1%..10% repeated: the 90% quantile of |1-day moves| is 9%.
    closes = [Decimal(100)]
    for step in range(40):
        move = Decimal(step % 10 + 1) / 100
        closes.append(closes[-1] * (1 + move if step % 2 else 1 - move))
    result = stored_margin_compute(portfolio, var, history={"XYZ": closes, "ABC": closes})
    by = {(g.strategy, g.legs[0][0]): g for g in result.groups}
    assert by[("var_addon", "XYZ")].maintenance == Decimal("900.00")


def test_the_ladder_sets_the_status() -> None:
    portfolio = portfolio_parse(DOCUMENT)
    lines = {k: Decimal(v) for k, v in LADDER.items()}
    result = margin_compute(portfolio, "cboe-strategy")  # ratio 5000 / 3000 = 1.6667
    assert status_for(result=result, ladder=lines) == "healthy"
    tighter = margin_compute(portfolio_parse({**DOCUMENT, "cash": "-8400"}), "cboe-strategy")
    assert tighter.margin_ratio == Decimal("1.2000")  # 3600 / 3000: below 1.3, not below 1.2
    assert status_for(result=tighter, ladder=lines) == "margin_call"
    worst = margin_compute(portfolio_parse({**DOCUMENT, "cash": "-9000"}), "cboe-strategy")
    assert status_for(result=worst, ladder=lines) == "liquidate"


# --- the command ----------------------------------------------------------------------------


def margin(*args: str, document: dict[str, Any]) -> dict[str, Any]:
    out = io.StringIO()
    call_command(
        "margin", "-", *args, "--json", stdin=io.StringIO(json.dumps(document)), stdout=out
    )
    return json.loads(out.getvalue())


def test_the_command_margins_under_a_stored_policy(acme: TenantPeople, risk2: Any) -> None:
    version = draft(acme)
    document = {
        **DOCUMENT,
        "instruments": [{**DOCUMENT["instruments"][0], "risk_tier": 2}, DOCUMENT["instruments"][1]],
    }
    drafted = margin("--policy", "acme:house", document=document)
    assert drafted["policy"] == "acme:house"
    assert drafted["policy_digest"] == version.digest
    # Tier 2 x1.5 on XYZ's 2,500 = 3,750, ABC 500, concentration 750 (as above).
    assert drafted["maintenance_requirement"] == "5000.00"
    activate(acme, version, risk2)
    draft(acme, parameters={})  # a later draft: the active version is still the one used
    assert margin("--policy", "acme:house", document=document) == drafted
    assert margin("--policy", "acme:house@2", document=document)["maintenance_requirement"] == (
        "3000.00"
    )


@pytest.mark.parametrize(
    ("policy_name", "message"),
    [
        ("nowhere:house", "policy: unknown tenant 'nowhere'"),
        ("acme:tight", "policy: tenant 'acme' has no stored policy 'tight'"),
        ("acme:", "policy: 'acme:' is not TENANT_SLUG:POLICY_NAME"),
    ],
)
def test_the_command_refuses_an_unknown_tenant_or_policy(
    acme: TenantPeople, policy_name: str, message: str
) -> None:
    draft(acme)
    with pytest.raises(CommandError) as refused:
        margin("--policy", policy_name, document=DOCUMENT)
    assert refused.value.returncode == 2
    assert str(refused.value) == message


def test_the_command_does_not_show_another_tenants_policy(
    acme: TenantPeople, globex: TenantPeople
) -> None:
    draft(acme)
    with pytest.raises(CommandError) as refused:
        margin("--policy", "globex:house", document=DOCUMENT)
    assert refused.value.returncode == 2


# --- the API ----------------------------------------------------------------------------------


def test_the_policy_api_drafts_lists_and_asks_for_activation(
    acme: TenantPeople, risk2: Any
) -> None:
    from django.test import Client

    from tests.conftest import api_token_for

    def api(person: Any) -> tuple[Any, dict[str, str]]:
        return Client(), {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person)}"}

    http, auth = api(acme.risk)
    created = http.post(
        "/api/v1/risk/policies",
        {"name": "house", "base": "cboe-strategy", "ladder": LADDER, "leverage_cap": "3"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="p1",
        **auth,
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["version"] == 1 and body["status"] == "draft"
    bad = http.post(
        "/api/v1/risk/policies",
        {"name": "house", "base": "cboe-strategy", "ladder": {"warning": "1"}},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="p2",
        **auth,
    )
    assert bad.status_code == 400 and "ladder.margin_call" in bad.json()["fields"]
    asked = http.post(
        f"/api/v1/risk/policies/{body['id']}/activate",
        {"reason": "new house policy"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="p3",
        **auth,
    )
    assert asked.status_code == 201, asked.content
    assert policy_active(tenant=acme.tenant) is None  # four eyes: not yet
    approver_http, approver_auth = api(risk2)
    decided = approver_http.post(
        f"/api/v1/approvals/{asked.json()['approval_id']}/approve",
        {"reason": "checked"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="p4",
        **approver_auth,
    )
    assert decided.status_code == 200, decided.content
    assert policy_active(tenant=acme.tenant).pk == body["id"]
    listed = http.get("/api/v1/risk/policies", **auth).json()
    assert [(p["name"], p["status"]) for p in listed] == [("house", "active")]
    client_http, client_auth = api(acme.client)
    assert client_http.get("/api/v1/risk/policies", **client_auth).status_code == 403
