"""The name matcher: blocking keys for candidate generation, and scoring with nomenklatura.

Plain Python (no Django), like the margin engine: the services fetch candidates from
PostgreSQL with ``blocking_keys`` and hand them here as ``Candidate``s; ``score_candidates``
scores them with OpenSanctions' ``logic-v2`` algorithm (nomenklatura), the scorer yente uses
for screening, and returns every candidate with its score and the features that drove it.

What we add around logic-v2 (docs/screening.md says why):

- pinyin forms of Han-script names, surname first and given name first, on both sides, since
  logic-v2 scores 习近平 against "Xi Jinping" at 0;
- birth date and nationality go into the comparison (logic-v2's disjoint-date and
  country-mismatch qualifiers lower the score of a same-name stranger);
- legal-form tokens (CORP, LLC, JSC...) never become blocking keys, so they cannot pull in
  every company of the list.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

ALGORITHM = "nomenklatura-logic-v2"

# Legal forms and filler words: never a blocking key on their own (Watchman #483, "CORP
# matches too highly"). The scorer still sees them as part of the name.
STOPWORDS = frozenset(
    """
    ag as asa bhd bv co corp corporation company cv de del der des di do du ead eirl fzco fze
    fzc gmbh gie inc incorporated jsc kft kg ksa llc llp lp ltd limited mbh na nv oao ojsc ooo
    oy pao pjsc plc pte pty sa sab sae sal sarl sas sdn spa sp sro srl the of and for und et y
    zao zat tov pp ip ao
    """.split()
)
COMPOUND_SURNAMES = frozenset(
    """
    欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 端木
    歐陽 諸葛 司馬
    """.split()
)
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
NON_ALNUM = re.compile(r"[^0-9a-z]+")
MAX_KEY_LENGTH = 120


@dataclass(frozen=True)
class Subject:
    """What the screening learns about a client, from the kyc app's subject source."""

    ref: str
    names: tuple[str, ...]
    birth_date: date | None = None
    countries: tuple[str, ...] = ()
    schema: str = "Person"
    # Only when the full birth date is unknown (list-style records give just the year).
    birth_year: int | None = None

    def birth_dates(self) -> list[str]:
        if self.birth_date is not None:
            return [self.birth_date.isoformat()]
        return [str(self.birth_year)] if self.birth_year else []

    def digest(self) -> str:
        """SHA-256 of the screened data: a changed profile shows without storing it."""
        body = json.dumps(
            [
                self.schema,
                sorted(self.names),
                self.birth_dates(),
                sorted(c.lower() for c in self.countries),
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Candidate:
    """A listed entity, as the database gives it to the scorer."""

    entity_id: int
    content_hash: str
    schema: str
    caption: str
    names: tuple[str, ...]
    weak_aliases: tuple[str, ...] = ()
    birth_dates: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    matched_name: str
    features: dict[str, Any] = field(default_factory=dict)


# --- normalisation and keys ------------------------------------------------------------------


@lru_cache(maxsize=200_000)
def ascii_form(name: str) -> str:
    """Lower-case Latin letters and digits separated by single spaces, from any script."""
    from normality import ascii_text

    text = unicodedata.normalize("NFKC", name)
    if not text.isascii():  # transliteration (ICU) only where there is something to do
        text = ascii_text(text) or ""
    return " ".join(NON_ALNUM.split(text.lower())).strip()


def has_han(name: str) -> bool:
    return bool(HAN.search(name))


@lru_cache(maxsize=50_000)
def pinyin_forms(name: str) -> tuple[str, ...]:
    """``习近平`` -> ``("Xi Jinping", "Jinping Xi")``; names without Han characters -> ().

    Unsegmented names take the first character (or a compound surname) as the family name;
    a name written in parts (``金龍 陳``) keeps its parts, in both orders.
    """
    if not has_han(name):
        return ()
    from pypinyin import Style, lazy_pinyin

    def spell(text: str) -> str:
        return "".join(lazy_pinyin(text, style=Style.NORMAL)).capitalize()

    parts = [
        "".join(ch for ch in part if HAN.match(ch))
        for part in re.split(r"[\s·・.,]+", name.strip())
    ]
    parts = [part for part in parts if part]
    if not parts or sum(len(p) for p in parts) > 8:
        return ()
    if len(parts) == 1:
        han = parts[0]
        cut = 2 if han[:2] in COMPOUND_SURNAMES and len(han) > 2 else 1
        parts = [han[:cut], han[cut:]] if len(han) > cut else [han]
    spelled = [spell(part) for part in parts]
    forms = [" ".join(spelled)]
    if len(spelled) > 1:
        forms.append(" ".join(reversed(spelled)))
    return tuple(forms)


def name_variants(names: Iterable[str]) -> tuple[str, ...]:
    """The names plus the pinyin forms of those in Han script."""
    out: dict[str, None] = {}
    for name in names:
        out.setdefault(name, None)
        for form in pinyin_forms(name):
            out.setdefault(form, None)
    return tuple(out)


def _phonetic(token: str) -> str:
    from rigour.text.phonetics import metaphone  # yente's phonetic key; cached in rigour

    return metaphone(token)[:MAX_KEY_LENGTH]


def name_tokens(name: str) -> list[str]:
    return [t for t in ascii_form(name).split() if t]


def blocking_keys(names: Iterable[str]) -> set[str]:
    """The keys a name is found by: ``t:`` tokens, ``p:`` metaphone, ``f:`` fused name.

    Legal forms and one-letter initials are not keys; the fused key (the tokens written
    together, forwards and backwards) finds "JSCARGUMENT" from "JSC ARGUMENT" and a Han name
    split into syllables.
    """
    keys: set[str] = set()
    for name in name_variants(names):
        tokens = name_tokens(name)
        meaningful = [t for t in tokens if len(t) > 1 and t not in STOPWORDS]
        for token in meaningful:
            keys.add(f"t:{token}"[:MAX_KEY_LENGTH])
            if len(token) > 2 and not token.isdigit():
                code = _phonetic(token)
                if len(code) > 1:
                    keys.add(f"p:{code}")
        if 1 < len(tokens) <= 4:
            keys.add(f"f:{''.join(tokens)}"[:MAX_KEY_LENGTH])
            keys.add(f"f:{''.join(reversed(tokens))}"[:MAX_KEY_LENGTH])
        elif len(tokens) == 1 and len(tokens[0]) > 1:
            keys.add(f"f:{tokens[0]}"[:MAX_KEY_LENGTH])
    return keys


def key_weight(key: str, frequency: int, total: int) -> float:
    """Inverse document frequency, a token counting more than its sound-alike."""
    import math

    kind_weight = {"t": 1.0, "f": 1.2, "p": 0.6}.get(key[0], 0.5)
    return kind_weight * math.log(1 + total / (1 + frequency))


# --- a cheap first pass ----------------------------------------------------------------------


def _token_sets(names: Iterable[str]) -> list[list[str]]:
    sets = []
    for name in name_variants(names):
        tokens = [t for t in name_tokens(name) if len(t) > 1 and t not in STOPWORDS]
        if tokens:
            sets.append(tokens)
    return sets


def quick_similarity(query: list[list[str]], names: Iterable[str]) -> float:
    """How well the query's tokens find close tokens among ``names`` (0..1, order-free).

    Rust Jaro-Winkler (rigour) per token: only to choose which candidates the real scorer
    sees, never a screening score.
    """
    from rigour.text.distance import jaro_winkler

    best = 0.0
    for candidate in _token_sets(names):
        for tokens in query:
            total = 0.0
            for token in tokens:
                total += max(
                    1.0 if token == other else jaro_winkler(token, other) for other in candidate
                )
            share = total / len(tokens)
            coverage = min(len(tokens), len(candidate)) / max(len(tokens), len(candidate))
            best = max(best, share * (0.8 + 0.2 * coverage))
    return best


def candidates_shortlist(
    names: Iterable[str], candidates: Sequence[Candidate], *, keep: int = 15
) -> list[Candidate]:
    """The ``keep`` candidates closest to ``names`` by ``quick_similarity``."""
    if len(candidates) <= keep:
        return list(candidates)
    query = _token_sets(names)
    ranked = sorted(
        candidates,
        key=lambda c: (-quick_similarity(query, (*c.names, *c.weak_aliases)), c.entity_id),
    )
    return ranked[:keep]


# --- scoring ---------------------------------------------------------------------------------


def matcher_warm_up() -> None:
    """Load the name data (about ten seconds once per process); call it at worker start."""
    score_candidates(
        Subject(ref="warm-up", names=("Warm Up",)),
        [Candidate(0, "0", "Person", "Warm Up", ("Warm Up",))],
    )


@lru_cache(maxsize=1)
def _algorithm() -> tuple[Any, Any]:
    from nomenklatura.matching.logic_v2.model import LogicV2
    from nomenklatura.matching.types import ScoringConfig

    return LogicV2, ScoringConfig.defaults()


def _props(
    names: Sequence[str], weak: Sequence[str], dates: Sequence[str], countries: Sequence[str]
) -> dict[str, list[str]]:
    props: dict[str, list[str]] = {"name": list(name_variants(names))}
    if weak:
        props["weakAlias"] = list(weak)
    if dates:
        props["birthDate"] = list(dates)
    if countries:
        props["country"] = [c.lower() for c in countries]
    return props


def _proxy(entity_id: str, schema: str, props: dict[str, list[str]]) -> Any:
    from followthemoney.proxy import EntityProxy

    return EntityProxy.from_dict({"id": entity_id, "schema": schema, "properties": props})


def subject_proxy(subject: Subject) -> Any:
    props = _props(subject.names, (), subject.birth_dates(), subject.countries)
    # The id keys nomenklatura's caches: it must change whenever the data does.
    return _proxy(f"q-{subject.digest()[:24]}", subject.schema, props)


def candidate_proxy(candidate: Candidate) -> Any:
    props = _props(
        candidate.names, candidate.weak_aliases, candidate.birth_dates, candidate.countries
    )
    return _proxy(f"e{candidate.entity_id}-{candidate.content_hash[:16]}", candidate.schema, props)


def _features(result: Any) -> tuple[dict[str, Any], str]:
    features: dict[str, Any] = {}
    matched = ""
    for name, feature in result.explanations.items():
        if not feature.score:
            continue
        features[name] = {"score": round(float(feature.score), 3), "detail": feature.detail or ""}
        if name in ("name_match", "weak_alias_match") and feature.candidate and not matched:
            matched = feature.candidate
    return features, matched


def score_candidates(subject: Subject, candidates: Iterable[Candidate]) -> list[Scored]:
    """Every candidate with its logic-v2 score, best first."""
    algorithm, config = _algorithm()
    query = subject_proxy(subject)
    out = []
    for candidate in candidates:
        result = algorithm.compare(query, candidate_proxy(candidate), config)
        features, matched = _features(result)
        out.append(
            Scored(
                candidate=candidate,
                score=max(0.0, min(1.0, float(result.score))),
                matched_name=matched or candidate.caption,
                features=features,
            )
        )
    out.sort(key=lambda s: (-s.score, s.candidate.entity_id))
    return out


# --- subject index, for screening a list delta against every client ---------------------------


class SubjectIndex:
    """An in-memory index of clients' names, to find who a newly listed entity may be."""

    def __init__(self, subjects: Iterable[Subject]) -> None:
        self.subjects: dict[str, Subject] = {}
        self._postings: dict[str, list[str]] = {}
        for subject in subjects:
            self.subjects[subject.ref] = subject
            for key in blocking_keys(subject.names):
                self._postings.setdefault(key, []).append(subject.ref)

    def __len__(self) -> int:
        return len(self.subjects)

    def candidates(self, names: Iterable[str], *, limit: int = 100, keep: int = 8) -> list[Subject]:
        """Clients sharing blocking keys with ``names``, rarest keys counting most."""
        total = max(len(self.subjects), 1)
        weights: dict[str, float] = {}
        for key in blocking_keys(names):
            refs = self._postings.get(key)
            if not refs:
                continue
            weight = key_weight(key, len(refs), total)
            for ref in refs:
                weights[ref] = weights.get(ref, 0.0) + weight
        best = sorted(weights.items(), key=lambda item: -item[1])[:limit]
        query = _token_sets(names)
        ranked = sorted(
            (self.subjects[ref] for ref, _ in best),
            key=lambda subject: -quick_similarity(query, subject.names),
        )
        return ranked[:keep]


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
