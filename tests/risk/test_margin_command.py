"""``manage.py margin``: the contract's door to the engine (../shared/contracts/margin-cli.md).

No test here has database access: pytest-django refuses any query, and the subprocesses run
with ``DATABASE_URL`` pointing at a closed port, so a command that needed a database would fail.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

PROJECT = Path(__file__).resolve().parents[2]
CONTRACT = {
    "currency": "USD",
    "as_of": "2026-11-26",
    "cash": "240.00",
    "loan": "10000.00",
    "instruments": [
        {"symbol": "XYZ", "kind": "equity", "price": "50.00", "underlying_class": "equity"},
        {
            "symbol": "XYZ 270115C55",
            "kind": "option",
            "underlying": "XYZ",
            "right": "call",
            "strike": "55",
            "expiry": "2027-01-15",
            "multiplier": 100,
            "price": "1.20",
        },
    ],
    "positions": [
        {"symbol": "XYZ", "quantity": "200"},
        {"symbol": "XYZ 270115C55", "quantity": "-2"},
    ],
    "volatility": {"XYZ": "0.32"},
}


def margin(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    call_command("margin", *args, stdout=out, stdin=io.StringIO(stdin) if stdin else None)
    return out.getvalue()


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    path = tmp_path / "portfolio.json"
    path.write_text(json.dumps(CONTRACT))
    return path


def test_json_is_the_contract_answer(contract_file: Path) -> None:
    result = json.loads(margin(str(contract_file), "--json"))
    assert result["policy"] == "cboe-strategy"
    assert result["equity"] == "0.00"
    assert result["initial_requirement"] == "4760.00"
    assert result["excess_initial"] == "-4760.00"
    assert [g["strategy"] for g in result["groups"]] == ["covered_call"]


def test_standard_input_and_an_explicit_policy_give_the_same_answer(contract_file: Path):
    from_stdin = margin("-", "--json", "--policy", "cboe-strategy", stdin=json.dumps(CONTRACT))
    assert json.loads(from_stdin) == json.loads(margin(str(contract_file), "--json"))


def test_json_numbers_are_read_exactly() -> None:
    document = copy.deepcopy(CONTRACT)
    document["instruments"][1]["price"] = 1.2  # a JSON number, never a float inside
    document["cash"] = 240
    result = json.loads(margin("-", "--json", stdin=json.dumps(document)))
    assert result["initial_requirement"] == "4760.00"


def test_the_table_is_the_default(contract_file: Path) -> None:
    table = margin(str(contract_file))
    assert "initial requirement" in table
    assert "-4760.00" in table
    assert "covered_call" in table
    assert "XYZ 270115C55 -2" in table
    assert "less their proceeds 240.00 = 4760.00" in table


def _broken(change: Any) -> str:
    document = copy.deepcopy(CONTRACT)
    change(document)
    return json.dumps(document)


MALFORMED = [
    (
        _broken(lambda d: d["positions"].append({"symbol": "ABC", "quantity": "1"})),
        (),
        "positions[2].symbol: unknown symbol 'ABC'",
    ),
    (_broken(lambda d: d["instruments"][0].pop("price")), (), "instruments[0].price:"),
    (
        _broken(lambda d: d["positions"][0].update(quantity="lots")),
        (),
        "positions[0].quantity: 'lots' is not a number",
    ),
    (_broken(lambda d: d["instruments"][1].pop("strike")), (), "instruments[1].strike:"),
    (
        _broken(lambda d: d["instruments"][1].update(expiry="2026-11-20")),
        (),
        "instruments[1].expiry:",
    ),
    (json.dumps(CONTRACT), ("--policy", "strategy"), "policy: unknown policy 'strategy'"),
    (
        _broken(lambda d: d.update(parameters={"naked_rate": "0.3"})),
        (),
        "parameters.naked_rate:",
    ),
    ('{"currency": "USD", "as_of": ', (), "portfolio: not valid JSON"),
    ('{"currency": "USD", "as_of": "2026-11-26", "cash": NaN}', (), "portfolio: not valid JSON"),
]
MALFORMED_IDS = [
    "unknown symbol",
    "missing price",
    "non-numeric quantity",
    "option without strike",
    "expired option",
    "unknown policy",
    "unknown parameter",
    "bad JSON",
    "NaN",
]


@pytest.mark.parametrize(("document", "options", "message"), MALFORMED, ids=MALFORMED_IDS)
def test_malformed_input_exits_2_naming_the_field(document, options, message) -> None:
    with pytest.raises(CommandError) as refused:
        margin("-", *options, stdin=document)
    assert refused.value.returncode == 2
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as refused:
        margin(str(tmp_path / "missing.json"))
    assert refused.value.returncode == 2
    assert str(refused.value).startswith("portfolio: cannot read")


# --- as an operator runs it -------------------------------------------------------------------


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "platform_core.settings.test",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/unreachable",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "margin", *args],
        cwd=PROJECT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_process_answers_from_a_file_without_a_database(contract_file: Path) -> None:
    done = run(str(contract_file), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["initial_requirement"] == "4760.00"


def test_process_reads_standard_input() -> None:
    done = run("-", stdin=json.dumps(CONTRACT))
    assert done.returncode == 0, done.stderr
    assert "covered_call" in done.stdout


def test_process_exits_2_with_one_line_naming_the_field() -> None:
    document = _broken(lambda d: d["positions"][1].update(quantity="two"))
    done = run("-", "--json", stdin=document)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert "positions[1].quantity" in line


def test_a_stored_policy_without_its_database_exits_2_naming_the_policy() -> None:
    done = run("-", "--policy", "acme:house", stdin=json.dumps(CONTRACT))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = [line for line in done.stderr.strip().splitlines() if "weasyprint" not in line]
    [line] = lines
    assert "policy: stored policies are in the database, which cannot be read" in line
