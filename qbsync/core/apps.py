from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "qbsync.core"
    label = "core"
    verbose_name = "Core"
