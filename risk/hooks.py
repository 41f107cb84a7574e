"""The risk app's hooks, for the apps and loops above it."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from platform_core.hooks import Listeners, Registry, listener_hook_register

# Told after commit when the market as a whole moved beyond the crash threshold within the
# window (``risk.oracle.crash_check``): {"direction": "down"|"up", "move": "-0.0812",
# "threshold": "0.07", "window_seconds": 300, "instruments": 12, "at": ISO time,
# "worst": {"symbol": str, "move": str}}. The operations loop listens here (the crash switch
# that pauses automatic liquidation); listeners are idempotent, failures are retried.
crash_signal = listener_hook_register(Listeners("risk.crash_signal", retry=True))


# --- pre-trade gates ------------------------------------------------------------------------


@dataclass(frozen=True)
class PreTradeGate:
    """A check an app above risk adds to every order's pre-trade check.

    ``check(*, tenant, account, membership, orders, result_after)`` returns a refusal message
    (shown to the client) or None to let the order through. ``orders`` maps each
    ``risk.models.Instrument`` to its signed quantity; ``result_after`` is the engine's
    ``MarginResult`` as if the orders were filled (the what-if), so a gate can compare the
    cash it would take or the requirement with its own limits. A gate must not write. Gates run
    in key order; the first refusal refuses the order and nothing is written.
    """

    key: str
    check: Callable[..., str | None]


# Financing registers "credit line active, disclosure signed, limit left" here.
pretrade_gates: Registry[PreTradeGate] = Registry("risk.pretrade_gates", key_of=lambda g: g.key)

# --- whose suitability file answers for an order -----------------------------------------


@dataclass(frozen=True)
class SuitabilitySubject:
    """Names the client whose KYC suitability answers for a membership that has none of its
    own (a paper-trading sandbox's client is the live client practising).

    ``subject(*, tenant, membership)`` returns ``(tenant, membership)`` of that client, or
    None when this source has nothing to say. It must not write.
    """

    key: str
    subject: Callable[..., tuple[Any, Any] | None]


# The portal registers the sandbox's link to the live tenant here.
suitability_subjects: Registry[SuitabilitySubject] = Registry(
    "risk.suitability_subjects", key_of=lambda s: s.key
)


# --- the money a client owes, and the money that pays for a margin purchase ---------------


@dataclass(frozen=True)
class LoanSource:
    """Where the engine's ``loan`` comes from: what each account's owner owes the house.

    ``loans(*, tenant, accounts)`` takes ledger ``client_cash`` accounts and returns
    ``{account id: Decimal owed in the account's currency}`` (principal plus interest charged
    and unpaid; absent or 0 when nothing is owed). Batched because the sweep asks for the whole
    book at once; it must not write. The amounts of every registered source are added.
    """

    key: str
    loans: Callable[..., dict[int, Decimal]]


# Financing registers the open contracts here; with none registered every loan is 0.
loan_sources: Registry[LoanSource] = Registry("risk.loan_sources", key_of=lambda s: s.key)


@dataclass(frozen=True)
class PurchaseFunding:
    """Lends the cash a margin purchase needs beyond the client's own, before it settles.

    ``fund(*, tenant, account, membership, actor, amount, idempotency_key, order_key)`` is
    called inside the order's transaction, after the pre-trade check passed, with ``amount``
    (a positive Decimal in the account's currency) = the purchase's cash minus the cash the
    client has free. It posts the drawdown through the ledger (so the cash is there when the
    trade settles) and returns the journal entry, or raises ``ApplicationError`` (the order is
    then refused and nothing is written). Idempotent per ``idempotency_key``.
    """

    key: str
    fund: Callable[..., Any]


# Financing registers its drawdown here; with none registered a purchase needs the cash.
purchase_funding: Registry[PurchaseFunding] = Registry(
    "risk.purchase_funding", key_of=lambda f: f.key
)

# Told after commit when a liquidation's fills have settled (financing applies the proceeds to
# the client's loans): {"tenant": id, "account": ledger account id, "membership": the client's
# membership id, "liquidation": an id unique per liquidation (idempotency), "orders": [order
# ids], "currency": "USD", "proceeds": "1234.56" (cash the sales brought in, net, a decimal
# string), "at": ISO time}. Listeners are idempotent per "liquidation"; failures are retried.
liquidation_settled = listener_hook_register(Listeners("risk.liquidation_settled", retry=True))

# Told after commit when the sweep finds an account's margin status changed:
# {"tenant": id, "account": ledger account id, "membership": the client's membership id,
# "previous": "healthy"|"warning"|"margin_call"|"deleverage"|"liquidate"|None (first seen),
# "status": the new one, "ratio": "1.0812" or None (the contract's margin ratio), "equity":
# "1234.56", "maintenance": "1000.00" (decimal strings), "at": ISO time, "sweep_id": str}.
# A second sweep at the same prices tells nothing. The operations loop listens here;
# listeners are idempotent per (account, sweep_id), failures are retried.
margin_status_changed = listener_hook_register(Listeners("risk.margin_status_changed", retry=True))
