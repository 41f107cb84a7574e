from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "platform_core.tenancy"
    label = "tenancy"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from platform_core.tenancy.roles import role_groups_sync_after_migrate

        # Django creates model permissions in post_migrate; the role groups can
        # only be filled after that, so this is the one receiver we keep.
        post_migrate.connect(role_groups_sync_after_migrate, dispatch_uid="role_groups_sync")
