"""Candidate generation at list scale and the batched re-screen.

Blocking decides which listed entities the scorer ever sees: each kind of key must find its
entity on its own, a legal form must find nobody, and the postings a screening reads are
bounded (rarest keys first) however common the name's other tokens are.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kyc.screening import selectors, services
from kyc.screening.matching import Subject, blocking_keys
from kyc.screening.models import Band, ListEntity, ScreeningHit, ScreeningRun
from kyc.screening.selectors import keys_within_budget, list_candidate_ids
from kyc.screening.services import list_import, subject_summary, subjects_rescreen
from tests.kyc.screening.conftest import SubjectTable, person_entity, write_ftm

pytestmark = pytest.mark.django_db


def _ids_to_keys(ids: list[int]) -> set[str]:
    return set(ListEntity.objects.filter(pk__in=ids).values_list("key", flat=True))


def _import(tmp_path: Path, name: str, entities: list[dict[str, Any]]) -> None:
    list_import(path=write_ftm(tmp_path / f"{name}.json", entities), fmt="ftm", source_name=name)


def test_keys_within_budget_takes_the_rarest_first() -> None:
    frequency = {"t:wang": 900, "f:wangxiuying": 2, "t:xiuying": 40, "p:ANK": 5000}
    assert keys_within_budget(frequency, budget=1000) == ["f:wangxiuying", "t:xiuying", "t:wang"]
    assert keys_within_budget(frequency, budget=50) == ["f:wangxiuying", "t:xiuying"]
    assert keys_within_budget({"t:ali": 70_000}, budget=6000) == []


def test_each_kind_of_key_finds_its_entity_alone(tmp_path: Path) -> None:
    _import(
        tmp_path,
        "kinds",
        [
            person_entity("token", ["Okonkwo Adebayo"]),
            person_entity("phonetic", ["Vladimir Poutine"]),
            {
                "id": "fused",
                "schema": "Company",
                "properties": {"name": ["JSC ARGUMENT"], "topics": ["sanction"]},
            },
        ],
    )
    # A token: only the surname is shared.
    assert "t:adebayo" in blocking_keys(["Chinedu Adebayo"])
    assert "token" in _ids_to_keys(list_candidate_ids(names=["Chinedu Adebayo"]))
    # Metaphone only: no token of "Wladimir Putin" is in "Vladimir Poutine".
    assert not {"t:wladimir", "t:putin"} & blocking_keys(["Vladimir Poutine"])
    assert "phonetic" in _ids_to_keys(list_candidate_ids(names=["Wladimir Putin"]))
    # The fused name: "JSCARGUMENT" has no token in common with "JSC ARGUMENT".
    assert "fused" in _ids_to_keys(list_candidate_ids(names=["JSCARGUMENT"]))


def test_a_legal_form_among_thousands_of_companies_reads_none_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    words = ["Orion", "Vega", "Lyra", "Draco", "Hydra", "Cetus", "Ara", "Lupus", "Norma", "Pavo"]
    companies = [
        {
            "id": f"c{i}",
            "schema": "Company",
            "properties": {
                "name": [f"{words[i % 10]}{i} Trading Corp"],
                "topics": ["sanction"],
            },
        }
        for i in range(2500)
    ]
    _import(tmp_path, "corps", companies)
    assert list_candidate_ids(names=["Corp"]) == []
    assert list_candidate_ids(names=["Corp LLC Ltd"]) == []
    # "Trading" is in every one of them: past the budget, alone it reads none of them.
    monkeypatch.setattr(selectors, "POSTINGS_BUDGET", 1000)
    assert list_candidate_ids(names=["Zenith Trading Corp"]) == []
    assert _ids_to_keys(list_candidate_ids(names=["Vega1201 Trading Corp"])) >= {"c1201"}


def test_a_rare_surname_is_found_past_a_common_first_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "POSTINGS_BUDGET", 100)
    crowd = [person_entity(f"m{i}", [f"Mohammed Nasser{i}"]) for i in range(300)]
    _import(tmp_path, "crowd", [*crowd, person_entity("rare", ["Mohammed Qureshiyan"])])
    found = _ids_to_keys(list_candidate_ids(names=["Mohammed Qureshiyan"]))
    assert "rare" in found
    # The 300 entities sharing only "mohammed" were not read: too common for the budget.
    assert len(found) < 10


def test_a_newly_listed_client_is_caught_by_the_batched_rescreen(
    acme: Any, tmp_path: Path, subjects: SubjectTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "RESCREEN_BATCH", 2)  # five clients: three batches
    _import(tmp_path, "v", [person_entity("old", ["Pavel Orlov"], birth="1960")])
    clients = [
        Subject(ref=str(n), names=(name,), birth_date=date(1975, 6, 1))
        for n, name in enumerate(
            ["Dmitri Volkov", "Margaret Holloway", "Chen Jing", "Ana Souza", "Kofi Mensah"]
        )
    ]
    for client in clients:
        subjects.add(acme.tenant, client)
    assert subjects_rescreen(tenant=acme.tenant) == 5
    assert all(
        subject_summary(tenant=acme.tenant, ref=c.ref)["band"] == Band.CLEAR for c in clients
    )
    # The list (a new version of it) now names Volkov.
    entities = [
        person_entity("old", ["Pavel Orlov"], birth="1960"),
        person_entity("new", ["Dmitry Volkov"], birth="1975-06-01"),
    ]
    list_import(path=write_ftm(tmp_path / "v2.json", entities), fmt="ftm", source_name="v")
    assert subjects_rescreen(tenant=acme.tenant, reason="periodic") == 5
    runs = ScreeningRun.objects.filter(tenant=acme.tenant, reason="periodic")
    assert runs.count() == 5
    assert dict(runs.values_list("subject_ref", "band")) == {
        "0": Band.HIT,
        "1": Band.CLEAR,
        "2": Band.CLEAR,
        "3": Band.CLEAR,
        "4": Band.CLEAR,
    }
    hit = ScreeningHit.objects.get(tenant=acme.tenant, subject_ref="0")
    assert hit.entity.key == "new" and hit.status == ScreeningHit.Status.OPEN
    # A third run keeps the same open hit rather than opening another.
    subjects_rescreen(tenant=acme.tenant, reason="periodic")
    assert ScreeningHit.objects.filter(tenant=acme.tenant, subject_ref="0").count() == 1
