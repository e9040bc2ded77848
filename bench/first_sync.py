"""A firm's first full sync (accounts, invoices, payments) at QBO's real limits, time-scaled, against a naive
loop that makes one call per record.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/qbsync_bench \\
        .venv/bin/python bench/first_sync.py [--accounts 2000] [--invoices 10000] [--payments 8000] \\
        [--time-scale 5] [--latency-ms 100] [--naive-threads 10] [--skip-naive]

The sandbox runs in its own process with its default limits (500 requests, 40 batch requests a minute and
10 in flight per company), windows shrunk by --time-scale and --latency-ms added to every request. The
governor's minute is scaled the same way. qbsync's side runs in this process: the bulk account sync on one
thread and the firm's batch pusher on another, as the worker pool would run them.

Reported: QBO requests, requests per synced record, wall time, records written per QBO minute as a share
of the batch ceiling (40 batch requests x 30 = 1,200 a minute), 429s, and whether every record is in QBO
exactly once with the right amounts. The naive loop then sends the same records to a fresh company, one
python-quickbooks call per record on --naive-threads threads (QBO's in-flight limit), under the same
governor. Uses DATABASE_URL (PostgreSQL recommended; created fresh) or var/bench-first-sync.sqlite3.
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "qbsync.settings.test"
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench-first-sync.sqlite3'}")
os.environ.pop("REDIS_URL", None)  # one process: the in-process governor is exact
D = Decimal
BATCH_CEILING_PER_MINUTE = 40 * 30


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--accounts", type=int, default=2000)
    p.add_argument("--invoices", type=int, default=10_000)
    p.add_argument("--payments", type=int, default=8_000)
    p.add_argument("--time-scale", type=float, default=5.0)
    p.add_argument("--latency-ms", type=int, default=100)
    p.add_argument("--naive-threads", type=int, default=10)
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument(
        "--taxed",
        action="store_true",
        help="a UK firm and company: VAT 20%% on each invoice's first line, mapped to the company's code",
    )
    p.add_argument(
        "--naive-accounts",
        type=int,
        default=400,
        help="the naive loop sends the records of this many accounts (it is bound by 500 requests a minute, "
        "so its time grows linearly; the report projects it to every record)",
    )
    a = p.parse_args()
    if a.taxed:
        a.skip_naive = True  # the naive loop sends untaxed bodies, which a UK company refuses (6000)
    fresh_database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.QBO_RATE_WINDOW_SECONDS = 60.0 / a.time_scale
    settings.QBO_TOKEN_REFRESH_MARGIN = int(300 / a.time_scale)
    settings.QBSYNC_RETRY_BACKOFF_SECONDS = 0.05
    settings.QBSYNC_BATCH_LINGER_SECONDS = 2.0 / a.time_scale
    settings.QBO_CLIENT_ID, settings.QBO_CLIENT_SECRET = "qbsync-tests", "any"

    proc, control, base = start_sandbox(a)
    try:
        settings.QBO_API_BASE_URL = f"{base}/v3"
        settings.QBO_OAUTH_DISCOVERY_URL = f"{base}/.well-known/openid_configuration"
        print(
            f"{a.accounts} accounts, {a.invoices} invoices, {a.payments} payments; sandbox at QBO's limits "
            f"x{a.time_scale:g} time-scaled, {a.latency_ms} ms per request; one batch pusher\n",
            flush=True,
        )
        started = time.monotonic()
        firm = seed(a)
        print(f"seeded in {time.monotonic() - started:.0f} s\n", flush=True)
        realm = control.create_company(
            "Bench first sync", customer_types=["Individual"], **({"preset": "uk"} if a.taxed else {})
        )
        control.insert(
            realm,
            "Customer",
            [{"DisplayName": f"Bench Client {i:05d}", "Active": True} for i in range(0, a.accounts, 10)],
        )
        elapsed = run_qbsync(firm, realm, control, a)
        records = a.accounts + a.invoices + a.payments
        report("qbsync (bulk + batches)", control, realm, elapsed, records, a.time_scale)
        check_exact(control, realm, firm)
        if not a.skip_naive:
            naive_realm = control.create_company("Bench naive", customer_types=["Individual"])
            control.insert(
                naive_realm,
                "Customer",
                [{"DisplayName": f"Bench Client {i:05d}", "Active": True} for i in range(0, a.accounts, 10)],
            )
            elapsed, sent = run_naive(firm, naive_realm, control, a)
            report("naive loop (one call per record)", control, naive_realm, elapsed, sent, a.time_scale)
            print(
                f"  projected to all {records} records: {elapsed * records / sent:.0f} s here = "
                f"{elapsed * records / sent * a.time_scale / 60:.1f} QBO minutes\n"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fresh_database() -> None:
    url = os.environ["DATABASE_URL"]
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    args = ["-h", parts.hostname or "127.0.0.1", "-U", parts.username or "postgres"]
    subprocess.run(["dropdb", *args, "--if-exists", name], check=True)
    subprocess.run(["createdb", *args, name], check=True)


def start_sandbox(a):
    from qbsync.sandbox.testing import SandboxControl

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "qbsync.sandbox", "--host", "127.0.0.1", "--port", "0"]
    command += ["--time-scale", str(a.time_scale), "--latency-ms", str(a.latency_ms), "--log-size", "400000"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    url = urlsplit(proc.stdout.readline().strip().rsplit(" ", 1)[1])
    base = f"http://{url.hostname}:{url.port}"
    control = SandboxControl(base)
    control.register_client("qbsync-tests", "any", [])
    return proc, control, base


def seed(a):
    """The firm's history, made through the real services before the firm connects QBO."""
    from django.db import transaction

    from accounts.models import Account
    from invoices.services import (
        AllocationData,
        InvoiceData,
        InvoiceLineData,
        PaymentData,
        invoice_create,
        payment_create,
    )
    from qbsync.firms.models import Firm, User

    firm = Firm.objects.create(name="Bench Firm", slug="bench-first-sync")
    User.objects.create(username="bench-owner", firm=firm, role="owner")
    vat = None
    if a.taxed:
        from invoices.services import TaxComponentData, TaxRateData, firm_invoicing_update, tax_rate_create
        from qbsync.firms.services import FirmSettingsData

        firm = firm_invoicing_update(firm=firm, data=FirmSettingsData(region="UK", currency="GBP"))
        vat = tax_rate_create(
            firm=firm,
            data=TaxRateData(name="VAT 20%", components=[TaxComponentData(name="VAT", percentage=D("20"))]),
        )
    per_invoice = a.invoices // a.accounts
    per_payment = a.payments // a.accounts
    start = date(2026, 1, 5)
    for n in range(a.accounts):
        with transaction.atomic():
            account = Account.objects.create(firm=firm, name=f"Bench Client {n:05d}")
            invoices = []
            for i in range(per_invoice + (1 if n < a.invoices % a.accounts else 0)):
                issued = start + timedelta(days=i * 7)
                invoices.append(
                    invoice_create(
                        firm=firm,
                        status="sent",
                        data=InvoiceData(
                            account=account,
                            number=f"B{n:05d}-{i}",
                            issue_date=issued,
                            due_date=issued + timedelta(days=30),
                            lines=[
                                InvoiceLineData(
                                    description="Bookkeeping", rate=D(f"{150 + n % 50}.25"), tax_rate=vat
                                ),
                                InvoiceLineData(description="Payroll", rate=D("12.50"), quantity=D("3")),
                            ],
                        ),
                    )
                )
            for i in range(per_payment + (1 if n < a.payments % a.accounts else 0)):
                invoice = invoices[i % len(invoices)]
                share = min(invoice.balance, D("100.00"))
                payment_create(
                    firm=firm,
                    data=PaymentData(
                        account=account,
                        date=invoice.issue_date + timedelta(days=3),
                        amount=share + D("5.00"),  # a little stays unapplied
                        reference=f"CHK-{n}-{i}",
                        allocations=[AllocationData(invoice=invoice, amount=share)],
                    ),
                )
                invoice.refresh_from_db()
    return firm


def run_qbsync(firm, realm, control, a) -> float:
    from qbsync.quickbooks.governor import reset_governor
    from qbsync.sync.work.batches import batch_work_left, transactions_batch_push
    from qbsync.sync.work.bulk import bulk_sync_preview, bulk_sync_preview_start, bulk_sync_run
    from qbsync.sync.work.bulk import bulk_sync_start as start_plan

    owner, _connection = connect(firm, realm, control, a.taxed)
    reset_governor()
    control.call("DELETE", "/_sandbox/requests")
    started = time.monotonic()
    accounts_done = threading.Event()
    errors = []

    def pusher() -> None:
        from django.db import connection as db

        try:
            while True:
                counts = transactions_batch_push(firm_id=firm.pk)
                if counts.get("paused"):
                    time.sleep(0.02)
                elif not batch_work_left(firm_id=firm.pk):
                    if accounts_done.is_set() and not batch_work_left(firm_id=firm.pk):
                        return
                    time.sleep(0.05)
        except Exception as exc:  # a bench thread reports, it does not hide
            errors.append(exc)
            raise
        finally:
            db.close()

    threads = [threading.Thread(target=pusher, name="pusher")]
    for thread in threads:
        thread.start()
    plan = bulk_sync_preview_start(firm=firm, actor=owner)
    plan = bulk_sync_preview(plan_id=plan.pk)
    start_plan(plan=plan, actor=owner)
    while True:  # each call is one slice, as each task is
        slice_counts = bulk_sync_run(plan_id=plan.pk)
        if slice_counts.get("paused"):
            time.sleep(0.02)
        elif not slice_counts.get("sliced"):
            break
    accounts_done.set()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.monotonic() - started


def connect(firm, realm, control, taxed: bool):
    """The bench firm connected to ``realm`` with its first defaults and every account due (VAT mapped
    when ``taxed``); returns its owner and the connection."""
    from qbsync.firms.models import User
    from qbsync.sync.models import QuickBooksConnection
    from qbsync.sync.services.connections import connection_apply_first_defaults
    from tests.factories import connection_for_realm

    class Sandbox:  # what connection_for_realm needs of a running sandbox
        pass

    sandbox = Sandbox()
    sandbox.control = control
    owner = User.objects.get(username="bench-owner")
    connection = connection_for_realm(firm=firm, user=owner, sandbox=sandbox, realm_id=realm)
    connection_apply_first_defaults(connection=connection)
    if taxed:
        map_vat(firm, owner, connection)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(auto_sync_scope="all")
    return owner, connection


def map_vat(firm, owner, connection) -> None:
    """As connecting and the QuickBooks page's Tax codes do: the company's settings kept, VAT mapped."""
    from invoices.models import TaxRate
    from qbsync.sync.services.connections import connection_check
    from tests.factories import map_tax_codes

    connection_check(connection_id=connection.pk)
    connection.refresh_from_db()
    vat = TaxRate.objects.get(firm=firm, name="VAT 20%")
    map_tax_codes(connection, owner, {vat: "20.0% S"}, untaxed="No VAT")


def run_naive(firm, realm, control, a) -> tuple[float, int]:
    """One call per record: each customer, then each invoice, then each payment, on a few threads."""
    from concurrent.futures import ThreadPoolExecutor

    from invoices.models import Invoice, Payment
    from qbsync.quickbooks.client import QboClient
    from qbsync.quickbooks.errors import QboRateLimitError
    from qbsync.quickbooks.governor import RealmThrottled, governor_from_settings, reset_governor

    reset_governor()
    token = control.tokens(realm)["access_token"]

    class Token:
        def access_token(self):
            return token

        def refresh_after_rejection(self, rejected):
            return token

    local = threading.local()

    def client():
        if not hasattr(local, "client"):
            from django.conf import settings

            local.client = QboClient(
                realm_id=realm,
                base_url=settings.QBO_API_BASE_URL,
                token_source=Token(),
                governor=governor_from_settings(),
            )
        return local.client

    def call(entity, body):
        while True:
            try:
                return client().create(entity, body, request_id=os.urandom(8).hex())
            except (RealmThrottled, QboRateLimitError) as exc:
                time.sleep(min(exc.retry_after or 0.1, 1.0))

    customer_of = {}
    started = time.monotonic()
    accounts = list(firm.accounts.order_by("pk").values_list("pk", "name")[: a.naive_accounts])
    chosen = [pk for pk, _ in accounts]
    with ThreadPoolExecutor(a.naive_threads) as pool:
        for (pk, _), made in zip(
            accounts,
            pool.map(lambda acc: call("Customer", {"DisplayName": acc[1] + " (naive)"}), accounts),
            strict=True,
        ):
            customer_of[pk] = made["Id"]
        invoices = list(Invoice.objects.filter(account__in=chosen).prefetch_related("lines"))
        item = "1"
        invoice_of = {}

        def invoice_body(inv):
            return {
                "CustomerRef": {"value": customer_of[inv.account_id]},
                "TxnDate": inv.issue_date.isoformat(),
                "Line": [
                    {
                        "DetailType": "SalesItemLineDetail",
                        "Amount": line.amount,
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": item},
                            "Qty": line.quantity,
                            "UnitPrice": line.rate,
                        },
                    }
                    for line in inv.lines.all()
                ],
            }

        for inv, made in zip(
            invoices, pool.map(lambda inv: call("Invoice", invoice_body(inv)), invoices), strict=True
        ):
            invoice_of[inv.pk] = made["Id"]
        payments = list(Payment.objects.filter(account__in=chosen).prefetch_related("allocations"))

        def payment_body(pay):
            return {
                "CustomerRef": {"value": customer_of[pay.account_id]},
                "TotalAmt": pay.amount,
                "Line": [
                    {
                        "Amount": al.amount,
                        "LinkedTxn": [{"TxnId": invoice_of[al.invoice_id], "TxnType": "Invoice"}],
                    }
                    for al in pay.allocations.all()
                ],
            }

        list(pool.map(lambda pay: call("Payment", payment_body(pay)), payments))
    return time.monotonic() - started, len(accounts) + len(invoices) + len(payments)


def report(label, control, realm, elapsed, records, scale) -> None:
    log = [r for r in control.requests(realm, limit=400_000) if r.get("kind", "api") == "api"]
    throttled = sum(1 for r in log if r.get("status") == 429)
    batches = [r for r in log if r.get("operation") == "batch"]
    written = sum(len(control.entities(realm, e)) for e in ("Invoice", "Payment")) + sum(
        1 for r in log if r.get("operation") == "create" and "customer" in r.get("path", "")
    )
    qbo_minutes = elapsed * scale / 60.0
    print(f"{label}:")
    from collections import Counter

    others = Counter(
        f"{r.get('method')} {r.get('path', '').rsplit('/', 1)[-1]}"
        for r in log
        if r.get("operation") != "batch"
    )
    print(f"  QBO requests         {len(log)} ({len(batches)} batch); 429s {throttled}")
    print(f"  other requests       {dict(others.most_common(6))}")
    print(f"  requests per record  {len(log) / records:.4f} over {records} records")
    print(f"  wall time            {elapsed:.1f} s here = {qbo_minutes:.1f} QBO minutes at x{scale:g}")
    per_minute = records / qbo_minutes
    print(
        f"  records per minute   {per_minute:.0f} (QBO time) = {per_minute / BATCH_CEILING_PER_MINUTE:.1%} "
        f"of the batch ceiling ({BATCH_CEILING_PER_MINUTE}/min); batch requests per minute "
        f"{len(batches) / qbo_minutes:.1f} of 40"
    )
    print(f"  (records written seen in QBO: {written})\n", flush=True)


def check_exact(control, realm, firm) -> None:
    from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink

    invoices = {i["Id"]: i for i in control.entities(realm, "Invoice")}
    payments = {p["Id"]: p for p in control.entities(realm, "Payment")}
    invoice_links = list(InvoiceSyncLink.objects.filter(firm=firm).select_related("invoice"))
    payment_links = list(PaymentSyncLink.objects.filter(firm=firm).select_related("payment"))
    states = {link.state for link in invoice_links + payment_links} | set(
        AccountSyncLink.objects.filter(firm=firm).values_list("state", flat=True)
    )
    unsettled = [
        (type(link).__name__, link.state, link.waiting_reason, link.error_explanation[:80])
        for link in invoice_links + payment_links
        if link.state != "synced"
    ]
    if unsettled:
        print(f"  NOT SYNCED: {len(unsettled)}, e.g. {unsettled[:5]}")
        invoice_links = [link for link in invoice_links if link.state == "synced"]
        payment_links = [link for link in payment_links if link.state == "synced"]
    wrong = sum(
        D(str(invoices[link.qbo_invoice_id]["TotalAmt"])) != link.invoice.total
        or D(str(invoices[link.qbo_invoice_id]["Balance"])) != link.invoice.balance
        for link in invoice_links
    ) + sum(
        D(str(payments[link.qbo_payment_id]["UnappliedAmt"])) != link.payment.unapplied
        for link in payment_links
    )
    from collections import Counter

    from qbsync.sync.models import SyncEvent

    sizes = Counter(
        e["batch_size"]
        for e in SyncEvent.objects.filter(firm=firm, kind="create_sent").values_list("sent", flat=True)
        if "batch_size" in e
    )
    batches = {size: n // size for size, n in sizes.items()}
    print(f"  invoice/payment batches by size: {dict(sorted(batches.items()))}")
    print(
        f"  exactly once: {len(invoice_links)} invoice links / {len(invoices)} QBO invoices, "
        f"{len(payment_links)} payment links / {len(payments)} QBO payments; states {sorted(states)}; "
        f"amounts wrong: {wrong}\n",
        flush=True,
    )


if __name__ == "__main__":
    main()
