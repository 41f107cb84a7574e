"""The ledger's hooks, for apps above it."""

from collections.abc import Callable
from dataclasses import dataclass

from platform_core.hooks import Listeners, Registry, listener_hook_register

# Told after each journal entry commits: {"tenant": id, "entry": id, "entry_type": str,
# "postings": [{"account": id, "owner": membership id or None, "side", "amount", "currency"}]}.
# KYC's transaction monitoring listens here. Failures are retried (listeners are idempotent).
entry_committed = listener_hook_register(Listeners("ledger.entry_committed", retry=True))


@dataclass(frozen=True)
class WithdrawalGate:
    """A check an app above the ledger adds to every withdrawal request.

    ``check(*, tenant, membership, currency, amount)`` returns a refusal message (shown to the
    client) or None. It runs before the request writes anything and must not write; the first
    refusal is a 422 ``withdrawal_held``. KYC registers its AML monitoring hold here.
    """

    key: str
    check: Callable[..., str | None]


withdrawal_gates: Registry[WithdrawalGate] = Registry(
    "ledger.withdrawal_gates", key_of=lambda g: g.key
)
