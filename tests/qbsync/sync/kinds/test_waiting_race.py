"""A record deciding to wait for its account (or a payment for its invoice) while that account or invoice is
committing Synced never waits for nothing: the account's link row is locked by both sides, so the record
either sees the Synced state or commits its wait before the release looks. On PostgreSQL, with the other
side held open mid-commit in a second connection (SQLite serialises every writer anyway)."""

import threading

import pytest
from django.db import connection, transaction

from invoices.models import Invoice, Payment
from invoices.services import invoice_send, payment_delete
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import InvoiceSyncLink, PaymentSyncLink, SyncOutbox
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db(transaction=True)

LOCK_WAIT_SECONDS = 30  # a generous bound on a condition, not a timing assumption


class HeldOpen(threading.Thread):
    """Runs ``work`` in a transaction of its own and keeps it open (uncommitted) until ``commit``."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work = work
        self.done_work = threading.Event()
        self.may_commit = threading.Event()
        self.error: Exception | None = None

    def run(self):
        try:
            with transaction.atomic():
                self.work()
                self.done_work.set()
                self.may_commit.wait(LOCK_WAIT_SECONDS)
        except Exception as exc:  # noqa: BLE001 (reported by the test)
            self.error = exc
            self.done_work.set()
        finally:
            connection.close()

    def commit(self):
        self.may_commit.set()
        self.join(LOCK_WAIT_SECONDS)
        assert self.error is None, self.error


class Racing(threading.Thread):
    def __init__(self, work):
        super().__init__(daemon=True)
        self.work = work
        self.error: Exception | None = None

    def run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.work()
        except Exception as exc:  # noqa: BLE001 (reported by the test)
            self.error = exc
        finally:
            connection.close()


def blocked_on_a_lock_or_done(thread: Racing) -> str:
    """Wait until ``thread`` is either finished or waiting for a row lock; say which."""
    deadline = threading.Event()
    timer = threading.Timer(LOCK_WAIT_SECONDS, deadline.set)
    timer.start()
    try:
        while not deadline.is_set():
            if not thread.is_alive():
                return "done"
            pid = getattr(thread, "pid", None)
            if pid is not None:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
                    if cursor.fetchone()[0]:
                        return "waiting"
            thread.join(0.05)
        raise AssertionError("the racing side neither finished nor waited for a lock")
    finally:
        timer.cancel()


def test_an_invoice_issued_while_its_account_commits_synced_goes_at_once(require_postgres, connected, firm):
    account = AccountFactory(firm=firm, name="Racing Account Ltd")
    account_link = account_sync_request(account=account)
    invoice = make_invoice(account=account, amounts=("150.00",), status=Invoice.Status.DRAFT)

    linking = HeldOpen(lambda: account_push(link_id=account_link.pk))
    linking.start()
    assert linking.done_work.wait(LOCK_WAIT_SECONDS)
    assert linking.error is None
    issuing = Racing(lambda: invoice_send(invoice=Invoice.objects.get(pk=invoice.pk)))
    issuing.start()

    assert blocked_on_a_lock_or_done(issuing) == "waiting", "the invoice decided before the account committed"
    linking.commit()
    issuing.join(LOCK_WAIT_SECONDS)
    assert issuing.error is None, issuing.error

    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert (link.state, link.waiting_reason) == (SyncState.QUEUED, "")


def test_a_payment_recorded_while_its_invoice_commits_synced_goes_at_once(require_postgres, connected, firm):
    account = AccountFactory(firm=firm, name="Racing Payer Ltd")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    invoice = make_invoice(account=account, amounts=("80.00",))
    invoice_link = InvoiceSyncLink.objects.get(invoice=invoice)

    pushing = HeldOpen(lambda: invoice_push(link_id=invoice_link.pk))
    pushing.start()
    assert pushing.done_work.wait(LOCK_WAIT_SECONDS)
    assert pushing.error is None
    paying = Racing(lambda: make_payment(account=account, amount="80.00", allocations={invoice: "80.00"}))
    paying.start()

    assert blocked_on_a_lock_or_done(paying) == "waiting", "the payment decided before the invoice committed"
    pushing.commit()
    paying.join(LOCK_WAIT_SECONDS)
    assert paying.error is None, paying.error

    assert InvoiceSyncLink.objects.get(pk=invoice_link.pk).state == SyncState.SYNCED
    link = PaymentSyncLink.objects.get(payment__account=account)
    assert (link.state, link.waiting_reason) == (SyncState.QUEUED, "")


def test_a_payment_deleted_while_its_push_commits_waits_and_deletes_it_in_qbo(
    require_postgres, connected, firm
):
    """The web side deleting waits for the worker's commit (which checks its history rows' keys to the
    payment), rather than deadlocking with it."""
    account = AccountFactory(firm=firm, name="Racing Deleter Ltd")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    invoice = make_invoice(account=account, amounts=("60.00",))
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=invoice).pk) == "synced"
    payment = make_payment(account=account, amount="60.00", allocations={invoice: "60.00"})
    payment_link = PaymentSyncLink.objects.get(payment=payment)

    pushing = HeldOpen(lambda: payment_push(link_id=payment_link.pk))
    pushing.start()
    assert pushing.done_work.wait(LOCK_WAIT_SECONDS)
    assert pushing.error is None
    deleting = Racing(lambda: payment_delete(payment=Payment.objects.get(pk=payment.pk)))
    deleting.start()

    assert blocked_on_a_lock_or_done(deleting) == "waiting"
    pushing.commit()
    deleting.join(LOCK_WAIT_SECONDS)
    assert deleting.error is None, deleting.error

    assert not Payment.objects.filter(pk=payment.pk).exists()
    [row] = SyncOutbox.objects.filter(firm=firm, entity="Payment")
    assert row.qbo_id, "the delete knew the Id the push had just committed"
