"""S10 (b), awkward input through the create -> sync path: every name, description, reference and number
either reaches QBO with exactly the text it has here, or is refused with a message a person can act on
before anything is written to QBO: by the form's service (before anything is queued), or by the push
before its first request (Failed, with a proposed fix). Never a half-synced record.

The rest of S10 lives with the code it checks: (a) the IDOR sweep in tests/test_tenant_isolation.py and
the CSRF sweep in tests/test_security.py, (c) `check --deploy` in tests/qbsync/settings/test_base.py,
(d) the log scan in tests/log_capture.py, (e) the list-page load in bench/accounts_list.py."""

import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.services import AccountData, account_create
from invoices.services import InvoiceData, InvoiceLineData, invoice_create
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncEvent
from qbsync.sync.states import SyncState
from tests.factories import make_invoice, make_payment, sandbox_create
from tests.faults.conftest import connect_tenant
from tests.faults.invariants import RealmCopy, assert_invariants

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

SYNCS = "syncs"
# name as typed -> what happens: SYNCS (QBO gets the stored name exactly), a Failed cause (refused before
# any write to QBO, or by QBO without creating anything), or "invalid" (the service refuses it).
ACCOUNT_NAMES = {
    "O'Brien & Sons": SYNCS,
    '"Quoted" Holdings, Inc.': SYNCS,
    "Café ☕ Ünïcödé 🚀": SYNCS,
    "شركة الأمل للمحاسبة": SYNCS,
    "Zoe\u0308 Combining Marks": SYNCS,  # stored and sent composed (NFC): "Zoë"
    "  Padded Name  ": SYNCS,  # stored trimmed; QBO gets the stored name
    "Back\\slash 100% under_score": SYNCS,
    "L" * 500: SYNCS,
    "M" * 501: "too_long",
    "Colon: Partners": "bad_characters",
    "Tab\tSeparated": "bad_characters",
    "Harbor Vendor Supply": "name_used_by_other",  # a vendor of that name exists in the company
    "Nul\x00Byte": "invalid",
    "Zero\u200bWidth Space": "invalid",  # an invisible format character: a look-alike of another name
    "   ": "invalid",
}
DESCRIPTIONS = [
    'It\'s "quoted" & <escaped>',
    "Emoji 🧾 and Ünïcödé",
    "two\nlines",
    "D" * 4000,
    "a:b:c",
]
REFERENCES = ["Chk #123 'A'", "R" * 100, "wire: Ü/ß"]


def push_account(account) -> AccountSyncLink:
    link = account_sync_request(account=account)
    account_push(link_id=link.pk)
    link.refresh_from_db()
    return link


def test_awkward_account_names_sync_exactly_or_are_refused_before_anything_is_written(qbo):
    tenant = connect_tenant(qbo)
    sandbox_create(qbo, tenant.realm, "Vendor", {"DisplayName": "Harbor Vendor Supply"})
    outcomes, refusals = {}, {}
    for typed in ACCOUNT_NAMES:
        try:
            account = account_create(firm=tenant.firm, data=AccountData(name=typed))
        except ValidationError as exc:
            refusals[typed] = exc.message_dict["name"][0]
            outcomes[typed] = "invalid"
            continue
        assert account.name == unicodedata.normalize("NFC", typed.strip())
        link = push_account(account)
        if link.state == SyncState.SYNCED:
            outcomes[typed] = SYNCS
            continue
        outcomes[typed] = link.error_cause
        assert link.state == SyncState.FAILED
        assert link.error_explanation, "the failure says what to do"
        created = SyncEvent.objects.filter(account=account, kind="create_sent").exists()
        if link.error_cause in ("too_long", "bad_characters"):
            assert not created, "refused before any request to QBO"
            assert link.error_proposed_name
            assert ":" not in link.error_proposed_name
    assert outcomes == ACCOUNT_NAMES
    assert all(refusals.values()), "each refusal says why"
    copy = RealmCopy.read(qbo, tenant.realm)
    names = sorted(c["DisplayName"] for c in copy.customers.values())
    synced = sorted(
        AccountSyncLink.objects.filter(firm=tenant.firm, state=SyncState.SYNCED).values_list(
            "account__name", flat=True
        )
    )
    assert names == synced, "QBO holds exactly the synced names, as they are here"


def test_awkward_descriptions_and_references_reach_qbo_as_they_are(qbo):
    tenant = connect_tenant(qbo)
    account = account_create(firm=tenant.firm, data=AccountData(name="Fuzz Client"))
    assert push_account(account).state == SyncState.SYNCED
    lines = [InvoiceLineData(description=text, rate=Decimal("10.00")) for text in DESCRIPTIONS]
    invoice = invoice_create(
        firm=tenant.firm,
        status="sent",
        data=InvoiceData(
            account=account,
            number="F-1",
            issue_date=date(2026, 1, 15),
            due_date=date(2026, 2, 15),
            lines=lines,
        ),
    )
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=invoice).pk) == "synced"
    payments = [
        make_payment(account=account, amount="5.00", allocations={invoice: "5.00"}, reference=ref)
        for ref in REFERENCES
    ]
    for payment in payments:
        assert payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk) == "synced"

    copy = RealmCopy.read(qbo, tenant.realm)
    [qbo_invoice] = copy.invoices.values()
    sent = [ln["Description"] for ln in qbo_invoice["Line"] if ln.get("DetailType") == "SalesItemLineDetail"]
    assert sent == [line.description for line in invoice.lines.order_by("position")] == DESCRIPTIONS
    for payment in payments:
        qbo_payment = copy.payments[PaymentSyncLink.objects.get(payment=payment).qbo_payment_id]
        # PaymentRefNum holds 21 characters; the whole reference is in the memo.
        assert qbo_payment["PaymentRefNum"] == payment.reference[:21]
        assert f"Reference: {payment.reference}" in qbo_payment["PrivateNote"]
    assert_invariants(qbo, {tenant.firm: tenant.realm})


def test_our_invoice_numbers_reach_qbo_exactly_or_fail_before_the_create(qbo):
    tenant = connect_tenant(qbo, custom_txn_numbers=True)
    account = account_create(firm=tenant.firm, data=AccountData(name="Numbering Client"))
    assert push_account(account).state == SyncState.SYNCED
    fits = make_invoice(account=account, number="INV/2026-'Ü' #7")
    too_long = make_invoice(account=account, number="N" * 22)
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=fits).pk) == "synced"
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=too_long).pk) == "failed"
    link = InvoiceSyncLink.objects.get(invoice=too_long)
    assert link.error_cause == "doc_number_too_long"
    assert "21" in link.error_explanation
    assert not SyncEvent.objects.filter(invoice=too_long, kind="create_sent").exists()
    [qbo_invoice] = RealmCopy.read(qbo, tenant.realm).invoices.values()
    assert qbo_invoice["DocNumber"] == "INV/2026-'Ü' #7"
