"""Issue 14, re-linked accounts: when an account's link moves to another QBO customer (another one picked,
or a new one after its customer was made inactive in QBO), its invoices and payments already in QBO are
moved there (payments unapplied first, then invoices, then applied again), none shows Synced while its copy
is under the old customer, and nothing is created twice. Against the sandbox over HTTP; the last test
through a real worker."""

from dataclasses import replace
from decimal import Decimal

import pytest

from qbsync.sync.display import invoice_badge
from qbsync.sync.engine.causes import FailureCause
from qbsync.sync.kinds import transactions as pipeline
from qbsync.sync.kinds.accounts import account_link_mark_lost, account_push, account_sync_request
from qbsync.sync.kinds.invoices import INVOICE, invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.kinds.transactions import MOVING_TO_NEW_CUSTOMER
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from qbsync.sync.work.relink import account_records_move
from tests.factories import AccountFactory, make_invoice, make_payment, sandbox_create
from tests.faults.invariants import assert_invariants, wait_settled
from tests.workers import sandbox_worker

D = Decimal
Mode = AccountSyncLink.RequestMode


def _push_all(account) -> None:
    for link in InvoiceSyncLink.objects.filter(invoice__account=account).order_by("pk"):
        invoice_push(link_id=link.pk)
    for link in PaymentSyncLink.objects.filter(payment__account=account).order_by("pk"):
        payment_push(link_id=link.pk)


def _history(firm, name: str):
    """An account synced with a partly paid invoice, an unpaid one and an unapplied payment, all in QBO."""
    account = AccountFactory(firm=firm, name=name)
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    paid = make_invoice(account=account, amounts=("300.00",))
    unpaid = make_invoice(account=account, amounts=("120.00",))
    make_payment(account=account, amount="100.00", allocations={paid: "100.00"})
    make_payment(account=account, amount="45.00")
    _push_all(account)
    assert not InvoiceSyncLink.objects.filter(invoice__account=account).exclude(state=SyncState.SYNCED)
    assert not PaymentSyncLink.objects.filter(payment__account=account).exclude(state=SyncState.SYNCED)
    return account, paid, unpaid


def _link_to(account, owner, customer: dict) -> AccountSyncLink:
    """A person picks another QBO customer for the synced account, and the link goes through."""
    link = account_sync_request(account=account, actor=owner, mode=Mode.PICK, customer_id=customer["Id"])
    assert account_push(link_id=link.pk) == "synced"
    return link


def _copies_by_customer(qbo, realm) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for entity in ("Invoice", "Payment"):
        for row in qbo.control.entities(realm, entity):
            found.setdefault(row["CustomerRef"]["value"], set()).add(f"{entity}:{row['Id']}")
    return found


@pytest.mark.django_db
def test_picking_another_customer_moves_every_record_and_nothing_shows_synced_meanwhile(
    qbo, connected, firm, owner
):
    account, paid, _ = _history(firm, "Moving Client")
    old = AccountSyncLink.objects.get(account=account).qbo_customer_id
    other = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Moving Client Ltd"})
    before = _copies_by_customer(qbo, connected.realm_id)
    assert len(before[old]) == 4

    link = _link_to(account, owner, other)
    for model in (InvoiceSyncLink, PaymentSyncLink):
        states = set(model.objects.filter(firm=firm).values_list("state", "waiting_reason"))
        assert states == {(SyncState.QUEUED, MOVING_TO_NEW_CUSTOMER)}
    paid.refresh_from_db()
    assert invoice_badge(paid, connected=True).label == "Syncing"
    # A push taken before the move waits for it rather than being refused (a paid invoice cannot move).
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=paid).pk) == "waiting"

    assert account_records_move(link_id=link.pk) == {"moved": 4, "refused": 0, "released": 3}
    _push_all(account)
    _push_all(account)  # payments go once their invoices are Synced
    after = _copies_by_customer(qbo, connected.realm_id)
    assert after.get(old, set()) == set()
    assert after[other["Id"]] == before[old]  # the same copies, moved: none created again
    assert_invariants(qbo, {firm: connected.realm_id}, strict=False)
    [qbo_paid] = [
        r
        for r in qbo.control.entities(connected.realm_id, "Invoice")
        if r["Id"] == InvoiceSyncLink.objects.get(invoice=paid).qbo_invoice_id
    ]
    assert D(str(qbo_paid["Balance"])) == D("200.00")  # the payment is applied again
    assert paid.sync_events.filter(kind="moved").exists()


@pytest.mark.django_db
def test_a_customer_made_inactive_in_qbo_then_a_new_customer_takes_the_records_along(
    qbo, connected, firm, owner
):
    account, _, _ = _history(firm, "Inactive Client")
    link = AccountSyncLink.objects.get(account=account)
    old = link.qbo_customer_id
    customer = next(c for c in qbo.control.entities(connected.realm_id, "Customer") if c["Id"] == old)
    sandbox_create(
        qbo,
        connected.realm_id,
        "Customer",
        {"Id": old, "SyncToken": customer["SyncToken"], "sparse": True, "Active": False},
    )
    assert account_link_mark_lost(link=link)
    # Not Synced while their copies are under a customer the account no longer has.
    for model in (InvoiceSyncLink, PaymentSyncLink):
        assert set(model.objects.filter(firm=firm).values_list("state", flat=True)) == {SyncState.SKIPPED}

    link = account_sync_request(
        account=account, actor=owner, mode=Mode.CREATE, display_name="Inactive Client 2"
    )
    assert account_push(link_id=link.pk) == "synced"
    new = AccountSyncLink.objects.get(account=account).qbo_customer_id
    _push_all(account)  # each asks; each waits for the move (and asks for it)
    assert set(InvoiceSyncLink.objects.filter(firm=firm).values_list("waiting_reason", flat=True)) == {
        MOVING_TO_NEW_CUSTOMER
    }
    assert account_records_move(link_id=link.pk)["moved"] == 4
    _push_all(account)
    _push_all(account)
    after = _copies_by_customer(qbo, connected.realm_id)
    assert after.get(old, set()) == set()
    assert len(after[new]) == 4
    assert_invariants(qbo, {firm: connected.realm_id}, strict=False)


@pytest.mark.django_db
def test_a_payment_entered_in_qbo_on_our_invoice_stops_only_that_invoice_with_the_way_out(
    qbo, connected, firm, owner
):
    account, paid, unpaid = _history(firm, "Mixed Client")
    old = AccountSyncLink.objects.get(account=account).qbo_customer_id
    unpaid_id = InvoiceSyncLink.objects.get(invoice=unpaid).qbo_invoice_id
    sandbox_create(
        qbo,
        connected.realm_id,
        "Payment",
        {
            "CustomerRef": {"value": old},
            "TotalAmt": 20,
            "Line": [{"Amount": 20, "LinkedTxn": [{"TxnId": unpaid_id, "TxnType": "Invoice"}]}],
        },
    )
    other = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Mixed Client Ltd"})
    link = _link_to(account, owner, other)
    counts = account_records_move(link_id=link.pk)
    assert (counts["moved"], counts["refused"]) == (3, 1)
    stuck = InvoiceSyncLink.objects.get(invoice=unpaid)
    assert (stuck.state, stuck.error_cause) == (SyncState.FAILED, FailureCause.MOVE_REFUSED)
    assert "remove or move that payment in QuickBooks Online" in stuck.error_explanation
    _push_all(account)
    _push_all(account)
    assert InvoiceSyncLink.objects.get(invoice=paid).state == SyncState.SYNCED


@pytest.mark.django_db
def test_an_invoice_created_while_its_account_moved_to_another_customer_moves_too(
    qbo, connected, firm, owner
):
    account, _, _ = _history(firm, "Racing Client")
    old = AccountSyncLink.objects.get(account=account).qbo_customer_id
    other = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Racing Client Ltd"})
    late = make_invoice(account=account, amounts=("80.00",))
    create = INVOICE.create

    def relinked_meanwhile(client, draft, **kwargs):
        # A person picks another customer after the push read the old one and before QBO answers: the
        # account's other records are set moving then, this one is not Synced yet.
        _link_to(account, owner, other)
        return create(client, draft, **kwargs)

    late_link = InvoiceSyncLink.objects.get(invoice=late)
    assert pipeline.push(replace(INVOICE, create=relinked_meanwhile), link_id=late_link.pk) == "moving"
    late_link.refresh_from_db()
    assert (late_link.state, late_link.waiting_reason) == (SyncState.QUEUED, MOVING_TO_NEW_CUSTOMER)
    assert invoice_badge(late, connected=True).label == "Syncing"
    assert list(late.sync_events.order_by("pk").values_list("kind", flat=True))[-2:] == ["created", "moving"]

    link = AccountSyncLink.objects.get(account=account)
    assert account_records_move(link_id=link.pk)["moved"] == 5
    _push_all(account)
    _push_all(account)
    after = _copies_by_customer(qbo, connected.realm_id)
    assert after.get(old, set()) == set()
    assert len(after[other["Id"]]) == 5
    assert InvoiceSyncLink.objects.get(invoice=late).state == SyncState.SYNCED
    assert_invariants(qbo, {firm: connected.realm_id}, strict=False)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_through_a_worker_the_records_follow_the_account_to_its_new_customer(qbo, connected, firm, owner):
    account, _, _ = _history(firm, "Worker Moving Client")
    old = AccountSyncLink.objects.get(account=account).qbo_customer_id
    other = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Worker Moving Client Ltd"})
    process = sandbox_worker(qbo, name="relink", concurrency=2)
    try:
        account_sync_request(account=account, actor=owner, mode=Mode.PICK, customer_id=other["Id"])
        wait_settled([firm], 60)
    finally:
        process.stop()
    after = _copies_by_customer(qbo, connected.realm_id)
    assert after.get(old, set()) == set()
    assert len(after[other["Id"]]) == 4
    assert_invariants(qbo, {firm: connected.realm_id}, strict=False)
