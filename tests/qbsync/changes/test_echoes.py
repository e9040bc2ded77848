"""Reads are metered (issue 15): the echoes of qbsync's own writes, and every change a CDC row describes, are
settled without asking QBO anything more. Counted from the sandbox's request log, over HTTP."""

from datetime import timedelta

import pytest

from qbsync.changes.models import QboChange
from qbsync.changes.services.inbox import changes_poll_connection, changes_process
from qbsync.sync.kinds.invoices import invoice_sync_on_change
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

from .conftest import push_invoice, sync_account

pytestmark = pytest.mark.django_db


class QboCalls:
    """The calls the sandbox served for one company from now on."""

    def __init__(self, sandbox, realm_id: str):
        self.sandbox, self.realm_id = sandbox, realm_id
        self.seen = {e["intuit_tid"] for e in self._log()}

    def _log(self) -> list[dict]:
        return [e for e in self.sandbox.control.requests(self.realm_id) if e.get("kind") == "api"]

    def new(self) -> list[dict]:
        return [e for e in self._log() if e["intuit_tid"] not in self.seen]

    def reads(self) -> list[str]:
        """Metered calls (Intuit's CorePlus): every GET (read by Id, CDC, company info, preferences), and
        queries."""
        return [
            f"{e['method']} {e['path'].rsplit('/', 1)[-1]}"
            for e in self.new()
            if e["method"] == "GET" or e["path"].endswith("/query")
        ]


def test_a_burst_of_our_own_writes_comes_back_as_echoes_without_a_read(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="Echo Dental LLC")
    sync_account(account)
    invoices = [make_invoice(account=account, number=f"EC-{i}", amounts=("120.00",)) for i in range(5)]
    for invoice in invoices:
        push_invoice(invoice)
    # One of them edited here and pushed again: QBO's copy is at SyncToken 1, which we wrote.
    edited = invoices[0]
    edited.due_date += timedelta(days=7)
    edited.content_version += 1
    edited.save(update_fields=["due_date", "content_version"])
    invoice_sync_on_change(invoice=edited)
    assert push_invoice(edited).qbo_sync_token == "1"
    payment = make_payment(account=account, amount="20.00", allocations={invoices[4]: "20.00"})
    assert payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk) == "synced"
    calls = QboCalls(qbo, connected.realm_id)

    changes_poll_connection(connection_id=connected.pk)
    counts = changes_process(connection_id=connected.pk)

    assert calls.reads() == ["GET cdc"]  # the one CDC request, and nothing after it
    assert len(calls.new()) == 1  # no write either
    assert counts["done"] == counts["failed"] == 0
    outcomes = dict(QboChange.objects.filter(entity="Invoice").values_list("entity_id", "outcome"))
    links = InvoiceSyncLink.objects.filter(invoice__in=invoices[:4])
    assert {outcomes[link.qbo_invoice_id] for link in links} == {"ignored: our own change"}
    assert QboChange.objects.filter(entity="Payment").get().outcome == "ignored: our own payment"
    assert QboChange.objects.filter(entity="Customer").get().outcome == "ignored: customer unchanged"
    assert set(InvoiceSyncLink.objects.filter(invoice__in=invoices).values_list("state", flat=True)) == {
        SyncState.SYNCED
    }


def test_changes_made_in_qbo_are_reacted_to_from_the_cdc_rows_alone(qbo, connected, qbo_user, synced_invoice):
    paid = InvoiceSyncLink.objects.get(invoice=synced_invoice)
    link = push_invoice(make_invoice(account=synced_invoice.account, number="CH-2"))
    customer_id = AccountSyncLink.objects.get(account=synced_invoice.account).qbo_customer_id
    changes_poll_connection(connection_id=connected.pk)
    changes_process(connection_id=connected.pk)
    qbo_user.rename(customer_id, "Harbor Dental Group")
    qbo_user.receive_payment(customer_id, paid.qbo_invoice_id, "50.00")
    qbo_user.void_invoice(link.qbo_invoice_id)
    calls = QboCalls(qbo, connected.realm_id)

    changes_poll_connection(connection_id=connected.pk)
    counts = changes_process(connection_id=connected.pk)

    assert counts["done"] >= 3
    assert calls.reads() == ["GET cdc"]
    link.refresh_from_db()
    assert link.error_cause == "changed_in_qbo"


def test_a_merge_is_followed_from_the_cdc_answer_that_reports_it(qbo, connected, qbo_user, synced_invoice):
    """A merge moves the transactions and changes the survivor: the CDC answer that reports the customer
    gone has them, so the account is re-pointed without a read."""
    account_link = AccountSyncLink.objects.get(account=synced_invoice.account)
    survivor = qbo_user.create_customer("Harbor Dental (main)")
    changes_poll_connection(connection_id=connected.pk)
    changes_process(connection_id=connected.pk)
    qbo_user.merge(account_link.qbo_customer_id, survivor["Id"])
    calls = QboCalls(qbo, connected.realm_id)

    changes_poll_connection(connection_id=connected.pk)
    changes_process(connection_id=connected.pk)

    account_link.refresh_from_db()
    assert (account_link.state, account_link.qbo_customer_id) == (SyncState.SYNCED, survivor["Id"])
    assert calls.reads() == ["GET cdc"]


def test_a_merge_claim_about_a_customer_not_ours_reads_nothing(qbo, connected, qbo_user, firm):
    from qbsync.changes.services.inbox import changes_record_notices
    from qbsync.quickbooks.webhooks import ChangeNotice

    first = qbo_user.create_customer("Someone Else")
    second = qbo_user.create_customer("Someone Else (main)")
    calls = QboCalls(qbo, connected.realm_id)
    notice = ChangeNotice(
        event_id="merge-not-ours",
        realm_id=connected.realm_id,
        entity="Customer",
        entity_id=second["Id"],
        operation="Merge",
        occurred_at="2026-01-05T10:00:00-0700",
        deleted_id=first["Id"],
    )
    changes_record_notices(notices=[notice])

    changes_process(connection_id=connected.pk)

    assert QboChange.objects.get(event_id="merge-not-ours").outcome == (
        "ignored: customer not linked to an account"
    )
    assert calls.reads() == []


def test_a_customer_we_created_comes_back_unchanged_without_a_read(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="Fresh Client")
    sync_account(account)
    calls = QboCalls(qbo, connected.realm_id)

    changes_poll_connection(connection_id=connected.pk)
    changes_process(connection_id=connected.pk)

    assert calls.reads() == ["GET cdc"]
    assert QboChange.objects.get(entity="Customer").outcome == "ignored: customer unchanged"


def test_echoes_are_settled_together_in_the_same_queries_for_few_and_many(qbo, connected, firm):
    """The inbox rows are written here as a CDC poll writes them (a poll's window would add the customer's
    row or not, by the second its balance changed in)."""
    from django.db import connection as db_connection
    from django.test.utils import CaptureQueriesContext

    account = AccountFactory(firm=firm, name="Many Echoes LLC")
    sync_account(account)
    changes_process(connection_id=connected.pk)  # the connection's first run makes its inbox's turn row
    queries = []
    for count in (2, 12):
        links = [
            push_invoice(make_invoice(account=account, number=f"ME-{count}-{i}", amounts=("80.00",)))
            for i in range(count)
        ]
        for link in links:
            QboChange.objects.create(
                firm=firm,
                realm_id=connected.realm_id,
                event_id=f"cdc-echo-{link.qbo_invoice_id}",
                source=QboChange.Source.CDC,
                entity="Invoice",
                entity_id=link.qbo_invoice_id,
                operation="Update",
                payload={"Id": link.qbo_invoice_id, "SyncToken": link.qbo_sync_token},
            )
        with CaptureQueriesContext(db_connection) as captured:
            counts = changes_process(connection_id=connected.pk)
        assert counts == {"done": 0, "ignored": count, "failed": 0, "later": 0}
        queries.append(len(captured))
    assert queries[0] == queries[1], queries
    assert set(QboChange.objects.values_list("state", "outcome")) == {
        (QboChange.State.IGNORED, "ignored: our own change")
    }
