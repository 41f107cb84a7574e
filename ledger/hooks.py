"""The ledger's hooks, for apps above it."""

from platform_core.hooks import Listeners, listener_hook_register

# Told after each journal entry commits: {"tenant": id, "entry": id, "entry_type": str,
# "postings": [{"account": id, "owner": membership id or None, "side", "amount", "currency"}]}.
# KYC's transaction monitoring listens here. Failures are retried (listeners are idempotent).
entry_committed = listener_hook_register(Listeners("ledger.entry_committed", retry=True))
