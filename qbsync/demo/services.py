"""The demo firms. The US one: people, about 60 client accounts with the awkward names real firms have, and
their invoices and payments, without tax (the sandbox's demo company is a US company without sales tax, so
a taxed invoice would be refused there). The UK one, to try VAT: its owner, a "VAT 20%" rate and a few
invoices taxed at it (one with a line without VAT, one billed including VAT), for a UK sandbox company made
on the sandbox's consent page. Every record has a natural key, so seeding twice changes nothing."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction

from accounts.models import Account
from accounts.services import AccountData, account_create
from invoices.models import Invoice, Payment, Service, TaxRate
from invoices.services import (
    AllocationData,
    InvoiceData,
    InvoiceLineData,
    PaymentData,
    TaxComponentData,
    TaxRateData,
    invoice_create,
    invoice_void,
    payment_create,
    tax_rate_create,
)
from qbsync.firms.models import Firm, Region, User

DEMO_FIRM_SLUG = "demo"
DEMO_FIRM_NAME = "Brightline CPAs (demo)"
DEMO_USERS = [
    # username, role, password, first name, last name
    ("owner", User.Role.OWNER, "demo-owner-2026", "Olivia", "Owner"),
    ("admin", User.Role.ADMIN, "demo-admin-2026", "Adam", "Admin"),
    ("staff", User.Role.STAFF, "demo-staff-2026", "Sam", "Staff"),
]
DEMO_SERVICES = [
    ("Monthly bookkeeping", "450.00"),
    ("Payroll", "120.00"),
    ("Individual tax return", "350.00"),
    ("Business tax return", "1200.00"),
    ("Advisory (hourly)", "175.00"),
]
LONG_NAME = (
    "The Extraordinarily Long-Named Consolidated Holdings, Ventures, Properties, Trusts and Family "
    "Partnerships of the Greater Springfield Metropolitan Area, "
    "Including All Affiliates and Subsidiaries, LLC."
)
# Names real firms have that trip integrations: quotes, non-ASCII, ampersands, spacing variants, a
# colon QuickBooks rejects, a backslash for query escaping, and names QuickBooks vendors already use.
AWKWARD_ACCOUNTS = [
    ("O'Brien & Sons", Account.Kind.COMPANY),
    ('The "Quoted" Company', Account.Kind.COMPANY),
    ("Zoë Müller", Account.Kind.INDIVIDUAL),
    ("株式会社", Account.Kind.COMPANY),
    ("José Ñúñez-García", Account.Kind.INDIVIDUAL),
    ("Smith & Co", Account.Kind.COMPANY),
    ("Smith  &  Co", Account.Kind.COMPANY),
    ("Ben & Jerry's Franchise #12", Account.Kind.COMPANY),
    ("Acme: West Region", Account.Kind.COMPANY),
    ("Back\\slash Partners", Account.Kind.COMPANY),
    ("100% Organic Farms", Account.Kind.COMPANY),
    ("Żółć Gęślą Sp. z o.o.", Account.Kind.COMPANY),
    # The sandbox's demo company (python -m qbsync.sandbox --seed demo) has vendors with these names,
    # a customer "Sunrise yoga studio", an inactive "Old Mill Cafe (deleted)", and customers "Amy's Bird
    # Sanctuary" and "Cool Cars" to match.
    ("Staples", Account.Kind.COMPANY),
    ("Quill Office Supply", Account.Kind.COMPANY),
    ("Harbor Freight Tools", Account.Kind.COMPANY),
    ("Sunrise Yoga Studio", Account.Kind.COMPANY),
    ("Old Mill Cafe", Account.Kind.COMPANY),
    ("Amy's Bird Sanctuary", Account.Kind.COMPANY),
    ("Cool Cars", Account.Kind.COMPANY),
    (LONG_NAME, Account.Kind.COMPANY),
]
FIRST_NAMES = [
    "Maria",
    "James",
    "Aisha",
    "Chen",
    "Liam",
    "Priya",
    "Noah",
    "Fatima",
    "Ethan",
    "Sofia",
    "Kwame",
    "Hannah",
    "Mateo",
    "Yuki",
    "Oliver",
    "Amara",
    "Lucas",
    "Ingrid",
    "Diego",
    "Grace",
    "Rafael",
    "Leah",
]
LAST_NAMES = [
    "Garcia",
    "Okafor",
    "Nguyen",
    "Kowalski",
    "Haddad",
    "Johansson",
    "Patel",
    "Fitzgerald",
    "Rossi",
    "Tanaka",
    "Dubois",
    "Schmidt",
    "Mensah",
    "Murphy",
    "Alvarez",
    "Lindqvist",
    "Cohen",
    "Silva",
    "Novak",
    "Brennan",
    "Ivanova",
    "Park",
]
COMPANY_WORDS = [
    "Harbor",
    "Summit",
    "Maple",
    "Granite",
    "Bluebird",
    "Cedar",
    "Northwind",
    "Riverside",
    "Lakeside",
    "Sterling",
    "Pioneer",
    "Evergreen",
    "Oakridge",
    "Silverline",
    "Redwood",
    "Beacon",
    "Willow",
    "Horizon",
    "Copper",
    "Juniper",
    "Aspen",
    "Meadow",
]
COMPANY_SUFFIXES = [
    "Bakery",
    "Dental Group",
    "Landscaping",
    "Architects",
    "Consulting LLC",
    "Plumbing Inc.",
    "Veterinary Clinic",
    "Yoga Studio",
    "Auto Repair",
    "Law Office",
    "Construction Co.",
    "Brewing Company",
    "Design Studio",
    "Family Farm",
    "Logistics Ltd",
]
PLAIN_ACCOUNT_COUNT = 42
DEMO_START = date(2025, 12, 1)

# The UK firm, to try VAT against a UK sandbox company (README, "Try VAT in the demo").
DEMO_UK_FIRM_SLUG = "demo-uk"
DEMO_UK_FIRM_NAME = "Demo Firm UK"
DEMO_UK_USERS = [("owner-uk", User.Role.OWNER, "demo-owner-uk-2026", "Harriet", "Owen")]
DEMO_UK_VAT_RATE = "VAT 20%"
DEMO_UK_SERVICES = [
    ("Monthly bookkeeping", "300.00"),
    ("VAT return", "150.00"),
    ("Self Assessment tax return", "350.00"),
    ("Year-end accounts", "950.00"),
    ("Payroll (per month)", "85.00"),
]
# (name, kind, street, town, county, postcode)
DEMO_UK_ACCOUNTS = [
    ("Brolly & Sons Ltd", Account.Kind.COMPANY, "12 Mill Lane", "Leeds", "West Yorkshire", "LS1 4AP"),
    ("Harriet Okonkwo", Account.Kind.INDIVIDUAL, "3 Orchard Row", "York", "North Yorkshire", "YO1 7HH"),
    ("The Crooked Spoon Café", Account.Kind.COMPANY, "41 Milsom Street", "Bath", "Somerset", "BA1 1DN"),
    ("Pennine Joinery Ltd", Account.Kind.COMPANY, "7 Dean Clough", "Halifax", "West Yorkshire", "HX3 5AX"),
]
DEMO_UK_START = date(2026, 1, 5)
# A disbursement passed on at cost, outside the scope of VAT: a line without a tax rate.
DEMO_UK_DISBURSEMENT = ("Companies House confirmation statement fee (disbursement)", Decimal("34.00"))


@dataclass
class DemoSeedResult:
    firm: Firm
    uk_firm: Firm | None = None
    created: dict[str, int] = field(default_factory=dict)
    passwords: list[tuple[str, str, str]] = field(default_factory=list)
    uk_passwords: list[tuple[str, str, str]] = field(default_factory=list)

    def count(self, kind: str) -> None:
        self.created[kind] = self.created.get(kind, 0) + 1


def _plain_accounts() -> list[tuple[str, str]]:
    """22 people and 24 businesses, with distinct names built from the word lists."""
    people = [
        (f"{first} {LAST_NAMES[(i * 5 + 3) % 22]}", Account.Kind.INDIVIDUAL)
        for i, first in enumerate(FIRST_NAMES)
    ]
    businesses = [
        (f"{COMPANY_WORDS[i % 22]} {COMPANY_SUFFIXES[i % 15]}", Account.Kind.COMPANY)
        for i in range(PLAIN_ACCOUNT_COUNT - len(people))
    ]
    return people + businesses


def _email_for(name: str, index: int) -> str:
    local = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:20] or f"client{index}"
    return f"{local}@example.com"


def _seed_users(
    firm: Firm,
    result: DemoSeedResult,
    users=DEMO_USERS,
    domain: str = "brightline.example",
    passwords: list | None = None,
) -> None:
    for username, role, password, first, last in users:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "firm": firm,
                "role": role,
                "first_name": first,
                "last_name": last,
                "email": f"{username}@{domain}",
            },
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
            result.count("users")
        (result.passwords if passwords is None else passwords).append(
            (username, user.get_role_display(), password)
        )


def _seed_services(firm: Firm, result: DemoSeedResult, catalogue=DEMO_SERVICES) -> dict[str, Service]:
    services = {}
    for name, rate in catalogue:
        service, created = Service.objects.get_or_create(
            firm=firm, name=name, defaults={"default_rate": rate}
        )
        services[name] = service
        if created:
            result.count("services")
    return services


def _seed_accounts(firm: Firm, result: DemoSeedResult) -> list[Account]:
    accounts = []
    existing = {a.name: a for a in Account.objects.for_firm(firm)}
    for index, (name, kind) in enumerate([*AWKWARD_ACCOUNTS, *_plain_accounts()]):
        account = existing.get(name)
        if account is None:
            account = account_create(
                firm=firm,
                data=AccountData(
                    name=name,
                    kind=kind,
                    email=_email_for(name, index),
                    phone=f"(555) 01{index:02d}-{1000 + index * 37 % 9000:04d}",
                    address_line1=f"{100 + index} Main Street",
                    city="Springfield",
                    region="IL",
                    postal_code=f"627{index % 100:02d}",
                    country="USA",
                ),
            )
            result.count("accounts")
        accounts.append(account)
    return accounts


def _seed_invoices_and_payments(
    firm: Firm, accounts: list[Account], services: dict[str, Service], result: DemoSeedResult
) -> None:
    service_list = list(services.values())
    number = 0
    payment_number = 0
    # Accounts 0..39 have history; the rest have none, so "accounts with invoices" differs from "all".
    for a_index, account in enumerate(accounts[:40]):
        invoices = []
        for i_index in range(1 + a_index % 3):
            number += 1
            issued = DEMO_START + timedelta(days=(a_index * 11 + i_index * 29) % 330)
            service = service_list[(a_index + i_index) % len(service_list)]
            invoice = Invoice.objects.for_firm(firm).filter(number=f"INV-{number:05d}").first()
            if invoice is None:
                draft = (a_index + i_index) % 9 == 4
                invoice = invoice_create(
                    firm=firm,
                    status=Invoice.Status.DRAFT if draft else Invoice.Status.SENT,
                    data=InvoiceData(
                        account=account,
                        number=f"INV-{number:05d}",
                        issue_date=issued,
                        due_date=issued + timedelta(days=30),
                        memo="Thank you for your business.",
                        lines=[
                            InvoiceLineData(
                                service=service,
                                description=f"{service.name}, {issued:%B %Y}",
                                quantity=Decimal("1"),
                                rate=service.default_rate,
                            ),
                            *(
                                [
                                    InvoiceLineData(
                                        service=services["Advisory (hourly)"],
                                        description="Advisory call",
                                        quantity=Decimal("1.5"),
                                        rate=Decimal("175.00"),
                                    )
                                ]
                                if a_index % 4 == 1
                                else []
                            ),
                        ],
                    ),
                )
                if (a_index + i_index) % 13 == 7 and not draft:
                    invoice = invoice_void(invoice=invoice)
                result.count("invoices")
            invoices.append(invoice)
        payable = [inv for inv in invoices if inv.status in Invoice.PAYABLE_STATUSES]
        if not payable or a_index % 5 == 3:
            continue
        payment_number += 1
        reference = f"DEMO-PMT-{payment_number:04d}"
        if Payment.objects.for_firm(firm).filter(reference=reference).exists():
            continue
        first = payable[0]
        if a_index % 5 == 0:  # paid in full
            allocations, amount = [AllocationData(invoice=first, amount=first.total)], first.total
        elif a_index % 5 == 1:  # partial payment
            part = (first.total / 2).quantize(Decimal("0.01"))
            allocations, amount = [AllocationData(invoice=first, amount=part)], part
        elif a_index % 5 == 2 and len(payable) > 1:  # one payment across two invoices, with a rest
            allocations = [AllocationData(invoice=inv, amount=inv.total) for inv in payable[:2]]
            amount = sum((a.amount for a in allocations), Decimal("0")) + Decimal("25.00")
        else:  # a retainer: nothing applied yet
            allocations, amount = [], Decimal("500.00")
        payment_create(
            firm=firm,
            data=PaymentData(
                account=account,
                date=first.issue_date + timedelta(days=12),
                amount=amount,
                method=list(Payment.Method)[payment_number % len(Payment.Method)],
                reference=reference,
                allocations=allocations,
            ),
        )
        result.count("payments")


def _seed_uk_vat_rate(firm: Firm, result: DemoSeedResult) -> TaxRate:
    rate = TaxRate.objects.filter(firm=firm, name=DEMO_UK_VAT_RATE).first()
    if rate is None:
        rate = tax_rate_create(
            firm=firm,
            data=TaxRateData(
                name=DEMO_UK_VAT_RATE, components=[TaxComponentData(name="VAT", percentage=Decimal("20"))]
            ),
        )
        result.count("tax rates")
    return rate


def _seed_uk_accounts(firm: Firm, result: DemoSeedResult) -> list[Account]:
    existing = {a.name: a for a in Account.objects.for_firm(firm)}
    accounts = []
    for index, (name, kind, street, town, county, postcode) in enumerate(DEMO_UK_ACCOUNTS):
        account = existing.get(name)
        if account is None:
            account = account_create(
                firm=firm,
                data=AccountData(
                    name=name,
                    kind=kind,
                    email=_email_for(name, index),
                    phone=f"0113 496 0{index:03d}",
                    address_line1=street,
                    city=town,
                    region=county,
                    postal_code=postcode,
                    country="United Kingdom",
                ),
            )
            result.count("accounts")
        accounts.append(account)
    return accounts


def _seed_uk_invoices(
    firm: Firm, accounts: list[Account], services: dict[str, Service], vat: TaxRate, result: DemoSeedResult
) -> None:
    """Five invoices at VAT 20%: four with VAT added to their amounts (one with a disbursement outside the
    scope of VAT: a line without a rate), one billed including VAT; and a payment of the first in full."""
    brolly, harriet, spoon, joinery = accounts

    def line(service: str, quantity: str = "1", rate: Decimal | None = None) -> InvoiceLineData:
        chosen = services[service]
        return InvoiceLineData(
            service=chosen,
            description=f"{chosen.name}, January 2026",
            quantity=Decimal(quantity),
            rate=rate if rate is not None else chosen.default_rate,
            tax_rate=vat,
        )

    description, fee = DEMO_UK_DISBURSEMENT
    disbursement = InvoiceLineData(description=description, rate=fee)
    plans = [
        (brolly, [line("Monthly bookkeeping"), line("VAT return")], False),
        (harriet, [line("Self Assessment tax return")], False),
        (spoon, [line("Payroll (per month)", "3"), disbursement], False),
        (joinery, [line("Year-end accounts")], False),
        # 180.00 including VAT: 150.00 net and 30.00 VAT.
        (joinery, [line("VAT return", rate=Decimal("180.00"))], True),
    ]
    invoices = []
    for index, (account, lines, including) in enumerate(plans, 1):
        number = f"UK-{index:05d}"
        invoice = Invoice.objects.for_firm(firm).filter(number=number).first()
        if invoice is None:
            issued = DEMO_UK_START + timedelta(days=index * 3)
            invoice = invoice_create(
                firm=firm,
                status=Invoice.Status.SENT,
                data=InvoiceData(
                    account=account,
                    number=number,
                    issue_date=issued,
                    due_date=issued + timedelta(days=30),
                    memo="Thank you for your business.",
                    lines=lines,
                    amounts_include_tax=including,
                ),
            )
            result.count("invoices")
        invoices.append(invoice)
    reference = "DEMO-UK-PMT-0001"
    if not Payment.objects.for_firm(firm).filter(reference=reference).exists():
        first = invoices[0]
        payment_create(
            firm=firm,
            data=PaymentData(
                account=first.account,
                date=first.issue_date + timedelta(days=14),
                amount=first.total,
                method=Payment.Method.BANK_TRANSFER,
                reference=reference,
                allocations=[AllocationData(invoice=first, amount=first.total)],
            ),
        )
        result.count("payments")


def _seed_uk_firm(result: DemoSeedResult) -> Firm:
    firm, created = Firm.objects.get_or_create(
        slug=DEMO_UK_FIRM_SLUG,
        defaults={"name": DEMO_UK_FIRM_NAME, "currency": "GBP", "region": Region.UK},
    )
    if created:
        result.count("firms")
    _seed_users(firm, result, DEMO_UK_USERS, "demo-firm-uk.example", result.uk_passwords)
    services = _seed_services(firm, result, DEMO_UK_SERVICES)
    vat = _seed_uk_vat_rate(firm, result)
    accounts = _seed_uk_accounts(firm, result)
    _seed_uk_invoices(firm, accounts, services, vat, result)
    return firm


@transaction.atomic
def demo_seed() -> DemoSeedResult:
    """Create the demo firms and their data, or leave what already exists untouched."""
    # The US firm fits the sandbox's demo company: a US company, in dollars, without sales tax (no tax rate).
    firm, created = Firm.objects.get_or_create(
        slug=DEMO_FIRM_SLUG, defaults={"name": DEMO_FIRM_NAME, "currency": "USD", "region": Region.US}
    )
    result = DemoSeedResult(firm=firm)
    if created:
        result.count("firms")
    _seed_users(firm, result)
    services = _seed_services(firm, result)
    accounts = _seed_accounts(firm, result)
    _seed_invoices_and_payments(firm, accounts, services, result)
    result.uk_firm = _seed_uk_firm(result)
    return result
