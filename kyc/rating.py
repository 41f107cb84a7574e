"""Customer risk rating: factors → weighted score → low / medium / high, with reasons.

Plain Python. FATF's risk-based approach names the factors (customer, geography, product and
service, delivery channel) and adds PEPs and screening outcomes; each factor scores 0-100, the
tenant's weights combine them, and a few facts set a floor whatever the score (a foreign PEP,
an open screening hit, a country under an FATF call for action: high).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from kyc.countries import FATF_CALL_FOR_ACTION, FATF_INCREASED_MONITORING

FACTORS = ("customer", "geography", "product", "channel", "pep", "screening")
DEFAULT_WEIGHTS = {
    "customer": 20,
    "geography": 25,
    "product": 20,
    "channel": 10,
    "pep": 15,
    "screening": 10,
}
LEVELS = ("low", "medium", "high")

REASON_TEXT = {
    "occupation_cash_business": _("Owns a cash-intensive business"),
    "occupation_business": _("Self-employed or business owner"),
    "wealth_unexplained": _("Source of wealth is inheritance, a gift or other"),
    "country_call_for_action": _("A country under an FATF call for action: %(detail)s"),
    "country_increased_monitoring": _("A country under FATF increased monitoring: %(detail)s"),
    "leverage": _("Margin financing up to %(detail)s times equity"),
    "professional": _("Professional investor: every product level allowed"),
    "non_face_to_face": _("Onboarded online, not face to face"),
    "pep_foreign": _("Foreign politically exposed person"),
    "pep": _("Politically exposed person or close associate (%(detail)s)"),
    "screening_hit": _("Open or confirmed sanctions or PEP screening hit"),
    "pep_listed": _("Screening found the client on a PEP list"),
    "screening_review": _("Screening result in the review band"),
    "screening_unavailable": _("Screening result not available"),
}


@dataclass(frozen=True)
class RatingConfig:
    weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    medium_from: int = 30
    high_from: int = 60
    review_years: dict[str, int] = field(default_factory=lambda: {"low": 3, "medium": 2, "high": 1})
    high_risk_countries: frozenset[str] = FATF_CALL_FOR_ACTION
    monitored_countries: frozenset[str] = FATF_INCREASED_MONITORING


@dataclass(frozen=True)
class ClientFacts:
    occupation: str = ""
    source_of_wealth: str = ""
    countries: tuple[str, ...] = ()
    pep: str = "no"
    leverage_cap: Decimal = Decimal(0)
    professional: bool = False
    channel: str = "online"
    screening: dict[str, Any] | None = None


@dataclass(frozen=True)
class Rating:
    level: str
    score: int
    factors: dict[str, int]
    reasons: list[dict[str, Any]]


def _reason(factor: str, code: str, points: int, detail: str = "") -> dict[str, Any]:
    return {"factor": factor, "code": code, "points": points, "detail": detail}


def reason_text(reason: dict[str, Any]) -> str:
    text = REASON_TEXT.get(reason.get("code", ""))
    if text is None:
        return str(reason.get("code", ""))
    return str(text) % {"detail": reason.get("detail", "")} if "%(" in str(text) else str(text)


def rating_compute(facts: ClientFacts, config: RatingConfig) -> Rating:
    reasons: list[dict[str, Any]] = []
    scores = dict.fromkeys(FACTORS, 0)
    floor = "low"

    if facts.occupation == "cash_business":
        scores["customer"] = 100
        reasons.append(_reason("customer", "occupation_cash_business", 100))
    elif facts.occupation in ("business_owner", "self_employed"):
        scores["customer"] = 50
        reasons.append(_reason("customer", "occupation_business", 50))
    if facts.source_of_wealth in ("inheritance", "other"):
        scores["customer"] = min(100, scores["customer"] + 30)
        reasons.append(_reason("customer", "wealth_unexplained", 30))

    black = sorted(set(facts.countries) & config.high_risk_countries)
    grey = sorted(set(facts.countries) & config.monitored_countries)
    if black:
        scores["geography"] = 100
        floor = "high"
        reasons.append(_reason("geography", "country_call_for_action", 100, ", ".join(black)))
    elif grey:
        scores["geography"] = 60
        reasons.append(_reason("geography", "country_increased_monitoring", 60, ", ".join(grey)))

    if facts.professional:
        scores["product"] = 70
        reasons.append(_reason("product", "professional", 70))
    elif facts.leverage_cap > 0:
        scores["product"] = 40 if facts.leverage_cap <= 1 else 70
        reasons.append(_reason("product", "leverage", scores["product"], str(facts.leverage_cap)))

    if facts.channel == "online":
        scores["channel"] = 50
        reasons.append(_reason("channel", "non_face_to_face", 50))

    if facts.pep in ("foreign", "international"):
        scores["pep"] = 100
        floor = "high"
        reasons.append(_reason("pep", "pep_foreign", 100))
    elif facts.pep not in ("", "no"):
        scores["pep"] = 70
        floor = "medium" if floor == "low" else floor
        reasons.append(_reason("pep", "pep", 70, facts.pep))

    screening = facts.screening
    if screening is None or screening.get("band") is None:
        scores["screening"] = 30
        reasons.append(_reason("screening", "screening_unavailable", 30))
    else:
        band = str(screening.get("band") or "").lower()
        strong = int(screening.get("open_strong_hits") or 0)
        strong += int(screening.get("confirmed_hits") or 0)
        if strong or band == "hit":
            scores["screening"] = 100
            floor = "high"
            reasons.append(_reason("screening", "screening_hit", 100))
        elif band == "review" or int(screening.get("open_hits") or 0):
            scores["screening"] = 60
            reasons.append(_reason("screening", "screening_review", 60))
        if screening.get("pep") and scores["pep"] < 100:
            scores["pep"] = 100
            floor = "high"
            reasons.append(_reason("pep", "pep_listed", 100))

    weights = {f: max(0, int(config.weights.get(f, DEFAULT_WEIGHTS[f]))) for f in FACTORS}
    total = sum(weights.values()) or 1
    score = round(sum(scores[f] * weights[f] for f in FACTORS) / total)
    level = (
        "high" if score >= config.high_from else "medium" if score >= config.medium_from else "low"
    )
    if LEVELS.index(floor) > LEVELS.index(level):
        level = floor
    return Rating(level, score, scores, reasons)


def next_review(level: str, config: RatingConfig, *, today: date) -> date:
    years = config.review_years[level]
    try:
        return today.replace(year=today.year + years)
    except ValueError:  # 29 February
        return today.replace(year=today.year + years, day=28)
