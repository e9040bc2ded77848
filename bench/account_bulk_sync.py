"""Bulk account sync vs one request per account, against the sandbox at QBO's real limits (time-scaled).

    .venv/bin/python bench/account_bulk_sync.py [--accounts 2000] [--time-scale 30] [--latency-ms 0]

Runs both ways on fresh sandbox companies with the same accounts, and reports QBO requests, requests per
account, wall time, and whether every account ended Synced with exactly one customer. Uses its own SQLite
file (var/bench-accounts.sqlite3) and an in-process sandbox; touches nothing else.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "qbsync.settings.test"
os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench-accounts.sqlite3'}"
os.environ.pop("REDIS_URL", None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--time-scale", type=float, default=30.0)
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()

    (ROOT / "var" / "bench-accounts.sqlite3").unlink(missing_ok=True)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from qbsync.quickbooks.governor import reset_governor
    from qbsync.sandbox.testing import running_sandbox

    settings.QBO_RATE_WINDOW_SECONDS = (
        60.0 / args.time_scale
    )  # the governor's minute, scaled like the sandbox's
    settings.QBSYNC_RETRY_BACKOFF_SECONDS = 0.05
    settings.QBO_TOKEN_REFRESH_MARGIN = int(300 / args.time_scale)  # token lifetimes are scaled too
    settings.QBO_CLIENT_ID, settings.QBO_CLIENT_SECRET = "qbsync-tests", "any"
    reset_governor()
    print(
        f"{args.accounts} accounts, sandbox at QBO's limits time-scaled x{args.time_scale}, "
        f"latency {args.latency_ms} ms\n"
    )
    for label, runner in (("bulk (preview + batch run)", run_bulk), ("one account at a time", run_naive)):
        with running_sandbox(
            time_scale=args.time_scale, latency_ms=args.latency_ms, log_size=100_000
        ) as sandbox:
            settings.QBO_API_BASE_URL = sandbox.api_base
            settings.QBO_OAUTH_DISCOVERY_URL = sandbox.discovery_url
            reset_governor()
            firm, realm = setup_firm(sandbox, args.accounts, label)
            started = time.monotonic()
            runner(firm)
            elapsed = time.monotonic() - started
            report(label, sandbox, realm, firm, args.accounts, elapsed, args.time_scale)


def setup_firm(sandbox, n: int, label: str):
    from accounts.models import Account
    from qbsync.firms.models import Firm, User
    from qbsync.sync.models import QuickBooksConnection
    from tests.factories import connection_for_realm

    firm = Firm.objects.create(name=label, slug=f"bench-{Firm.objects.count()}")
    user = User.objects.create(username=f"bench-owner-{firm.pk}", firm=firm, role="owner")
    realm = sandbox.control.create_company(f"Bench {label}", customer_types=["Individual"])
    sandbox.control.insert(
        realm, "Customer", [{"DisplayName": f"Bench Client {i:05d}", "Active": True} for i in range(0, n, 10)]
    )
    Account.objects.bulk_create(Account(firm=firm, name=f"Bench Client {i:05d}") for i in range(n))
    connection = connection_for_realm(firm=firm, user=user, sandbox=sandbox, realm_id=realm)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(auto_sync_scope="all")
    return firm, realm


def run_bulk(firm) -> None:
    from qbsync.sync.work.bulk import (
        bulk_sync_preview,
        bulk_sync_preview_start,
        bulk_sync_run,
        bulk_sync_start,
    )

    plan = bulk_sync_preview_start(firm=firm, actor=None)
    plan = bulk_sync_preview(plan_id=plan.pk)
    if plan.error:
        raise SystemExit(f"preview failed: {plan.error}")
    bulk_sync_start(plan=plan, actor=None)
    while (counts := bulk_sync_run(plan_id=plan.pk)).get("paused") or counts.get("sliced"):
        time.sleep(0.05)  # in production the task re-enqueues itself with a countdown


def run_naive(firm) -> None:
    from accounts.models import Account
    from qbsync.sync.kinds.accounts import account_push, account_sync_request
    from qbsync.sync.models import AccountSyncLink
    from qbsync.sync.states import SyncState

    for account in Account.objects.filter(firm=firm):
        account_sync_request(account=account)
    while pending := list(
        AccountSyncLink.objects.filter(firm=firm, state=SyncState.QUEUED).values_list("pk", flat=True)
    ):
        AccountSyncLink.objects.filter(pk__in=pending).update(next_attempt_at=None)
        for pk in pending:
            account_push(link_id=pk)


def report(label, sandbox, realm, firm, n, elapsed, scale) -> None:
    from qbsync.sync.models import AccountSyncLink
    from qbsync.sync.states import SyncState

    requests = [r for r in sandbox.control.requests(realm, limit=100_000) if r.get("kind") != "oauth"]
    throttled = sum(1 for r in requests if r.get("status") == 429)
    customers = sandbox.control.entities(realm, "Customer")
    names = [c["DisplayName"] for c in customers]
    synced = AccountSyncLink.objects.filter(firm=firm, state=SyncState.SYNCED).count()
    print(f"{label}:")
    print(
        f"  QBO requests            {len(requests)}  ({len(requests) / n:.3f} per account; 429s: {throttled})"
    )
    batches = sum(1 for r in requests if r.get("operation") == "batch")
    floor_minutes = max(len(requests) / 500, batches / 40)
    print(f"  wall time               {elapsed:.1f} s here (time-scaled x{scale:g})")
    print(f"  QBO limits alone        ≥ {floor_minutes:.1f} min on a real company ({batches} batches)")
    duplicates = len(names) - len(set(names))
    print(f"  accounts synced         {synced}/{n}; customers in QBO {len(names)}, duplicates {duplicates}\n")


if __name__ == "__main__":
    main()
