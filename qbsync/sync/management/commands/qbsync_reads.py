"""Ops: the month's QBO reads, and resuming them after a plan change (``--resume``) or pausing them."""

from django.core.management.base import BaseCommand

from qbsync.sync.engine import metering
from qbsync.sync.models import ReadBudgetMonth


class Command(BaseCommand):
    help = (
        "Show this month's QuickBooks reads against the budget; --resume after a plan change, "
        "--pause to stop reads."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--resume", action="store_true", help="reads go out again this month")
        group.add_argument("--pause", action="store_true", help="stop reads for the rest of the month")

    def handle(self, *args, resume: bool, pause: bool, **options):
        if resume:
            done = metering.reads_resume()
            self.stdout.write("Reads resumed." if done else "Reads were not paused.")
        elif pause:
            done = metering.reads_pause(reason=ReadBudgetMonth.PauseReason.BUDGET, detail="paused by ops")
            self.stdout.write("Reads paused until the month turns." if done else "Reads were already paused.")
        summary = metering.read_budget_summary()
        state = (
            f"paused ({summary['pause_reason']}) until {summary['paused_until']}"
            if summary["reads_paused"]
            else "going out"
        )
        self.stdout.write(
            f"{summary['month']}: {summary['reads']:,} of {summary['budget']:,} reads "
            f"({summary['share']}%); reads {state}."
        )
