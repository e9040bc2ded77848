"""Steady state: how long a newly issued invoice takes to reach QBO while an idle worker waits.

    .venv/bin/python bench/invoice_latency.py [--invoices 20] [--latency-ms 100]

Starts the sandbox in-process (with --latency-ms per QBO call to mimic a real round trip) and one real
worker process on the configured broker (REDIS_URL, or the filesystem queue), syncs one account, then
issues invoices one at a time, each after the previous reached QBO, and reports the time from commit to
Synced. Uses its own SQLite file unless DATABASE_URL is set.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "qbsync.settings.test"
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench-latency.sqlite3'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args()
    if os.environ["DATABASE_URL"].startswith("sqlite"):
        Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///")).unlink(missing_ok=True)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Account
    from invoices.services import InvoiceData, InvoiceLineData, invoice_create
    from qbsync.firms.models import Firm, User
    from qbsync.sandbox.testing import running_sandbox
    from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink
    from qbsync.sync.services.connections import connection_apply_first_defaults
    from qbsync.sync.states import SyncState
    from tests.factories import connection_for_realm
    from tests.workers import sandbox_worker

    with running_sandbox(latency_ms=args.latency_ms) as sandbox:
        sandbox.control.register_client("qbsync-tests", "qbsync-tests-secret", [])
        settings.QBO_API_BASE_URL, settings.QBO_OAUTH_DISCOVERY_URL = sandbox.api_base, sandbox.discovery_url
        settings.QBO_CLIENT_ID, settings.QBO_CLIENT_SECRET = "qbsync-tests", "qbsync-tests-secret"
        firm = Firm.objects.create(name="Latency", slug=f"latency-{time.time_ns()}")
        owner = User.objects.create(username=f"latency-{firm.pk}", firm=firm, role="owner")
        realm = sandbox.control.create_company("Latency Co", customer_types=["Individual"])
        connection = connection_for_realm(firm=firm, user=owner, sandbox=sandbox, realm_id=realm)
        connection_apply_first_defaults(connection=connection)
        account = Account.objects.create(firm=firm, name="Latency Client")
        worker = sandbox_worker(sandbox, name="latency", concurrency=2)
        timings = []
        try:

            def issue(n: int):
                return invoice_create(
                    firm=firm,
                    status="sent",
                    data=InvoiceData(
                        account=account,
                        number=f"LAT-{n}",
                        issue_date=date(2026, 11, 1),
                        due_date=date(2026, 12, 1),
                        lines=[InvoiceLineData(description="Work", rate=Decimal("100.00"))],
                    ),
                )

            issue(0)  # also links the account (the activity rule)
            wait(lambda: AccountSyncLink.objects.filter(account=account, state=SyncState.SYNCED).exists(), 60)
            wait(lambda: InvoiceSyncLink.objects.filter(state=SyncState.SYNCED).count() == 1, 60)
            for n in range(1, args.invoices + 1):
                time.sleep(1.0)  # the pool is idle again
                started = time.monotonic()
                invoice = issue(n)
                wait(
                    lambda inv=invoice: InvoiceSyncLink.objects.filter(
                        invoice=inv, state=SyncState.SYNCED
                    ).exists(),
                    60,
                )
                timings.append(time.monotonic() - started)
        finally:
            worker.stop()
    broker = "Redis" if settings.REDIS_URL else "filesystem queue"
    print(
        f"{len(timings)} invoices, QBO round trip {args.latency_ms} ms, broker {broker}, "
        f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
    )
    print(
        f"issued → Synced: median {statistics.median(timings):.2f} s, max {max(timings):.2f} s, "
        f"min {min(timings):.2f} s"
    )


def wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.02)


if __name__ == "__main__":
    main()
