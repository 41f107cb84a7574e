"""The chart of account kinds and the segregation rules: which entry types may move what.

Plain data, no Django: the posting service, the API, the docs and the tests all read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class MoneyClass(StrEnum):
    CLIENT = "client"
    HOUSE = "house"


@dataclass(frozen=True)
class KindRule:
    money_class: MoneyClass
    normal_side: Side
    may_go_negative: bool
    owned_by_client: bool = False


# The contract's table (../shared/contracts/ledger-api.md, "Account kinds").
ACCOUNT_KINDS: dict[str, KindRule] = {
    "custodian_bank": KindRule(MoneyClass.CLIENT, Side.DEBIT, may_go_negative=False),
    "client_cash": KindRule(MoneyClass.CLIENT, Side.CREDIT, False, owned_by_client=True),
    "house_cash": KindRule(MoneyClass.HOUSE, Side.DEBIT, may_go_negative=False),
    "fee_income": KindRule(MoneyClass.HOUSE, Side.CREDIT, may_go_negative=True),
    "interest_income": KindRule(MoneyClass.HOUSE, Side.CREDIT, may_go_negative=True),
    "loan_receivable": KindRule(MoneyClass.HOUSE, Side.DEBIT, may_go_negative=False),
    "funding_pool": KindRule(MoneyClass.HOUSE, Side.CREDIT, may_go_negative=False),
    "liquidity_buffer": KindRule(MoneyClass.HOUSE, Side.CREDIT, may_go_negative=False),
    "default_fund": KindRule(MoneyClass.HOUSE, Side.CREDIT, may_go_negative=False),
    "suspense": KindRule(MoneyClass.HOUSE, Side.CREDIT, may_go_negative=True),
}

ANY = "*"


@dataclass(frozen=True)
class EntryRule:
    """Which account kinds an entry type may debit and credit.

    ``pairs`` lists allowed (debit kind, credit kind) for one-debit-one-credit transfers;
    ``same_class_only`` allows any pair within one money class (client↔client, house↔house);
    ``approval`` names the four-eyes action the type needs (manual adjustments).
    """

    description: str
    pairs: frozenset[tuple[str, str]] = frozenset()
    same_class_only: bool = False
    approval: str | None = None


ENTRY_TYPES: dict[str, EntryRule] = {
    "deposit": EntryRule(
        "Client money received at the custodian bank",
        frozenset({("custodian_bank", "client_cash")}),
    ),
    "withdrawal": EntryRule(
        "Client money paid out from the custodian bank",
        frozenset({("client_cash", "custodian_bank")}),
    ),
    "fee": EntryRule("A fee charged to a client", frozenset({("client_cash", "fee_income")})),
    "interest": EntryRule(
        "Interest charged to a client",
        # From their cash, or added to their loan when the cash is short (capitalised).
        frozenset({("client_cash", "interest_income"), ("loan_receivable", "interest_income")}),
    ),
    "sweep": EntryRule(
        "The house takes its earned fees and interest out of the client-money bank account",
        frozenset({("house_cash", "custodian_bank")}),
    ),
    "transfer": EntryRule("Between two accounts of the same money class", same_class_only=True),
    # Lending: the house pays the client's purchase or cash need; the loan is the house's asset.
    "loan_drawdown": EntryRule(
        "Money lent to a client, credited to their cash",
        frozenset(
            {
                ("loan_receivable", "client_cash"),
                ("loan_receivable", "funding_pool"),
                # The funding pool's money paid into the client-money bank account, so the
                # lent cash credited to the client is held there (financing's drawdown posts
                # all four legs in one entry: client money stays matched by the bank).
                ("custodian_bank", "funding_pool"),
            }
        ),
    ),
    "loan_repayment": EntryRule(
        "A client repays a loan from their cash",
        frozenset(
            {
                ("client_cash", "loan_receivable"),
                ("funding_pool", "loan_receivable"),
                # The repaid cash leaves the client-money bank account back to its pool.
                ("funding_pool", "custodian_bank"),
            }
        ),
    ),
    # A liquidation's proceeds settle a defaulted client's debt to the house.
    "liquidation": EntryRule(
        "Liquidation proceeds applied to the client's loan, received from or (buying back "
        "a short) paid to the market",
        frozenset(
            {
                ("client_cash", "loan_receivable"),
                ("custodian_bank", "client_cash"),
                ("client_cash", "custodian_bank"),
            }
        ),
    ),
    "default_writeoff": EntryRule(
        "An unrecoverable loan written off against the default fund, then the liquidity buffer",
        frozenset({("default_fund", "loan_receivable"), ("liquidity_buffer", "loan_receivable")}),
    ),
    # Same-day top-up of a client-money shortfall from house money (CASS 7.15.29).
    "shortfall_topup": EntryRule(
        "House money paid into the client-money bank account to cover a shortfall",
        frozenset({("custodian_bank", "house_cash")}),
    ),
    "adjustment": EntryRule(
        "A manual correction, under four eyes",
        pairs=frozenset({(ANY, ANY)}),
        approval="ledger.adjustment",
    ),
    "reversal": EntryRule("The exact mirror of an earlier entry", pairs=frozenset({(ANY, ANY)})),
}


def entry_pair_allowed(entry_type: str, debit_kind: str, credit_kind: str) -> bool:
    rule = ENTRY_TYPES[entry_type]
    if rule.same_class_only:
        return ACCOUNT_KINDS[debit_kind].money_class == ACCOUNT_KINDS[credit_kind].money_class
    return any(d in (ANY, debit_kind) and c in (ANY, credit_kind) for d, c in rule.pairs)


def minor_units(currency: str) -> int:
    from platform_core.tenancy.models import CURRENCY_MINOR_UNITS

    return CURRENCY_MINOR_UNITS[currency]


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))
