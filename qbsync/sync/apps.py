from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "qbsync.sync"
    label = "sync"
    verbose_name = "QuickBooks sync"

    def ready(self):
        from qbsync.core.health import register_readiness_detail

        from .engine.metering import read_budget_summary

        # Ops see the month's QBO reads against the budget, and whether reads are paused, in /readyz.
        register_readiness_detail("qbo_reads", read_budget_summary)
