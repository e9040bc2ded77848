from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "qbsync.sync"
    label = "sync"
    verbose_name = "QuickBooks sync"
