from datetime import timedelta

from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    """Sanctions and PEP lists and the screening of clients against them.

    A Django app of its own inside ``kyc`` (label ``screening``) so that the lists, their
    versions and the screening results migrate on their own; see docs/decisions.md.
    """

    name = "kyc.screening"
    label = "screening"

    def ready(self) -> None:
        from kyc.screening import services
        from platform_core.hooks import ApprovableAction, approvable_actions
        from platform_core.tenancy.roles import Role

        if services.HIT_CLEAR_ACTION not in approvable_actions:
            approvable_actions.register(
                ApprovableAction(
                    key=services.HIT_CLEAR_ACTION,
                    description="Clear a strong sanctions/PEP screening hit as a false positive.",
                    maker_roles=frozenset({Role.COMPLIANCE_OFFICER}),
                    approver_role=Role.COMPLIANCE_OFFICER,
                    execute=services.hit_clear_approved,
                    validate=services.hit_clear_validate,
                    expires_after=timedelta(days=7),
                )
            )
