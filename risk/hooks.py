"""The risk app's hooks, for the apps and loops above it."""

from platform_core.hooks import Listeners, listener_hook_register

# Told after commit when the market as a whole moved beyond the crash threshold within the
# window (``risk.oracle.crash_check``): {"direction": "down"|"up", "move": "-0.0812",
# "threshold": "0.07", "window_seconds": 300, "instruments": 12, "at": ISO time,
# "worst": {"symbol": str, "move": str}}. The operations loop listens here (the crash switch
# that pauses automatic liquidation); listeners are idempotent, failures are retried.
crash_signal = listener_hook_register(Listeners("risk.crash_signal", retry=True))
