"""Importing lists: each format, all or nothing, idempotent per version."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction

from kyc.screening.formats import ListFormatError
from kyc.screening.models import ListEntity, ListNameKey, ListSource, ListVersion
from kyc.screening.services import list_import
from tests.kyc.screening.conftest import person_entity, write_ftm

pytestmark = pytest.mark.django_db


def test_ftm_import_keeps_every_script_and_skips_links(sanctions: Path) -> None:
    outcome = list_import(path=sanctions / "zala.ftm.json", fmt="ftm", source_name="zala")
    assert outcome.created
    version = outcome.version
    # Persons and companies with topics; Sanction, Ownership, Address... are links, not targets.
    schemas = set(ListEntity.objects.values_list("schema", flat=True))
    assert schemas <= {"Person", "Company", "Organization"}
    assert version.entity_count == ListEntity.objects.count() == version.added_count
    zakharov = ListEntity.objects.get(key="NK-aU5ybkbRFJucf8YMwsJvDw")
    assert "1965-09-21" in zakharov.birth_dates
    assert any("ЗАХАРОВ" in name.upper() for name in zakharov.names)  # noqa: RUF001 (Cyrillic)
    assert "ru" in zakharov.countries
    assert "sanction" in zakharov.topics
    assert ListNameKey.objects.filter(entity=zakharov, key="t:zakharov").exists()


def test_reimporting_the_same_file_changes_nothing(sanctions: Path) -> None:
    first = list_import(path=sanctions / "t1.ftm.json", fmt="ftm", source_name="eu")
    keys = ListNameKey.objects.count()
    again = list_import(path=sanctions / "t1.ftm.json", fmt="ftm", source_name="eu")
    assert not again.created
    assert again.version.pk == first.version.pk
    assert ListVersion.objects.count() == 1
    assert ListNameKey.objects.count() == keys


def test_a_new_version_records_added_changed_and_delisted(tmp_path: Path) -> None:
    v1 = write_ftm(
        tmp_path / "v1.json",
        [
            person_entity("a", ["Ivan Petrov"]),
            person_entity("b", ["Olga Smirnova"]),
            person_entity("c", ["Pavel Orlov"]),
        ],
    )
    v2 = write_ftm(
        tmp_path / "v2.json",
        [
            person_entity("a", ["Ivan Petrov"]),
            person_entity("b", ["Olga Smirnova", "Olga Smirnova-Ivanova"]),
            person_entity("d", ["Maria Volkova"]),
        ],
    )
    list_import(path=v1, fmt="ftm", source_name="demo")
    second = list_import(path=v2, fmt="ftm", source_name="demo").version
    assert (second.seq, second.added_count, second.changed_count, second.removed_count) == (
        2,
        1,
        1,
        1,
    )
    c = ListEntity.objects.get(key="c")
    assert c.delisted_in_id == second.pk
    assert not ListNameKey.objects.filter(entity=c).exists()  # no longer a candidate
    assert ListEntity.objects.get(key="a").changed_in_id != second.pk
    assert ListEntity.objects.get(key="b").changed_in_id == second.pk


def test_a_malformed_line_is_named_and_nothing_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    good = person_entity("a", ["Ivan Petrov"])
    write_ftm(path, [good, good | {"id": "b"}])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"id": "c", "schema": "Person", "properties": {"name": "not a list"}}\n')
    with pytest.raises(ListFormatError, match=r"bad.json: line 3: 'properties'"):
        list_import(path=path, fmt="ftm", source_name="bad")
    assert not ListSource.objects.filter(name="bad").exists()
    assert ListEntity.objects.count() == 0

    with pytest.raises(CommandError, match=r"line 3.*Nothing was imported"):
        call_command("sanctions_import", str(path), "--format", "ftm")
    assert ListVersion.objects.count() == 0


def test_a_bad_birth_date_and_invalid_utf8_name_their_lines(tmp_path: Path) -> None:
    path = write_ftm(tmp_path / "dates.json", [person_entity("a", ["X Y"], birth="21/09/1965")])
    with pytest.raises(ListFormatError, match="line 1: birth date"):
        list_import(path=path, fmt="ftm", source_name="dates")
    raw = tmp_path / "latin1.csv"
    raw.write_bytes(
        b"id,schema,name,aliases,birth_date,countries,sanctions\nx1,Person,Jos\xe9 Perez,,,,\n"
    )
    with pytest.raises(ListFormatError, match=r"latin1\.csv: line 2: not UTF-8"):
        list_import(path=raw, fmt="opensanctions-csv", source_name="simple")
    assert ListEntity.objects.count() == 0


def test_opensanctions_simple_csv(tmp_path: Path) -> None:
    path = tmp_path / "targets.simple.csv"
    path.write_text(
        "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,"
        "emails,dataset,first_seen,last_seen,last_change\n"
        'Q1,Person,Ivan Petrov,"Иван Петров;Ivan Petroff",1970-02-03,ru;by,,,'
        '"EU - reason",,,EU sanctions,,,\n'
        "Q2,Person,Anna Kowalska,,1980,pl,,,,,,Every politician (PEPs),,,\n"
        "Q3,Address,Somewhere,,,,,,,,,x,,,\n",
        encoding="utf-8",
    )
    version = list_import(path=path, fmt="opensanctions-csv", source_name="os").version
    assert version.entity_count == 2
    ivan = ListEntity.objects.get(key="Q1")
    assert set(ivan.names) == {"Ivan Petrov", "Иван Петров", "Ivan Petroff"}
    assert ivan.countries == ["ru", "by"] and ivan.topics == ["sanction"]
    assert ListEntity.objects.get(key="Q2").topics == ["role.pep"]

    short = tmp_path / "short.csv"
    short.write_text("id,schema,name,aliases,birth_date,countries,sanctions\nQ1,Person\n")
    with pytest.raises(ListFormatError, match="line 2: 2 columns"):
        list_import(path=short, fmt="opensanctions-csv", source_name="short")


def test_ofac_sdn_with_aliases(sanctions: Path) -> None:
    call_command(
        "sanctions_import",
        str(sanctions / "ofactest_sdn.csv"),
        "--format",
        "ofac",
        "--aliases",
        str(sanctions / "ofactest_alt.csv"),
    )
    iran = ListEntity.objects.get(key="11195")
    assert iran.schema == "Organization"
    assert "IRAN AIRCRAFT MANUFACTURING INDUSTRIES" in iran.names  # from the alias file
    assert "HESA" in iran.weak_aliases  # a.k.a. in the remarks
    logan = ListEntity.objects.get(key="10278")
    assert logan.schema == "Person"
    assert "Elvis Angus LOGAN MOREY" in logan.names  # "LAST, First" reordered
    assert logan.birth_dates == ["1963-07-28"]
    assert "KARADH AL-HASSAN" not in logan.names  # that alias belongs to ent_num 10416
    # Empty cells are "-0-", never stored as a value.
    assert not ListEntity.objects.filter(names__contains=["-0-"]).exists()


def test_ofac_row_with_wrong_columns_names_its_line(tmp_path: Path, sanctions: Path) -> None:
    lines = (sanctions / "ofactest_sdn.csv").read_text(encoding="utf-8").splitlines()
    lines.insert(2, '99999,"BROKEN ROW","individual"')
    path = tmp_path / "sdn.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"sdn.csv: line 3: an SDN row has 12 columns"):
        call_command("sanctions_import", str(path), "--format", "ofac")
    assert ListEntity.objects.count() == 0


def test_list_versions_are_append_only(tmp_path: Path) -> None:
    path = write_ftm(tmp_path / "v.json", [person_entity("a", ["Ivan Petrov"])])
    version = list_import(path=path, fmt="ftm", source_name="v").version
    with pytest.raises(DatabaseError), transaction.atomic():
        ListVersion.objects.filter(pk=version.pk).update(entity_count=0)
