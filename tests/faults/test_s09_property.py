"""S9, the property test: Hypothesis interleaves what people do (sync, unsync and re-link accounts to
another customer, issue, edit, void, skip and delete invoices, record, edit and delete payments, delete a
record while its create's outcome is unknown) with QBO faults armed in the sandbox (429, 5xx, lost
replies, hangs), workers dying mid-push, and bursts of changes made in QBO (an import of customers) that
the CDC poll records and the inbox drains a few at a time, for two firms on two companies. Work runs in
this process, one task at a time, as a worker would run it; a crash is a push abandoned right before or
right after its write reached QBO (the link stays Syncing, as after a SIGKILL), and beat's sweep takes it
back once its lease has run out. After the last step everything settles (our own writes' echoes polled
and processed too) and the invariants must hold: nothing in QBO twice, every record that should be there
is there as it is here (under its account's customer), no copy left live in QBO of a record deleted here,
nothing stuck (inbox included), nothing crossed firms.

Budget: HYPOTHESIS_PROFILE=ci (default, 25 examples of up to 20 steps) or nightly (500 x 50).
"""

from __future__ import annotations

import os
from contextlib import contextmanager, suppress
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, rule, run_state_machine_as_test

from accounts.models import Account
from invoices.models import Invoice, Payment
from invoices.services import (
    AllocationData,
    InvoiceData,
    InvoiceLineData,
    PaymentData,
    invoice_delete,
    invoice_send,
    invoice_update,
    invoice_void,
    payment_delete,
    payment_update,
)
from qbsync.changes.models import QboChange
from qbsync.changes.services.inbox import changes_poll_connection, changes_process
from qbsync.quickbooks.client import _Transport
from qbsync.sync.engine.errors import SyncRequestError
from qbsync.sync.engine.leases import SYNCING_LEASE
from qbsync.sync.kinds.accounts import account_push, account_sync_request, account_sync_skip
from qbsync.sync.kinds.invoices import invoice_push, invoice_sync_again, invoice_sync_skip
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.kinds.transactions import ACCOUNT_UNSYNCED, MOVING_TO_NEW_CUSTOMER
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncOutbox
from qbsync.sync.states import SyncState
from qbsync.sync.work.batches import transactions_batch_push
from qbsync.sync.work.outbox import outbox_process
from qbsync.sync.work.relink import account_records_move
from qbsync.sync.work.sweep import sync_sweep
from tests.factories import AccountFactory, make_invoice, make_payment
from tests.faults.conftest import connect_tenant
from tests.faults.invariants import MARKER, RealmCopy, assert_invariants, money

pytestmark = [pytest.mark.faults, pytest.mark.django_db]
D = Decimal

settings.register_profile(
    "ci",
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    # CI runs the same programs every time; the nightly profile explores new ones.
    derandomize=True,
    # No shrinking in CI (a failure prints its whole program at once); HYPOTHESIS_PROFILE=shrink does it.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "nightly",
    settings.get_profile("ci"),
    max_examples=500,
    stateful_step_count=50,
    phases=list(Phase),
    derandomize=False,
    # Failing examples are kept out of the checkout (var/ is ignored); a found one becomes a test below.
    database=DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parents[2] / "var" / "hypothesis")),
)
settings.register_profile("shrink", settings.get_profile("nightly"), max_examples=25, stateful_step_count=20)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

LINKS = (AccountSyncLink, InvoiceSyncLink, PaymentSyncLink)
FAULTS = st.sampled_from(
    ["throttle", "http_500", "http_503", "drop", "drop_after_commit", "hang", "hang_apply"]
)
AMOUNTS = st.lists(st.sampled_from(["40.00", "99.99", "120.50", "0.01", "300.00"]), min_size=1, max_size=3)
# A firm may arm this many faults between two quiet moments, so a record meets fewer than MAX_ATTEMPTS of
# them in a row (past that, giving up as Failed is the intended outcome, not what this test is about).
FAULT_BUDGET = 5
# The inbox reacts to this many changes a run here (500 in production): a burst outgrows one run.
CHANGES_PER_RUN = 4


class SimulatedCrash(BaseException):
    """The worker process died here (not an Exception: no handler of the code under test sees it)."""


@contextmanager
def crash_at_next_write(*, after_send: bool):
    """The next write to QBO (a POST other than a query) dies: before it is sent, or once QBO answered."""
    original = _Transport.process_request

    def failpoint(self, request_type, url, *args, **kwargs):
        if request_type == "POST" and not url.split("?")[0].endswith("/query"):
            if not after_send:
                raise SimulatedCrash
            original(self, request_type, url, *args, **kwargs)
            raise SimulatedCrash
        return original(self, request_type, url, *args, **kwargs)

    with mock.patch.object(_Transport, "process_request", failpoint):
        yield


class SyncMachine(RuleBasedStateMachine):
    sandbox = None  # set by the test: the session's sandbox over HTTP

    accounts = Bundle("accounts")
    invoices = Bundle("invoices")
    payments = Bundle("payments")

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()  # each example's rows are rolled back in teardown
        self.tenants = [connect_tenant(self.sandbox), connect_tenant(self.sandbox)]
        self.firms = [t.firm for t in self.tenants]
        self.armed = [0, 0]
        # Records deleted here while their account's sync was off: QBO keeps them, as unsyncing promises.
        self.kept_in_qbo: set[tuple[str, int]] = set()
        self.names = 0
        self.imported = 0

    # People -------------------------------------------------------------------------------------------

    @rule(target=accounts, firm=st.sampled_from([0, 1]))
    def add_account(self, firm):
        self.names += 1
        return AccountFactory(firm=self.firms[firm], name=f"F{firm} Client {self.names}").pk

    @rule(account=accounts)
    def sync_account(self, account):
        with suppress(SyncRequestError, ValidationError):
            account_sync_request(account=Account.objects.get(pk=account), actor=self._owner(account))

    @rule(account=accounts)
    def relink_account(self, account):
        """Link the account to another customer, made in QBO for it: its records' copies follow it."""
        account = Account.objects.get(pk=account)
        tenant = self.tenants[self.firms.index(account.firm)]
        self.names += 1
        # Made in QBO by a person (not through the API, where a fault may be armed for our next call).
        [other] = self.sandbox.control.insert(
            tenant.realm, "Customer", [{"DisplayName": f"{account.name} moved {self.names}", "Active": True}]
        )
        with suppress(SyncRequestError, ValidationError):
            account_sync_request(
                account=account,
                actor=self._owner(account.pk),
                mode=AccountSyncLink.RequestMode.PICK,
                customer_id=other["Id"],
            )

    @rule(account=accounts)
    def unsync_account(self, account):
        with suppress(SyncRequestError):
            account_sync_skip(account=Account.objects.get(pk=account), actor=self._owner(account))

    @rule(target=invoices, account=accounts, amounts=AMOUNTS, issued=st.booleans())
    def create_invoice(self, account, amounts, issued):
        status = Invoice.Status.SENT if issued else Invoice.Status.DRAFT
        return make_invoice(account=Account.objects.get(pk=account), amounts=tuple(amounts), status=status).pk

    @rule(invoice=invoices)
    def issue_invoice(self, invoice):
        if (inv := self._invoice(invoice)) is None:
            return
        with suppress(ValidationError):
            invoice_send(invoice=inv)

    @rule(invoice=invoices, amounts=AMOUNTS)
    def edit_invoice(self, invoice, amounts):
        if (inv := self._invoice(invoice)) is None:
            return
        data = InvoiceData(
            account=inv.account,
            number=inv.number,
            issue_date=inv.issue_date,
            due_date=inv.due_date,
            lines=[InvoiceLineData(description=f"Work {i}", rate=D(a)) for i, a in enumerate(amounts, 1)],
        )
        with suppress(ValidationError):
            invoice_update(invoice=inv, data=data)

    @rule(invoice=invoices)
    def void_invoice(self, invoice):
        if (inv := self._invoice(invoice)) is None:
            return
        with suppress(ValidationError):
            invoice_void(invoice=inv)

    @rule(invoice=invoices, again=st.booleans())
    def skip_or_resync_invoice(self, invoice, again):
        if (inv := self._invoice(invoice)) is None:
            return
        try:
            if again:
                invoice_sync_again(invoice=inv, actor=self._owner(inv.account_id))
            else:
                invoice_sync_skip(invoice=inv, actor=self._owner(inv.account_id))
        except SyncRequestError:
            pass

    @rule(target=payments, invoice=invoices, share=st.sampled_from(["1", "0.5", "0"]), extra=st.booleans())
    def record_payment(self, invoice, share, extra):
        if (inv := self._invoice(invoice)) is None:
            return None
        applied = money(inv.balance * D(share)) if inv.is_payable else D("0")
        amount = applied + (D("25.00") if extra or not applied else 0)
        try:
            return make_payment(
                account=inv.account, amount=str(amount), allocations={inv: str(applied)} if applied else {}
            ).pk
        except ValidationError:
            return None

    @rule(payment=payments, extra=st.sampled_from(["0.00", "10.00"]))
    def edit_payment(self, payment, extra):
        pay = Payment.objects.filter(pk=payment).first()
        if pay is None:
            return
        allocations = [AllocationData(invoice=a.invoice, amount=a.amount) for a in pay.allocations.all()]
        data = PaymentData(
            account=pay.account,
            date=pay.date + timedelta(days=1),
            amount=pay.amount + D(extra),
            allocations=allocations,
        )
        with suppress(ValidationError):
            payment_update(payment=pay, data=data)

    @rule(payment=consumes(payments))
    def delete_payment(self, payment):
        pay = Payment.objects.filter(pk=payment).first()
        if pay is None:
            return
        kept = self._sync_off_for(pay, PaymentSyncLink.objects.filter(payment=pay).first())
        payment_delete(payment=pay)
        if kept:
            self.kept_in_qbo.add(("pay", payment))

    @rule(invoice=consumes(invoices))
    def delete_invoice(self, invoice):
        if (inv := self._invoice(invoice)) is None:
            return
        kept = self._sync_off_for(inv, InvoiceSyncLink.objects.filter(invoice=inv).first())
        try:
            invoice_delete(invoice=inv)
        except ValidationError:
            return  # it has payments
        if kept:
            self.kept_in_qbo.add(("inv", invoice))

    @rule(
        account=accounts,
        kind=st.sampled_from(["invoice", "payment"]),
        loss=st.sampled_from(["crash_after_send", "drop_after_commit"]),
    )
    def delete_while_its_create_is_unknown(self, account, kind, loss):
        """A new invoice (or a payment of one) of a synced account is pushed, QBO applies the create and
        its answer never comes back (the worker dies, or the reply is lost); then the record is deleted
        here, while it shows Syncing."""
        acc = Account.objects.get(pk=account)
        state = AccountSyncLink.objects.filter(account=acc).values_list("state", flat=True).first()
        if state in (None, SyncState.NOT_SYNCED, SyncState.FAILED):
            self.sync_account(account)
        if not self._synced_now(AccountSyncLink, {"account": acc}):
            return
        invoice = make_invoice(account=acc, amounts=("75.00",), status=Invoice.Status.SENT)
        record = invoice
        if kind == "payment":
            if not self._synced_now(InvoiceSyncLink, {"invoice": invoice}):
                return
            record = make_payment(account=acc, amount="75.00", allocations={invoice: "75.00"})
        link_model = InvoiceSyncLink if kind == "invoice" else PaymentSyncLink
        link = link_model.objects.filter(**{kind: record}).first()
        if link is None or (kind, link.pk) not in self._pending():
            return
        self._lose_the_answer((kind, link.pk), loss)
        if kind == "invoice":
            self.delete_invoice(record.pk)
        else:
            self.delete_payment(record.pk)

    # QBO and the workers ------------------------------------------------------------------------------

    @rule(firm=st.sampled_from([0, 1]), kind=FAULTS, count=st.integers(1, 2))
    def qbo_fault(self, firm, kind, count):
        count = min(count, FAULT_BUDGET - self.armed[firm])
        if count <= 0:
            return
        self.armed[firm] += count
        spec = {"count": count}
        if kind == "throttle":
            spec["retry_after"] = 1
        if kind.startswith("hang"):
            spec |= {"hang_seconds": 0.2, "apply": kind == "hang_apply"}
        if kind in ("drop_after_commit", "hang_apply"):
            spec["method"] = "POST"  # a lost reply to a write; reads are never applied twice
        self.sandbox.control.fault(self.tenants[firm].realm, kind.removesuffix("_apply"), **spec)

    @rule(tasks=st.integers(1, 4), crash=st.sampled_from([None, "before_send", "after_send"]))
    def work(self, tasks, crash):
        """A worker takes the next few tasks; with ``crash``, it dies at its next write to QBO."""
        for task in self._pending()[:tasks]:
            if crash is None:
                self._run(task)
                continue
            try:
                with crash_at_next_write(after_send=crash == "after_send"):
                    self._run(task)
            except SimulatedCrash:
                return  # the process is gone; what it held waits for the sweep

    @rule(firm=st.sampled_from([0, 1]), size=st.integers(1, 12))
    def qbo_side_burst(self, firm, size):
        """Someone imports customers straight into the QBO company; the next poll records them all."""
        records = []
        for _ in range(size):
            self.imported += 1
            records.append({"DisplayName": f"QBO Import {self.imported}", "Active": True})
        self.sandbox.control.insert(self.tenants[firm].realm, "Customer", records)

    @rule(firm=st.sampled_from([0, 1]))
    def poll_changes(self, firm):
        """Beat's CDC poll for one company: what changed there goes to the inbox."""
        changes_poll_connection(connection_id=self.tenants[firm].connection.pk)

    @rule()
    def settle_and_check(self):
        self._settle_and_check()

    def teardown(self):
        try:
            self._settle_and_check()
        finally:
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

    # Helpers ------------------------------------------------------------------------------------------

    def _synced_now(self, model, where: dict) -> bool:
        """Run the link's pending push (if any) and say whether it is Synced."""
        link = model.objects.filter(**where).first()
        name = {AccountSyncLink: "account", InvoiceSyncLink: "invoice"}[model]
        if link is not None and (name, link.pk) in self._pending():
            self._run((name, link.pk))
            link.refresh_from_db()
        return link is not None and link.state == SyncState.SYNCED

    @staticmethod
    def _invoice(pk) -> Invoice | None:
        return Invoice.objects.filter(pk=pk).first()

    @staticmethod
    def _sync_off_for(record, link) -> bool:
        """The record's account was unsynced (its sync is off, or its links forgot QBO since): a delete here
        leaves QBO alone, as unsyncing promises."""
        if link is not None and link.state == SyncState.SKIPPED and link.skip_reason == ACCOUNT_UNSYNCED:
            return True
        return AccountSyncLink.objects.filter(account_id=record.account_id, state=SyncState.SKIPPED).exists()

    def _lose_the_answer(self, task: tuple[str, int], loss: str) -> None:
        firm = [t.firm.pk for t in self.tenants].index(self._firm_of(task))
        if loss == "drop_after_commit" and self.armed[firm] < FAULT_BUDGET:
            self.armed[firm] += 1
            self.sandbox.control.fault(self.tenants[firm].realm, "drop_after_commit", operation="create")
            self._run(task)
            return
        with suppress(SimulatedCrash), crash_at_next_write(after_send=True):
            self._run(task)

    @staticmethod
    def _firm_of(task: tuple[str, int]) -> int:
        model = {"invoice": InvoiceSyncLink, "payment": PaymentSyncLink}[task[0]]
        return model.objects.values_list("firm_id", flat=True).get(pk=task[1])

    def _owner(self, account_id):
        firm_id = Account.objects.values_list("firm_id", flat=True).get(pk=account_id)
        return next(t.owner for t in self.tenants if t.firm.pk == firm_id)

    def _pending(self) -> list[tuple[str, int]]:
        now = timezone.now()
        tasks = []
        due = {"state": SyncState.QUEUED}
        for link in AccountSyncLink.objects.filter(firm__in=self.firms, **due).order_by("pk"):
            if not link.next_attempt_at or link.next_attempt_at <= now:
                tasks.append(("account", link.pk))
        for name, model in (("invoice", InvoiceSyncLink), ("payment", PaymentSyncLink)):
            ready = model.objects.filter(firm__in=self.firms, waiting_reason="", **due).order_by("pk")
            for link in ready:
                if link.next_attempt_at and link.next_attempt_at > now:
                    continue
                tasks.append(("batch", link.firm_id) if link.in_batch else (name, link.pk))
        for name, model in (("invoice", InvoiceSyncLink), ("payment", PaymentSyncLink)):
            moving = model.objects.filter(
                firm__in=self.firms, waiting_reason=MOVING_TO_NEW_CUSTOMER, **due
            ).values_list(f"{name}__account__sync_link", flat=True)
            tasks.extend(("move", pk) for pk in moving if pk is not None)
        for row in SyncOutbox.objects.filter(firm__in=self.firms, state=SyncOutbox.State.PENDING):
            if not row.next_attempt_at or row.next_attempt_at <= now:
                tasks.append(("outbox", row.pk))
        for tenant in self.tenants:
            if QboChange.objects.filter(firm=tenant.firm, state=QboChange.State.PENDING).exists():
                tasks.append(("changes", tenant.connection.pk))
        return list(dict.fromkeys(tasks))

    @staticmethod
    def _run(task: tuple[str, int]) -> None:
        kind, pk = task
        run = {
            "account": lambda: account_push(link_id=pk),
            "invoice": lambda: invoice_push(link_id=pk),
            "payment": lambda: payment_push(link_id=pk),
            "batch": lambda: transactions_batch_push(firm_id=pk),
            "outbox": lambda: outbox_process(row_id=pk),
            "move": lambda: account_records_move(link_id=pk),
            "changes": lambda: changes_process(connection_id=pk, limit=CHANGES_PER_RUN),
        }[kind]
        run()

    def _settle(self) -> None:
        """Run every task until none is left, as workers and beat's sweep would, with time moving on; then
        poll both companies once (our own writes' echoes, and whatever QBO-side burst came) and drain."""
        polled = False
        for _ in range(120):
            for model in LINKS:
                model.objects.filter(firm__in=self.firms, state=SyncState.QUEUED).update(next_attempt_at=None)
            # Time moves on: retries are due, and a create sent before a delete can no longer land.
            SyncOutbox.objects.filter(firm__in=self.firms, state=SyncOutbox.State.PENDING).update(
                next_attempt_at=None, look_until=None
            )
            sync_sweep(now=timezone.now() + SYNCING_LEASE + timedelta(seconds=1))
            tasks = self._pending()
            if not tasks and not polled:
                for tenant in self.tenants:
                    self.sandbox.control.clear_faults(tenant.realm)  # a poll lost to a fault is retried
                    changes_poll_connection(connection_id=tenant.connection.pk)
                polled = True
                tasks = self._pending()
            if not tasks:
                break
            for task in tasks:
                self._run(task)
        else:
            raise AssertionError(f"work never settled: {self._pending()}")
        for tenant in self.tenants:
            self.sandbox.control.clear_faults(tenant.realm)
        self.armed = [0, 0]

    def _settle_and_check(self) -> None:
        self._settle()
        realms = {t.firm: t.realm for t in self.tenants}
        assert_invariants(self.sandbox, realms, strict=False, kept_in_qbo=self.kept_in_qbo)
        for tenant in self.tenants:
            self._check_what_should_be_synced(tenant)

    def _check_what_should_be_synced(self, tenant) -> None:
        firm = tenant.firm
        failed = [
            f"{m.__name__} {link.pk}: {link.error_explanation}"
            for m in LINKS
            for link in m.objects.filter(firm=firm, state=SyncState.FAILED)
        ]
        assert not failed, f"no fault here is permanent, yet records failed: {failed}"
        synced_accounts = set(
            AccountSyncLink.objects.filter(firm=firm, state=SyncState.SYNCED).values_list(
                "account_id", flat=True
            )
        )
        for invoice in Invoice.objects.filter(firm=firm, account_id__in=synced_accounts):
            link = InvoiceSyncLink.objects.filter(invoice=invoice).first()
            wanted = invoice.status in Invoice.PAYABLE_STATUSES or (link is not None and link.qbo_invoice_id)
            if not wanted or (link is not None and link.state == SyncState.SKIPPED):
                continue
            state = link and link.state
            why = link and (link.waiting_reason or link.error_explanation)
            assert state == SyncState.SYNCED, (
                f"invoice {invoice.number} of a synced account is {state}: {why}"
            )
        for payment in Payment.objects.filter(firm=firm, account_id__in=synced_accounts):
            link = PaymentSyncLink.objects.filter(payment=payment).first()
            if (
                link is not None
                and link.state in (SyncState.SKIPPED, SyncState.QUEUED)
                and (link.state == SyncState.SKIPPED or link.waiting_reason.startswith("waiting for invoice"))
            ):
                continue  # skipped, or waiting for an invoice that is itself skipped
            state = link and link.state
            assert state == SyncState.SYNCED, f"payment {payment.pk} of a synced account is {state}"
        copy = RealmCopy.read(self.sandbox, tenant.realm)
        assert all(MARKER.search(r.get("PrivateNote") or "") for r in copy.invoices.values())


def test_sync_under_faults_and_crashes_keeps_every_invariant(qbo, settings):
    settings.QBSYNC_BATCH_LINGER_SECONDS = 0
    SyncMachine.sandbox = qbo
    run_state_machine_as_test(SyncMachine, settings=PROFILE)


# Programs the machine found, kept as regression tests ------------------------------------------------


@pytest.fixture
def machine(qbo, settings):
    settings.QBSYNC_BATCH_LINGER_SECONDS = 0
    SyncMachine.sandbox = qbo
    state = SyncMachine()
    yield state
    state.teardown()


def test_an_invoice_voided_before_its_first_push_is_not_synced_rather_than_failed(machine):
    """Found by the machine: the push tried to void an invoice QBO never had and Failed with QBO's
    "Required parameter Id is missing"."""
    account = machine.add_account(firm=0)
    paid = machine.create_invoice(account=account, amounts=["40.00"], issued=True)
    machine.settle_and_check()
    payment = machine.record_payment(extra=False, invoice=paid, share="1")
    machine.settle_and_check()
    voided = machine.create_invoice(account=account, amounts=["40.00", "40.00", "40.00"], issued=False)
    machine.issue_invoice(invoice=voided)
    machine.sync_account(account=account)
    machine.delete_payment(payment=payment)
    machine.void_invoice(invoice=voided)
    machine.settle_and_check()
    assert InvoiceSyncLink.objects.get(invoice_id=voided).state == SyncState.NOT_SYNCED


def test_an_invoice_voided_after_a_crash_that_created_it_is_voided_in_qbo(machine):
    account = machine.add_account(firm=1)
    machine.sync_account(account=account)
    machine.settle_and_check()
    invoice = machine.create_invoice(account=account, amounts=["99.99"], issued=True)
    machine.work(tasks=1, crash="after_send")  # QBO has it; we never heard
    machine.void_invoice(invoice=invoice)
    machine.settle_and_check()
    link = InvoiceSyncLink.objects.get(invoice_id=invoice)
    assert link.state == SyncState.SYNCED
    [copy] = machine.sandbox.control.entities(machine.tenants[1].realm, "Invoice")
    assert (copy["Id"], money(copy["TotalAmt"])) == (link.qbo_invoice_id, 0)


def test_a_payment_sent_once_then_waiting_for_its_account_is_not_left_for_a_batch(machine):
    """Found by the machine (nightly profile): a payment whose create had an unknown outcome, then waited
    for its account to sync again, was marked for a batch, which never takes a record sent before: it
    stayed Syncing for ever."""
    from qbsync.sync.kinds.payments import payment_push
    from qbsync.sync.work.sweep import sync_sweep

    account = machine.add_account(firm=0)
    invoice = machine.create_invoice(account=account, amounts=["120.50"], issued=True)
    machine.settle_and_check()
    payment = machine.record_payment(extra=True, invoice=invoice, share="0.5")
    machine.work(tasks=1, crash="after_send")  # QBO has the payment; we never heard
    machine.sync_account(account=account)  # someone syncs the account again meanwhile
    sync_sweep(now=timezone.now() + SYNCING_LEASE + timedelta(seconds=1))
    link = PaymentSyncLink.objects.get(payment_id=payment)
    assert payment_push(link_id=link.pk) == "waiting"  # for the account
    machine.settle_and_check()
    assert PaymentSyncLink.objects.get(payment_id=payment).state == SyncState.SYNCED


def test_a_void_after_deleting_the_invoices_payment_waits_for_the_delete_to_reach_qbo(machine):
    """Found by the machine (nightly profile): the void reached QBO before the payment's delete, QBO
    refused it ("payments applied") and the invoice Failed for good."""
    account = machine.add_account(firm=0)
    machine.sync_account(account=account)
    invoice = machine.create_invoice(account=account, amounts=["40.00"], issued=True)
    machine.settle_and_check()
    payment = machine.record_payment(extra=False, invoice=invoice, share="1")
    machine.settle_and_check()
    machine.delete_payment(payment=payment)
    machine.void_invoice(invoice=invoice)
    link = InvoiceSyncLink.objects.get(invoice_id=invoice)
    assert invoice_push(link_id=link.pk) == "waiting"  # its push comes before the delete's
    machine.settle_and_check()
    link.refresh_from_db()
    assert link.state == SyncState.SYNCED
    [copy] = machine.sandbox.control.entities(machine.tenants[0].realm, "Invoice")
    assert money(copy["TotalAmt"]) == 0


def test_a_payment_applied_after_deleting_another_waits_for_the_delete_to_reach_qbo(machine):
    """Found by the machine (nightly profile): the new payment reached QBO before the deleted one's
    delete, QBO refused it ("exceeds its open balance") and it Failed for good."""
    account = machine.add_account(firm=0)
    machine.sync_account(account=account)
    invoice = machine.create_invoice(account=account, amounts=["99.99", "120.50"], issued=True)
    machine.settle_and_check()
    first = machine.record_payment(extra=False, invoice=invoice, share="1")
    machine.settle_and_check()
    machine.delete_payment(payment=first)
    second = machine.record_payment(extra=False, invoice=invoice, share="1")
    link = PaymentSyncLink.objects.get(payment_id=second)
    assert payment_push(link_id=link.pk) == "waiting"  # its push comes before the delete's
    machine.settle_and_check()
    link.refresh_from_db()
    assert link.state == SyncState.SYNCED
