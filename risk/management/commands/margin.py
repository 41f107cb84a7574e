"""Margin a portfolio document under a policy: the contract's door to the engine, no database.

    manage.py margin PORTFOLIO.json [--policy NAME] [--json]
    manage.py margin -              # the portfolio on standard input

Exit 0 with the result (a table, or the contract's JSON with ``--json``); exit 2 with one line
naming the field when the portfolio or the policy cannot be used
(../shared/contracts/margin-cli.md).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from risk.engine.policies import margin_compute
from risk.engine.portfolio import PortfolioError, portfolio_parse

MALFORMED = 2
SUMMARY = (
    ("equity", "equity"),
    ("initial requirement", "initial_requirement"),
    ("maintenance requirement", "maintenance_requirement"),
    ("excess initial", "excess_initial"),
    ("excess maintenance", "excess_maintenance"),
    ("margin ratio", "margin_ratio"),
    ("collateral ratio", "collateral_ratio"),
)


def _refuse(message: str) -> CommandError:
    return CommandError(" ".join(message.split()), returncode=MALFORMED)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def portfolio_document(text: str) -> Any:
    """Decode the portfolio JSON, every number as a ``Decimal`` (never a float)."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _refuse(
            f"portfolio: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise _refuse(f"portfolio: not valid JSON ({exc})") from None


def result_table(result: dict[str, Any]) -> str:
    """The contract's result for a person: the account's figures, then how the legs were grouped."""
    lines = [f"{result['policy']} ({result['currency']})"]
    lines += [
        f"  {label:<26}{'-' if result[key] is None else result[key]:>16}" for label, key in SUMMARY
    ]
    extra = [
        key
        for key in result
        if key not in {k for _, k in SUMMARY} | {"policy", "currency", "groups"}
    ]
    lines += [
        f"  {key.replace('_', ' '):<26}{json.dumps(result[key], ensure_ascii=False)}"
        for key in extra
    ]
    lines += ["", f"  {'strategy':<22}{'initial':>14}{'maintenance':>14}  legs"]
    for group in result["groups"]:
        legs = ", ".join(f"{leg['symbol']} {leg['quantity']}" for leg in group["legs"])
        lines.append(
            f"  {group['strategy']:<22}{group['initial_requirement']:>14}"
            f"{group['maintenance_requirement']:>14}  {legs}"
        )
        if group.get("rule"):
            lines.append(f"  {'':<22}{group['rule']}")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Margin a portfolio JSON document (or - for standard input) under a policy."
    # Nothing here touches the database, so neither do the checks run before it.
    requires_system_checks: list[str] = []
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("portfolio", help="the portfolio JSON file, or - for standard input")
        parser.add_argument(
            "--policy",
            default="cboe-strategy",
            help=(
                "a built-in policy (cboe-strategy, finra-pm, span-like, cn-rzrq); a tenant's "
                "stored TENANT:NAME is refused until stored policies exist"
            ),
        )
        parser.add_argument("--json", action="store_true", help="print the contract's JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        policy = options["policy"]
        if ":" in policy:
            raise _refuse(
                f"policy: stored tenant policies ({policy!r}) are not available yet; "
                "use a built-in policy"
            )
        document = portfolio_document(self._read(options["portfolio"], options.get("stdin")))
        try:
            result = margin_compute(portfolio_parse(document), policy).as_json()
        except PortfolioError as exc:
            raise _refuse(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            self.stdout.write(result_table(result))

    @staticmethod
    def _read(source: str, stdin: Any) -> str:
        if source == "-":
            return (stdin or sys.stdin).read()
        try:
            return Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise _refuse(f"portfolio: cannot read {source}: {reason}") from None
