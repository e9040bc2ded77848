"""What a firm costs in QuickBooks reads (Intuit's metered CorePlus calls), part by part, and how many firms
the free tier's 500,000 reads a month serve (issue 15).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/qbsync_bench_reads \\
        .venv/bin/python bench/read_budget.py [--accounts 2000] [--invoices 10000] [--payments 8000] \\
        [--time-scale 20] [--days 30] [--skip-unhealthy-month]

Parts, on one firm, one after the other:
 1. the first sync of its history (bench/first_sync.py's path: the bulk account sync and the batch pusher
    called in this process, the sandbox time-scaled), then the CDC reads that take back its echoes (the
    sandbox's webhooks are on from the start);
 2. steady state: 100 new invoices, 50 payments, 20 edits, 5 voids, with the sandbox's webhooks on (our own
    writes come back as echoes, as Intuit sends them);
 3. linking 10 new accounts one at a time;
 4. 100 changes made in QuickBooks by someone else, in 10 bursts, announced by the sandbox's webhooks;
 5. an idle month with webhooks healthy (a verified delivery for some other company every hour, as a
    deployment of many firms receives), then an idle month with no webhooks configured.

Path: from part 2 on, qbsync's tasks run in this process in the order a worker would run them: every message
a service sends (send_task, apply_async) is queued on a simulated clock with its countdown, and beat's
schedule (settings.CELERY_BEAT_SCHEDULE) is played on the same clock; entries more frequent than
--beat-stride (the sweep every 30 s, the budget check every 60 s) run every --beat-stride seconds instead,
which changes what they cost only if they read (the report shows they do not). The sandbox is its own
process over HTTP, its clock advanced with ours; webhooks are its own deliveries, caught by a listener here
and handed to the webhook view with their signature. Reads are what the sandbox metered for qbsync's OAuth
client (the classification Intuit bills by), broken down by endpoint from its request log, and checked
against qbsync's own count (QboCallMonth). Times are not the point and are not reported as figures.
"""

import argparse
import heapq
import http.server
import itertools
import os
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench-read-budget.sqlite3'}")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
import first_sync  # noqa: E402 - after the path and the database are chosen

D = Decimal
APP_CLIENT = "qbsync-tests"
QBO_USER_CLIENT = "bench-qbo-user"
VERIFIER = "bench-verifier-token"
FREE_TIER = 500_000


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--accounts", type=int, default=2000)
    p.add_argument("--invoices", type=int, default=10_000)
    p.add_argument("--payments", type=int, default=8_000)
    p.add_argument("--time-scale", type=float, default=20.0)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--days", type=int, default=30, help="length of each simulated idle month")
    p.add_argument("--beat-stride", type=float, default=300.0)
    p.add_argument("--skip-unhealthy-month", action="store_true")
    a = p.parse_args()
    first_sync.fresh_database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.QBO_RATE_WINDOW_SECONDS = 60.0 / a.time_scale
    settings.QBSYNC_RETRY_BACKOFF_SECONDS = 0.05
    settings.QBSYNC_BATCH_LINGER_SECONDS = 2.0 / a.time_scale
    settings.QBO_CLIENT_ID, settings.QBO_CLIENT_SECRET = APP_CLIENT, "any"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the webhook view, through Client

    proc, control, base = first_sync.start_sandbox(a)
    listener = WebhookListener()
    try:
        settings.QBO_API_BASE_URL = f"{base}/v3"
        settings.QBO_OAUTH_DISCOVERY_URL = f"{base}/.well-known/openid_configuration"
        control.register_client(QBO_USER_CLIENT, "any", [])
        firm = first_sync.seed(a)
        realm = control.create_company("Bench reads", customer_types=["Individual"])
        control.insert(
            realm,
            "Customer",
            [{"DisplayName": f"Bench Client {i:05d}", "Active": True} for i in range(0, a.accounts, 10)],
        )
        reads = Reads(control, realm)
        # Webhooks on from the start: the first sync's own writes come back as echoes, as Intuit sends them.
        control.webhook(listener.url, VERIFIER, realms=[realm])
        print(
            f"1. first sync: {a.accounts} accounts, {a.invoices} invoices, {a.payments} payments", flush=True
        )
        first_sync.run_qbsync(firm, realm, control, a)
        first_sync.check_exact(control, realm, firm)
        records = a.accounts + a.invoices + a.payments
        results = {"first sync": reads.take(f"per {records} records", records)}

        # From here on the app runs on the simulated clock; a real token lifetime and refresh margin again.
        settings.QBO_RATE_WINDOW_SECONDS = 60.0
        settings.QBO_TOKEN_REFRESH_MARGIN = 300
        settings.QBSYNC_BATCH_LINGER_SECONDS = 2.0
        settings.QBO_WEBHOOK_VERIFIER_TOKEN = VERIFIER
        with Simulation(control, a.beat_stride, a.time_scale) as sim:
            sim.drain()  # what the first sync left queued (nothing here ran it): costs no read, shown apart
            results["first sync's leftovers"] = reads.take("in all", 1)
            delivered = settle_with_echoes(sim, listener)
            results["first sync's echoes"] = reads.take(
                f"per {records} records ({delivered} deliveries)", records
            )
            results["steady state"] = steady_state(sim, listener, firm, reads)
            results["linking one at a time"] = link_new_accounts(sim, listener, firm, reads, count=10)
            results["QBO changes by webhook"] = qbo_changes(sim, listener, control, realm, firm, reads)
            results["idle month, webhooks healthy"] = idle_month(sim, listener, reads, a.days, healthy=True)
            if not a.skip_unhealthy_month:
                settings.QBO_WEBHOOK_VERIFIER_TOKEN = ""
                results["idle month, no webhooks"] = idle_month(sim, listener, reads, a.days, healthy=False)
            ours = our_count(firm)
        summary(results, ours, reads.total(), a)
    finally:
        listener.stop()
        proc.terminate()
        proc.wait(timeout=10)


class Reads:
    """CorePlus calls the sandbox metered for qbsync's client in one company, taken part by part."""

    def __init__(self, control, realm):
        self.control, self.realm = control, realm
        self.seen = 0
        self.mark = self._metered()

    def _metered(self) -> int:
        report = self.control.meter(self.realm, client_id=APP_CLIENT)
        return sum(month["total"]["CorePlus"] for month in report["months"].values())

    def total(self) -> int:
        return self._metered()

    def take(self, per: str, records: int) -> dict:
        """The reads since the last take, with what the request log says they were."""
        now = self._metered()
        log = self.control.requests(self.realm, limit=400_000)
        new = [e for e in log if e.get("kind", "api") == "api"][self.seen :]
        self.seen += len(new)
        kinds = Counter()
        for e in new:
            if e.get("client_id") not in (None, APP_CLIENT):
                continue
            if e.get("metered") == "CorePlus":
                kinds[endpoint(e)] += 1
            elif e.get("metered_items") and e["metered_items"].get("CorePlus"):
                kinds["batch items"] += e["metered_items"]["CorePlus"]
        part = {"reads": now - self.mark, "by": dict(kinds.most_common()), "records": records, "per": per}
        self.mark = now
        print(f"   reads {part['reads']} {part['by']}", flush=True)
        return part


def endpoint(entry: dict) -> str:
    path = entry.get("path", "").split("?")[0].rstrip("/")
    last = path.rsplit("/", 1)[-1]
    return f"{entry.get('method')} {'<id>' if last.isdigit() else last}"


class WebhookListener:
    """Catches the sandbox's signed deliveries; the bench hands each to the webhook view as it came."""

    def __init__(self):
        self.deliveries: list[tuple[bytes, str]] = []
        self.lock = threading.Lock()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with listener.lock:
                    listener.deliveries.append((body, self.headers.get("intuit-signature", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, settle: float = 0.6) -> list[tuple[bytes, str]]:
        """The deliveries that arrived, once none has arrived for ``settle`` seconds (the sandbox groups
        events for 50 ms and delivers from its own thread)."""
        count, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < settle:
            with self.lock:
                if len(self.deliveries) != count:
                    count, quiet_since = len(self.deliveries), time.monotonic()
            time.sleep(0.05)
        with self.lock:
            taken, self.deliveries = self.deliveries, []
        return taken

    def stop(self) -> None:
        self.server.shutdown()


class Simulation:
    """qbsync's tasks and beat in this process, on a simulated clock shared with the sandbox."""

    def __init__(self, control, beat_stride: float, sandbox_scale: float):
        from celery.schedules import crontab
        from django.conf import settings

        from qbsync.celery import app

        app.loader.import_default_modules()
        self.app, self.control = app, control
        self.sandbox_scale = sandbox_scale  # the sandbox's advance is in its virtual (time-scaled) seconds
        self.offset = 0.0
        self.queue: list = []
        self.order = itertools.count()
        self.ran = Counter()
        self.beat = []
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            schedule = entry["schedule"]
            if isinstance(schedule, crontab):
                self.beat.append((name, entry["task"], schedule))
            else:
                self.beat.append((name, entry["task"], max(float(schedule), beat_stride)))
        self.client = None

    def __enter__(self):
        from celery.app.base import Celery
        from celery.app.task import Task
        from django.test import Client

        sim = self

        def send_task(app, name, args=None, kwargs=None, countdown=None, **_):
            sim.send(name, args, kwargs, countdown)

        def apply_async(task, args=None, kwargs=None, countdown=None, **_):
            sim.send(task.name, args, kwargs, countdown)

        self.patches = [
            mock.patch("django.utils.timezone.now", self.now),
            mock.patch.object(Celery, "send_task", send_task),
            mock.patch.object(Task, "apply_async", apply_async),
        ]
        for patch in self.patches:
            patch.start()
        self.client = Client()
        start = self.now()
        for _name, task, schedule in self.beat:
            self.send(task, (), {}, self._next_beat(schedule, start) - self.offset_now(), beat=schedule)
        return self

    def __exit__(self, *exc):
        for patch in reversed(self.patches):
            patch.stop()

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def offset_now(self) -> float:
        return time.time() + self.offset

    def send(self, name, args, kwargs, countdown, beat=None) -> None:
        due = self.offset_now() + max(0.0, float(countdown or 0))
        heapq.heappush(self.queue, (due, next(self.order), name, tuple(args or ()), kwargs or {}, beat))

    def _next_beat(self, schedule, after: datetime) -> float:
        if isinstance(schedule, float):
            return after.timestamp() + schedule
        at = after.replace(second=0, microsecond=0)
        while True:
            at += timedelta(minutes=1)
            if at.hour in schedule.hour and at.minute in schedule.minute:
                return at.timestamp()

    def advance_to(self, when: float) -> None:
        step = when - self.offset_now()
        if step > 0:
            self.offset += step
            self.control.advance_clock(step * self.sandbox_scale)

    def run_until(self, until: float, stop_when_only_beat: bool = False) -> None:
        while self.queue and self.queue[0][0] <= until:
            if stop_when_only_beat and all(item[5] is not None for item in self.queue):
                return
            due, _, name, args, kwargs, beat = heapq.heappop(self.queue)
            self.advance_to(due)
            self.run(name, args, kwargs)
            if beat is not None:
                self.send(name, (), {}, self._next_beat(beat, self.now()) - self.offset_now(), beat=beat)
        self.advance_to(until)

    def drain(self, limit_seconds: float = 3600.0) -> None:
        """Run what is queued (and beat meanwhile) until only beat is left, within ``limit_seconds``."""
        self.run_until(self.offset_now() + limit_seconds, stop_when_only_beat=True)
        left = [item[2] for item in self.queue if item[5] is None]
        if left:
            raise RuntimeError(f"work still queued after {limit_seconds} s: {Counter(left)}")

    def run(self, name, args, kwargs) -> None:
        self.ran[name] += 1
        result = self.app.tasks[name].apply(args=args, kwargs=kwargs)
        if result.failed():
            raise RuntimeError(f"task {name}{args} failed: {result.result!r}") from result.result

    def deliver(self, deliveries) -> int:
        """Hand each caught webhook delivery to the webhook view, as Intuit's POST would arrive."""
        from django.urls import reverse

        for body, signature in deliveries:
            response = self.client.post(
                reverse("changes:qbo_webhook"),
                data=body,
                content_type="application/json",
                HTTP_INTUIT_SIGNATURE=signature,
            )
            assert response.status_code == 200, response.content
        return len(deliveries)


def settle_with_echoes(sim, listener) -> int:
    """Run the queued work; deliver the webhooks it caused; repeat until QBO has nothing more to say."""
    delivered = 0
    while True:
        sim.drain()
        deliveries = listener.take()
        if not deliveries:
            return delivered
        delivered += sim.deliver(deliveries)


def steady_state(sim, listener, firm, reads) -> dict:
    from accounts.models import Account
    from invoices.models import Invoice
    from invoices.services import (
        AllocationData,
        InvoiceData,
        InvoiceLineData,
        PaymentData,
        invoice_create,
        invoice_update,
        invoice_void,
        payment_create,
    )

    print("2. steady state: 100 new invoices, 50 payments, 20 edits, 5 voids", flush=True)
    accounts = list(Account.objects.filter(firm=firm).order_by("pk")[:100])
    today = sim.now().date()
    made = []
    for n, account in enumerate(accounts):
        made.append(
            invoice_create(
                firm=firm,
                status="sent",
                data=InvoiceData(
                    account=account,
                    number=f"S{n:04d}",
                    issue_date=today,
                    due_date=today + timedelta(days=30),
                    lines=[InvoiceLineData(description="Monthly bookkeeping", rate=D("240.00"))],
                ),
            )
        )
    for n, invoice in enumerate(made[:50]):
        payment_create(
            firm=firm,
            data=PaymentData(
                account=invoice.account,
                date=today,
                amount=D("240.00"),
                reference=f"S-PAY-{n}",
                allocations=[AllocationData(invoice=invoice, amount=D("240.00"))],
            ),
        )
    older = list(
        Invoice.objects.filter(firm=firm, number__startswith="B").order_by("pk").prefetch_related("lines")
    )
    unpaid = [inv for inv in older if not inv.allocations.exists()]
    for invoice in unpaid[:20]:
        invoice_update(
            invoice=invoice,
            data=InvoiceData(
                account=invoice.account,
                number=invoice.number,
                issue_date=invoice.issue_date,
                due_date=invoice.due_date + timedelta(days=14),
                lines=[
                    InvoiceLineData(description=x.description, rate=x.rate, quantity=x.quantity)
                    for x in invoice.lines.all()
                ],
            ),
        )
    for invoice in unpaid[20:25]:
        invoice_void(invoice=Invoice.objects.get(pk=invoice.pk))
    sim.drain()
    pushes = reads.take("per 175 records pushed", 175)
    delivered = settle_with_echoes(sim, listener)
    print(f"   echoes: {delivered} webhook deliveries", flush=True)
    echoes = reads.take(f"for the echoes ({delivered} deliveries)", 175)
    check_settled(firm)
    return {"pushes": pushes, "echoes": echoes}


def link_new_accounts(sim, listener, firm, reads, count: int) -> dict:
    """New client accounts, each linked by itself as the firm adds them (auto-sync of every account)."""
    from accounts.services import AccountData, account_create

    print(f"3. linking {count} new accounts one at a time", flush=True)
    for n in range(count):
        account_create(firm=firm, data=AccountData(name=f"Bench New Client {n:02d}"))
        sim.drain()
    part = reads.take("per account", count)
    settle_with_echoes(sim, listener)
    part["echoes"] = reads.take("echoes", count)
    check_settled(firm)
    return part


def qbo_changes(sim, listener, control, realm, firm, reads, bursts: int = 10, per_burst: int = 10) -> dict:
    """Someone in QuickBooks edits invoices and customers, and adds customers: ``bursts`` bursts of
    ``per_burst`` changes ten minutes apart, each announced by the sandbox's webhooks."""
    import requests

    from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink

    print(f"4. {bursts * per_burst} changes made in QuickBooks, in {bursts} bursts", flush=True)
    api = f"{control.base_url}/v3/company/{realm}"
    invoice_ids = list(
        InvoiceSyncLink.objects.filter(firm=firm, state="synced")
        .order_by("pk")
        .values_list("qbo_invoice_id", flat=True)
    )
    customer_ids = list(
        AccountSyncLink.objects.filter(firm=firm, state="synced")
        .order_by("pk")
        .values_list("qbo_customer_id", flat=True)
    )

    def write(entity: str, body: dict) -> None:
        token = control.tokens(realm, client_id=QBO_USER_CLIENT)["access_token"]  # the sandbox's clock moves
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        response = requests.post(f"{api}/{entity.lower()}", json=body, headers=headers, timeout=10)
        response.raise_for_status()

    per_burst_reads = []
    for burst in range(bursts):
        current = {r["Id"]: r for r in control.entities(realm, "Invoice")}
        current |= {"c" + r["Id"]: r for r in control.entities(realm, "Customer")}
        for n in range(per_burst):
            k = burst * per_burst + n
            if n < 5:
                record = current[invoice_ids[k % len(invoice_ids)]]
                write("Invoice", sparse(record, PrivateNote=f"Called about this ({k})"))
            elif n < 8:
                record = current["c" + customer_ids[k % len(customer_ids)]]
                write("Customer", sparse(record, Notes=f"Prefers email ({k})"))
            else:
                write("Customer", {"DisplayName": f"Walk-in Client {k:03d}"})
        settle_with_echoes(sim, listener)
        per_burst_reads.append(reads.take(f"burst {burst + 1}", per_burst)["reads"])
        sim.run_until(sim.offset_now() + 600)
    part = {
        "reads": sum(per_burst_reads),
        "by": {"per burst": per_burst_reads},
        "records": bursts * per_burst,
    }
    part["per"] = f"per {bursts} bursts"
    check_settled(firm)
    return part


def sparse(record: dict, **fields) -> dict:
    return {"Id": record["Id"], "SyncToken": record["SyncToken"], "sparse": True, **fields}


def idle_month(sim, listener, reads, days: int, healthy: bool) -> dict:
    """``days`` days with nothing done by the firm nor in its QuickBooks company. With healthy webhooks a
    verified delivery for another company arrives every hour (the rest of the deployment's traffic)."""
    import json

    from qbsync.quickbooks.webhooks import signature_for

    label = "healthy webhooks" if healthy else "no webhooks configured"
    print(f"5. {days} idle days, {label}", flush=True)
    before = Counter(sim.ran)
    end = sim.offset_now() + days * 86400
    hour = 0
    while sim.offset_now() < end:
        sim.run_until(min(end, sim.offset_now() + 3600))
        hour += 1
        if healthy:
            stamp = sim.now().isoformat()
            body = json.dumps(
                {
                    "eventNotifications": [
                        {
                            "realmId": "9999000000000001",
                            "dataChangeEvent": {
                                "entities": [
                                    {
                                        "name": "Invoice",
                                        "id": str(hour),
                                        "operation": "Update",
                                        "lastUpdated": stamp,
                                    }
                                ]
                            },
                        }
                    ]
                }
            ).encode()
            sim.deliver([(body, signature_for(body, VERIFIER))])
        listener.take(settle=0)
    ran = {name: n - before.get(name, 0) for name, n in sim.ran.items() if n - before.get(name, 0)}
    part = reads.take(f"per {days} days", days)
    part["tasks"] = ran
    print(f"   tasks run: {ran}", flush=True)
    return part


def check_settled(firm) -> None:
    from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink

    left = Counter()
    for model in (AccountSyncLink, InvoiceSyncLink, PaymentSyncLink):
        for state in (
            model.objects.filter(firm=firm)
            .exclude(state__in=("synced", "not_synced", "skipped"))
            .values_list("state", flat=True)
        ):
            left[f"{model.__name__} {state}"] += 1
    if left:
        raise RuntimeError(f"not settled: {dict(left)}")


def our_count(firm) -> int:
    from qbsync.sync.models import QboCallMonth

    return sum(QboCallMonth.objects.filter(firm=firm).values_list("reads", flat=True))


def summary(results: dict, ours: int, metered: int, a) -> None:
    print("\nReads (CorePlus) the sandbox metered for qbsync:")
    for name, part in results.items():
        rows = [(f"{name}, {sub}", p) for sub, p in part.items()] if "pushes" in part else [(name, part)]
        for label, p in rows:
            ratio = p["reads"] / max(p["records"], 1)
            print(f"  {label:<40} {p['reads']:>7}  {p['per']}: {ratio:.3f}  {p['by']}")
    print(f"  total {metered}; qbsync's own count (QboCallMonth) {ours}\n")
    healthy = results["idle month, webhooks healthy"]["reads"] * 30 / a.days
    steady = results["steady state"]["pushes"]["reads"] + results["steady state"]["echoes"]["reads"]
    linking = results["linking one at a time"]["reads"] + results["linking one at a time"]["echoes"]["reads"]
    changes = results["QBO changes by webhook"]["reads"]
    typical = healthy + steady + linking + changes
    print(
        "A typical firm's month (the steady-state work, 10 accounts linked, 100 changes in QuickBooks in 10 "
        f"bursts, on top of an idle month with healthy webhooks): {typical:.0f} reads "
        f"(idle {healthy:.0f} + work {steady} + linking {linking} + changes {changes})."
    )
    print(f"Firms the free tier ({FREE_TIER:,} reads a month) serves: {FREE_TIER / max(typical, 1):,.0f}")
    first = results["first sync"]["reads"] + results["first sync's echoes"]["reads"]
    print(
        f"A first sync of this size costs {first} reads once (its echoes included): onboarding 100 such "
        f"firms a month takes {100 * first:,} of the month's reads."
    )
    if "idle month, no webhooks" in results:
        unhealthy = results["idle month, no webhooks"]["reads"] * 30 / a.days
        firms = FREE_TIER / unhealthy
        print(f"Without webhooks an idle firm costs {unhealthy:.0f} reads a month: {firms:,.0f} firms.")


if __name__ == "__main__":
    main()
