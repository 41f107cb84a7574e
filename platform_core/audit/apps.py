from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "platform_core.audit"
    label = "audit"
