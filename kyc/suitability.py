"""The suitability questionnaire and its outcome: investor class C1-C5, the product risk levels
R1-R5 it allows, the leverage cap and the professional-investor test.

Plain Python. The CSRC's suitability rules (证券期货投资者适当性管理办法, 2017) grade ordinary
investors C1 (with its lowest category) to C5 and products R1 to R5, and allow a product to an
investor whose class is at least the product's level (R3 → C3-C5). A natural person is a
professional investor with financial assets ≥ RMB 5m or three-year average income ≥ RMB 500k,
and at least two years of investment experience.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

QUESTIONNAIRE_VERSION = "2026.1"


@dataclass(frozen=True)
class Question:
    key: str
    text: object
    choices: tuple[tuple[str, object, int], ...]  # (value, label, points)


QUESTIONS: tuple[Question, ...] = (
    Question(
        "age",
        _("Your age"),
        (
            ("18_30", _("18 to 30"), 4),
            ("31_50", _("31 to 50"), 4),
            ("51_60", _("51 to 60"), 3),
            ("61_70", _("61 to 70"), 2),
            ("over_70", _("Over 70"), 0),
        ),
    ),
    Question(
        "income",
        _("Your average yearly income over the last three years (CNY)"),
        (
            ("under_100k", _("Under 100,000"), 0),
            ("100k_500k", _("100,000 to 500,000"), 2),
            ("500k_1m", _("500,000 to 1 million"), 3),
            ("over_1m", _("Over 1 million"), 4),
        ),
    ),
    Question(
        "assets",
        _("Your financial assets (CNY)"),
        (
            ("under_500k", _("Under 500,000"), 0),
            ("500k_5m", _("500,000 to 5 million"), 2),
            ("5m_10m", _("5 to 10 million"), 3),
            ("over_10m", _("Over 10 million"), 4),
        ),
    ),
    Question(
        "experience",
        _("Your years of investing in securities, funds or derivatives"),
        (
            ("none", _("None"), 0),
            ("under_2", _("Less than 2 years"), 1),
            ("2_5", _("2 to 5 years"), 3),
            ("over_5", _("More than 5 years"), 4),
        ),
    ),
    Question(
        "products",
        _("The riskiest products you have invested in"),
        (
            ("deposits", _("Deposits and money-market funds"), 0),
            ("bonds_funds", _("Bonds and mutual funds"), 2),
            ("equities", _("Shares"), 3),
            ("leveraged", _("Margin trading, options or futures"), 4),
        ),
    ),
    Question(
        "loss_tolerance",
        _("The largest loss you could bear in a year"),
        (
            ("none", _("No loss at all"), 0),
            ("under_10", _("Up to 10%"), 1),
            ("10_30", _("10% to 30%"), 3),
            ("over_30", _("More than 30%"), 4),
        ),
    ),
    Question(
        "horizon",
        _("How long you plan to invest"),
        (
            ("under_1y", _("Less than a year"), 1),
            ("1_3y", _("1 to 3 years"), 2),
            ("over_3y", _("More than 3 years"), 3),
        ),
    ),
    Question(
        "objective",
        _("Your main objective"),
        (
            ("preserve", _("Keep my capital safe"), 0),
            ("income", _("A steady income"), 1),
            ("growth", _("Growth"), 3),
            ("speculation", _("High returns, accepting large losses"), 4),
        ),
    ),
)

QUESTION_KEYS = tuple(q.key for q in QUESTIONS)
# Lowest score of each class.
CLASS_FLOORS = (("C5", 26), ("C4", 20), ("C3", 14), ("C2", 8), ("C1", 0))
RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
# Financing the class may take, per unit of the client's own equity.
LEVERAGE_CAPS = {
    "C1": Decimal("0.00"),
    "C2": Decimal("0.00"),
    "C3": Decimal("0.50"),
    "C4": Decimal("1.00"),
    "C5": Decimal("1.00"),
}
PROFESSIONAL_LEVERAGE_CAP = Decimal("1.25")


@dataclass(frozen=True)
class Suitability:
    score: int
    investor_class: str
    allowed_risk_levels: tuple[str, ...]
    leverage_cap: Decimal
    professional: bool
    lowest_category: bool


def allowed_levels(investor_class: str) -> tuple[str, ...]:
    """R1 for everyone; Rn needs at least Cn."""
    return RISK_LEVELS[: int(investor_class[1])]


def professional_test(answers: dict[str, str]) -> bool:
    wealthy = answers.get("assets") in ("5m_10m", "over_10m")
    earning = answers.get("income") in ("500k_1m", "over_1m")
    experienced = answers.get("experience") in ("2_5", "over_5")
    return (wealthy or earning) and experienced


def suitability_assess(answers: dict[str, str]) -> Suitability:
    """Score complete answers (every key of QUESTIONS, each a listed value)."""
    points = {q.key: {value: p for value, _label, p in q.choices} for q in QUESTIONS}
    missing = [key for key in QUESTION_KEYS if answers.get(key) not in points[key]]
    if missing:
        raise ValueError(f"unanswered or invalid: {', '.join(missing)}")
    score = sum(points[key][answers[key]] for key in QUESTION_KEYS)
    investor_class = next(cls for cls, floor in CLASS_FLOORS if score >= floor)
    # The lowest category: cannot bear any loss. Never more than R1, not even after a warning.
    lowest = answers["loss_tolerance"] == "none"
    if lowest:
        investor_class = "C1"
    professional = professional_test(answers) and not lowest
    levels = RISK_LEVELS if professional else allowed_levels(investor_class)
    cap = PROFESSIONAL_LEVERAGE_CAP if professional else LEVERAGE_CAPS[investor_class]
    return Suitability(score, investor_class, tuple(levels), cap, professional, lowest)
