from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "kyc"
