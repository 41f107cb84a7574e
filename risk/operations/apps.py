from django.apps import AppConfig


class RiskOperationsConfig(AppConfig):
    """The operations loop of risk: margin calls, hedge hints, deleveraging and liquidation,
    the crash switch and disputes.

    An app of its own inside ``risk`` (label ``risk_operations``) so that the loop's tables
    migrate apart from reference data, prices and positions; see docs/decisions.md.
    """

    name = "risk.operations"
    label = "risk_operations"
