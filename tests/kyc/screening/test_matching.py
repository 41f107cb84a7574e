"""Matching quality on real list data: recall, false positives, scripts, aliases.

Candidates come from PostgreSQL (the blocking keys and trigram index), then logic-v2 scores
them: each figure below measures the whole path a real screening takes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kyc.screening.matching import Subject, blocking_keys, pinyin_forms
from kyc.screening.models import ListEntity
from kyc.screening.services import list_import, screening_preview
from tests.kyc.screening.conftest import (
    person_csv_rows,
    person_entity,
    subject_from_row,
    un_list_file,
    write_ftm,
)

pytestmark = pytest.mark.django_db
MATCH = 0.70


def _best(subject: Subject, key: str) -> float:
    for item in screening_preview(subject=subject, limit=40):
        if ListEntity.objects.get(pk=item.candidate.entity_id).key == key:
            return item.score
    return 0.0


def test_recall_of_treated_un_names_against_their_records(
    sanctions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    list_import(path=un_list_file(sanctions, tmp_path), fmt="ftm", source_name="un")
    treated = person_csv_rows(sanctions / "positives_un_treated.csv")
    found = 0
    for i, row in enumerate(treated):
        scored = screening_preview(subject=subject_from_row(f"t{i}", row), limit=40)
        keys = dict(
            ListEntity.objects.filter(pk__in=[s.candidate.entity_id for s in scored]).values_list(
                "pk", "key"
            )
        )
        if any(keys[s.candidate.entity_id] == f"un-{i}" and s.score >= MATCH for s in scored):
            found += 1
    recall = found / len(treated)
    with capsys.disabled():
        print(f"\nrecall@{MATCH} of treated UN names: {found}/{len(treated)} = {recall:.1%}")
    assert len(treated) == 683
    assert recall >= 0.92


@pytest.mark.parametrize("negatives", ["negatives_global.csv", "negatives_us.csv"])
def test_no_negative_scores_a_hit(sanctions: Path, tmp_path: Path, negatives: str) -> None:
    list_import(path=un_list_file(sanctions, tmp_path), fmt="ftm", source_name="un")
    list_import(path=sanctions / "zala.ftm.json", fmt="ftm", source_name="zala")
    list_import(path=sanctions / "t1.ftm.json", fmt="ftm", source_name="eu")
    list_import(
        path=sanctions / "ofactest_sdn.csv",
        fmt="ofac",
        source_name="ofac",
        aliases=sanctions / "ofactest_alt.csv",
    )
    rows = person_csv_rows(sanctions / negatives)
    hits = []
    for i, row in enumerate(rows):
        subject = subject_from_row(f"n{i}", row)
        scored = screening_preview(subject=subject, limit=1)
        if scored and scored[0].score >= MATCH:
            hits.append((row["full_name"], scored[0].candidate.caption, scored[0].score))
    assert len(rows) == 1000
    assert hits == []


def test_multi_script_names_from_the_ftm_files(sanctions: Path) -> None:
    list_import(path=sanctions / "zala.ftm.json", fmt="ftm", source_name="zala")
    list_import(path=sanctions / "t1.ftm.json", fmt="ftm", source_name="eu")
    zakharov = "NK-aU5ybkbRFJucf8YMwsJvDw"
    latin = Subject(ref="1", names=("Aleksandr Zacharov",))
    cyrillic = Subject(ref="2", names=("Александр Захаров",))
    assert _best(latin, zakharov) >= MATCH
    assert _best(cyrillic, zakharov) >= MATCH
    # The right birth date keeps the hit; another one in a different year lowers it below.
    born = Subject(ref="3", names=("Alexander Zakharov",), birth_date=_date("1965-09-21"))
    other = Subject(ref="4", names=("Alexander Zakharov",), birth_date=_date("1975-09-21"))
    assert _best(born, zakharov) >= MATCH > _best(other, zakharov)
    # "Inter Tobacco" is listed in 12 languages; the Belarusian Cyrillic form finds it.
    tobacco = Subject(ref="5", names=("Інтэр Табак",), schema="Organization")
    assert _best(tobacco, "NK-2GdmHtZTeNXjNVrBGEXZNj") >= MATCH


def _date(value: str):  # type: ignore[no-untyped-def]
    from datetime import date

    return date.fromisoformat(value)


def test_ofac_aliases_are_found(sanctions: Path) -> None:
    list_import(
        path=sanctions / "ofactest_sdn.csv",
        fmt="ofac",
        source_name="ofac",
        aliases=sanctions / "ofactest_alt.csv",
    )
    # Only in alt.csv, never in sdn.csv:
    alias = Subject(ref="1", names=("Iran Aircraft Manufacturing Industries",), schema="Company")
    assert _best(alias, "11195") >= MATCH
    person = Subject(ref="2", names=("Elvis Logan Morey",), birth_date=_date("1963-07-28"))
    assert _best(person, "10278") >= MATCH


def _cross_script_rows(sanctions: Path) -> list[list[str]]:
    with open(sanctions / "cross_script_pairs.csv", encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip() and not line.startswith("#")]
    return [row for row in csv.reader(lines)]


def test_han_names_match_their_pinyin_list_entries(sanctions: Path, tmp_path: Path) -> None:
    han = [r for r in _cross_script_rows(sanctions) if r[3].startswith(("Chinese", "Common"))]
    chinese = [r for r in han if r[0] in {"习近平", "李明", "王伟"}]
    assert len(chinese) == 3
    path = write_ftm(
        tmp_path / "pinyin.json",
        [person_entity(f"cs-{i}", [row[1]]) for i, row in enumerate(chinese)],
    )
    list_import(path=path, fmt="ftm", source_name="cross")
    for i, (query, expected, minimum, _description) in enumerate(chinese):
        score = _best(Subject(ref=str(i), names=(query,)), f"cs-{i}")
        assert score >= float(minimum), (query, expected, score)
        assert score >= MATCH, (query, expected, score)


def test_cyrillic_pairs_of_the_cross_script_file(sanctions: Path, tmp_path: Path) -> None:
    rows = [r for r in _cross_script_rows(sanctions) if "Russian" in r[3]]
    assert len(rows) == 4
    path = write_ftm(
        tmp_path / "latin.json", [person_entity(f"ru-{i}", [r[1]]) for i, r in enumerate(rows)]
    )
    list_import(path=path, fmt="ftm", source_name="latin")
    for i, (query, expected, minimum, _d) in enumerate(rows):
        assert _best(Subject(ref=str(i), names=(query,)), f"ru-{i}") >= float(minimum), expected


def test_pinyin_forms_and_keys() -> None:
    assert pinyin_forms("习近平") == ("Xi Jinping", "Jinping Xi")
    assert pinyin_forms("欧阳娜娜") == ("Ouyang Nana", "Nana Ouyang")  # compound surname
    assert pinyin_forms("Vladimir Putin") == ()
    assert "t:jinping" in blocking_keys(["习近平"])


def test_legal_forms_are_not_blocking_keys() -> None:
    keys = blocking_keys(["ACME TRADING CORP LLC"])
    assert "t:corp" not in keys and "t:llc" not in keys
    assert "t:acme" in keys


def test_a_legal_form_alone_finds_nobody(tmp_path: Path) -> None:
    companies = [
        {
            "id": f"c{i}",
            "schema": "Company",
            "properties": {"name": [f"{word} Corp"], "topics": ["sanction"]},
        }
        for i, word in enumerate(["Orion", "Vega", "Lyra", "Draco", "Hydra"])
    ]
    list_import(path=write_ftm(tmp_path / "c.json", companies), fmt="ftm", source_name="c")
    scored = screening_preview(
        subject=Subject(ref="1", names=("Zenith Corp",), schema="Company"), limit=10
    )
    assert all(s.score < MATCH for s in scored)
    exact = screening_preview(
        subject=Subject(ref="2", names=("Vega Corporation",), schema="Company"), limit=10
    )
    assert exact and exact[0].candidate.caption == "Vega Corp" and exact[0].score >= MATCH


def test_short_names_are_found_and_ranked(tmp_path: Path) -> None:
    people = [person_entity("short", ["Li Na"])] + [
        person_entity(f"p{i}", [f"Li {name}"])
        for i, name in enumerate(["Ming", "Wei", "Qiang", "Jun", "Hua", "Lei"])
    ]
    list_import(path=write_ftm(tmp_path / "s.json", people), fmt="ftm", source_name="s")
    scored = screening_preview(subject=Subject(ref="1", names=("LI Na",)), limit=3)
    assert ListEntity.objects.get(pk=scored[0].candidate.entity_id).key == "short"
    assert scored[0].score >= MATCH
    assert all(s.score < MATCH for s in scored[1:])
