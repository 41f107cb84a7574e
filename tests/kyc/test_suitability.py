"""The questionnaire → investor class, allowed product risk levels, leverage cap, professional."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kyc.suitability import suitability_assess
from tests.kyc.factories import MODEST_ANSWERS

CAUTIOUS = {
    "age": "over_70",
    "income": "under_100k",
    "assets": "under_500k",
    "experience": "none",
    "products": "deposits",
    "loss_tolerance": "under_10",
    "horizon": "under_1y",
    "objective": "preserve",
}
BOLD = {
    "age": "31_50",
    "income": "over_1m",
    "assets": "over_10m",
    "experience": "over_5",
    "products": "leveraged",
    "loss_tolerance": "over_30",
    "horizon": "over_3y",
    "objective": "speculation",
}


def test_a_cautious_investor_is_c1_and_may_only_buy_r1_without_leverage():
    outcome = suitability_assess(CAUTIOUS)
    assert outcome.investor_class == "C1"
    assert outcome.allowed_risk_levels == ("R1",)
    assert outcome.leverage_cap == Decimal("0.00")
    assert not outcome.professional


def test_classes_allow_products_up_to_their_level():
    outcome = suitability_assess(MODEST_ANSWERS)
    assert outcome.investor_class == "C4", outcome
    assert outcome.allowed_risk_levels == ("R1", "R2", "R3", "R4")
    assert outcome.leverage_cap == Decimal("1.00")


def test_a_wealthy_experienced_investor_is_professional_with_every_level():
    outcome = suitability_assess(BOLD)
    assert outcome.investor_class == "C5"
    assert outcome.professional
    assert outcome.allowed_risk_levels == ("R1", "R2", "R3", "R4", "R5")
    # Wealth alone, without two years' experience, is not enough.
    assert not suitability_assess({**BOLD, "experience": "under_2"}).professional


def test_who_cannot_bear_any_loss_is_the_lowest_category_whatever_else():
    outcome = suitability_assess({**BOLD, "loss_tolerance": "none"})
    assert outcome.lowest_category and outcome.investor_class == "C1"
    assert outcome.allowed_risk_levels == ("R1",) and not outcome.professional


def test_missing_answers_are_refused():
    with pytest.raises(ValueError, match="horizon"):
        suitability_assess({k: v for k, v in MODEST_ANSWERS.items() if k != "horizon"})
