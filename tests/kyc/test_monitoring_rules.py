"""Each monitoring rule fires on a crafted history and stays silent on a near miss.

Histories are plain movements (the rules are plain Python); the ledger path, idempotency and
reports are in test_monitoring.py.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kyc.monitoring.rules import CATALOGUE, Client, Movement, evaluate, outcome_for, params_check

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def mv(kind: str, amount: str, at: datetime = T0, **extra) -> Movement:
    return Movement(
        entry_id=next(_ids),
        at=at,
        kind=kind,
        amount=Decimal(amount),
        currency=extra.pop("currency", "CNY"),
        day=at.date().isoformat(),
        **extra,
    )


def run(code: str, history: list[Movement], client: Client | None = None, **params):
    spec = CATALOGUE[code]
    merged, problems = params_check(code, params)
    assert not problems
    return evaluate(code, merged, spec.score, history[-1], history, client or Client(7))


def days(n: float) -> timedelta:
    return timedelta(days=n)


def test_large_cash_sums_a_business_day():
    history = [mv("deposit", "30000", channel="cash"), mv("withdrawal", "20000", channel="cash")]
    finding = run("large_cash", history)
    assert finding and finding.evidence["cash_total"] == "50000.00"
    assert (
        run(
            "large_cash",
            [mv("deposit", "30000", channel="cash"), mv("withdrawal", "19999.99", channel="cash")],
        )
        is None
    )
    # Transfers are not cash; another day does not add up.
    assert run("large_cash", [mv("deposit", "60000")]) is None
    assert (
        run(
            "large_cash",
            [
                mv("deposit", "30000", T0 - days(1), channel="cash"),
                mv("deposit", "30000", channel="cash"),
            ],
        )
        is None
    )


def test_large_transfers_use_the_individual_and_corporate_thresholds():
    assert run("large_transfer", [mv("deposit", "500000")])
    assert run("large_transfer", [mv("deposit", "499999.99")]) is None
    corporate = Client(7, corporate=True)
    assert run("large_transfer", [mv("deposit", "1999999")], corporate) is None
    assert run("large_transfer", [mv("deposit", "2000000")], corporate)
    cross = run("large_transfer", [mv("deposit", "200000", country="HK")])
    assert cross and cross.evidence["kind"] == "cross_border"
    assert run("large_transfer", [mv("deposit", "199999", country="HK")]) is None


def test_structuring_three_deposits_just_under_the_threshold_in_a_week():
    near = [mv("deposit", "49000", T0 + days(i)) for i in range(3)]
    finding = run("structuring", near)
    assert finding and len(finding.evidence["deposits"]) == 3
    # Two are not enough, one at the threshold is not "under", and eight days apart is too far.
    assert run("structuring", near[:2]) is None
    assert run("structuring", [*near[:2], mv("deposit", "50000", T0 + days(2))]) is None
    spread = [mv("deposit", "49000", T0 + days(4 * i)) for i in range(3)]
    assert run("structuring", spread) is None


def test_rapid_in_and_out_without_trading():
    history = [mv("deposit", "100000"), mv("withdrawal", "95000", T0 + days(2))]
    finding = run("rapid_in_out", history)
    assert finding and finding.evidence["turnover_source"] is False
    assert (
        run("rapid_in_out", [mv("deposit", "100000"), mv("withdrawal", "79000", T0 + days(2))])
        is None
    )
    assert (
        run("rapid_in_out", [mv("deposit", "100000"), mv("withdrawal", "95000", T0 + days(6))])
        is None
    )
    traded = Client(7, turnover=lambda since, until: (Decimal("20000"), True))
    assert run("rapid_in_out", history, traded) is None


def test_third_party_funding_compares_the_payer_with_the_clients_names():
    client = Client(7, names=("Zhang Wei", "张伟"))
    finding = run("third_party", [mv("deposit", "10000", payer="Wang Fang")], client)
    assert finding and finding.score == CATALOGUE["third_party"].score
    # The client's own name, in another spelling of case and spacing or script: silent.
    assert run("third_party", [mv("deposit", "10000", payer="ZHANG  WEI")], client) is None
    assert run("third_party", [mv("deposit", "10000", payer="张伟")], client) is None
    two = [
        mv("deposit", "1000", T0, payer="Wang Fang"),
        mv("deposit", "1000", T0 + days(3), payer="Li Qiang"),
    ]
    assert run("third_party", two, client).score == 60


def test_round_amounts_three_in_a_month():
    history = [
        mv("deposit", a, T0 + days(i * 5)) for i, a in enumerate(["20000", "10000", "50000"])
    ]
    assert run("round_amounts", history)
    almost = [mv("deposit", a, T0 + days(i * 5)) for i, a in enumerate(["20000", "10000", "50001"])]
    assert run("round_amounts", almost) is None
    late = [mv("deposit", "20000", T0 - days(40)), *history[1:]]
    assert run("round_amounts", late) is None


def test_velocity_spike_against_the_clients_own_history():
    base = [mv("deposit", "20000", T0 - days(40 + 30 * i)) for i in range(4)]
    spike = [*base, mv("deposit", "150000", T0 - days(10)), mv("deposit", "150000", T0)]
    finding = run("velocity", spike)
    assert finding and "monthly_average" in finding.evidence
    calm = [*base, mv("deposit", "30000", T0)]
    assert run("velocity", calm) is None
    single = [mv("deposit", "10000", T0 - days(20)), mv("deposit", "50001", T0)]
    assert run("velocity", single)
    assert (
        run("velocity", [mv("deposit", "10000", T0 - days(20)), mv("deposit", "50000", T0)]) is None
    )


def test_dormant_account_reactivated():
    woke = [
        mv("deposit", "5000", T0 - days(200)),
        mv("deposit", "60000", T0),
        mv("withdrawal", "50000", T0 + days(3)),
    ]
    finding = run("dormant", woke)
    assert finding and finding.evidence["silent_days"] == 200
    assert (
        run(
            "dormant",
            [
                mv("deposit", "5000", T0 - days(170)),
                mv("deposit", "60000", T0),
                mv("withdrawal", "50000", T0 + days(3)),
            ],
        )
        is None
    )
    assert (
        run("dormant", [mv("deposit", "5000", T0 - days(200)), mv("deposit", "99999", T0)]) is None
    )


def test_high_risk_jurisdictions():
    black = run("high_risk_country", [mv("deposit", "100", country="KP")])
    assert black and black.score == 100 and outcome_for(black.score) == "decline"
    grey = run("high_risk_country", [mv("deposit", "100", country="VN")])
    assert grey and grey.score == 20
    assert run("high_risk_country", [mv("deposit", "100", country="SG")]) is None


def test_margin_loan_cashed_out_without_purchases():
    history = [mv("loan", "100000"), mv("withdrawal", "60000", T0 + days(1))]
    finding = run("loan_cash_out", history)
    assert finding and outcome_for(finding.score) == "block_and_review"
    assert (
        run("loan_cash_out", [mv("loan", "100000"), mv("withdrawal", "49999", T0 + days(1))])
        is None
    )
    bought = Client(7, turnover=lambda since, until: (Decimal("80000"), True))
    assert run("loan_cash_out", history, bought) is None


@pytest.mark.parametrize(
    ("score", "outcome"),
    [(0, "approve"), (19, "approve"), (20, "review"), (50, "block_and_review"), (100, "decline")],
)
def test_score_to_outcome(score, outcome):
    assert outcome_for(score) == outcome


def test_bad_parameters_are_named():
    _, problems = params_check("large_cash", {"threshold": "lots", "bogus": 1})
    assert set(problems) == {"params.threshold", "params.bogus"}
    _, problems = params_check("nope", {})
    assert "code" in problems
