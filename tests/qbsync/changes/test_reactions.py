"""Changes made directly in the sandbox company come back through CDC and the one reacting service:
customers made inactive, merged or renamed, invoices deleted or voided (with re-push and accept), and
payments recorded in QBO. Each reacts once, and qbsync's own changes are left alone."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from qbsync.changes.models import InvoiceChangeInQbo, QboChange, QboPaymentOnInvoice
from qbsync.changes.services.decisions import invoice_change_accept, invoice_change_repush
from qbsync.changes.services.inbox import changes_process, changes_record_notices
from qbsync.quickbooks.webhooks import ChangeNotice
from qbsync.sync.engine.errors import SyncRequestError
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, SyncEvent
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

from .conftest import catch_up, push_invoice, sync_account

pytestmark = pytest.mark.django_db
D = Decimal


def events(kind: str, **filters) -> list[SyncEvent]:
    return list(SyncEvent.objects.filter(kind=kind, **filters))


def test_our_own_creates_and_pushes_cause_no_reaction(connected, synced_invoice, firm):
    account = synced_invoice.account
    payment = make_payment(account=account, amount="100.00", allocations={synced_invoice: "100.00"})
    from qbsync.sync.models import PaymentSyncLink

    assert payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk) == "synced"

    counts = catch_up(connected)

    assert counts["done"] == 0
    assert counts["ignored"] >= 3
    assert AccountSyncLink.objects.get(account=account).state == SyncState.SYNCED
    assert InvoiceSyncLink.objects.get(invoice=synced_invoice).state == SyncState.SYNCED
    assert not QboPaymentOnInvoice.objects.exists()


def test_a_customer_made_inactive_makes_the_account_not_synced_with_the_reason(
    connected, qbo_user, synced_account, owner_client
):
    link = AccountSyncLink.objects.get(account=synced_account)
    qbo_user.make_inactive(link.qbo_customer_id)

    catch_up(connected)

    link.refresh_from_db()
    assert (link.state, link.display_status, link.qbo_customer_id) == (SyncState.NOT_SYNCED, "Not synced", "")
    assert link.error_cause == "customer_inactive_in_qbo"
    assert "made inactive in QuickBooks Online" in link.tooltip
    [event] = events("inactive_in_qbo", account=synced_account)
    assert event.trigger == "qbo"
    assert "made inactive in QuickBooks Online" in event.message
    page = owner_client.get(reverse("accounts:detail", args=[synced_account.pk])).content.decode()
    assert "made inactive in QuickBooks Online" in page
    # Seen again (CDC overlap, a late webhook): no second reaction.
    catch_up(connected)
    assert len(events("inactive_in_qbo", account=synced_account)) == 1


def test_a_customer_renamed_in_qbo_is_recorded_and_shown_on_the_info_tab(
    connected, qbo_user, synced_account, owner_client
):
    link = AccountSyncLink.objects.get(account=synced_account)
    qbo_user.rename(link.qbo_customer_id, "Harbor Dental Group")

    catch_up(connected)
    catch_up(connected)

    link.refresh_from_db()
    assert (link.state, link.qbo_display_name, link.qbo_current_name) == (
        SyncState.SYNCED,
        "Harbor Dental LLC",
        "Harbor Dental Group",
    )
    assert link.name_differs
    [event] = events("renamed_in_qbo", account=synced_account)
    assert '"Harbor Dental LLC" to "Harbor Dental Group"' in event.message
    page = owner_client.get(reverse("accounts:detail", args=[synced_account.pk])).content.decode()
    assert 'Named "Harbor Dental Group" in QuickBooks Online' in page


def test_a_merge_re_points_the_account_to_the_surviving_customer(connected, qbo_user, synced_invoice, qbo):
    account = synced_invoice.account
    link = AccountSyncLink.objects.get(account=account)
    survivor = qbo_user.create_customer("Harbor Dental (main)")
    qbo_user.merge(link.qbo_customer_id, survivor["Id"])
    merged_away = link.qbo_customer_id

    catch_up(connected)

    link.refresh_from_db()
    assert (link.state, link.qbo_customer_id, link.qbo_current_name) == (
        SyncState.SYNCED,
        survivor["Id"],
        "Harbor Dental (main)",
    )
    [event] = events("merged_in_qbo", account=account)
    assert (
        f'"Harbor Dental LLC" was merged into "Harbor Dental (main)" (Id {survivor["Id"]})' in event.message
    )
    assert event.received == {"merged": merged_away, "into": survivor["Id"]}
    # The next invoice goes to the surviving customer.
    later = make_invoice(account=account, number="CH-2")
    push_invoice(later)
    created = qbo_user.record("Invoice", InvoiceSyncLink.objects.get(invoice=later).qbo_invoice_id)
    assert created["CustomerRef"]["value"] == survivor["Id"]


def test_a_merge_into_a_customer_linked_elsewhere_fails_with_an_explanation(
    connected, qbo_user, synced_invoice, firm
):
    account = synced_invoice.account
    link = AccountSyncLink.objects.get(account=account)
    other = AccountFactory(firm=firm, name="Harbor Dental Group")
    other_link = sync_account(other)
    qbo_user.merge(link.qbo_customer_id, other_link.qbo_customer_id)

    catch_up(connected)

    link.refresh_from_db()
    assert (link.state, link.display_status, link.qbo_customer_id) == (SyncState.FAILED, "Failed", "")
    assert link.error_cause == "merged_customer_linked_elsewhere"
    assert 'already linked to the account "Harbor Dental Group"' in link.error_explanation
    assert "Two accounts cannot share one customer" in link.tooltip
    other_link.refresh_from_db()
    assert (other_link.state, other_link.qbo_customer_id) == (SyncState.SYNCED, other_link.qbo_customer_id)


def test_a_merge_reported_by_webhook_names_the_merged_away_customer(connected, qbo_user, synced_account):
    link = AccountSyncLink.objects.get(account=synced_account)
    survivor = qbo_user.create_customer("Harbor Dental (main)")
    qbo_user.merge(link.qbo_customer_id, survivor["Id"])
    # No invoice to follow: only the webhook's deletedId tells where the customer went.
    changes_record_notices(
        notices=[
            ChangeNotice(
                event_id="merge-1",
                realm_id=connected.realm_id,
                entity="Customer",
                entity_id=survivor["Id"],
                operation="Merge",
                occurred_at="2026-01-05T10:00:00-0700",
                deleted_id=link.qbo_customer_id,
            )
        ]
    )

    # The webhook's claim alone changes nothing: it is followed once QBO's answer shows the customer gone.
    assert changes_process(connection_id=connected.pk)["done"] == 0
    catch_up(connected)

    link.refresh_from_db()
    assert (link.state, link.qbo_customer_id) == (SyncState.SYNCED, survivor["Id"])


def test_a_merged_away_customer_with_nothing_to_follow_is_deleted_in_qbo(connected, qbo_user, synced_account):
    link = AccountSyncLink.objects.get(account=synced_account)
    survivor = qbo_user.create_customer("Somebody Else")
    qbo_user.merge(link.qbo_customer_id, survivor["Id"])

    catch_up(connected)  # CDC only shows the stub of the deleted customer

    link.refresh_from_db()
    assert (link.state, link.error_cause) == (SyncState.NOT_SYNCED, "customer_deleted_in_qbo")
    assert "deleted in QuickBooks Online" in link.tooltip
    assert events("deleted_in_qbo", account=synced_account)


@pytest.mark.parametrize("kind", ["deleted", "voided"])
def test_an_invoice_deleted_or_voided_in_qbo_fails_as_changed_in_quickbooks(
    connected, qbo_user, synced_invoice, kind, owner_client, staff_user
):
    link = InvoiceSyncLink.objects.get(invoice=synced_invoice)
    qbo_id = link.qbo_invoice_id
    if kind == "deleted":
        qbo_user.delete_invoice(qbo_id)
    else:
        qbo_user.void_invoice(qbo_id)

    catch_up(connected)

    link.refresh_from_db()
    assert (link.state, link.display_status, link.error_cause) == (
        SyncState.FAILED,
        "Failed",
        "changed_in_qbo",
    )
    assert link.error_explanation.startswith(f"Changed in QuickBooks Online: invoice CH-1 was {kind} there")
    change = InvoiceChangeInQbo.objects.get(invoice=synced_invoice)
    assert (change.kind, change.qbo_invoice_id, change.resolution) == (kind, qbo_id, "open")
    [event] = events("changed_in_qbo", invoice=synced_invoice)
    assert event.trigger == "qbo"
    page = owner_client.get(reverse("invoices:detail", args=[synced_invoice.pk])).content.decode()
    assert "Changed in QuickBooks Online" in page
    assert reverse("changes:invoice_repush", args=[synced_invoice.pk]) in page
    assert reverse("changes:invoice_accept", args=[synced_invoice.pk]) in page
    staff_client = Client()
    staff_client.force_login(staff_user)
    staff_page = staff_client.get(reverse("invoices:detail", args=[synced_invoice.pk])).content.decode()
    assert reverse("changes:invoice_repush", args=[synced_invoice.pk]) not in staff_page
    if kind == "voided":
        # The voided invoice stays in QBO as a record, without our marker: a re-push cannot find it.
        note = qbo_user.record("Invoice", qbo_id)["PrivateNote"]
        assert note.startswith("Voided")
        assert f"qbsync:inv:{synced_invoice.pk}" not in note
    catch_up(connected)
    assert len(events("changed_in_qbo", invoice=synced_invoice)) == 1


@pytest.mark.parametrize("kind", ["deleted", "voided"])
def test_re_push_creates_the_invoice_in_qbo_again(
    connected, qbo_user, synced_invoice, kind, firm_admin_client
):
    link = InvoiceSyncLink.objects.get(invoice=synced_invoice)
    old_id = link.qbo_invoice_id
    (qbo_user.delete_invoice if kind == "deleted" else qbo_user.void_invoice)(old_id)
    catch_up(connected)

    response = firm_admin_client.post(reverse("changes:invoice_repush", args=[synced_invoice.pk]))
    assert response.status_code == 302

    link.refresh_from_db()
    assert link.state == SyncState.QUEUED
    assert invoice_push(link_id=link.pk) == "synced"
    link.refresh_from_db()
    assert link.qbo_invoice_id not in ("", old_id)
    again = qbo_user.record("Invoice", link.qbo_invoice_id)
    assert D(str(again["TotalAmt"])) == D("350.00")
    assert InvoiceChangeInQbo.objects.get(invoice=synced_invoice).resolution == "repushed"
    # Our own create is not a change in QuickBooks.
    catch_up(connected)
    link.refresh_from_db()
    assert link.state == SyncState.SYNCED


def test_accepting_the_change_stops_syncing_the_invoice(connected, qbo_user, synced_invoice, owner):
    link = InvoiceSyncLink.objects.get(invoice=synced_invoice)
    qbo_user.delete_invoice(link.qbo_invoice_id)
    catch_up(connected)

    invoice_change_accept(invoice=synced_invoice, actor=owner)

    link.refresh_from_db()
    assert (link.state, link.display_status) == (SyncState.SKIPPED, "Skipped")
    assert "deleted" in link.skip_reason
    assert "accepted by" in link.skip_reason
    assert InvoiceChangeInQbo.objects.get(invoice=synced_invoice).resolution == "accepted"
    assert events("change_accepted", invoice=synced_invoice)[0].actor == owner
    with pytest.raises(SyncRequestError):
        invoice_change_repush(invoice=synced_invoice, actor=owner)


def test_our_own_void_is_not_a_change_in_quickbooks(connected, synced_invoice, owner):
    from invoices.services import invoice_void

    invoice_void(invoice=synced_invoice)
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=synced_invoice).pk) == "synced"

    catch_up(connected)

    assert InvoiceSyncLink.objects.get(invoice=synced_invoice).state == SyncState.SYNCED
    assert not InvoiceChangeInQbo.objects.exists()


def test_a_payment_recorded_in_qbo_is_shown_as_paid_in_quickbooks_and_never_pushed_back(
    connected, qbo_user, synced_invoice, owner_client
):
    link = InvoiceSyncLink.objects.get(invoice=synced_invoice)
    customer = AccountSyncLink.objects.get(account=synced_invoice.account).qbo_customer_id
    payment = qbo_user.receive_payment(customer, link.qbo_invoice_id, "120.00", PaymentRefNum="CHK-1001")

    catch_up(connected)
    catch_up(connected)

    [paid] = QboPaymentOnInvoice.objects.filter(invoice=synced_invoice)
    assert (paid.qbo_payment_id, paid.amount, str(paid.paid_on), paid.reference) == (
        payment["Id"],
        D("120.00"),
        "2026-02-03",
        "CHK-1001",
    )
    [said] = events("paid_in_qbo", invoice=synced_invoice)
    assert "Paid in QuickBooks Online: 120.00 USD on 2026-02-03" in said.message  # money, said one way
    page = owner_client.get(reverse("invoices:detail", args=[synced_invoice.pk])).content.decode()
    shown = page[page.index(f'id="qb-paid-{synced_invoice.pk}"') :]
    assert "Paid in QuickBooks" in shown
    assert "120.00" in shown
    assert "CHK-1001" in shown
    # Nothing local changed and nothing was sent back.
    synced_invoice.refresh_from_db()
    assert synced_invoice.balance == synced_invoice.total
    assert len(qbo_user.sandbox.control.entities(connected.realm_id, "Payment")) == 1

    qbo_user.void_payment(payment["Id"])
    catch_up(connected)

    paid.refresh_from_db()
    assert paid.removed_at is not None
    [removed] = events("payment_removed_in_qbo", invoice=synced_invoice)
    assert removed.message.startswith("The payment of 120.00 USD recorded in QuickBooks Online")
    page = owner_client.get(reverse("invoices:detail", args=[synced_invoice.pk])).content.decode()
    assert f'id="qb-paid-{synced_invoice.pk}"' not in page


def test_the_same_change_by_webhook_and_by_cdc_reacts_once(connected, qbo_user, synced_account):
    link = AccountSyncLink.objects.get(account=synced_account)
    qbo_user.make_inactive(link.qbo_customer_id)
    notice = ChangeNotice(
        event_id="wh-1",
        realm_id=connected.realm_id,
        entity="Customer",
        entity_id=link.qbo_customer_id,
        operation="Update",
        occurred_at="",
    )
    changes_record_notices(notices=[notice])
    changes_record_notices(notices=[notice])

    catch_up(connected)

    assert QboChange.objects.filter(event_id="wh-1").count() == 0  # a webhook is a hint, not a change
    assert len(events("inactive_in_qbo", account=synced_account)) == 1
    states = set(QboChange.objects.filter(entity_id=link.qbo_customer_id).values_list("state", flat=True))
    assert states <= {"done", "ignored"}
    assert "done" in states
