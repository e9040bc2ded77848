from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "qbsync.changes"
    label = "changes"
    verbose_name = "Changes from QuickBooks"
