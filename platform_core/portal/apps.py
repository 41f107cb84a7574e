from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# The ratio history's resolution between status changes (each change is recorded at once).
RATIO_SAMPLE_EVERY = timedelta(seconds=15)


class PortalConfig(AppConfig):
    """The client's portal: the dashboard, the learning guide and the paper-trading sandbox.

    The top of the dependency order (it reads every domain app, like the root urls); no domain
    app imports it.
    """

    name = "platform_core.portal"
    label = "portal"
    verbose_name = _("Client portal")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from platform_core.hooks import MenuEntry, ScheduledTask, menu_entries, scheduled_tasks
        from platform_core.portal.services import live_client_of, ratio_sample_on_status_change
        from platform_core.tenancy.roles import STAFF_ROLES, Role
        from risk.hooks import SuitabilitySubject, margin_status_changed, suitability_subjects

        client = frozenset({Role.CLIENT})
        everyone = frozenset(Role.values)
        staff = frozenset(STAFF_ROLES)
        auditor = frozenset({Role.AUDITOR})
        for key, label, url_name, roles, order in (
            ("portal.dashboard", _("Dashboard"), "portal-home", everyone, 0),
            ("portal.balances", _("Balances"), "portal-balances", client, 20),
            ("portal.withdrawals", _("Withdrawals"), "portal-withdrawals", client, 25),
            ("portal.trade", _("Trade"), "portal-order-new", client, 35),
            ("portal.learn", _("Learn"), "portal-learn", client, 60),
            ("portal.sandbox", _("Sandbox"), "portal-sandbox", client, 65),
            ("portal.proof", _("Proof of reserves"), "portal-por", client, 70),
            ("portal.notifications", _("Notifications"), "portal-notifications", everyone, 80),
            ("portal.security", _("Security"), "accounts:two_factor", everyone, 90),
            ("portal.api_tokens", _("API tokens"), "accounts:api_tokens", everyone, 95),
            ("portal.console", _("Console"), "console-home", staff, 99),
            ("portal.audit", _("Audit"), "audit-home", auditor, 99),
        ):
            menu_entries.register(
                MenuEntry(
                    key=key,
                    area="portal",
                    label=label,
                    url_name=url_name,
                    roles=roles,
                    order=order,
                )
            )
        scheduled_tasks.register(
            ScheduledTask(
                key="portal.ratio_sample",
                task="platform_core.portal.tasks.ratio_sample_all_task",
                every=RATIO_SAMPLE_EVERY,
            )
        )
        margin_status_changed.connect(ratio_sample_on_status_change)
        # A sandbox client trades under their live suitability (the same products as live).
        suitability_subjects.register(
            SuitabilitySubject(key="portal.sandbox", subject=live_client_of)
        )
