"""Sync throughput against the number of worker processes: real `celery worker` processes on a Redis broker
and PostgreSQL, the QBO sandbox in its own process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/qbsync_bench_scaling REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/worker_scaling.py [--workers 1,2,4] [--concurrency 2] [--realms 8] \\
        [--invoices-per-realm 60] [--one-realm-invoices 900] [--time-scale 4] [--latency-ms 100] \\
        [--max-workers-per-realm 0] [--only many|one]

Two workloads, each run once per worker-process count, on fresh firms and sandbox companies:

- many: --realms firms, each connected to its own company, each with --invoices-per-realm invoices. QBO's
  limits are per company, so they do not bind here: throughput should rise with the workers (until this
  machine's CPUs do).
- one: one firm and company with --one-realm-invoices invoices. QBO's per-company limits bind: throughput
  flattens at the limit however many workers run, and the sandbox must never have to refuse a request.

The sandbox applies QBO's default limits (500 requests a minute, 10 in flight per company) on a clock
--time-scale times faster, with --latency-ms added to every request; the workers' governor uses the same
scaled minute. Each firm's accounts are linked to customers first, then every invoice is saved (a sync
task each, queued in Redis), then the workers start: the clock runs from the first worker ready to the last
invoice Synced. Reported per run: records/s (overall, and for "one" also after the first QBO minute, when
the burst allowance is spent), QBO requests, the most requests in flight at once on any one company as the
sandbox counted them, and 429s (the sandbox's own, from its limits). Every invoice is then checked to be in
its company exactly once with the right total.
"""

import argparse
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "qbsync.settings.test"
# The broker keys of this bench are its own (qbsync.settings.test prefixes them with the run id).
os.environ["QBSYNC_TEST_RUN_ID"] = "bench-worker-scaling"
# The client id tests.factories.connection_for_realm asks the sandbox for tokens with.
CLIENT_ID, CLIENT_SECRET = "qbsync-tests", "qbsync-bench-secret"
D = Decimal


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workers", default="1,2,4", help="worker-process counts to run, comma-separated")
    p.add_argument("--concurrency", type=int, default=2, help="pool processes per worker process")
    p.add_argument("--realms", type=int, default=8)
    p.add_argument("--invoices-per-realm", type=int, default=60)
    p.add_argument("--one-realm-invoices", type=int, default=900)
    p.add_argument("--time-scale", type=float, default=4.0)
    p.add_argument("--latency-ms", type=int, default=100)
    p.add_argument("--max-workers-per-realm", type=int, default=0, help="QBSYNC_MAX_WORKERS_PER_REALM")
    p.add_argument("--only", choices=["many", "one"])
    p.add_argument("--timeout", type=float, default=900.0, help="per run")
    a = p.parse_args()
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set REDIS_URL and a PostgreSQL DATABASE_URL: the bench needs the production-shaped parts.")
    # Read by this process and inherited by every worker process.
    os.environ["QBO_RATE_WINDOW_SECONDS"] = str(60.0 / a.time_scale)
    os.environ["QBO_TOKEN_REFRESH_MARGIN"] = str(int(300 / a.time_scale))
    os.environ["QBSYNC_MAX_WORKERS_PER_REALM"] = str(a.max_workers_per_realm)
    os.environ["QBSYNC_RETRY_BACKOFF_SECONDS"] = "0.25"
    fresh_database()
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    logging.getLogger("qbsync").setLevel(logging.WARNING)  # one line per QBO call of the setup is noise here

    call_command("migrate", verbosity=0)
    sandbox, control, base = start_sandbox(a)
    os.environ["QBO_API_BASE_URL"] = f"{base}/v3"
    os.environ["QBO_OAUTH_DISCOVERY_URL"] = f"{base}/.well-known/openid_configuration"
    os.environ["QBO_CLIENT_ID"], os.environ["QBO_CLIENT_SECRET"] = CLIENT_ID, CLIENT_SECRET
    from django.conf import settings

    settings.QBO_API_BASE_URL = os.environ["QBO_API_BASE_URL"]
    settings.QBO_OAUTH_DISCOVERY_URL = os.environ["QBO_OAUTH_DISCOVERY_URL"]
    settings.QBO_CLIENT_ID, settings.QBO_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    counts = [int(n) for n in a.workers.split(",")]
    print(
        f"sandbox: QBO's limits x{a.time_scale:g} time-scaled (a QBO minute is {60 / a.time_scale:.0f} s: "
        f"475 usable requests, {475 * a.time_scale / 60:.1f}/s per company), {a.latency_ms} ms per request; "
        f"{a.concurrency} pool processes per worker; QBSYNC_MAX_WORKERS_PER_REALM={a.max_workers_per_realm} "
        f"(0: half the pool); {os.cpu_count()} CPUs here, shared with the sandbox and PostgreSQL\n",
        flush=True,
    )
    results = []
    try:
        for workload in ("many", "one"):
            if a.only and a.only != workload:
                continue
            for n in counts:
                results.append(run(workload, n, control, a))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    print(
        "\nworkload  workers  slots  records  seconds  records/s  after-1st-min/s  requests  max-in-flight"
        "  429s"
    )
    for r in results:
        print(
            f"{r['workload']:<9} {r['workers']:>7} {r['slots']:>6} {r['records']:>8} {r['seconds']:>8.1f} "
            f"{r['rate']:>10.1f} {r['steady'] if r['steady'] is None else round(r['steady'], 1)!s:>16} "
            f"{r['requests']:>9} {r['max_in_flight']:>14} {r['throttled']:>5}"
        )


def fresh_database() -> None:
    parts = urlsplit(os.environ["DATABASE_URL"])
    args = ["-h", parts.hostname or "127.0.0.1", "-U", parts.username or "postgres"]
    name = parts.path.lstrip("/")
    subprocess.run(["dropdb", *args, "--if-exists", name], check=True)
    subprocess.run(["createdb", *args, name], check=True)


def start_sandbox(a):
    from qbsync.sandbox.testing import SandboxControl

    command = [sys.executable, "-m", "qbsync.sandbox", "--host", "127.0.0.1", "--port", "0"]
    command += ["--time-scale", str(a.time_scale), "--latency-ms", str(a.latency_ms), "--log-size", "400000"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True
    )
    url = urlsplit(proc.stdout.readline().strip().rsplit(" ", 1)[1])
    base = f"http://{url.hostname}:{url.port}"
    control = SandboxControl(base)
    control.register_client(CLIENT_ID, CLIENT_SECRET, [])
    return proc, control, base


class Sandbox:
    """What tests.factories.connection_for_realm needs of a running sandbox."""

    def __init__(self, control):
        self.control = control


def linked_firm(control, label: str, accounts: int = 4):
    """A firm connected to a fresh company, its accounts linked to customers (through the real services)."""
    from qbsync.firms.models import Firm, User
    from qbsync.sync.kinds.accounts import account_push, account_sync_request
    from qbsync.sync.models import AccountSyncLink
    from qbsync.sync.services.connections import connection_apply_first_defaults
    from qbsync.sync.states import SyncState
    from tests.factories import AccountFactory, connection_for_realm

    firm = Firm.objects.create(name=f"Bench {label}", slug=f"bench-{label.lower()}")
    owner = User.objects.create(username=f"bench-{label.lower()}", firm=firm, role="owner")
    realm = control.create_company(f"Bench {label}", customer_types=["Individual"])
    connection = connection_for_realm(firm=firm, user=owner, sandbox=Sandbox(control), realm_id=realm)
    connection_apply_first_defaults(connection=connection)
    linked = []
    for i in range(accounts):
        account = AccountFactory(firm=firm, name=f"Bench {label} Client {i}")
        link = account_sync_request(account=account)
        account_push(link_id=link.pk)
        assert AccountSyncLink.objects.get(pk=link.pk).state == SyncState.SYNCED, "an account did not link"
        linked.append(account)
    return firm, realm, linked


def queue_invoices(firm, accounts, count: int) -> None:
    from tests.factories import make_invoice

    for i in range(count):
        make_invoice(
            account=accounts[i % len(accounts)],
            number=f"{firm.slug[-12:]}-{i:05d}",
            amounts=(f"{100 + i % 500}.25", "12.50"),
        )


def run(workload: str, workers: int, control, a) -> dict:
    from django.db.models import Count, Q

    from qbsync.celery import app
    from qbsync.sync.models import InvoiceSyncLink
    from qbsync.sync.states import SyncState
    from tests.workers import WorkerProcess

    tag = f"{workload}{workers}x{int(time.time()) % 100000}"
    per_realm = [a.invoices_per_realm] * a.realms if workload == "many" else [a.one_realm_invoices]
    app.control.purge()
    firms = []
    started = time.monotonic()
    for r, count in enumerate(per_realm):
        firm, realm, _accounts = linked_firm(control, f"{tag}R{r}")
        firms.append((firm, realm, count))
    control.call("DELETE", "/_sandbox/requests")
    for firm, _realm, count in firms:
        queue_invoices(firm, list(firm.accounts.all()), count)
    total = sum(per_realm)
    firm_ids = [firm.pk for firm, _, _ in firms]
    print(
        f"[{workload}, {workers} worker process(es)] {len(firms)} companies, {total} invoices queued "
        f"(set up in {time.monotonic() - started:.0f} s)",
        flush=True,
    )

    def synced() -> int:
        return InvoiceSyncLink.objects.filter(firm_id__in=firm_ids, state=SyncState.SYNCED).count()

    processes = [
        WorkerProcess(name=f"bench-{tag}-{n}", queues="qbo", concurrency=a.concurrency)
        for n in range(workers)
    ]
    samples = []
    try:
        t0 = None
        deadline = time.monotonic() + 120
        while t0 is None:
            for process in processes:
                if process.process.poll() is not None:
                    raise RuntimeError(f"a worker exited:\n{process.log()}")
                if b" ready." in process.log_path.read_bytes():
                    t0 = time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError("no worker became ready")
            time.sleep(0.05)
        deadline = t0 + a.timeout
        done = 0
        while done < total and time.monotonic() < deadline:
            time.sleep(0.25)
            done = synced()
            samples.append((time.monotonic() - t0, done))
        elapsed = samples[-1][0]
    finally:
        for process in processes:
            process.stop()
    if done < total:
        stuck = (
            InvoiceSyncLink.objects.filter(firm_id__in=firm_ids)
            .values("state")
            .annotate(n=Count("pk"))
            .exclude(state=SyncState.SYNCED)
        )
        print(f"  NOT FINISHED in {a.timeout:.0f} s: {list(stuck)}", flush=True)
    window = 60.0 / a.time_scale
    steady = None
    if workload == "one" and elapsed > 1.5 * window:
        at_window = next(count for t, count in samples if t >= window)
        steady = (done - at_window) / (elapsed - window)
    requests = throttled = max_in_flight = 0
    for firm, realm, count in firms:
        log = control.requests(realm)
        requests += sum(
            1 for entry in log if entry.get("kind", "api") == "api" and not entry.get("throttled")
        )
        stats = control.company(realm)["limits_stats"]
        throttled += stats["throttled"]
        max_in_flight = max(max_in_flight, stats["max_in_flight"])
        check_exact(control, realm, firm, count)
    result = {
        "workload": workload,
        "workers": workers,
        "slots": workers * a.concurrency,
        "records": done,
        "seconds": elapsed,
        "rate": done / elapsed if elapsed else 0.0,
        "steady": steady,
        "requests": requests,
        "max_in_flight": max_in_flight,
        "throttled": throttled,
    }
    failed = InvoiceSyncLink.objects.filter(firm_id__in=firm_ids).filter(~Q(state=SyncState.SYNCED)).count()
    print(
        f"  {done}/{total} synced in {elapsed:.1f} s = {result['rate']:.1f} records/s"
        + (f" ({steady:.1f}/s after the first QBO minute)" if steady is not None else "")
        + f"; {requests} QBO requests ({requests / max(done, 1):.2f} a record), "
        + f"at most {max_in_flight} in flight on one company, {throttled} 429s"
        + (f"; {failed} NOT synced" if failed else "; each exactly once in QBO with the right total"),
        flush=True,
    )
    return result


def check_exact(control, realm, firm, expected: int) -> None:
    from qbsync.sync.models import InvoiceSyncLink

    in_qbo = {i["Id"]: i for i in control.entities(realm, "Invoice")}
    links = list(InvoiceSyncLink.objects.filter(firm=firm).select_related("invoice"))
    assert len(links) == expected, (len(links), expected)
    assert len(in_qbo) == len(links), f"{len(in_qbo)} invoices in QBO for {len(links)} records"
    for link in links:
        assert D(str(in_qbo[link.qbo_invoice_id]["TotalAmt"])) == link.invoice.total, link.pk


if __name__ == "__main__":
    main()
