"""The risk app's hooks, for the apps and loops above it."""

from collections.abc import Callable
from dataclasses import dataclass

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
