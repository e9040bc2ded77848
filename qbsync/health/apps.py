from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "qbsync.health"
    label = "health"
    verbose_name = "QuickBooks sync health"
