"""The margin engine: plain Python (and NumPy), no Django, no ORM.

``portfolio_parse`` turns the contract's JSON (../shared/contracts/margin-cli.md) into a
``Portfolio``; a policy (``policies.POLICIES``) turns a portfolio into strategy ``Group``s;
``margin_compute`` assembles the contract's result. The command, the API, the pre-trade check
and the live sweep all call this one implementation.

For many accounts at once: ``book`` (the book as columns), ``sweep`` (every account margined
at once, and re-margined when prices move; equal to ``margin_compute`` account by account),
``stress`` (shocks and historical scenarios, one portfolio or the book), ``whatif`` (orders,
liquidation prices, the largest order) and ``var`` (historical VaR, the volatility add-on).
"""


def load_policies() -> None:
    """Import the policy modules so they register themselves (idempotent)."""
    import importlib

    for module in ("cboe", "scenario", "rzrq"):
        importlib.import_module(f"risk.engine.{module}")
