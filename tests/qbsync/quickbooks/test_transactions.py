"""Invoices and payments: the bodies we send (pure), then round trips against the sandbox over HTTP."""

import json
import uuid
from datetime import date
from decimal import Decimal

import pytest

from qbsync.quickbooks.client import QboClient, encode_body
from qbsync.quickbooks.customers import CustomerDraft, create_customer
from qbsync.quickbooks.errors import (
    QboDuplicateDocNumberError,
    QboNotFoundError,
    QboStaleObjectError,
    QboUnavailableError,
    QboValidationError,
)
from qbsync.quickbooks.transactions import (
    DocNumberTooLong,
    InvoiceDraft,
    InvoiceLineDraft,
    PaymentApplication,
    PaymentDraft,
    create_invoice,
    create_payment,
    delete_invoice,
    delete_payment,
    doc_number_for,
    find_invoices_by_doc_number,
    find_invoices_by_marker,
    find_payments_by_marker,
    invoice_from_json,
    money,
    payment_from_json,
    read_invoice,
    read_payment,
    update_invoice_sparse,
    update_payment_sparse,
    void_invoice,
    void_payment,
)
from tests.qbsync.quickbooks.test_governor_over_http import FixedToken

D = Decimal


def line(amount="100.00", qty="1", price=None, description="Bookkeeping", item_id="1"):
    return InvoiceLineDraft(
        amount=D(amount),
        quantity=D(qty),
        unit_price=D(price or amount),
        description=description,
        item_id=item_id,
    )


def draft(customer_id="7", lines=None, **kw):
    return InvoiceDraft(
        customer_id=customer_id,
        txn_date=kw.pop("txn_date", date(2025, 3, 1)),
        due_date=kw.pop("due_date", date(2025, 3, 31)),
        lines=[line()] if lines is None else lines,
        **kw,
    )


# Pure: invoice bodies -----------------------------------------------------------------------------------


def test_an_invoice_body_has_the_customer_dates_note_and_sales_item_lines():
    body = draft(
        lines=[line("150.00", "1.5", "100", "Payroll", "3"), line("20", description="Filing")],
        private_note="qbsync:inv:12",
    ).payload()
    assert body["CustomerRef"] == {"value": "7"}
    assert (body["TxnDate"], body["DueDate"]) == ("2025-03-01", "2025-03-31")
    assert body["PrivateNote"] == "qbsync:inv:12"
    assert "DocNumber" not in body
    assert body["Line"][0] == {
        "DetailType": "SalesItemLineDetail",
        "Amount": D("150.00"),
        "Description": "Payroll",
        "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "Qty": D("1.5"), "UnitPrice": D("100")},
    }
    assert body["Line"][1]["Amount"] == D("20.00")


def test_a_doc_number_is_sent_only_when_given():
    assert draft(doc_number="INV-0042").payload()["DocNumber"] == "INV-0042"
    assert "DocNumber" not in draft(doc_number=None).payload()


def test_amounts_are_rounded_to_cents_half_up_and_encoded_as_exact_json_numbers():
    body = draft(
        lines=[line("10.005", "1", "10.005"), line("0.1"), line("0.2"), line("1234567.895")]
    ).payload()
    assert [entry["Amount"] for entry in body["Line"]] == [D("10.01"), D("0.10"), D("0.20"), D("1234567.90")]
    text = encode_body(body)
    assert '"Amount": 10.01' in text
    assert '"Amount": 0.1,' in text
    assert '"Amount": 1234567.9' in text
    assert json.loads(text, parse_float=Decimal)["Line"][3]["Amount"] == D("1234567.9")
    assert draft(lines=[line("0.1"), line("0.2")]).total == D("0.30")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        money(0.1)
    with pytest.raises(TypeError):
        InvoiceLineDraft(
            amount=D("1"), quantity=1.0, unit_price=D("1"), description="", item_id="1"
        ).payload()


def test_an_invoice_needs_a_line():
    with pytest.raises(ValueError, match="at least one line"):
        draft(lines=[])


def test_doc_number_for_sends_ours_only_when_the_company_numbers_its_own():
    assert doc_number_for("2025-0042", custom_txn_numbers=True) == "2025-0042"
    assert doc_number_for("2025-0042", custom_txn_numbers=False) is None
    assert doc_number_for("x" * 21, custom_txn_numbers=True) == "x" * 21
    assert doc_number_for("x" * 22, custom_txn_numbers=False) is None  # QBO numbers it: no problem


def test_a_doc_number_over_21_characters_is_a_clear_value_error():
    with pytest.raises(DocNumberTooLong, match="at most 21") as caught:
        doc_number_for("ACME-2025-INVOICE-00042", custom_txn_numbers=True)
    assert isinstance(caught.value, ValueError)
    assert caught.value.limit == 21
    with pytest.raises(DocNumberTooLong):
        draft(doc_number="y" * 22)


def test_invoice_from_json_reads_decimals_dates_and_void():
    row = {
        "Id": "130",
        "SyncToken": "2",
        "DocNumber": "1037",
        "TotalAmt": D("362.07"),
        "Balance": D("0"),
        "TxnDate": "2025-03-01",
        "CustomerRef": {"value": "7", "name": "Acme"},
        "PrivateNote": "qbsync:inv:1",
    }
    invoice = invoice_from_json(row)
    assert (invoice.total, invoice.balance, invoice.txn_date) == (D("362.07"), D("0"), date(2025, 3, 1))
    assert (invoice.doc_number, invoice.customer_id, invoice.voided) == ("1037", "7", False)
    voided = invoice_from_json({**row, "TotalAmt": 0, "PrivateNote": "Voided - qbsync:inv:1"})
    assert voided.voided is True
    assert invoice_from_json({**row, "TotalAmt": 0, "DocNumber": None}).voided is None
    assert invoice_from_json({**row, "DocNumber": None}).doc_number is None


# Pure: payment bodies -----------------------------------------------------------------------------------


def payment(total="300.00", applications=(), **kw):
    return PaymentDraft(
        customer_id=kw.pop("customer_id", "7"),
        txn_date=kw.pop("txn_date", date(2025, 3, 10)),
        total=D(total),
        reference=kw.pop("reference", "CHK 1001"),
        method_note=kw.pop("method_note", "Check"),
        applications=[PaymentApplication(i, D(a)) for i, a in applications],
        private_note=kw.pop("private_note", "qbsync:pay:5"),
    )


def test_a_payment_body_applies_lines_to_invoices_and_leaves_the_rest_unapplied():
    p = payment("300", [("130", "100"), ("131", "150.5")])
    body = p.payload()
    assert body["CustomerRef"] == {"value": "7"}
    assert (body["TotalAmt"], body["TxnDate"], body["PaymentRefNum"]) == (
        D("300.00"),
        "2025-03-10",
        "CHK 1001",
    )
    assert body["Line"] == [
        {"Amount": D("100.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
        {"Amount": D("150.50"), "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}]},
    ]
    assert (p.applied, p.unapplied) == (D("250.50"), D("49.50"))
    assert body["PrivateNote"] == "qbsync:pay:5\nReference: CHK 1001\nMethod: Check"
    assert '"TotalAmt": 300.0' in encode_body(body)


def test_an_unapplied_payment_has_no_lines():
    p = payment("75", [])
    assert p.payload()["Line"] == []
    assert p.unapplied == D("75.00")


def test_applications_may_not_exceed_the_total_or_be_non_positive():
    assert payment("100", [("1", "60"), ("2", "40")]).unapplied == D("0.00")
    with pytest.raises(ValueError, match="exceed"):
        payment("100", [("1", "60"), ("2", "40.01")])
    with pytest.raises(ValueError, match="positive"):
        payment("100", [("1", "0")])
    with pytest.raises(ValueError, match="negative"):
        payment("-1")


def test_a_long_reference_is_truncated_in_payment_ref_num_and_kept_whole_in_the_note():
    reference = "WIRE 2025-03-10 ACME HOLDINGS 998877"
    body = payment(reference=reference).payload()
    assert body["PaymentRefNum"] == reference[:21]
    assert f"Reference: {reference}" in body["PrivateNote"]
    plain = payment(reference="", method_note="", private_note="m").payload()
    assert "PaymentRefNum" not in plain
    assert plain["PrivateNote"] == "m"


def test_payment_from_json_lists_the_invoices_it_pays():
    row = {
        "Id": "140",
        "SyncToken": "0",
        "TotalAmt": D("300"),
        "UnappliedAmt": D("50"),
        "TxnDate": "2025-03-10",
        "CustomerRef": {"value": "7"},
        "PaymentRefNum": "CHK 1001",
        "Line": [
            {"Amount": D("100"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}], "LineEx": {}},
            {"Amount": D("150"), "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}]},
            {"Amount": D("5"), "LinkedTxn": [{"TxnId": "9", "TxnType": "CreditMemo"}]},
        ],
    }
    p = payment_from_json(row)
    assert p.applications == (("130", D("100")), ("131", D("150")))
    assert (p.total, p.unapplied, p.reference, p.txn_date) == (
        D("300"),
        D("50"),
        "CHK 1001",
        date(2025, 3, 10),
    )


# Round trips against the sandbox --------------------------------------------------------------------------


class Company:
    def __init__(self, sandbox, *, custom_txn_numbers=False):
        self.sandbox = sandbox
        self.realm = sandbox.control.create_company(
            f"Txn Co {uuid.uuid4().hex[:6]}",
            customer_types=["Business"],
            custom_txn_numbers=custom_txn_numbers,
        )
        token = sandbox.control.tokens(self.realm)["access_token"]
        self.client = QboClient(
            realm_id=self.realm, base_url=sandbox.api_base, token_source=FixedToken(token)
        )
        self.customer = create_customer(
            self.client, CustomerDraft(display_name="Acme Holdings"), request_id=self.rid()
        )

    @staticmethod
    def rid() -> str:
        return uuid.uuid4().hex

    def invoice(self, *amounts: str, **kw):
        lines = [line(a) for a in amounts or ("100.00",)]
        return create_invoice(self.client, draft(self.customer.id, lines, **kw), request_id=self.rid())

    def stored(self, entity):
        return [r for r in self.sandbox.control.entities(self.realm, entity) if r.get("status") != "Deleted"]


@pytest.fixture
def company(qbo_sandbox):
    return Company(qbo_sandbox)


@pytest.fixture
def custom_company(qbo_sandbox):
    return Company(qbo_sandbox, custom_txn_numbers=True)


def test_an_invoice_is_created_auto_numbered_and_read_back_in_decimals(company):
    first = company.invoice("150.00", "0.10", private_note="qbsync:inv:1")
    second = company.invoice("0.20")
    assert first.doc_number
    assert second.doc_number
    assert first.doc_number != second.doc_number
    again = read_invoice(company.client, first.id)
    assert again == first
    assert isinstance(again.total, Decimal)
    assert (again.total, again.balance) == (D("150.10"), D("150.10"))
    assert (again.customer_id, again.txn_date, again.voided) == (company.customer.id, date(2025, 3, 1), False)
    assert again.private_note == "qbsync:inv:1"


def test_custom_numbers_are_kept_and_a_duplicate_is_refused(custom_company):
    number = doc_number_for("2025-0042", custom_txn_numbers=True)
    invoice = custom_company.invoice("10", doc_number=number)
    assert invoice.doc_number == "2025-0042"
    with pytest.raises(QboDuplicateDocNumberError):
        custom_company.invoice("20", doc_number=number)
    # Without a number, a company that numbers its own invoices leaves DocNumber empty.
    assert custom_company.invoice("30").doc_number is None
    assert [i.id for i in find_invoices_by_doc_number(custom_company.client, "2025-0042")] == [invoice.id]


def test_a_sparse_update_replaces_lines_and_a_stale_sync_token_is_refused(company):
    invoice = company.invoice("100.00", "50.00", private_note="qbsync:inv:2")
    changed = draft(
        company.customer.id,
        [line("80.00", "2", "40", "Two hours")],
        txn_date=date(2025, 3, 2),
        due_date=date(2025, 4, 1),
        private_note="qbsync:inv:2 edited",
    )
    updated = update_invoice_sparse(
        company.client, invoice.id, invoice.sync_token, changed, request_id=company.rid()
    )
    assert int(updated.sync_token) == int(invoice.sync_token) + 1
    assert (updated.total, updated.balance, updated.txn_date) == (D("80.00"), D("80.00"), date(2025, 3, 2))
    assert updated.doc_number == invoice.doc_number  # a sparse update without DocNumber keeps QBO's
    [stored] = [r for r in company.stored("Invoice") if r["Id"] == invoice.id]
    sales_lines = [r for r in stored["Line"] if r["DetailType"] == "SalesItemLineDetail"]
    assert [(r["Amount"], r["Description"]) for r in sales_lines] == [(80, "Two hours")]
    with pytest.raises(QboStaleObjectError):
        update_invoice_sparse(
            company.client, invoice.id, invoice.sync_token, changed, request_id=company.rid()
        )


def test_void_keeps_the_invoice_at_zero_and_delete_removes_it(company):
    invoice = company.invoice("100.00", private_note="qbsync:inv:3")
    voided = void_invoice(company.client, invoice.id, invoice.sync_token, request_id=company.rid())
    assert (voided.total, voided.balance, voided.voided) == (D("0"), D("0"), True)
    assert voided.doc_number == invoice.doc_number
    assert voided.private_note.startswith("Voided")
    # The marker survives the "Voided - " QBO prepends.
    assert [i.id for i in find_invoices_by_marker(company.client, company.customer.id, "qbsync:inv:3")] == [
        invoice.id
    ]

    other = company.invoice("20.00")
    delete_invoice(company.client, other.id, other.sync_token, request_id=company.rid())
    with pytest.raises(QboNotFoundError):
        read_invoice(company.client, other.id)


def test_a_payment_applied_to_two_invoices_lowers_their_balances_and_deleting_it_restores_them(company):
    a = company.invoice("100.00")
    b = company.invoice("200.00")
    paid = create_payment(
        company.client,
        payment("250.00", [(a.id, "100.00"), (b.id, "120.00")], customer_id=company.customer.id),
        request_id=company.rid(),
    )
    assert (paid.total, paid.unapplied) == (D("250.00"), D("30.00"))
    assert paid.applications == ((a.id, D("100.00")), (b.id, D("120.00")))
    assert read_payment(company.client, paid.id) == paid
    assert read_invoice(company.client, a.id).balance == D("0")
    assert read_invoice(company.client, b.id).balance == D("80.00")

    # A paid invoice cannot be voided or deleted in the sandbox (6000).
    fresh_a = read_invoice(company.client, a.id)
    with pytest.raises(QboValidationError):
        void_invoice(company.client, a.id, fresh_a.sync_token, request_id=company.rid())

    delete_payment(company.client, paid.id, paid.sync_token, request_id=company.rid())
    with pytest.raises(QboNotFoundError):
        read_payment(company.client, paid.id)
    assert read_invoice(company.client, a.id).balance == D("100.00")
    assert read_invoice(company.client, b.id).balance == D("200.00")


def test_an_unapplied_payment_is_a_credit_and_can_be_applied_by_a_sparse_update(company):
    a = company.invoice("100.00")
    credit = create_payment(
        company.client, payment("75.00", [], customer_id=company.customer.id), request_id=company.rid()
    )
    assert (credit.unapplied, credit.applications) == (D("75.00"), ())
    applied = update_payment_sparse(
        company.client,
        credit.id,
        credit.sync_token,
        payment("75.00", [(a.id, "75.00")], customer_id=company.customer.id),
        request_id=company.rid(),
    )
    assert (applied.unapplied, applied.applications) == (D("0"), ((a.id, D("75.00")),))
    assert read_invoice(company.client, a.id).balance == D("25.00")
    with pytest.raises(QboStaleObjectError):
        update_payment_sparse(
            company.client,
            credit.id,
            credit.sync_token,
            payment("75.00", [], customer_id=company.customer.id),
            request_id=company.rid(),
        )

    voided = void_payment(company.client, applied.id, applied.sync_token, request_id=company.rid())
    assert (voided.total, voided.unapplied, voided.applications) == (D("0"), D("0"), ())
    assert voided.private_note.startswith("Voided")
    assert read_invoice(company.client, a.id).balance == D("100.00")
    # QBO's own form (the sandbox also takes operation=void): an update that includes void.
    [logged] = [r for r in company.sandbox.control.requests(company.realm) if "include=void" in r["query"]]
    assert "operation=update" in logged["query"]
    assert logged["path"].endswith("/payment")


def test_over_applying_in_qbo_is_refused_too(company):
    a = company.invoice("50.00")
    too_much = payment("80.00", [(a.id, "80.00")], customer_id=company.customer.id)
    with pytest.raises(QboValidationError):
        create_payment(company.client, too_much, request_id=company.rid())


def test_find_by_marker_matches_whole_markers_of_that_customer_only(company):
    twelve = company.invoice("10", private_note="qbsync:inv:12")
    company.invoice("10", private_note="qbsync:inv:123")
    company.invoice("10", private_note="qbsync:inv:1")
    other = create_customer(company.client, CustomerDraft(display_name="Other Ltd"), request_id=company.rid())
    create_invoice(company.client, draft(other.id, private_note="qbsync:inv:12"), request_id=company.rid())
    found = find_invoices_by_marker(company.client, company.customer.id, "qbsync:inv:12")
    assert [i.id for i in found] == [twelve.id]
    assert find_invoices_by_marker(company.client, company.customer.id, "qbsync:inv:99") == []

    p = create_payment(
        company.client,
        payment("5", [], customer_id=company.customer.id, private_note="qbsync:pay:12"),
        request_id=company.rid(),
    )
    assert [x.id for x in find_payments_by_marker(company.client, company.customer.id, "qbsync:pay:12")] == [
        p.id
    ]
    assert find_payments_by_marker(company.client, company.customer.id, "qbsync:pay:1") == []
    assert [i.id for i in find_invoices_by_doc_number(company.client, twelve.doc_number)] == [twelve.id]


def test_a_repeated_requestid_replays_but_a_fresh_one_after_a_lost_reply_creates_a_second(company):
    d = draft(company.customer.id, private_note="qbsync:inv:77")
    rid = company.rid()
    first = create_invoice(company.client, d, request_id=rid)
    assert create_invoice(company.client, d, request_id=rid) == first
    assert len(find_invoices_by_marker(company.client, company.customer.id, "qbsync:inv:77")) == 1

    # The reply is lost after QBO committed: retrying with the same requestid is safe ...
    company.sandbox.control.fault(company.realm, "drop_after_commit", path="invoice", method="POST")
    lost_rid = company.rid()
    d2 = draft(company.customer.id, private_note="qbsync:inv:78")
    with pytest.raises(QboUnavailableError):
        create_invoice(company.client, d2, request_id=lost_rid)
    replayed = create_invoice(company.client, d2, request_id=lost_rid)
    assert [i.id for i in find_invoices_by_marker(company.client, company.customer.id, "qbsync:inv:78")] == [
        replayed.id
    ]

    # ... but a fresh requestid creates a duplicate: callers look up the marker before creating again.
    company.sandbox.control.fault(company.realm, "drop_after_commit", path="invoice", method="POST")
    d3 = draft(company.customer.id, private_note="qbsync:inv:79")
    with pytest.raises(QboUnavailableError):
        create_invoice(company.client, d3, request_id=company.rid())
    create_invoice(company.client, d3, request_id=company.rid())
    assert len(find_invoices_by_marker(company.client, company.customer.id, "qbsync:inv:79")) == 2


# Batches ------------------------------------------------------------------------------------------------


def test_a_batch_creates_invoices_and_payments_and_a_failed_item_fails_alone(custom_company):
    from qbsync.quickbooks.transactions import QboInvoice, QboPayment, batch_create_transactions

    existing = custom_company.invoice("10.00", doc_number="B-1")
    drafts = [
        ("i1", draft(custom_company.customer.id, [line("120.50"), line("0.15")], doc_number="B-2")),
        ("i2", draft(custom_company.customer.id, [line("5.00")], doc_number="B-1")),  # taken
        (
            "p1",
            PaymentDraft(
                customer_id=custom_company.customer.id,
                txn_date=date(2025, 3, 2),
                total=D("12.00"),
                applications=(PaymentApplication(invoice_id=existing.id, amount=D("10.00")),),
                private_note="qbsync:pay:9",
            ),
        ),
    ]
    results = batch_create_transactions(custom_company.client, drafts, request_id=Company.rid()[:36])
    assert isinstance(results["i1"], QboInvoice)
    assert (results["i1"].total, results["i1"].doc_number) == (D("120.65"), "B-2")
    assert isinstance(results["i2"], QboDuplicateDocNumberError)
    assert isinstance(results["p1"], QboPayment)
    assert (results["p1"].total, results["p1"].unapplied) == (D("12.00"), D("2.00"))
    assert results["p1"].applications == ((existing.id, D("10.00")),)
    assert read_invoice(custom_company.client, existing.id).balance == D("0.00")
    assert sorted(i["DocNumber"] for i in custom_company.stored("Invoice")) == ["B-1", "B-2"]


def test_a_batch_refuses_bad_batch_ids_before_sending(company):
    from qbsync.quickbooks.batch import batch_write

    body = draft(company.customer.id).payload()
    with pytest.raises(ValueError, match="1 to 30"):
        batch_write(company.client, [], request_id="x")
    with pytest.raises(ValueError, match="bId"):
        batch_write(company.client, [("a" * 11, "create", "Invoice", body)], request_id="x")
    with pytest.raises(ValueError, match="bId"):
        batch_write(
            company.client,
            [("a", "create", "Invoice", body), ("a", "create", "Invoice", body)],
            request_id="x",
        )
    assert not company.stored("Invoice")


def test_a_line_whose_quantity_times_rate_is_not_whole_cents_goes_without_them(company):
    rounded = line("0.50", qty="1.5", price="0.33", description="Filing")
    body = rounded.payload()
    assert body["SalesItemLineDetail"] == {"ItemRef": {"value": "1"}}
    assert body["Description"] == "Filing (1.5 x 0.33)"
    exact = line("49.50", qty="1.5", price="33.00").payload()
    assert (exact["SalesItemLineDetail"]["Qty"], exact["SalesItemLineDetail"]["UnitPrice"]) == (
        D("1.5"),
        D("33.00"),
    )
    created = create_invoice(
        company.client, draft(company.customer.id, [rounded, line("33.00")]), request_id=Company.rid()
    )
    assert created.total == D("33.50")


# Issue 13, item 6: the " (qty x rate)" suffix never takes a line description over QBO's 4,000 characters.


def test_a_long_description_with_the_rate_suffix_is_trimmed_to_4000_keeping_the_rate(caplog):
    rounded = line("0.50", qty="1.5", price="0.33", description="x" * 4000)
    body = rounded.payload()
    assert len(body["Description"]) == 4000
    assert body["Description"].endswith("x… (1.5 x 0.33)")
    assert rounded.description_trimmed
    invoice = draft(lines=[line(), rounded])
    assert invoice.trimmed_lines == (2,)
    with caplog.at_level("WARNING", logger="qbsync.quickbooks.transactions"):
        invoice.payload()
    assert "Invoice lines 2: description sent trimmed to QuickBooks' 4000 characters" in caplog.text


def test_a_description_that_fits_with_its_suffix_is_sent_whole():
    suffix = " (1.5 x 0.33)"
    fits = line("0.50", qty="1.5", price="0.33", description="y" * (4000 - len(suffix)))
    assert fits.payload()["Description"] == "y" * (4000 - len(suffix)) + suffix
    assert not fits.description_trimmed
    exact = line("100.00", description="z" * 4000)
    assert exact.payload()["Description"] == "z" * 4000
    assert draft(lines=[fits, exact]).trimmed_lines == ()


def test_a_trimmed_description_is_accepted_by_qbo(company):
    rounded = line("0.50", qty="1.5", price="0.33", description="Advice " * 600)
    created = create_invoice(company.client, draft(company.customer.id, [rounded]), request_id=Company.rid())
    [stored] = [r for r in company.stored("Invoice") if r["Id"] == created.id]
    description = stored["Line"][0]["Description"]
    assert len(description) == 4000
    assert description.endswith("… (1.5 x 0.33)")
