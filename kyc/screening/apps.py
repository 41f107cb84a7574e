from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    """Sanctions and PEP lists and the screening of clients against them.

    A Django app of its own inside ``kyc`` (label ``screening``) so that the lists, their
    versions and the screening results migrate on their own; see docs/decisions.md.
    """

    name = "kyc.screening"
    label = "screening"
