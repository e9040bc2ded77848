import json

from django.core.management.base import BaseCommand

from qbsync.sync.ops_status import section_lines, status_report


class Command(BaseCommand):
    help = (
        "What the deployment is doing: queue lengths, worker and beat heartbeats, stuck sync work, each "
        "realm's throttle state, failures by cause per firm and each connection's inbox of changes from "
        "QuickBooks (backlog, oldest unprocessed). Read-only; --json for machines."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON object instead of text")

    def handle(self, *args, **options):
        report = status_report()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write("\n".join(text_lines(report)))


def text_lines(report: dict) -> list[str]:
    lines = [f"qbsync status at {report['at']} (broker: {report['broker']})", "", "Queues"]
    for queue, row in report["queues"].items():
        name = "held by workers, not yet acknowledged" if queue == "_unacked" else queue
        lines.append(f"  {name:<40} {row['waiting']:>8}")

    lines += ["", "Workers and beat"]
    if not report["processes"]:
        lines.append("  none has ever sent a heartbeat: is a worker running?")
    for process in report["processes"]:
        state = "alive" if process["alive"] else "NOT BEATING"
        queues = f" queues={process['queues']}" if process["queues"] else ""
        lines.append(
            f"  {process['kind']:<7}{process['name']:<40}{state:<12}"
            f"last heartbeat {process['seconds_since_heartbeat']:.0f} s ago{queues}"
        )

    thresholds = report["thresholds"]
    lines += [
        "",
        f"Stuck work (Syncing past {thresholds['syncing_lease_seconds']:.0f} s, queued past "
        f"{thresholds['queued_grace_seconds']:.0f} s, "
        f"bulk runs still past {thresholds['bulk_hold_seconds']:.0f} s)",
    ]
    for name, row in report["stuck"].items():
        oldest = f"  oldest {row['oldest_seconds']} s" if row["count"] else ""
        lines.append(f"  {name.replace('_', ' '):<40} {row['count']:>8}{oldest}")

    throttle = report["throttle"]
    lines += ["", "Throttle per realm"]
    if not throttle["shared"]:
        lines.append("  no shared governor (REDIS_URL unset): each worker process counts for itself")
    elif not throttle["realms"]:
        lines.append("  no connected company")
    for realm in throttle["realms"]:
        paused = f"  PAUSED {realm['paused_for_seconds']} s" if realm["paused_for_seconds"] else ""
        lines.append(
            f"  firm {realm['firm']:<6} realm {realm['realm']:<20} in flight {realm['in_flight']}/"
            f"{realm['max_in_flight']}  requests {realm['requests_in_window']}/{realm['max_per_window']} "
            f"per {throttle['window_seconds']:.0f} s  batches {realm['batch_in_window']}{paused}"
        )
        lines.append(
            f"  {'':<12}worker slots {realm['slots_held']}  set aside {realm['set_aside_share']} for its "
            f"share of slots ({realm['parked_now']} parked now), {realm['set_aside_governor']} for QBO's "
            "limits (last day)"
        )

    lines += ["", "Failures by cause"]
    if not report["failures"]:
        lines.append("  none")
    for row in report["failures"]:
        lines.append(f"  firm {row['firm']:<6} {row['record']:<8} {row['cause']:<32} {row['count']:>6}")
    reads = report["qbo_reads"]
    lines += [
        "",
        f"QuickBooks reads in {reads['month']} (metered by Intuit over the whole deployment)",
        f"  {reads['reads']:,} of {reads['budget']:,} ({reads['share']}%)"
        + (
            f"; alerts sent at {', '.join(f'{t}%' for t in reads['alerts_sent'])}"
            if reads["alerts_sent"]
            else ""
        ),
    ]
    if reads["reads_paused"]:
        lines.append(
            f"  READS PAUSED ({reads['pause_reason']}) until {reads['paused_until']}: pushes go on, "
            "look-ups wait; after a plan change: manage.py qbsync_reads --resume"
        )
    for row in reads["top_firms"]:
        lines.append(
            f"  firm {row['firm_id']!s:<6} realm {row['realm_id']:<20} "
            f"{row['reads']:>8} reads {row['writes']:>8} writes"
        )
    return lines + section_lines(report)
