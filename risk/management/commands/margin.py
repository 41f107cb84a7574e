"""Margin a portfolio document under a policy: the contract's door to the engine, no database.

    manage.py margin PORTFOLIO.json [--policy NAME] [--json]
    manage.py margin -              # the portfolio on standard input

Exit 0 with the result (a table, or the contract's JSON with ``--json``); exit 2 with one line
naming the field when the portfolio or the policy cannot be used
(../shared/contracts/margin-cli.md).

``--policy TENANT_SLUG:POLICY_NAME`` margins under a tenant's stored policy (its active
version, else its latest; ``NAME@N`` for version N), the only case that reads the database.
For a stored policy the document may also give each instrument's ``risk_tier`` (default 1),
the client's ``investor_class`` and, for a VaR add-on, ``history``: daily closes per
underlying, oldest first.
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
from risk.stored_policy import StoredPolicy, stored_margin_compute

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


def stored_policy_find(value: str) -> StoredPolicy:
    """``TENANT_SLUG:NAME`` (or ``NAME@N``): the tenant's stored policy, or exit 2."""
    from django.db import DatabaseError

    from platform_core.tenancy.models import Tenant
    from platform_core.tenancy.rls import rls_context
    from risk.policies import stored_policy_of
    from risk.selectors import policy_by_name

    slug, _, name = value.partition(":")
    if not slug or not name:
        raise _refuse(f"policy: {value!r} is not TENANT_SLUG:POLICY_NAME")
    try:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise _refuse(f"policy: unknown tenant {slug!r}")
        with rls_context(tenant=tenant):
            version = policy_by_name(tenant=tenant, name=name)
    except DatabaseError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _refuse(
            f"policy: stored policies are in the database, which cannot be read ({reason})"
        ) from None
    if version is None:
        raise _refuse(f"policy: tenant {slug!r} has no stored policy {name!r}")
    return stored_policy_of(version)


def _stored_inputs(document: Any) -> dict[str, Any]:
    """What a stored policy reads beyond the contract's portfolio: risk tiers, the investor
    class, price history (each refused with its field when malformed)."""
    tiers: dict[str, int] = {}
    for index, raw in enumerate(document.get("instruments") or []):
        if isinstance(raw, dict) and "risk_tier" in raw:
            tier = raw["risk_tier"]
            if isinstance(tier, bool) or not isinstance(tier, (int, Decimal)) or tier < 1:
                raise PortfolioError(f"instruments[{index}].risk_tier", "a whole number from 1")
            tiers[str(raw.get("symbol"))] = int(tier)
    investor_class = document.get("investor_class")
    if investor_class is not None and not isinstance(investor_class, str):
        raise PortfolioError("investor_class", "must be a string")
    history: dict[str, list[Decimal]] = {}
    raw_history = document.get("history") or {}
    if not isinstance(raw_history, dict):
        raise PortfolioError("history", "must be an object of symbol: [daily closes]")
    for symbol, closes in raw_history.items():
        if not isinstance(closes, list):
            raise PortfolioError(f"history.{symbol}", "must be a list of daily closes")
        try:
            history[symbol] = [Decimal(str(c)) for c in closes]
        except ArithmeticError:
            raise PortfolioError(f"history.{symbol}", "closes must be numbers") from None
        if any(not c.is_finite() or c <= 0 for c in history[symbol]):
            raise PortfolioError(f"history.{symbol}", "closes must be positive numbers")
    return {"risk_tiers": tiers, "investor_class": investor_class, "history": history}


class Command(BaseCommand):
    help = "Margin a portfolio JSON document (or - for standard input) under a policy."
    # Only a stored policy (TENANT:NAME) reads the database; the checks are not needed.
    requires_system_checks: list[str] = []
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("portfolio", help="the portfolio JSON file, or - for standard input")
        parser.add_argument(
            "--policy",
            default="cboe-strategy",
            help=(
                "a built-in policy (cboe-strategy, finra-pm, span-like, cn-rzrq) or a tenant's "
                "stored policy as TENANT_SLUG:POLICY_NAME (NAME@N for version N)"
            ),
        )
        parser.add_argument("--json", action="store_true", help="print the contract's JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        policy = options["policy"]
        stored = stored_policy_find(policy) if ":" in policy else None
        document = portfolio_document(self._read(options["portfolio"], options.get("stdin")))
        try:
            portfolio = portfolio_parse(document)
            if stored is None:
                result = margin_compute(portfolio, policy).as_json()
            else:
                result = stored_margin_compute(
                    portfolio,
                    stored,
                    label=policy.partition("@")[0],
                    **_stored_inputs(document),
                ).as_json()
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
