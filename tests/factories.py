from datetime import date, timedelta
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from accounts.models import Account
from invoices.models import Invoice, Payment, Service, TaxRate
from invoices.services import (
    AllocationData,
    InvoiceData,
    InvoiceLineData,
    PaymentData,
    TaxComponentData,
    TaxRateData,
    invoice_create,
    payment_create,
    tax_rate_create,
)
from qbsync.firms.models import Firm, User

TEST_PASSWORD = "correct-horse-battery-staple"


class FirmFactory(DjangoModelFactory[Firm]):
    class Meta:
        model = Firm

    name = factory.Sequence(lambda n: f"Firm {n}")
    slug = factory.Sequence(lambda n: f"firm-{n}")


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    firm = factory.SubFactory(FirmFactory)
    role = User.Role.STAFF
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class AccountFactory(DjangoModelFactory[Account]):
    class Meta:
        model = Account

    firm = factory.SubFactory(FirmFactory)
    name = factory.Sequence(lambda n: f"Client {n}")
    kind = Account.Kind.COMPANY
    email = factory.LazyAttribute(lambda a: f"billing{a.firm.pk}-{abs(hash(a.name)) % 10**6}@example.test")


class ServiceFactory(DjangoModelFactory[Service]):
    class Meta:
        model = Service

    firm = factory.SubFactory(FirmFactory)
    name = factory.Sequence(lambda n: f"Service {n}")
    default_rate = Decimal("100.00")


def make_tax_rate(firm: Firm, name: str, percentage: str | None = None, /, **taxes: str) -> TaxRate:
    """A tax rate of ``firm`` made through the real service: one tax named by the rate's first word
    (``make_tax_rate(firm, "VAT 20%", "20")``), or named taxes in order
    (``make_tax_rate(firm, "GST/PST BC", GST="5", PST="7")``); neither: a rate without tax ("Exempt")."""
    components = [TaxComponentData(name=n, percentage=Decimal(p)) for n, p in taxes.items()]
    if percentage is not None:
        components.insert(0, TaxComponentData(name=name.split()[0], percentage=Decimal(percentage)))
    return tax_rate_create(firm=firm, data=TaxRateData(name=name, components=components))


def make_compound_tax_rate(firm: Firm, name: str, *taxes: tuple[str, str, bool]) -> TaxRate:
    """A rate of (name, percentage, compound) taxes, e.g. ("GST", "5", False), ("QST", "8.5", True)."""
    return tax_rate_create(
        firm=firm,
        data=TaxRateData(
            name=name,
            components=[TaxComponentData(name=n, percentage=Decimal(p), compound=c) for n, p, c in taxes],
        ),
    )


def make_invoice(
    *,
    account: Account,
    number: str | None = None,
    amounts: tuple[str, ...] = ("100.00",),
    status: str = Invoice.Status.SENT,
    issue_date: date | None = None,
    tax_rate: TaxRate | None = None,
    amounts_include_tax: bool = False,
) -> Invoice:
    """An invoice built through the real service, one line per amount (quantity 1), each with
    ``tax_rate`` (none by default)."""
    issued = issue_date or date(2026, 1, 15)
    firm = account.firm
    return invoice_create(
        firm=firm,
        status=status,
        data=InvoiceData(
            account=account,
            number=number or f"T-{Invoice.objects.for_firm(firm).count() + 1:05d}",
            issue_date=issued,
            due_date=issued + timedelta(days=30),
            lines=[
                InvoiceLineData(description=f"Work {i}", rate=Decimal(a), tax_rate=tax_rate)
                for i, a in enumerate(amounts, 1)
            ],
            amounts_include_tax=amounts_include_tax,
        ),
    )


def make_payment(
    *,
    account: Account,
    amount: str = "100.00",
    allocations: dict[Invoice, str] | None = None,
    paid_on: date | None = None,
    reference: str = "",
) -> Payment:
    """A payment recorded through the real service, applied as ``{invoice: amount}``."""
    return payment_create(
        firm=account.firm,
        data=PaymentData(
            account=account,
            date=paid_on or date(2026, 2, 1),
            amount=Decimal(amount),
            reference=reference,
            allocations=[
                AllocationData(invoice=invoice, amount=Decimal(share))
                for invoice, share in (allocations or {}).items()
            ],
        ),
    )


def connection_for_realm(*, firm, user, sandbox, realm_id: str):
    """A QuickBooksConnection holding a real token pair the sandbox issued for ``realm_id``."""
    from datetime import timedelta

    from django.utils import timezone

    from qbsync.sync.models import QuickBooksConnection

    tokens = sandbox.control.tokens(realm_id, client_id="qbsync-tests")
    now = timezone.now()
    return QuickBooksConnection.objects.create(
        firm=firm,
        realm_id=realm_id,
        company_name=sandbox.control.company(realm_id).get("name", ""),
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        access_token_expires_at=now + timedelta(seconds=int(tokens["expires_in"])),
        refresh_token_expires_at=now + timedelta(seconds=int(tokens["x_refresh_token_expires_in"])),
        connected_by=user,
        connected_at=now,
    )


def connect_to_company(sandbox, firm, owner, preset: str):
    """The firm connected to a new sandbox company of ``preset`` ("uk", "ca", "us-manual", ...), its
    defaults applied and its preferences (the country among them) kept, as connecting does."""
    import uuid

    from qbsync.sync.services.connections import connection_apply_first_defaults, connection_check

    realm = sandbox.control.create_company(
        f"Tax {preset} {uuid.uuid4().hex[:6]}", customer_types=["Individual"], preset=preset
    )
    connection = connection_for_realm(firm=firm, user=owner, sandbox=sandbox, realm_id=realm)
    connection_apply_first_defaults(connection=connection)
    connection_check(connection_id=connection.pk)
    connection.refresh_from_db()
    return connection


def map_tax_codes(connection, owner, rates: dict, untaxed: str = "") -> int:
    """Map each rate to the company's tax code of that name (``{rate: "20.0% S"}``), and lines without a
    rate to ``untaxed``, as an admin does on the QuickBooks page (its codes read afresh first)."""
    from qbsync.sync.services.tax import connection_tax_codes, tax_mapping_save

    codes = {code.name: code.id for code in connection_tax_codes(connection=connection, fresh=True)}
    connection.refresh_from_db()
    return tax_mapping_save(
        connection=connection,
        actor=owner,
        choices={rate.pk: codes[name] for rate, name in rates.items()},
        untaxed_code_id=codes[untaxed] if untaxed else "",
    )


def sandbox_create(sandbox, realm_id: str, entity: str, body: dict) -> dict:
    """Create a record in a sandbox company through its data API, as a QBO user or another app would."""
    import requests

    token = sandbox.control.tokens(realm_id)["access_token"]
    response = requests.post(
        f"{sandbox.api_base}/company/{realm_id}/{entity.lower()}",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()[entity]
