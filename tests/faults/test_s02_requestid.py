"""S2, the requestid reality check. Intuit documents that a repeated requestid replays the first answer;
users report QBO executing it again, or refusing it. The sandbox plays each (its `idempotency` setting):
the first test records what each mode does with a repeated create, the second shows our flow leaves one
invoice and one payment whichever QBO we get, including when a lost reply is followed by an edit (a new
requestid), because it looks the record up by its marker before creating."""

from decimal import Decimal

import pytest
import requests

from invoices.services import InvoiceData, InvoiceLineData, invoice_update
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import InvoiceSyncLink, PaymentSyncLink
from tests.factories import AccountFactory, make_invoice, make_payment
from tests.faults.conftest import connect_tenant
from tests.faults.invariants import assert_invariants

pytestmark = [pytest.mark.faults, pytest.mark.django_db]
MODES = ["replay", "off", "error"]


@pytest.mark.parametrize(
    ("mode", "copies", "second_status"), [("replay", 1, 200), ("off", 2, 200), ("error", 1, 400)]
)
def test_what_a_repeated_requestid_does_in_each_mode(qbo, mode, copies, second_status):
    realm = qbo.control.create_company(f"Requestid {mode}", settings={"idempotency": mode})
    token = qbo.control.tokens(realm)["access_token"]
    url = f"{qbo.api_base}/company/{realm}/customer?requestid=s2-{mode}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    first = requests.post(url, json={"DisplayName": "Requestid Client"}, headers=headers, timeout=10)
    second = requests.post(url, json={"DisplayName": "Requestid Client 2"}, headers=headers, timeout=10)
    assert (first.status_code, second.status_code) == (200, second_status)
    assert len(qbo.control.entities(realm, "Customer")) == copies
    if mode == "replay":
        assert second.content == first.content
        assert qbo.control.requests(realm)[-1]["replayed"] is True


def push_until_settled(push, model, obj_field: str, obj) -> str:
    link = model.objects.get(**{obj_field: obj})
    for _ in range(4):
        model.objects.filter(pk=link.pk).update(next_attempt_at=None)  # the backoff has passed
        outcome = push(link_id=link.pk)
        if outcome == "synced":
            return outcome
    return outcome


@pytest.mark.parametrize("mode", MODES)
def test_a_lost_reply_leaves_one_invoice_and_one_payment_whatever_qbo_does_with_requestid(qbo, mode):
    tenant = connect_tenant(qbo, idempotency=mode)
    realm, firm = tenant.realm, tenant.firm
    account = AccountFactory(firm=firm, name="Replay Client")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"

    # Lost reply, then the same requestid again (nothing changed meanwhile).
    qbo.control.fault(realm, "drop_after_commit", method="POST", path="invoice", operation="create")
    first = make_invoice(account=account, amounts=("410.00",))
    assert push_until_settled(invoice_push, InvoiceSyncLink, "invoice", first) == "synced"

    # Lost reply, then an edit before the retry: the retry carries a new requestid.
    qbo.control.fault(realm, "drop_after_commit", method="POST", path="invoice", operation="create")
    edited = make_invoice(account=account, amounts=("100.00",))
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=edited).pk) == "deferred"
    invoice_update(
        invoice=edited,
        data=InvoiceData(
            account=account,
            number=edited.number,
            issue_date=edited.issue_date,
            due_date=edited.due_date,
            lines=[InvoiceLineData(description="Work, revised", rate=Decimal("175.25"))],
        ),
    )
    assert push_until_settled(invoice_push, InvoiceSyncLink, "invoice", edited) == "synced"

    qbo.control.fault(realm, "drop_after_commit", method="POST", path="payment", operation="create")
    payment = make_payment(account=account, amount="500.00", allocations={first: "410.00"})
    assert push_until_settled(payment_push, PaymentSyncLink, "payment", payment) == "synced"

    assert_invariants(qbo, {firm: realm})
    dropped = [r for r in qbo.control.requests(realm) if r.get("dropped")]
    assert len(dropped) == 3, "each lost reply was exercised"
