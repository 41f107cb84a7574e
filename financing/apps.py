from django.apps import AppConfig


class FinancingConfig(AppConfig):
    name = "financing"
