"""Another firm's objects are a 404 on every URL that takes an id, and nothing of theirs changes; every URL
without an id acts on the signed-in user's own firm only, shows nothing of another firm's, and changes
nothing of theirs.

The URLs are discovered from the resolver, so a new URL without a case here fails the test."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Account
from invoices.models import Invoice, InvoiceLine, Payment, PaymentAllocation, TaxRate, TaxRateComponent
from qbsync.changes.models import ChangePoll, InvoiceChangeInQbo, QboChange, QboPaymentOnInvoice
from qbsync.health.models import Notification, ReconciliationReport
from qbsync.sync.models import (
    AccountSyncLink,
    BulkSyncItem,
    BulkSyncPlan,
    InvoiceSyncLink,
    PaymentSyncLink,
    QuickBooksConnection,
    ServiceItemMapping,
    SyncEvent,
    SyncOutbox,
)
from qbsync.sync.states import SyncState
from tests.factories import (
    AccountFactory,
    UserFactory,
    connection_for_realm,
    make_invoice,
    make_payment,
    make_tax_rate,
)

pytestmark = pytest.mark.django_db

# Namespaces that are not firm pages: Django's admin has its own staff-only permission model.
SKIPPED_NAMESPACES = {"admin"}
POST_ONLY = {
    "accounts:archive",
    "accounts:restore",
    "accounts:quickbooks_sync",
    "accounts:quickbooks_skip",
    "invoices:send",
    "invoices:void",
    "invoices:delete",
    "invoices:payment_delete",
    "invoices:quickbooks_sync",
    "invoices:quickbooks_skip",
    "invoices:payment_quickbooks_sync",
    "invoices:payment_quickbooks_skip",
    "quickbooks:connect",
    "quickbooks:disconnect",
    "quickbooks:defaults",
    "quickbooks:service_items",
    "quickbooks:pick_lists_refresh",
    "quickbooks:tax_codes_save",
    "quickbooks:tax_codes_refresh",
    "quickbooks:bulk_preview",
    "quickbooks:bulk_start",
    "changes:invoice_repush",
    "changes:invoice_accept",
    "health:errors_account_retry",
    "health:errors_account_create",
    "health:errors_account_skip",
    "health:errors_invoice_retry",
    "health:errors_invoice_skip",
    "health:errors_payment_retry",
    "health:errors_payment_skip",
    "health:notification_read",
    "health:errors_retry_group",
    "health:reconciliation_start",
    "health:notifications_read_all",
    "invoicing:tax_rate_archive",
    "invoicing:tax_rate_restore",
    "invoicing:tax_rate_delete",
}
# Pages that answer 405 to any POST, whoever's the id.
GET_ONLY = {
    "quickbooks:settings",
    "quickbooks:bulk_plan",
    "health:errors",
    "health:reconciliation",
    "health:notifications",
    "accounts:sync_status",
    "accounts:sync_counts",
    "invoices:sync_status",
    "invoicing:tax_rates",
}
# Reached only as the end of the authorize flow; tests/qbsync/sync/test_connection_flow.py covers it.
FLOW_ONLY = {"quickbooks:callback"}
# URLs without an id that are no firm page, each tested where it says.
NOT_FIRM_PAGES = {
    "login": "signs in, before any firm is known: tests/test_auth.py",
    "logout": "ends the session: tests/test_auth.py",
    "healthz": "a liveness probe without firm data: tests/qbsync/core/test_health.py",
    "readyz": "a readiness probe without firm data: tests/qbsync/core/test_health.py",
    "changes:qbo_webhook": (
        "posted by Intuit, routed to a firm by realm once its signature checks out: "
        "tests/qbsync/quickbooks/test_webhooks.py"
    ),
}
# Pages only owners and admins may use (staff get 403 whoever's the id): swept with an admin here.
QUICKBOOKS_MANAGERS_ONLY = {
    "accounts:quickbooks",
    "quickbooks:defaults",
    "quickbooks:service_items",
    "quickbooks:pick_lists_refresh",
    "quickbooks:tax_codes_save",
    "quickbooks:tax_codes_refresh",
    "invoices:quickbooks_sync",
    "invoices:quickbooks_skip",
    "invoices:payment_quickbooks_sync",
    "invoices:payment_quickbooks_skip",
    "accounts:quickbooks_sync",
    "accounts:quickbooks_skip",
    "quickbooks:bulk_preview",
    "quickbooks:bulk_plan",
    "quickbooks:bulk_start",
    "changes:invoice_repush",
    "changes:invoice_accept",
    "health:errors",
    "health:errors_retry_group",
    "health:errors_account_retry",
    "health:errors_account_create",
    "health:errors_account_skip",
    "health:errors_invoice_retry",
    "health:errors_invoice_skip",
    "health:errors_payment_retry",
    "health:errors_payment_skip",
    "health:reconciliation",
    "health:reconciliation_start",
    "health:notifications",
    "health:notification_read",
    "health:notifications_read_all",
}

# Only owners connect and disconnect: swept with an owner.
QUICKBOOKS_OWNERS_ONLY = {"quickbooks:connect", "quickbooks:disconnect"}

# The firm's settings pages only owners and admins may use (staff see the tax rates, read-only).
SETTINGS_MANAGERS_ONLY = {
    "invoicing:settings",
    "invoicing:tax_rate_create",
    "invoicing:tax_rate_archive",
    "invoicing:tax_rate_restore",
    "invoicing:tax_rate_delete",
}
# Every page only owners and admins may use: swept with an admin.
MANAGERS_ONLY = QUICKBOOKS_MANAGERS_ONLY | SETTINGS_MANAGERS_ONLY


def discover_urls(resolver=None, namespace: str = ""):
    """Yield (qualified name, URL argument names) for every named URL outside the skipped namespaces."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or ""
            if inner in SKIPPED_NAMESPACES:
                continue
            qualified = ":".join(part for part in (namespace, inner) if part)
            yield from discover_urls(entry, qualified)
        elif isinstance(entry, URLPattern) and entry.name:
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield name, sorted(entry.pattern.converters)


@pytest.fixture
def theirs(other_firm):
    """A complete set of the other firm's practice data."""
    account = AccountFactory(firm=other_firm, name="Their Client")
    draft = make_invoice(account=account, number="THEIR-DRAFT", status=Invoice.Status.DRAFT)
    sent = make_invoice(account=account, number="THEIR-SENT", amounts=("100.00",))
    payment = make_payment(account=account, amount="40.00", allocations={sent: "40.00"})
    bulk_plan = BulkSyncPlan.objects.create(firm=other_firm)
    stranger = UserFactory(firm=other_firm, role="admin")
    notification = Notification.objects.create(
        firm=other_firm, recipient=stranger, kind="failures", title="Their notice", body="Theirs"
    )
    tax_rate = make_tax_rate(other_firm, "Their VAT 20%", "20")
    return {
        "account": account,
        "draft": draft,
        "sent": sent,
        "payment": payment,
        "bulk_plan": bulk_plan,
        "notification": notification,
        "tax_rate": tax_rate,
    }


def their_object_for(name: str, theirs: dict):
    """The other firm's object that URL ``name`` is about."""
    if name.startswith("accounts:"):
        return theirs["account"]
    if name == "invoices:send":
        return theirs["draft"]
    if name.startswith("invoices:payment_"):
        return theirs["payment"]
    if name.startswith("invoices:"):
        return theirs["sent"]
    if name.startswith("changes:invoice_"):
        return theirs["sent"]
    if name.startswith("quickbooks:bulk_"):
        return theirs["bulk_plan"]
    if name.startswith("health:errors_account_"):
        return theirs["account"]
    if name.startswith("health:errors_invoice_"):
        return theirs["sent"]
    if name.startswith("health:errors_payment_"):
        return theirs["payment"]
    if name == "health:notification_read":
        return theirs["notification"]
    if name.startswith("invoicing:tax_rate_"):
        return theirs["tax_rate"]
    raise AssertionError(f"No tenant-isolation case for URL {name!r}: add one to their_object_for().")


def post_body_for(name: str, theirs: dict) -> dict:
    """A POST that would change their object if the view ever found it."""
    account = theirs["account"]
    if name == "accounts:edit":
        return {"name": "Taken over", "kind": Account.Kind.INDIVIDUAL}
    if name == "invoices:edit":
        return {
            "account": account.pk,
            "number": "TAKEN-OVER",
            "issue_date": "2026-01-01",
            "due_date": "2026-01-31",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-description": "Taken over",
            "lines-0-quantity": "1",
            "lines-0-rate": "999.00",
        }
    if name == "accounts:quickbooks_sync":
        return {"mode": "auto"}
    if name == "health:errors_account_create":
        return {"display_name": "Taken over"}
    if name == "invoices:payment_edit":
        return {
            "date": "2026-01-01",
            "amount": "1.00",
            "method": Payment.Method.CASH,
            "allocations-TOTAL_FORMS": "0",
            "allocations-INITIAL_FORMS": "0",
        }
    if name == "invoicing:tax_rate_detail":
        return {"name": "Taken over", **TAX_RATE_POST}
    return {}


# The taxes of a rate as its page posts them: VAT 20 %.
TAX_RATE_POST = {
    "taxes-TOTAL_FORMS": "1",
    "taxes-INITIAL_FORMS": "0",
    "taxes-0-name": "VAT",
    "taxes-0-percentage": "20",
}


SNAPSHOT_MODELS = (
    Account,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    AccountSyncLink,
    InvoiceSyncLink,
    PaymentSyncLink,
    SyncEvent,
    SyncOutbox,
    BulkSyncPlan,
    BulkSyncItem,
    ServiceItemMapping,
    QuickBooksConnection,
    QboChange,
    ChangePoll,
    InvoiceChangeInQbo,
    QboPaymentOnInvoice,
    Notification,
    ReconciliationReport,
    TaxRate,
    TaxRateComponent,
)
# Rows without a firm of their own belong to the firm of the row they hang off.
FIRM_PATHS = {
    InvoiceLine: "invoice__firm",
    PaymentAllocation: "payment__firm",
    BulkSyncItem: "plan__firm",
    TaxRateComponent: "tax_rate__firm",
}
# Compared without the token values, so that a failure never prints a token.
SECRET_FIELDS = {"access_token", "refresh_token"}


def snapshot(firm=None) -> dict:
    """Every row of practice data and its sync state, of ``firm`` or of every firm, as plain values."""
    rows = {}
    for model in SNAPSHOT_MODELS:
        query = model.objects.order_by("pk")
        if firm is not None:
            query = query.filter(**{FIRM_PATHS.get(model, "firm"): firm})
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in SECRET_FIELDS]
        rows[model.__name__] = list(query.values(*fields))
    return rows


def urls_with_ids() -> list[str]:
    return sorted(name for name, arguments in discover_urls() if arguments)


def urls_without_ids() -> list[str]:
    return sorted(
        name
        for name, arguments in discover_urls()
        if not arguments and name not in NOT_FIRM_PAGES and name not in FLOW_ONLY
    )


def test_discovery_finds_every_page_with_or_without_an_id():
    with_ids, without_ids = urls_with_ids(), urls_without_ids()

    assert {"accounts:detail", "invoices:payment_edit", "health:notification_read"} <= set(with_ids)
    assert {"accounts:list", "quickbooks:disconnect", "health:errors_retry_group"} <= set(without_ids)
    # Every app's URLs are swept, one way or the other.
    assert {name.partition(":")[0] for name in with_ids + without_ids} >= {
        "accounts",
        "invoices",
        "quickbooks",
        "changes",
        "health",
    }
    # The sets name only URLs that exist, so a renamed URL cannot leave a stale case behind.
    named = {name for name, _ in discover_urls()}
    groups = (
        POST_ONLY,
        GET_ONLY,
        FLOW_ONLY,
        QUICKBOOKS_MANAGERS_ONLY,
        QUICKBOOKS_OWNERS_ONLY,
        SETTINGS_MANAGERS_ONLY,
        set(NOT_FIRM_PAGES),
    )
    for group in groups:
        assert group <= named, group - named
    # Every URL argument is a primary key; another kind would need its own case here.
    assert all(arguments == ["pk"] for _, arguments in discover_urls() if arguments)


def client_for(request, name: str):
    """The least privileged role that may use URL ``name``."""
    if name in QUICKBOOKS_OWNERS_ONLY:
        role = "owner_client"
    elif name in MANAGERS_ONLY:
        role = "firm_admin_client"
    else:
        role = "staff_client"
    return request.getfixturevalue(role)


@pytest.mark.parametrize("name", urls_with_ids())
def test_another_firms_object_is_404_and_untouched(request, theirs, name):
    member_client = client_for(request, name)
    target = their_object_for(name, theirs)
    url = reverse(name, kwargs={"pk": target.pk})
    before = snapshot()

    got = member_client.get(url)
    posted = member_client.post(url, post_body_for(name, theirs))

    # A POST-only URL answers 405 to any GET, whoever's the id; it never looks the object up.
    assert got.status_code == (405 if name in POST_ONLY else 404)
    assert posted.status_code == (405 if name in GET_ONLY else 404)
    assert snapshot() == before


@pytest.mark.parametrize("name", urls_with_ids())
def test_the_same_url_works_for_the_firms_own_object(request, firm, firm_admin, name):
    member_client = client_for(request, name)
    # The counterpart of the 404 test: proves the URLs and ids above are real, not 404 for any id.
    account = AccountFactory(firm=firm)
    draft = make_invoice(account=account, status=Invoice.Status.DRAFT, number="MINE-DRAFT")
    sent = make_invoice(account=account, number="MINE-SENT")
    payment = make_payment(account=account, amount="10.00", allocations={sent: "10.00"})
    bulk_plan = BulkSyncPlan.objects.create(firm=firm)
    # The notice belongs to the user the sweep signs in as (the admin, for the health URLs).
    notification = Notification.objects.create(
        firm=firm, recipient=firm_admin, kind="failures", title="Our notice", body="Ours"
    )
    objects = {
        "account": account,
        "draft": draft,
        "sent": sent,
        "payment": payment,
        "bulk_plan": bulk_plan,
        "notification": notification,
        "tax_rate": make_tax_rate(firm, "Our VAT 20%", "20"),
    }
    mine = their_object_for(name, objects)

    url = reverse(name, kwargs={"pk": mine.pk})
    response = (
        member_client.post(url, post_body_for(name, objects)) if name in POST_ONLY else member_client.get(url)
    )

    assert response.status_code in (200, 302)


def test_query_string_ids_of_another_firm_are_404(staff_client, firm, theirs):
    mine = AccountFactory(firm=firm)
    before = snapshot()

    assert staff_client.get(reverse("invoices:create"), {"account": theirs["account"].pk}).status_code == 404
    assert (
        staff_client.get(reverse("invoices:payment_create"), {"account": theirs["account"].pk}).status_code
        == 404
    )
    assert (
        staff_client.get(
            reverse("invoices:payment_create"), {"account": mine.pk, "invoice": theirs["sent"].pk}
        ).status_code
        == 404
    )
    posted = staff_client.post(
        f"{reverse('invoices:payment_create')}?account={theirs['account'].pk}",
        {"date": "2026-01-01", "amount": "5.00", "method": "cash"},
    )
    assert posted.status_code == 404
    assert snapshot() == before


def test_lists_never_show_another_firms_data(staff_client, theirs):
    for url in (reverse("accounts:list"), reverse("invoices:list"), reverse("settings")):
        html = staff_client.get(url).content.decode()
        assert "Their Client" not in html
        assert "THEIR-SENT" not in html


def test_settings_lists_only_the_firms_members(staff_client, other_firm):
    stranger = UserFactory(firm=other_firm, username="stranger-at-other-firm")

    html = staff_client.get(reverse("settings")).content.decode()

    assert stranger.username not in html


@pytest.mark.parametrize(
    ("name", "kind"), [("accounts:sync_status", "account"), ("invoices:sync_status", "sent")]
)
def test_status_polls_leave_out_another_firms_ids(staff_client, firm, theirs, name, kind):
    account = AccountFactory(firm=firm)
    mine = account if kind == "account" else make_invoice(account=account, number="MINE-POLLED")
    ids = f"{mine.pk},{theirs[kind].pk}"
    before = snapshot()

    body = staff_client.get(reverse(name), {"ids": ids, "section": theirs[kind].pk}).json()

    assert set(body) == {str(mine.pk)}
    assert snapshot() == before


# URLs without an id ---------------------------------------------------------------------------------------

# What of the other firm's would show if a page ever leaked it.
THEIR_MARKERS = (
    "Their Client",
    "THEIR-SENT",
    "THEIR-DRAFT",
    "Their notice",
    "Their failure, told in their words",
    "Their Company",
    "Their VAT 20%",
)
FAILED_CAUSE = "no_item"
# POSTs without an id that must change the signed-in firm's own rows (the proof the view really acted).
CHANGE_OUR_FIRM = {
    "accounts:create",
    "quickbooks:defaults",
    "quickbooks:disconnect",
    "quickbooks:bulk_preview",
    "health:errors_retry_group",
    "health:reconciliation_start",
    "health:notifications_read_all",
    "invoicing:tax_rate_create",
}


def _failed_invoice(account, number: str, explanation: str) -> Invoice:
    invoice = make_invoice(account=account, number=number, amounts=("10.00",))
    InvoiceSyncLink.objects.filter(invoice=invoice).update(
        state=SyncState.FAILED, error_cause=FAILED_CAUSE, error_explanation=explanation
    )
    return invoice


@pytest.fixture
def both_connected(qbo, firm, owner, other_firm, theirs):
    """Both firms connected to a sandbox company each, each with a Failed invoice of one cause, an unread
    notice and a finished reconciliation report; theirs name them in words that must never show to us."""
    stranger = theirs["notification"].recipient
    their_company = qbo.control.create_company("Their Company")
    connection_for_realm(firm=other_firm, user=stranger, sandbox=qbo, realm_id=their_company)
    _failed_invoice(theirs["account"], "THEIR-FAILED", "Their failure, told in their words")
    ReconciliationReport.objects.create(
        firm=other_firm,
        state="done",
        results=[{"account_id": theirs["account"].pk, "name": "Their Client", "mismatches": []}],
    )
    ours = connection_for_realm(
        firm=firm, user=owner, sandbox=qbo, realm_id=qbo.control.create_company("Our Company")
    )
    mine = AccountFactory(firm=firm, name="Our Client")
    _failed_invoice(mine, "OURS-FAILED", "Our failure")
    return {"connection": ours, "account": mine}


def id_less_post_body(name: str, theirs: dict) -> dict:
    """A POST that names the other firm's objects wherever the form takes one."""
    if name == "accounts:create":
        return {"name": "Ours now", "kind": Account.Kind.INDIVIDUAL}
    if name == "invoices:create":
        return {"account": theirs["account"].pk, "number": "TAKEN-OVER", "lines-TOTAL_FORMS": "0"}
    if name == "invoices:payment_create":
        return {"account": theirs["account"].pk, "date": "2026-01-01", "amount": "5.00", "method": "cash"}
    if name == "health:errors_retry_group":
        return {"cause": FAILED_CAUSE}
    if name == "quickbooks:defaults":
        return {"auto_sync_scope": QuickBooksConnection.AutoSyncScope.ALL}
    if name == "invoicing:tax_rate_create":
        return {"name": "Ours now", **TAX_RATE_POST}
    if name == "invoicing:settings":
        return {"region": "CA", "currency": "CAD"}
    if name == "quickbooks:tax_codes_save":
        return {f"code_{theirs['tax_rate'].pk}": "1", "untaxed_code": "5"}
    return {}


@pytest.mark.parametrize("name", urls_without_ids())
def test_a_url_without_an_id_acts_on_the_own_firm_only(
    request, firm, other_firm, theirs, both_connected, name
):
    member_client = client_for(request, name)
    if name in CHANGE_OUR_FIRM:
        # Our own notice belongs to whoever the sweep signs in as.
        user = member_client.session["_auth_user_id"]
        Notification.objects.create(firm=firm, recipient_id=user, kind="failures", title="Ours", body="Ours")
    url = reverse(name)
    theirs_before, ours_before = snapshot(other_firm), snapshot(firm)

    got = member_client.get(url)
    posted = member_client.post(url, id_less_post_body(name, theirs))

    if name in POST_ONLY:
        assert got.status_code == 405
    else:
        assert got.status_code == 200
        assert not [marker for marker in THEIR_MARKERS if marker in got.content.decode()]
    if name in GET_ONLY:
        assert posted.status_code == 405
    else:
        assert posted.status_code in (200, 302)
        assert not [marker for marker in THEIR_MARKERS if marker in posted.content.decode()]
    assert snapshot(other_firm) == theirs_before
    if name in CHANGE_OUR_FIRM:
        assert snapshot(firm) != ours_before, (
            f"{name} changed nothing of the firm's own: the case proves nothing"
        )
