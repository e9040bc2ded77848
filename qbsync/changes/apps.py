from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "qbsync.changes"
    label = "changes"
    verbose_name = "Changes from QuickBooks"

    def ready(self):
        from qbsync.sync.ops_status import register_section

        from .selectors import (
            changes_inbox_backlog,
            changes_inbox_lines,
            changes_polling_lines,
            changes_polling_report,
        )

        register_section("changes_inbox", build=changes_inbox_backlog, text=changes_inbox_lines)
        register_section("changes_polling", build=changes_polling_report, text=changes_polling_lines)
