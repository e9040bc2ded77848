from django.apps import AppConfig


class FirmsConfig(AppConfig):
    name = "qbsync.firms"
    label = "firms"
    verbose_name = "Firms and people"
