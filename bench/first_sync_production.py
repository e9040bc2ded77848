"""A firm's first sync on the production path: one `celery worker -c 4` and one `celery beat` (separate
processes), Redis, PostgreSQL, the base settings with their defaults (as docker-compose runs them), the
preview then Start called as the buttons call them; the sandbox in its own process at QBO's limits with
--latency-ms added to every request. In the same run, a naive python-quickbooks loop (one create per record,
on 1 and on 10 threads, under the same governor) sends part of the same records to a fresh company of the
same sandbox; its time is projected to all of them (it is bound by QBO's 500 requests a minute, so linear).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/qbsync_bench_prod REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/first_sync_production.py [--accounts 500] [--invoices 2500] \\
        [--payments 2000] [--time-scale 1] [--latency-ms 100] [--concurrency 4] [--naive-accounts 60] \\
        [--skip-naive]

--time-scale shrinks QBO's minute in the sandbox and in the workers' governor alike (QBO_RATE_WINDOW_SECONDS)
and nothing else; 1 is real time. Reported: wall time from Start to the last record synced, records per QBO
minute against the combined ceiling (40 batch requests of 30 a minute, plus single requests within the 500
a minute the batches leave, less the governor's headroom), requests and reads per record, worker and
PostgreSQL CPU per record, tasks run and set aside, the longest gap with nothing sent, and whether every
record is in QBO exactly once with its amounts. Creates the database afresh; flushes the Redis database.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
_env = dict(os.environ)
import first_sync  # noqa: E402 - its helpers (seed, sandbox, naive loop, exactness check)

os.environ.clear()
os.environ.update(_env)  # first_sync pins the test settings and drops REDIS_URL for its own process
os.environ["DJANGO_SETTINGS_MODULE"] = "qbsync.settings.base"
SECRETS = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "QBSYNC_ENCRYPTION_KEYS": "dGVzdC1rZXktZm9yLXRoZS10ZXN0LXN1aXRlLW9ubHk=",
    "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "QBO_CLIENT_ID": "qbsync-tests",
    "QBO_CLIENT_SECRET": "any",
    "QBO_REDIRECT_URI": "http://127.0.0.1:8000/quickbooks/callback/",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--accounts", type=int, default=500)
    p.add_argument("--invoices", type=int, default=2500)
    p.add_argument("--payments", type=int, default=2000)
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--latency-ms", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--naive-accounts", type=int, default=60)
    p.add_argument("--naive-threads", type=int, default=10)
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument(
        "--taxed",
        action="store_true",
        help="a UK firm and company: VAT 20%% on each invoice's first line, mapped to the company's code "
        "(no naive loop: it sends untaxed bodies, which a UK company refuses)",
    )
    a = p.parse_args()
    a.skip_naive = a.skip_naive or a.taxed
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("needs DATABASE_URL=postgres://... and REDIS_URL=redis://... (the production path)")
    os.environ.update(SECRETS)
    subprocess.run(["redis-cli", "-u", os.environ["REDIS_URL"], "FLUSHDB"], check=True, capture_output=True)
    first_sync.fresh_database()
    proc, control, base = first_sync.start_sandbox(a)
    os.environ["QBO_API_BASE_URL"] = f"{base}/v3"
    os.environ["QBO_OAUTH_DISCOVERY_URL"] = f"{base}/.well-known/openid_configuration"
    if a.time_scale != 1:
        os.environ["QBO_RATE_WINDOW_SECONDS"] = str(60.0 / a.time_scale)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    processes = []
    try:
        print(
            f"{a.accounts} accounts, {a.invoices} invoices, {a.payments} payments; sandbox at QBO's limits "
            f"x{a.time_scale:g}, {a.latency_ms} ms per request; worker -c {a.concurrency} + beat, Redis, "
            f"{'UK VAT on every invoice, ' if a.taxed else ''}"
            "PostgreSQL, base settings\n",
            flush=True,
        )
        started = time.monotonic()
        firm = first_sync.seed(a)
        print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
        realm = control.create_company(
            "Bench production", customer_types=["Individual"], **({"preset": "uk"} if a.taxed else {})
        )
        control.insert(
            realm,
            "Customer",
            [{"DisplayName": f"Bench Client {i:05d}", "Active": True} for i in range(0, a.accounts, 10)],
        )
        owner = connect(firm, realm, control, a.taxed)
        log_dir = ROOT / "var"
        log_dir.mkdir(exist_ok=True)
        worker_log = log_dir / "bench-production-worker.log"
        worker = start(
            ["worker", "-Q", "default,qbo", "-c", str(a.concurrency), "-n", "bench@%h"], worker_log
        )
        processes.append(worker)
        processes.append(
            start(["beat", "-s", str(log_dir / "bench-beat-schedule")], log_dir / "bench-beat.log")
        )
        wait_ready(worker_log)
        result = run_first_sync(firm, owner, control, realm, worker, a)
        report(result, control, realm, firm, worker_log, a)
        first_sync.check_exact(control, realm, firm)
        for process in processes:
            stop(process)
        processes = []
        if not a.skip_naive:
            run_naive_pair(firm, control, a, result["records"])
    finally:
        for process in processes:
            stop(process)
        proc.terminate()
        proc.wait(timeout=10)


def connect(firm, realm, control, taxed: bool):
    from qbsync.sync.services.connections import connection_check

    owner, connection = first_sync.connect(firm, realm, control, taxed)
    if not taxed:  # mapping VAT read them already
        connection_check(connection_id=connection.pk)  # as connecting does: the company's preferences kept
    return owner


def start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = open(log, "wb")  # noqa: SIM115 - the process owns it until it stops
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "qbsync", *args, "--loglevel", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while b" ready." not in log.read_bytes():
        if time.monotonic() > deadline:
            raise SystemExit(f"worker not ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def run_first_sync(firm, owner, control, realm, worker, a) -> dict:
    from qbsync.sync.models import AccountSyncLink, BulkSyncPlan, InvoiceSyncLink, PaymentSyncLink
    from qbsync.sync.work.bulk import bulk_sync_preview_start, bulk_sync_start

    control.call("DELETE", "/_sandbox/requests")
    plan = bulk_sync_preview_start(firm=firm, actor=owner)
    while BulkSyncPlan.objects.get(pk=plan.pk).state != "ready":
        time.sleep(0.2)
    cpu_before = worker_cpu(worker), postgres_cpu()
    started, started_at = time.monotonic(), datetime.now().astimezone()
    bulk_sync_start(plan=BulkSyncPlan.objects.get(pk=plan.pk), actor=owner)
    models = (AccountSyncLink, InvoiceSyncLink, PaymentSyncLink)
    total = a.accounts + a.invoices + a.payments
    last_print = started
    while True:
        synced = sum(m.objects.filter(firm=firm, state="synced").count() for m in models)
        moving = sum(m.objects.filter(firm=firm, state__in=["queued", "syncing"]).count() for m in models)
        if time.monotonic() - last_print >= 30:
            print(
                f"  {time.monotonic() - started:5.0f} s: {synced} synced, {moving} on their way", flush=True
            )
            last_print = time.monotonic()
        if synced >= total or (not moving and time.monotonic() - started > 10):
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    cpu_after = worker_cpu(worker), postgres_cpu()
    return {
        "elapsed": elapsed,
        "records": total,
        "synced": synced,
        "started_at": started_at,
        "worker_cpu": cpu_after[0] - cpu_before[0],
        "postgres_cpu": cpu_after[1] - cpu_before[1],
    }


def _proc_cpu(pid: int, *, children: bool) -> float:
    """Seconds of CPU of one process (and of its reaped children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + ((cutime + cstime) if children else 0)) / CLOCK_TICKS


def worker_cpu(worker: subprocess.Popen) -> float:
    """The worker's main process, its live pool processes, and the pool processes it reaped."""
    found = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split()
    return _proc_cpu(worker.pid, children=True) + sum(_proc_cpu(int(p), children=False) for p in found)


def postgres_cpu() -> float:
    """Every PostgreSQL process of the machine, and the backends the postmaster reaped."""
    pids = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout.split()
    postmaster = min((int(p) for p in pids), default=0)
    return sum(_proc_cpu(int(p), children=int(p) == postmaster) for p in pids)


def report(result, control, realm, firm, worker_log: Path, a) -> None:
    from qbsync.quickbooks.governor import governor_from_settings
    from qbsync.sync import fairness

    log = [r for r in control.requests(realm, limit=400_000) if r.get("kind", "api") == "api"]
    batches = sum(1 for r in log if r.get("operation") == "batch")
    reads = sum(1 for r in log if r.get("operation") in ("query", "read", "cdc"))
    times = sorted(datetime.fromisoformat(r["time"]).timestamp() for r in log if r.get("time"))
    edges = [result["started_at"].timestamp(), *times]
    gap, gap_at = max(((later - earlier, earlier) for earlier, later in pairwise(edges)), default=(0.0, 0.0))
    gap_at -= edges[0]
    limits = governor_from_settings().limits
    usable_batches = limits.usable(limits.batch_per_minute)
    ceiling = usable_batches * 30 + (limits.usable(limits.per_minute) - usable_batches)
    qbo_minutes = result["elapsed"] * a.time_scale / 60
    per_minute = result["records"] / qbo_minutes
    text = worker_log.read_text(errors="replace")
    ran = Counter(re.findall(r"Task (qbsync\.[\w.]+)\[[^\]]+\] succeeded", text))
    # A run that only set its task aside (parked for a slot, or stepped aside for QBO's limits) did no work.
    aside_runs = Counter(re.findall(r"Task (qbsync\.[\w.]+)\[[^\]]+\] succeeded in [^:]+: 'set-aside'", text))
    worked = ran - aside_runs
    parked = len(re.findall(r"Task parked until realm", text))
    stepped = len(re.findall(r"Task set aside for", text))
    asides = fairness.slots_from_settings().set_asides(realm)
    records = result["records"]
    print("\nqbsync, production path:")
    wall = result["elapsed"]
    print(f"  wall time            {wall:.1f} s = {qbo_minutes:.2f} QBO minutes at x{a.time_scale:g}")
    print(f"  records synced       {result['synced']} of {records}")
    print(
        f"  records per minute   {per_minute:.0f} (QBO time) = {per_minute / ceiling:.1%} of the combined "
        f"ceiling ({ceiling}/min: {usable_batches} batches x 30 + the other single requests, after headroom)"
    )
    print(f"  QBO requests         {len(log)} ({batches} batch), {len(log) / records:.4f} per record")
    print(f"  reads                {reads}, {reads / records:.4f} per record")
    for label, cpu in (("worker CPU", result["worker_cpu"]), ("PostgreSQL CPU", result["postgres_cpu"])):
        print(f"  {label:<20} {cpu:.1f} s = {cpu / records * 1000:.1f} ms/record")
    print(f"  tasks that worked    {sum(worked.values())}: {dict(worked.most_common())}")
    print(f"  runs only set aside  {sum(aside_runs.values())}: {dict(aside_runs.most_common())}")
    print(f"  set aside            {parked} parked for a slot, {stepped} for QBO's limits; counters {asides}")
    print(f"  longest gap          {gap:.1f} s with nothing sent to QBO, {gap_at:.0f} s after Start")
    print(json.dumps({"per_minute": round(per_minute), "ceiling": ceiling, "elapsed": round(wall, 1)}))


def run_naive_pair(firm, control, a, records: int) -> None:
    for threads in (1, a.naive_threads):
        a.naive_threads = threads
        naive_realm = control.create_company(f"Bench naive {threads}", customer_types=["Individual"])
        elapsed, sent = first_sync.run_naive(firm, naive_realm, control, a)
        projected = elapsed * records / sent
        print(
            f"\nnaive loop, {threads} thread(s): {sent} records in {elapsed:.1f} s; projected to all "
            f"{records}: {projected:.0f} s = {projected * a.time_scale / 60:.1f} QBO minutes",
            flush=True,
        )


if __name__ == "__main__":
    main()
