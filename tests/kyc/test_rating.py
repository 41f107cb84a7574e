"""Customer risk rating: factors and weights per tenant, bands with reasons, review dates,
the scheduled task that opens review cases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kyc.models import KycCase, RiskRating
from kyc.rating import ClientFacts, RatingConfig, next_review, rating_compute, reason_text
from kyc.services import rating_config_for, rating_config_set, risk_rating_compute
from kyc.tasks import reviews_open_due_task
from platform_core.exceptions import ApplicationError
from tests.kyc.factories import submit_profile

CLEAN = {"band": "clear", "open_hits": 0}


def test_an_ordinary_salaried_client_is_low_with_the_channel_as_the_only_reason():
    rating = rating_compute(
        ClientFacts(occupation="employee", countries=("CN",), screening=CLEAN), RatingConfig()
    )
    assert rating.level == "low"
    assert [r["code"] for r in rating.reasons] == ["non_face_to_face"]


def test_each_factor_raises_the_score_and_gives_its_reason():
    facts = ClientFacts(
        occupation="cash_business",
        source_of_wealth="inheritance",
        countries=("CN", "VN"),
        leverage_cap=Decimal("1.00"),
        screening={"band": "review", "open_hits": 1},
    )
    rating = rating_compute(facts, RatingConfig())
    codes = {r["code"] for r in rating.reasons}
    assert {
        "occupation_cash_business",
        "wealth_unexplained",
        "country_increased_monitoring",
        "leverage",
        "screening_review",
    } <= codes
    assert rating.level in ("medium", "high")
    assert "VN" in reason_text(next(r for r in rating.reasons if r["code"].startswith("country")))


@pytest.mark.parametrize(
    ("facts", "why"),
    [
        (ClientFacts(pep="foreign", screening=CLEAN), "pep_foreign"),
        (ClientFacts(countries=("KP",), screening=CLEAN), "country_call_for_action"),
        (ClientFacts(screening={"band": "hit", "open_strong_hits": 1}), "screening_hit"),
        (ClientFacts(screening={"band": "clear", "pep": True}), "pep_listed"),
    ],
)
def test_some_facts_make_a_client_high_whatever_the_weights(facts, why):
    quiet = RatingConfig(
        weights=dict.fromkeys(
            ("customer", "geography", "product", "channel", "pep", "screening"), 1
        )
    )
    rating = rating_compute(facts, quiet)
    assert rating.level == "high" and why in {r["code"] for r in rating.reasons}


def test_weights_change_the_band():
    facts = ClientFacts(occupation="business_owner", countries=("VN",), screening=CLEAN)
    default = rating_compute(facts, RatingConfig())
    geography_heavy = RatingConfig(
        weights={
            "customer": 0,
            "geography": 100,
            "product": 0,
            "channel": 0,
            "pep": 0,
            "screening": 0,
        }
    )
    heavy = rating_compute(facts, geography_heavy)
    assert heavy.score == 60 and heavy.level == "high"
    assert default.score < heavy.score


def test_review_intervals_default_to_three_two_one_years():
    config = RatingConfig()
    today = date(2026, 2, 28)
    assert next_review("low", config, today=today) == date(2029, 2, 28)
    assert next_review("medium", config, today=today) == date(2028, 2, 28)
    assert next_review("high", config, today=today) == date(2027, 2, 28)
    assert next_review("low", config, today=date(2028, 2, 29)) == date(2031, 2, 28)


def test_a_tenants_configuration_is_checked_and_used(acme, globex):
    with pytest.raises(ApplicationError) as bad:
        rating_config_set(
            tenant=acme.tenant,
            actor=acme.admin.user,
            weights={"astrology": 5, "pep": 500},
            review_years={"low": 0},
        )
    assert set(bad.value.fields) == {"weights", "review_years"}
    rating_config_set(
        tenant=acme.tenant,
        actor=acme.admin.user,
        weights={"channel": 0},
        review_years={"low": 5, "high": 1},
        medium_from=10,
        high_from=40,
    )
    config = rating_config_for(tenant=acme.tenant)
    assert config.weights["channel"] == 0 and config.review_years["low"] == 5
    assert config.high_from == 40
    from tests.conftest import as_tenant

    with as_tenant(globex.tenant):
        assert rating_config_for(tenant=globex.tenant).review_years["low"] == 3


def test_a_submitted_client_is_rated_and_the_rating_is_kept(acme):
    case = submit_profile(acme.tenant, acme.client)
    first = RiskRating.objects.get(profile=case.profile)
    assert first.level in ("low", "medium", "high") and first.reasons
    assert first.next_review_on > date.today()  # noqa: DTZ011
    again = risk_rating_compute(tenant=acme.tenant, profile=case.profile)
    assert RiskRating.objects.filter(profile=case.profile).count() == 2
    assert again.pk != first.pk


def test_the_scheduled_task_opens_due_reviews(acme):
    case = submit_profile(acme.tenant, acme.client)
    KycCase.objects.filter(pk=case.pk).update(status="approved")
    case.profile.__class__.objects.filter(pk=case.profile_id).update(
        status="approved", next_review_on=date(2020, 1, 1)
    )
    assert reviews_open_due_task(acme.tenant.pk) == 1
    assert reviews_open_due_task(acme.tenant.pk) == 0
    assert KycCase.objects.filter(kind="review", status="open").count() == 1


def test_tenant_admins_set_the_configuration_in_the_console_and_others_cannot(acme):
    from django.test import Client

    from kyc.models import RiskRatingConfig
    from tests.conftest import sign_in

    form = {
        "customer": 20,
        "geography": 40,
        "product": 20,
        "channel": 0,
        "pep": 15,
        "screening": 10,
        "medium_from": 25,
        "high_from": 55,
        "review_years_low": 4,
        "review_years_medium": 2,
        "review_years_high": 1,
    }
    officer = sign_in(Client(), acme.compliance)
    assert officer.get("/console/kyc/settings/").status_code == 200
    assert officer.post("/console/kyc/settings/", form).status_code == 403
    assert not RiskRatingConfig.objects.exists()
    admin = sign_in(Client(), acme.admin)
    bad = admin.post("/console/kyc/settings/", {**form, "high_from": 20})
    assert bad.status_code == 400 and "high_from" in bad.context["form"].errors
    assert not RiskRatingConfig.objects.exists()
    assert admin.post("/console/kyc/settings/", form).status_code == 302
    config = rating_config_for(tenant=acme.tenant)
    assert config.weights["geography"] == 40 and config.review_years["low"] == 4


def test_a_change_of_rating_tells_the_listeners_after_commit_and_a_same_rating_does_not(
    acme, django_capture_on_commit_callbacks
):
    from kyc.hooks import risk_rating_changed

    told: list[dict] = []
    risk_rating_changed.connect(told.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            case = submit_profile(acme.tenant, acme.client)
        first = RiskRating.objects.get(profile=case.profile)
        assert told == [
            {
                "tenant": acme.tenant.pk,
                "membership": acme.client.membership.pk,
                "previous": None,
                "rating": first.level,
                "at": first.created_at.isoformat(),
            }
        ]
        with django_capture_on_commit_callbacks(execute=True):
            risk_rating_compute(tenant=acme.tenant, profile=case.profile)
        assert len(told) == 1
        # With the high band from a score of 2, this ordinary client becomes high.
        assert first.level != "high"
        rating_config_set(tenant=acme.tenant, actor=acme.admin.user, medium_from=1, high_from=2)
        with django_capture_on_commit_callbacks(execute=True):
            risk_rating_compute(tenant=acme.tenant, profile=case.profile)
        assert len(told) == 2
        assert (told[1]["previous"], told[1]["rating"]) == (first.level, "high")
    finally:
        risk_rating_changed.disconnect(told.append)


def test_a_stricter_rating_applies_at_once_and_a_milder_one_waits_for_a_review(acme):
    """FATF's risk-based approach: enhanced measures follow a higher risk as soon as it is
    known; lowering them is a decision a person takes (the review case's approval)."""
    from kyc.selectors import risk_rating_for

    case = submit_profile(acme.tenant, acme.client)
    first = RiskRating.objects.get(profile=case.profile)
    assert first.level != "high"
    profile = case.profile
    profile.__class__.objects.filter(pk=profile.pk).update(
        status="approved", risk_rating=first.level, next_review_on=date(2099, 1, 1)
    )
    KycCase.objects.filter(pk=case.pk).update(status="approved")
    membership = acme.client.membership
    assert risk_rating_for(tenant=acme.tenant, membership=membership) == first.level

    rating_config_set(tenant=acme.tenant, actor=acme.admin.user, medium_from=1, high_from=2)
    stricter = risk_rating_compute(tenant=acme.tenant, profile=profile)
    assert stricter.level == "high"
    assert risk_rating_for(tenant=acme.tenant, membership=membership) == "high"
    profile.refresh_from_db()
    assert profile.next_review_on == stricter.next_review_on < date(2099, 1, 1)

    rating_config_set(tenant=acme.tenant, actor=acme.admin.user, medium_from=99, high_from=100)
    milder = risk_rating_compute(tenant=acme.tenant, profile=profile)
    assert milder.level == "low"
    assert risk_rating_for(tenant=acme.tenant, membership=membership) == "high"
