"""The end state every fault scenario and the property test must reach, checked against the sandbox company
itself (its control API lists every record, deleted ones included):

- exactly once: no local record has two live copies in QBO (markers, customer links), every Synced record
  is there with the right customer, amounts and allocations, and (strict) every record that should sync is
  Synced;
- no orphan: no live QBO invoice or payment carries the marker of a record deleted here, except those a
  scenario deleted while its account's sync was off (unsyncing promises to delete nothing in QBO);
- nothing stuck: no link Queued or Syncing without a reason it waits for, no outbox row left pending, no
  change from QBO left unprocessed in the inbox;
- nothing crossed firms: every record in a firm's company belongs to that firm.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from invoices.models import Invoice, Payment
from qbsync.changes.models import QboChange
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncOutbox
from qbsync.sync.states import SyncState

D = Decimal
MARKER = re.compile(r"qbsync:(inv|pay):(\d+)\b")
LINK_MODELS = (AccountSyncLink, InvoiceSyncLink, PaymentSyncLink)


def money(value) -> Decimal:
    return D(str(value if value is not None else 0)).quantize(D("0.01"))


@dataclass
class RealmCopy:
    """What one sandbox company holds, read once through the control API."""

    customers: dict[str, dict]
    invoices: dict[str, dict]  # live ones (not deleted)
    payments: dict[str, dict]
    by_marker: dict[tuple[str, int], list[dict]]

    @classmethod
    def read(cls, qbo, realm: str) -> RealmCopy:
        def live(entity: str) -> dict[str, dict]:
            rows = qbo.control.entities(realm, entity)
            return {r["Id"]: r for r in rows if r.get("status") != "Deleted"}

        invoices, payments = live("Invoice"), live("Payment")
        by_marker: dict[tuple[str, int], list[dict]] = {}
        for row in [*invoices.values(), *payments.values()]:
            for kind, pk in MARKER.findall(row.get("PrivateNote") or ""):
                by_marker.setdefault((kind, int(pk)), []).append(row)
        return cls(live("Customer"), invoices, payments, by_marker)


def stuck_links(firm_ids) -> list[str]:
    """Links a worker should be doing something about but nobody is: Queued or Syncing with no reason."""
    stuck = []
    for model in LINK_MODELS:
        busy = model.objects.filter(firm_id__in=firm_ids).filter(
            Q(state=SyncState.SYNCING) | Q(state=SyncState.QUEUED)
        )
        if model is not AccountSyncLink:
            busy = busy.filter(waiting_reason="")
        stuck += [f"{model.__name__} {link.pk} {link.state}" for link in busy]
    stuck += [
        f"SyncOutbox {row.pk} pending"
        for row in SyncOutbox.objects.filter(firm_id__in=firm_ids, state=SyncOutbox.State.PENDING)
    ]
    unprocessed = QboChange.objects.filter(
        firm_id__in=firm_ids, state__in=[QboChange.State.PENDING, QboChange.State.PROCESSING]
    )
    stuck += [f"QboChange {change.pk} {change.state}" for change in unprocessed]
    return stuck


def assert_nothing_stuck(*firms) -> None:
    stuck = stuck_links([f.pk for f in firms])
    assert not stuck, f"work left behind with nothing waiting on it: {stuck}"


def assert_exactly_once(qbo, realm: str, firm, *, strict: bool = True) -> RealmCopy:
    """Every Synced record of ``firm`` is in ``realm`` once, as it is here. ``strict``: every record that
    should sync is Synced, and invoice balances match (a fault scenario has no unsynced payments)."""
    copy = RealmCopy.read(qbo, realm)
    dupes = {key: [r["Id"] for r in rows] for key, rows in copy.by_marker.items() if len(rows) > 1}
    assert not dupes, f"records created twice in QBO: {dupes}"

    accounts = list(AccountSyncLink.objects.filter(firm=firm).select_related("account"))
    linked = [link.qbo_customer_id for link in accounts if link.qbo_customer_id]
    assert len(linked) == len(set(linked)), "two accounts linked to one QBO customer"
    for link in accounts:
        if link.state != SyncState.SYNCED:
            assert not strict, f"account {link.account.name!r} is {link.state}: {link.error_explanation}"
            continue
        customer = copy.customers.get(link.qbo_customer_id)
        assert customer is not None, f"account {link.account_id} linked to a customer not in its company"
        assert customer["Active"], f"account {link.account_id} linked to an inactive customer"
        if link.link_method != AccountSyncLink.Method.PICKED and not link.requested_display_name:
            # Matched or created by its name (a person may pick, or create under, another one).
            assert customer["DisplayName"] == link.account.name, (
                "the customer's name differs from the account's"
            )
    if strict:
        names = [c["DisplayName"] for c in copy.customers.values() if c["Active"]]
        for account in Account.objects.filter(firm=firm):
            assert names.count(account.name) == 1, f"{account.name!r} is in QBO {names.count(account.name)}x"

    customer_of = {link.account_id: link.qbo_customer_id for link in accounts}
    invoice_links = list(InvoiceSyncLink.objects.filter(firm=firm).select_related("invoice"))
    for link in invoice_links:
        invoice = link.invoice
        if link.state != SyncState.SYNCED:
            assert not strict, f"invoice {invoice.number} is {link.state}: {link.error_explanation}"
            continue
        [row] = copy.by_marker.get(("inv", invoice.pk), [None])
        assert row is not None, f"invoice {invoice.number} is Synced but not in QBO"
        assert row["Id"] == link.qbo_invoice_id, f"invoice {invoice.number} linked to another QBO invoice"
        assert row["CustomerRef"]["value"] == customer_of[invoice.account_id]
        if invoice.status == Invoice.Status.VOID:
            assert money(row["TotalAmt"]) == 0, f"invoice {invoice.number} is void here, not in QBO"
            continue
        assert money(row["TotalAmt"]) == invoice.total, f"invoice {invoice.number}: total differs in QBO"
        lines = [money(ln["Amount"]) for ln in row["Line"] if ln.get("DetailType") == "SalesItemLineDetail"]
        assert sorted(lines) == sorted(line.amount for line in invoice.lines.all())
        if strict:
            assert money(row["Balance"]) == invoice.balance, f"invoice {invoice.number}: balance differs"

    payment_links = list(PaymentSyncLink.objects.filter(firm=firm).select_related("payment"))
    qbo_invoice_of = {link.invoice_id: link.qbo_invoice_id for link in invoice_links}
    for link in payment_links:
        payment = link.payment
        if link.state != SyncState.SYNCED:
            assert not strict, f"payment {payment.pk} is {link.state}: {link.error_explanation}"
            continue
        [row] = copy.by_marker.get(("pay", payment.pk), [None])
        assert row is not None, f"payment {payment.pk} is Synced but not in QBO"
        assert row["Id"] == link.qbo_payment_id
        assert row["CustomerRef"]["value"] == customer_of[payment.account_id]
        assert money(row["TotalAmt"]) == payment.amount, f"payment {payment.pk}: amount differs in QBO"
        applied = sorted(
            (txn["TxnId"], money(line["Amount"]))
            for line in row.get("Line", [])
            for txn in line.get("LinkedTxn", [])
            if txn.get("TxnType") == "Invoice"
        )
        expected = sorted((qbo_invoice_of[a.invoice_id], a.amount) for a in payment.allocations.all())
        assert applied == expected, f"payment {payment.pk}: allocations differ in QBO"

    if strict:
        should = Invoice.objects.filter(firm=firm, status__in=Invoice.PAYABLE_STATUSES).count()
        should += Payment.objects.filter(firm=firm).count()
        assert len(copy.by_marker) == should, f"QBO holds {len(copy.by_marker)} of this firm's {should}"
    return copy


def assert_no_orphans(copy: RealmCopy, firm, kept_in_qbo: Collection[tuple[str, int]] = ()) -> None:
    """No live, non-void QBO invoice or payment carries the marker of a record this firm no longer has.
    ``kept_in_qbo``: ("inv"|"pay", pk) of records deleted while their account's sync was off."""
    for (kind, pk), rows in copy.by_marker.items():
        model = Invoice if kind == "inv" else Payment
        if (kind, pk) in kept_in_qbo or model.objects.filter(firm=firm, pk=pk).exists():
            continue
        live = [r for r in rows if money(r.get("TotalAmt")) != 0]
        assert not live, f"QBO keeps {kind} {pk} that was deleted here: {[r['Id'] for r in live]}"


def assert_no_crossing(qbo, realms: dict) -> None:
    """``realms``: {firm: realm}. Each company holds only its own firm's records and customers."""
    for firm, realm in realms.items():
        copy = RealmCopy.read(qbo, realm)
        for kind, pk in copy.by_marker:
            model = Invoice if kind == "inv" else Payment
            owner = model.objects.filter(pk=pk).values_list("firm_id", flat=True).first()
            assert owner in (None, firm.pk), f"{kind} {pk} of firm {owner} is in firm {firm.pk}'s company"
        names = {c["DisplayName"] for c in copy.customers.values()}
        foreign = Account.objects.exclude(firm=firm).filter(name__in=names).values_list("name", flat=True)
        assert not list(foreign), f"another firm's clients are in firm {firm.pk}'s company: {list(foreign)}"
        ids = set(
            AccountSyncLink.objects.filter(firm=firm)
            .exclude(qbo_customer_id="")
            .values_list("qbo_customer_id", flat=True)
        )
        assert ids <= set(copy.customers), "an account is linked to a customer of another company"


def assert_invariants(
    qbo, realms: dict, *, strict: bool = True, kept_in_qbo: Collection[tuple[str, int]] = ()
) -> None:
    """All four, for every firm, in every scenario: exactly once, no orphan, nothing stuck, nothing
    crossed. ``kept_in_qbo``: see assert_no_orphans."""
    assert_nothing_stuck(*realms)
    for firm, realm in realms.items():
        copy = assert_exactly_once(qbo, realm, firm, strict=strict)
        assert_no_orphans(copy, firm, kept_in_qbo)
    assert_no_crossing(qbo, realms)


# Waiting for real workers ---------------------------------------------------------------------------


def moving(firm_ids) -> int:
    """Links Queued or Syncing, and deletes in QBO not carried out yet."""
    busy = Q(state=SyncState.SYNCING) | Q(state=SyncState.QUEUED)
    links = sum(m.objects.filter(firm_id__in=firm_ids).filter(busy).count() for m in LINK_MODELS)
    return links + SyncOutbox.objects.filter(firm_id__in=firm_ids, state=SyncOutbox.State.PENDING).count()


def wait_settled(
    firms, timeout: float, *, sweep_every: float = 3.0, lease_after: float | None = None
) -> float:
    """Wait until the firms' work is done, running beat's sweep as if its 30 s had passed every
    ``sweep_every`` seconds (a lost message is then re-enqueued at once, not after a minute). With
    ``lease_after``: once nothing has changed for that long, sweep as if the Syncing lease had run out too
    (a worker died holding it). Returns the seconds it took."""
    from qbsync.sync.engine.leases import QUEUED_GRACE, SYNCING_LEASE
    from qbsync.sync.work.sweep import sync_sweep

    ids = [f.pk for f in firms]
    started = time.monotonic()
    deadline = started + timeout
    last_sweep = last_change = started
    last_count = moving(ids)
    while last_count and time.monotonic() < deadline:
        if time.monotonic() - last_sweep >= sweep_every:
            stalled = lease_after is not None and time.monotonic() - last_change >= lease_after
            ahead = SYNCING_LEASE if stalled else QUEUED_GRACE
            sync_sweep(now=timezone.now() + ahead + timedelta(seconds=1))
            last_sweep = time.monotonic()
        time.sleep(0.25)
        count = moving(ids)
        if count != last_count:
            last_count, last_change = count, time.monotonic()
    left = [
        f"{m.__name__} {link.pk} {link.state} {getattr(link, 'waiting_reason', '')}"
        for m in LINK_MODELS
        for link in m.objects.filter(firm_id__in=ids, state__in=[SyncState.QUEUED, SyncState.SYNCING])
    ] + [
        f"SyncOutbox {row.pk} {row.result}"
        for row in SyncOutbox.objects.filter(firm_id__in=ids, state=SyncOutbox.State.PENDING)
    ]
    assert not left, f"work still moving after {timeout:.0f} s: {left[:10]}"
    return time.monotonic() - started
