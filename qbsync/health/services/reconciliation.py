"""The reconciliation report: for every account linked to a QuickBooks customer, local totals against
QuickBooks totals (invoiced, paid, open balance) over the records qbsync synced, and each record that
differs. QBO is read with one paged query per entity per chunk of customers, not per record.

Every query is a read Intuit meters, so the nightly report compares again only the accounts with changes
since the previous report: changes QBO reported (the inbox of qbsync/changes) and changes here (links
pushed or changed, records edited, deletes sent), and carries the other accounts' rows over. Everything
is compared when a person asks, when the last full comparison is older than
QBSYNC_RECONCILIATION_FULL_DAYS, and whenever the inbox cannot vouch for the time since the previous
report (no CDC read of QBO since it began, or the company connected since)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from invoices.models import Invoice, Payment
from qbsync.changes.models import ChangePoll, QboChange
from qbsync.firms.models import Firm, User
from qbsync.quickbooks.errors import QboError
from qbsync.quickbooks.reconcile import transactions_of_customers
from qbsync.sync.engine.client import connection_client
from qbsync.sync.engine.connection import firm_connection, is_usable, usable_connections
from qbsync.sync.engine.enqueue import RECONCILIATION_RUN, enqueue
from qbsync.sync.models import (
    AccountSyncLink,
    InvoiceSyncLink,
    PaymentSyncLink,
    QuickBooksConnection,
    SyncOutbox,
)
from qbsync.sync.states import SyncState

from ..models import ReconciliationReport, reconciliation_stalled_q

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")
NOT_CONNECTED = "QuickBooks Online is not connected (or needs reconnecting), so nothing could be compared."
STOPPED_RUNNING = (
    "The comparison stopped before it finished: the worker doing it stopped or was restarted. Run it again."
)
NEVER_STARTED = (
    "No worker started the comparison within an hour. Check that qbsync's workers are running, then run it "
    "again."
)
TOO_LONG = (
    "The comparison took longer than a worker task may run, so it was stopped. Run it again; if it stops "
    "again, contact support."
)


class ReconciliationRefused(Exception):
    """A report cannot be asked for now; the message says why."""


def _enqueue(report_id: int) -> None:
    enqueue(RECONCILIATION_RUN, report_id)


def reconciliation_release_stalled(*, firm: Firm | None = None) -> int:
    """Mark failed, with the reason, every report (of ``firm``, or of all firms) waiting or running past its
    lease, so that a new one can be asked for. A late task of a released report finds it failed and does
    nothing. Returns how many were released."""
    now = timezone.now()
    stalled = ReconciliationReport.objects.filter(reconciliation_stalled_q(now))
    if firm is not None:
        stalled = stalled.for_firm(firm)
    released = 0
    for report_id, state in stalled.values_list("pk", "state"):
        reason = NEVER_STARTED if state == ReconciliationReport.State.PENDING else STOPPED_RUNNING
        # Compare-and-set on the state: a report that finished meanwhile keeps its result.
        released += (
            ReconciliationReport.objects.filter(pk=report_id, state=state)
            .filter(reconciliation_stalled_q(now))
            .update(state=ReconciliationReport.State.FAILED, error=reason, finished_at=now)
        )
        logger.warning("Reconciliation %s released: %s past its lease", report_id, state)
    return released


def reconciliation_request(*, firm: Firm, actor: User | None, trigger: str = "user") -> ReconciliationReport:
    """Ask for a report; one that is still waiting or running is returned instead of a second one, unless
    it is past its lease: then it is marked failed and a new one is asked for."""
    connection = firm_connection(firm.pk)
    if not is_usable(connection):
        raise ReconciliationRefused(NOT_CONNECTED)
    with transaction.atomic():
        Firm.objects.select_for_update().filter(pk=firm.pk).first()
        reconciliation_release_stalled(firm=firm)
        open_report = (
            ReconciliationReport.objects.for_firm(firm)
            .filter(state__in=[ReconciliationReport.State.PENDING, ReconciliationReport.State.RUNNING])
            .first()
        )
        if open_report is not None:
            return open_report
        report = ReconciliationReport.objects.create(firm=firm, requested_by=actor, trigger=trigger)
        _enqueue(report.pk)
    return report


def reconciliation_nightly() -> int:
    """Ask for a report of every firm whose connection works, after releasing every stalled report.
    Returns how many were asked for."""
    reconciliation_release_stalled()
    count = 0
    firm_ids = usable_connections().values_list("firm_id", flat=True)
    for firm in Firm.objects.filter(pk__in=list(firm_ids)):
        try:
            reconciliation_request(firm=firm, actor=None, trigger="nightly")
            count += 1
        except ReconciliationRefused:
            continue
    return count


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _totals() -> dict[str, Decimal]:
    return {"invoiced": ZERO, "paid": ZERO, "open": ZERO}


def reconciliation_run(*, report_id: int) -> str:
    """Compare and store the result on the report. Idempotent: a finished report is left as it is."""
    claimed = ReconciliationReport.objects.filter(
        pk=report_id,
        state__in=[ReconciliationReport.State.PENDING, ReconciliationReport.State.RUNNING],
    ).update(state=ReconciliationReport.State.RUNNING, started_at=timezone.now())
    if not claimed:
        return "not-pending"
    report = ReconciliationReport.objects.get(pk=report_id)
    connection = firm_connection(report.firm_id)
    if not is_usable(connection):
        _finish(report, state=ReconciliationReport.State.FAILED, error=NOT_CONNECTED)
        return "failed"
    scope = _scope(report, connection)
    try:
        results, checked, queries = _compare(report.firm_id, connection, scope)
    except SoftTimeLimitExceeded:
        logger.warning("Reconciliation %s stopped at the soft time limit", report_id)
        _finish(report, state=ReconciliationReport.State.FAILED, error=TOO_LONG)
        return "failed"
    except QboError as exc:
        logger.warning("Reconciliation %s failed: %s", report_id, exc)
        _finish(
            report,
            state=ReconciliationReport.State.FAILED,
            error=f"QuickBooks Online could not be read ({exc.message}). Try again later.",
        )
        return "failed"
    _finish(
        report,
        state=ReconciliationReport.State.DONE,
        results=results,
        accounts_checked=sum(1 for row in results if not row.get("carried")),
        records_checked=checked,
        mismatch_count=sum(len(row["mismatches"]) for row in results),
        qbo_queries=queries,
        scope=ReconciliationReport.Scope.CHANGES if scope.basis else ReconciliationReport.Scope.FULL,
        changes_since=scope.since,
    )
    return "done"


def _finish(report: ReconciliationReport, **fields) -> None:
    ReconciliationReport.objects.filter(pk=report.pk).update(finished_at=timezone.now(), **fields)


@dataclass(frozen=True)
class Scope:
    """What a run compares: everything (``basis`` None), or the accounts with changes since ``since``, the
    start of ``basis``, the previous finished report, whose rows the others keep."""

    basis: ReconciliationReport | None = None
    since: datetime | None = None


def _scope(report: ReconciliationReport, connection: QuickBooksConnection) -> Scope:
    """Everything, unless the nightly run may trust the previous report and the inbox since."""
    if report.trigger != "nightly":
        return Scope()
    done = ReconciliationReport.objects.filter(
        firm_id=report.firm_id, state=ReconciliationReport.State.DONE, started_at__isnull=False
    ).exclude(pk=report.pk)
    full_after = timezone.now() - timedelta(days=settings.QBSYNC_RECONCILIATION_FULL_DAYS)
    if not done.filter(scope=ReconciliationReport.Scope.FULL, started_at__gte=full_after).exists():
        return Scope()
    basis = done.order_by("-started_at", "-pk").first()
    since = basis.started_at
    if connection.connected_at is None or connection.connected_at >= since:
        return Scope()  # connected (perhaps to another company) since: the basis is not this company's
    # QBO's changes since the basis began are in the inbox only if CDC has read QBO past that moment.
    read_up_to = (
        ChangePoll.objects.filter(connection=connection, realm_id=connection.realm_id)
        .values_list("changed_since", flat=True)
        .first()
    )
    if read_up_to is None or read_up_to < since:
        return Scope()
    return Scope(basis=basis, since=since)


def _accounts_changed(firm_id: int, realm_id: str, since: datetime) -> set[int]:
    """Accounts whose totals here or in QBO may differ from what the previous report found: named by a
    change QBO reported since (the record, or the customer it is under), or with a link, a record or a
    delete here changed since."""
    changed = set()
    customer_ids: set[str] = set()
    invoice_ids: set[str] = set()
    payment_ids: set[str] = set()
    inbox = QboChange.objects.filter(firm_id=firm_id, realm_id=realm_id, received_at__gte=since)
    for entity, entity_id, deleted_id, owner in inbox.values_list(
        "entity", "entity_id", "deleted_id", "payload__CustomerRef__value"
    ):
        if entity == "Customer":
            customer_ids.update(i for i in (entity_id, deleted_id) if i)
        elif entity == "Invoice":
            invoice_ids.add(entity_id)
        elif entity == "Payment":
            payment_ids.add(entity_id)
        if owner:
            customer_ids.add(str(owner))
    outbox = SyncOutbox.objects.filter(firm_id=firm_id, updated_at__gte=since)
    customer_ids.update(c for c in outbox.values_list("qbo_customer_id", flat=True) if c)
    changed.update(a for a in outbox.values_list("account_id", flat=True) if a)
    recent = Q(updated_at__gte=since) | Q(state_changed_at__gte=since)
    changed.update(
        AccountSyncLink.objects.filter(firm_id=firm_id)
        .filter(recent | Q(qbo_customer_id__in=customer_ids))
        .values_list("account_id", flat=True)
    )
    changed.update(
        InvoiceSyncLink.objects.filter(firm_id=firm_id)
        .filter(recent | Q(qbo_invoice_id__in=invoice_ids))
        .values_list("invoice__account_id", flat=True)
    )
    changed.update(
        PaymentSyncLink.objects.filter(firm_id=firm_id)
        .filter(recent | Q(qbo_payment_id__in=payment_ids))
        .values_list("payment__account_id", flat=True)
    )
    changed.update(
        Invoice.objects.filter(firm_id=firm_id, updated_at__gte=since).values_list("account_id", flat=True)
    )
    changed.update(
        Payment.objects.filter(firm_id=firm_id, updated_at__gte=since).values_list("account_id", flat=True)
    )
    return changed


def _compare(firm_id: int, connection: QuickBooksConnection, scope: Scope) -> tuple[list[dict], int, int]:
    """The report's rows (every linked account, in name order), the records compared and the reads."""
    accounts = list(
        AccountSyncLink.objects.filter(firm_id=firm_id, state=SyncState.SYNCED)
        .exclude(qbo_customer_id="")
        .select_related("account")
        .order_by("account__name", "account_id")
    )
    carried: dict[int, dict] = {}
    if scope.basis is not None:
        earlier = {row["account_id"]: row for row in scope.basis.results}
        changed = _accounts_changed(firm_id, connection.realm_id, scope.since)
        for link in accounts:
            row = earlier.get(link.account_id)
            if link.account_id not in changed and row and row["qbo_customer_id"] == link.qbo_customer_id:
                carried[link.account_id] = {**row, "name": link.account.name, "carried": True}
    compared = [link for link in accounts if link.account_id not in carried]
    compared_ids = [link.account_id for link in compared]
    rows, checked, queries = _compare_accounts(firm_id, connection, compared, compared_ids)
    results = [carried.get(link.account_id) or rows[link.account_id] for link in accounts]
    return results, checked, queries


def _compare_accounts(
    firm_id: int, connection: QuickBooksConnection, accounts: list[AccountSyncLink], account_ids: list[int]
) -> tuple[dict[int, dict], int, int]:
    if not accounts:
        return {}, 0, 0
    invoice_links = list(
        InvoiceSyncLink.objects.filter(
            firm_id=firm_id, state=SyncState.SYNCED, invoice__account_id__in=account_ids
        )
        .exclude(qbo_invoice_id="")
        .select_related("invoice")
    )
    payment_links = list(
        PaymentSyncLink.objects.filter(
            firm_id=firm_id, state=SyncState.SYNCED, payment__account_id__in=account_ids
        )
        .exclude(qbo_payment_id="")
        .select_related("payment")
    )
    qbo = transactions_of_customers(connection_client(connection), [a.qbo_customer_id for a in accounts])
    rows = {
        link.account_id: {
            "account_id": link.account_id,
            "name": link.account.name,
            "url": reverse("accounts:detail", args=[link.account_id]),
            "qbo_customer_id": link.qbo_customer_id,
            "local": _totals(),
            "qbo": _totals(),
            "mismatches": [],
        }
        for link in accounts
    }
    checked = 0
    for link in invoice_links:
        invoice = link.invoice
        row = rows.get(invoice.account_id)
        if row is None:
            continue  # its account is not linked now: nothing to compare against
        checked += 1
        void = invoice.status == Invoice.Status.VOID
        local_total = ZERO if void else invoice.total
        local_open = ZERO if void else invoice.balance
        row["local"]["invoiced"] += local_total
        row["local"]["open"] += local_open
        theirs = qbo.invoices.get(link.qbo_invoice_id)
        label = f"Invoice {invoice.number}"
        url = reverse("invoices:detail", args=[invoice.pk])
        if theirs is None or theirs.customer_id != row["qbo_customer_id"]:
            row["mismatches"].append(
                _mismatch("invoice", label, url, link.qbo_invoice_id, "missing", local_total, None)
            )
            continue
        row["qbo"]["invoiced"] += theirs.total
        row["qbo"]["open"] += theirs.balance
        if theirs.total != local_total:
            row["mismatches"].append(
                _mismatch("invoice", label, url, theirs.id, "total", local_total, theirs.total)
            )
        if theirs.balance != local_open:
            row["mismatches"].append(
                _mismatch("invoice", label, url, theirs.id, "open balance", local_open, theirs.balance)
            )
    for link in payment_links:
        payment = link.payment
        row = rows.get(payment.account_id)
        if row is None:
            continue
        checked += 1
        row["local"]["paid"] += payment.amount
        theirs = qbo.payments.get(link.qbo_payment_id)
        label = f"Payment of {_money(payment.amount)} on {payment.date.isoformat()}"
        url = reverse("invoices:payment_detail", args=[payment.pk])
        if theirs is None or theirs.customer_id != row["qbo_customer_id"]:
            row["mismatches"].append(
                _mismatch("payment", label, url, link.qbo_payment_id, "missing", payment.amount, None)
            )
            continue
        row["qbo"]["paid"] += theirs.total
        if theirs.total != payment.amount:
            row["mismatches"].append(
                _mismatch("payment", label, url, theirs.id, "amount", payment.amount, theirs.total)
            )
    for row in rows.values():
        row["local"] = {k: _money(v) for k, v in row["local"].items()}
        row["qbo"] = {k: _money(v) for k, v in row["qbo"].items()}
    return rows, checked, qbo.queries


def _mismatch(kind, label, url, qbo_id, what, local, theirs) -> dict:
    if what == "missing":
        note = (
            f"Not found under the account's customer in QuickBooks Online (Id {qbo_id}): deleted there, "
            "or moved to another customer."
        )
    else:
        note = f"The {what} is {_money(local)} here and {_money(theirs)} in QuickBooks Online."
    return {
        "kind": kind,
        "label": label,
        "url": url,
        "qbo_id": qbo_id,
        "what": what,
        "local": _money(local),
        "qbo": _money(theirs) if theirs is not None else "",
        "note": note,
    }
