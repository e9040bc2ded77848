"""The QuickBooks errors page against the sandbox over HTTP: real failures grouped by cause with counts and
plain-words texts, the fixes it offers (retry one or a whole cause, create under another name, re-link,
skip), and staff kept out."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from invoices.models import Invoice
from qbsync.health.causes import GUIDES, guide_for
from qbsync.health.selectors import failure_groups
from qbsync.health.services.fixes import FixRefused, failed_group_retry
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, SyncEvent
from qbsync.sync.services.connections import connection_apply_first_defaults
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice, sandbox_create

pytestmark = pytest.mark.django_db
ERRORS = reverse("health:errors")


def sync(account) -> AccountSyncLink:
    link = account_sync_request(account=account)
    account_push(link_id=link.pk)
    link.refresh_from_db()
    return link


def push(invoice: Invoice) -> InvoiceSyncLink:
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    invoice_push(link_id=link.pk)
    link.refresh_from_db()
    return link


@pytest.fixture
def failures(qbo, qbo_connection, firm):
    """Real failures: two accounts whose names vendors hold, and two invoices with no item to carry
    (the connection has no default item yet)."""
    realm = qbo_connection.realm_id
    sandbox_create(qbo, realm, "Vendor", {"DisplayName": "Staples"})
    sandbox_create(qbo, realm, "Vendor", {"DisplayName": "Quill Office Supply"})
    staples = AccountFactory(firm=firm, name="Staples")
    quill = AccountFactory(firm=firm, name="Quill Office Supply")
    client = AccountFactory(firm=firm, name="Bright Ledger")
    for account in (staples, quill):
        assert sync(account).state == SyncState.FAILED
    assert sync(client).state == SyncState.SYNCED
    invoices = [make_invoice(account=client, number=f"E-{n}", amounts=(f"{n}00.00",)) for n in (1, 2)]
    for invoice in invoices:
        assert push(invoice).state == SyncState.FAILED
    return {"staples": staples, "quill": quill, "client": client, "invoices": invoices}


def test_failures_are_grouped_by_cause_with_counts_and_texts(failures, firm):
    groups = {g.cause: g for g in failure_groups(firm=firm)}

    assert set(groups) == {"name_used_by_other", "no_item"}
    assert groups["name_used_by_other"].count == 2
    assert [r.label for r in groups["name_used_by_other"].records] == ["Quill Office Supply", "Staples"]
    assert [r.label for r in groups["no_item"].records] == ["Invoice E-1", "Invoice E-2"]
    # Accounts are offered a new name; invoices are not.
    assert groups["name_used_by_other"].offers("create")
    assert not groups["no_item"].offers("create")
    assert groups["name_used_by_other"].records[1].proposed_name == "Staples (client)"


def test_the_page_explains_each_group_and_offers_its_fixes(failures, firm_admin_client):
    html = firm_admin_client.get(ERRORS).content.decode()

    assert "4 records could not be synced, in 2 groups by cause." in html
    assert escape(GUIDES["name_used_by_other"].what) in html
    assert escape(GUIDES["no_item"].fix) in html
    staples = failures["staples"]
    assert reverse("health:errors_account_create", args=[staples.pk]) in html
    assert 'value="Staples (client)"' in html
    assert reverse("accounts:quickbooks", args=[staples.pk]) in html  # re-link: pick another customer
    assert reverse("health:errors_account_skip", args=[staples.pk]) in html
    # A vendor's name is still taken on a retry: no retry is offered for that cause.
    assert reverse("health:errors_account_retry", args=[staples.pk]) not in html
    first = failures["invoices"][0]
    assert reverse("health:errors_invoice_retry", args=[first.pk]) in html
    assert 'name="cause" value="no_item"' in html
    assert 'name="cause" value="name_used_by_other"' not in html
    # Each record says why in words; issue 14: no code, ours ("no_item") or QBO's ("6240"), and the
    # intuit_tid Intuit support asks for is folded away.
    assert "for a vendor" in html
    assert "(code" not in html
    assert "6240" not in html
    tid = AccountSyncLink.objects.get(account=staples).error_intuit_tid
    assert tid
    assert f"<summary>For Intuit support</summary><p>intuit_tid: <code>{tid}</code></p>" in html


def test_retry_one_and_then_the_rest_of_a_cause_after_fixing_it(
    qbo, failures, firm, firm_admin, firm_admin_client
):
    connection_apply_first_defaults(connection=firm.quickbooks_connection)  # the fix: an item to carry
    first, second = failures["invoices"]

    response = firm_admin_client.post(reverse("health:errors_invoice_retry", args=[first.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(ERRORS)
    assert push(first).state == SyncState.SYNCED

    response = firm_admin_client.post(reverse("health:errors_retry_group"), {"cause": "no_item"})
    assert response.status_code == 302
    link = InvoiceSyncLink.objects.get(invoice=second)
    assert link.state == SyncState.QUEUED
    assert SyncEvent.objects.filter(invoice=second, kind="requested", actor=firm_admin).exists()
    assert push(second).state == SyncState.SYNCED
    in_qbo = qbo.control.entities(firm.quickbooks_connection.realm_id, "Invoice")
    assert sorted(Decimal(str(i["TotalAmt"])) for i in in_qbo) == [Decimal("100"), Decimal("200")]
    html = firm_admin_client.get(ERRORS).content.decode()
    assert 'data-record="invoice-' not in html


def test_a_group_retry_requests_each_record_of_the_cause_and_no_other(failures, firm, firm_admin):
    connection_apply_first_defaults(connection=firm.quickbooks_connection)

    result = failed_group_retry(firm=firm, cause="no_item", actor=firm_admin)

    assert (result.requested, result.refused) == (2, [])
    states = set(InvoiceSyncLink.objects.filter(firm=firm).values_list("state", flat=True))
    assert states == {SyncState.QUEUED}
    accounts = AccountSyncLink.objects.filter(firm=firm, state=SyncState.FAILED)
    assert accounts.count() == 2  # the other cause is untouched


def test_a_cause_whose_retry_would_fail_the_same_way_is_refused(
    failures, firm, firm_admin, firm_admin_client
):
    with pytest.raises(FixRefused, match="use the fix offered"):
        failed_group_retry(firm=firm, cause="name_used_by_other", actor=firm_admin)

    response = firm_admin_client.post(
        reverse("health:errors_retry_group"), {"cause": "name_used_by_other"}, follow=True
    )
    assert "use the fix offered" in response.content.decode()
    assert AccountSyncLink.objects.filter(firm=firm, state=SyncState.FAILED).count() == 2


def test_create_under_another_name_links_a_new_customer(qbo, failures, firm, firm_admin_client):
    staples = failures["staples"]

    response = firm_admin_client.post(
        reverse("health:errors_account_create", args=[staples.pk]), {"display_name": " Staples  (client) "}
    )

    assert response.status_code == 302
    link = AccountSyncLink.objects.get(account=staples)
    assert (link.state, link.request_mode, link.requested_display_name) == (
        SyncState.QUEUED,
        "create",
        "Staples (client)",
    )
    assert account_push(link_id=link.pk) == "synced"
    names = [c["DisplayName"] for c in qbo.control.entities(firm.quickbooks_connection.realm_id, "Customer")]
    assert "Staples (client)" in names


def test_a_bad_new_name_is_refused_with_the_reason(failures, firm_admin_client):
    staples = failures["staples"]

    response = firm_admin_client.post(
        reverse("health:errors_account_create", args=[staples.pk]),
        {"display_name": "Staples: client"},
        follow=True,
    )

    assert "does not allow colons" in response.content.decode()
    assert AccountSyncLink.objects.get(account=staples).state == SyncState.FAILED


def test_skip_takes_a_record_off_the_page(failures, firm_admin_client):
    quill = failures["quill"]

    firm_admin_client.post(reverse("health:errors_account_skip", args=[quill.pk]))

    assert AccountSyncLink.objects.get(account=quill).state == SyncState.SKIPPED
    html = firm_admin_client.get(ERRORS).content.decode()
    assert f'data-record="account-{quill.pk}"' not in html
    assert f'data-record="account-{failures["staples"].pk}"' in html


def test_a_record_that_is_not_failed_any_more_is_left_alone(failures, firm_admin_client):
    client = failures["client"]  # Synced

    response = firm_admin_client.post(reverse("health:errors_account_retry", args=[client.pk]), follow=True)

    assert "not Failed any more" in response.content.decode()
    assert AccountSyncLink.objects.get(account=client).state == SyncState.SYNCED


def test_an_unknown_cause_is_explained_by_the_records_own_words(firm, firm_admin_client):
    account = AccountFactory(firm=firm, name="Odd Case")
    AccountSyncLink.objects.create(
        firm=firm,
        account=account,
        state=SyncState.FAILED,
        error_cause="something_new",
        error_explanation="Something new happened; do this.",
    )

    html = firm_admin_client.get(ERRORS).content.decode()

    assert guide_for("something_new", fallback_explanation="x").title == "Something new"
    assert "Something new happened; do this." in html


def test_a_failed_payment_is_named_by_its_amount_as_money(firm, firm_admin_client):
    from qbsync.sync.models import PaymentSyncLink
    from tests.factories import make_payment

    account = AccountFactory(firm=firm, name="Big Payer")
    payment = make_payment(account=account, amount="10000000190.00")
    PaymentSyncLink.objects.update_or_create(
        payment=payment,
        defaults={
            "firm": firm,
            "state": SyncState.FAILED,
            "error_cause": "refused",
            "error_code": "6000",
            "error_explanation": "QuickBooks Online refused the payment.",
        },
    )

    html = firm_admin_client.get(ERRORS).content.decode()

    assert f"Payment of 10,000,000,190.00 USD on {payment.date.isoformat()}" in html
    assert "10000000190" not in html


def test_nothing_failed_says_so(firm_admin_client):
    assert "Nothing is Failed" in firm_admin_client.get(ERRORS).content.decode()


@pytest.mark.parametrize(
    ("name", "method", "needs_id"),
    [
        ("health:errors", "get", False),
        ("health:errors_retry_group", "post", False),
        ("health:errors_account_retry", "post", True),
        ("health:errors_account_create", "post", True),
        ("health:errors_account_skip", "post", True),
        ("health:reconciliation", "get", False),
        ("health:reconciliation_start", "post", False),
        ("health:notifications", "get", False),
        ("health:notifications_read_all", "post", False),
    ],
)
def test_staff_are_refused(staff_client, firm, name, method, needs_id):
    account = AccountFactory(firm=firm)
    url = reverse(name, args=[account.pk]) if needs_id else reverse(name)

    response = getattr(staff_client, method)(url, {"cause": "connection"} if method == "post" else {})

    assert response.status_code == 403


def test_staff_see_no_link_to_the_errors_page(staff_client, firm_admin):
    assert ERRORS not in staff_client.get(reverse("accounts:list")).content.decode()
    admin_client = Client()
    admin_client.force_login(firm_admin)
    assert ERRORS in admin_client.get(reverse("accounts:list")).content.decode()


def test_the_quickbooks_settings_page_links_the_errors_page(qbo_connection, firm_admin_client):
    html = firm_admin_client.get(reverse("quickbooks:settings")).content.decode()
    assert ERRORS in html
    assert reverse("health:reconciliation") in html
