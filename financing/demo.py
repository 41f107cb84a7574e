"""Financing's part of the demo (``DEMO_SEED_STEPS``): the CNY rate card, the house funding
pool, credit lines for the README client and client01..client07, and the risk disclosure and
credit agreement rendered from the active margin policy and signed by the README client
(typed name, consent, a one-time code: one of their backup codes).

Idempotent: the rate card and pool are made once, a client with a line keeps it, a document
already signed under the active policy is not signed again.
"""

from __future__ import annotations

from django_otp.plugins.otp_static.models import StaticToken

from financing import services
from financing.disclosures import disclosure_sign, document_render, signature_current
from financing.models import CreditLine, FundingPool
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped

CURRENCY = "CNY"
WITH_LINES = range(0, 8)
# Rendering a document embeds a CJK font subset: seconds each, so the seed signs the README
# client's two; the other clients with a line have theirs to sign in the portal.
SIGNED = (0,)
KINDS = ("risk_disclosure", "credit_agreement")


def _terms(tenant: Tenant, risk: Membership) -> None:
    if services.rate_card_current(tenant=tenant, currency=CURRENCY) is None:
        services.rate_card_publish(
            tenant=tenant,
            actor=risk.user,
            currency=CURRENCY,
            base_rate="0.0435",
            hedge_cost_rate="0.002",
            credit_four_eyes_above="2000000",
            buffer_target_share="0.10",
            tenor_premiums={"intraday": "0", "overnight": "0.005", "term": "0.015", "repo": "0"},
            rating_premiums={"low": "0", "medium": "0.01", "high": "0.03"},
        )
    if not tenant_scoped(FundingPool, tenant=tenant).filter(currency=CURRENCY).exists():
        services.funding_pool_create(
            tenant=tenant,
            actor=risk.user,
            name="House capital",
            kind="house",
            currency=CURRENCY,
            limit="50000000",
            cost_rate="0.025",
        )


def _one_time_code(membership: Membership) -> str:
    token = StaticToken.objects.filter(device__user=membership.user).order_by("-id").first()
    assert token is not None, "the demo clients are given backup codes"
    return token.token


def demo_seed_step(
    *, tenant: Tenant, staff: dict[str, Membership], clients: list[Membership]
) -> None:
    risk = staff["risk"]
    _terms(tenant, risk)
    for index in WITH_LINES:
        client = clients[index]
        if not tenant_scoped(CreditLine, tenant=tenant).filter(membership=client).exists():
            services.credit_line_grant(
                tenant=tenant,
                actor=risk.user,
                actor_membership=risk,
                client_membership_id=client.pk,
                currency=CURRENCY,
                limit="500000",
                leverage_cap="2",  # the demo's clients are professionals: at most 2.25
                allowed_products=["stock", "etf", "option"],
                allowed_tenors=["intraday", "overnight", "term"],
            )


def demo_sign_step(
    *, tenant: Tenant, staff: dict[str, Membership], clients: list[Membership]
) -> None:
    """Run after the seed (``DEMO_SEED_LATER_STEPS``, in the background under ``make run``):
    each document is a PDF with an embedded CJK font subset, rendered and sealed, which takes
    seconds, so the seed itself does not wait for it."""
    for index in SIGNED:
        client = clients[index]
        for kind in KINDS:
            if signature_current(tenant=tenant, membership=client, kind=kind) is not None:
                continue
            document = document_render(
                tenant=tenant, membership=client, kind=kind, language="zh-hans"
            )
            disclosure_sign(
                tenant=tenant,
                membership=client,
                document_id=document.pk,
                typed_name=client.user.full_name,
                consent=True,
                otp=_one_time_code(client),
            )
