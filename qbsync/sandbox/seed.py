"""`--seed demo`: one ready company with sample data whose names collide in the ways real books do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .control import create_company, raw_insert
from .entities import ENTITIES

if TYPE_CHECKING:
    from .server import Sandbox

DEMO_REALM_ID = "9341453050071234"
DEMO_COMPANY_NAME = "Demo Accounting Co (Sandbox)"
DEMO_CUSTOMER_TYPES = ["Individual", "Business"]

# Items beyond the standard "Services" (Id 1). The last one is inactive: Name "Payroll Setup (deleted)".
DEMO_ITEMS = [("Bookkeeping", 150), ("Tax Preparation", 350), ("Payroll Setup", 200)]
DEMO_VENDORS = ["Staples", "Quill Office Supply", "Harbor Freight Tools"]
DEMO_EMPLOYEES = [("Maria", "Lopez"), ("David", "Chen")]
# (DisplayName, customer type, active)
DEMO_CUSTOMERS = [
    ("Amy's Bird Sanctuary", "Business", True),
    ("Cool Cars", "Business", True),
    ("Dukes Basketball Camp", "Business", True),
    ("Jane Doe", "Individual", True),
    ("Sunrise yoga studio", "Business", True),  # a local "Sunrise Yoga Studio" collides (case-insensitive)
    ("Old Mill Cafe", "Business", False),  # inactive: stored as "Old Mill Cafe (deleted)"
]


def seed(sb: Sandbox, name: str) -> None:
    if name != "demo":
        raise ValueError(f"unknown seed {name!r} (only 'demo' exists)")
    with sb.store.lock:
        if sb.store.get(DEMO_REALM_ID) is not None:
            return  # already there (persisted with --data)
        create_company(
            sb,
            {
                "name": DEMO_COMPANY_NAME,
                "realmId": DEMO_REALM_ID,
                "customer_types": DEMO_CUSTOMER_TYPES,
                "custom_txn_numbers": False,
            },
        )
        co = sb.store.get(DEMO_REALM_ID)
        ctx = sb.ctx(co)
        for item_name, price in DEMO_ITEMS:
            raw_insert(
                sb,
                co,
                "Item",
                {
                    "Name": item_name,
                    "Active": True,
                    "FullyQualifiedName": item_name,
                    "Taxable": False,
                    "UnitPrice": price,
                    "Type": "Service",
                    "IncomeAccountRef": {"value": "1", "name": "Services"},
                    "PurchaseCost": 0,
                    "TrackQtyOnHand": False,
                },
            )
        items = co.table("Item")
        payroll = next(i for i in items.values() if i["Name"] == "Payroll Setup")
        ENTITIES["Item"].update(
            co, {"Id": payroll["Id"], "SyncToken": payroll["SyncToken"], "sparse": True, "Active": False}, ctx
        )
        for vendor in DEMO_VENDORS:
            ENTITIES["Vendor"].create(co, {"DisplayName": vendor, "CompanyName": vendor}, ctx)
        for given, family in DEMO_EMPLOYEES:
            ENTITIES["Employee"].create(co, {"GivenName": given, "FamilyName": family}, ctx)
        types = {t["Name"]: t["Id"] for t in co.table("CustomerType").values()}
        customers = {}
        for display, ctype, active in DEMO_CUSTOMERS:
            body = {"DisplayName": display, "CustomerTypeRef": {"value": types[ctype]}}
            if ctype == "Business":
                body["CompanyName"] = display
            else:
                body["GivenName"], body["FamilyName"] = display.split(" ", 1)
            if display.startswith("Amy"):
                body["PrimaryEmailAddr"] = {"Address": "birds@example.com"}
                body["BillAddr"] = {
                    "Line1": "4581 Finch St.",
                    "City": "Bayshore",
                    "CountrySubDivisionCode": "CA",
                    "PostalCode": "94326",
                }
            cust = ENTITIES["Customer"].create(co, body, ctx)
            if not active:
                cust = ENTITIES["Customer"].update(
                    co,
                    {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "sparse": True, "Active": False},
                    ctx,
                )
            customers[display] = cust
        bookkeeping = next(i for i in items.values() if i["Name"] == "Bookkeeping")
        amy = customers["Amy's Bird Sanctuary"]
        inv1 = ENTITIES["Invoice"].create(
            co,
            {
                "CustomerRef": {"value": amy["Id"]},
                "Line": [
                    {
                        "Amount": 300.0,
                        "DetailType": "SalesItemLineDetail",
                        "Description": "Monthly bookkeeping",
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": bookkeeping["Id"]},
                            "Qty": 2,
                            "UnitPrice": 150,
                        },
                    }
                ],
            },
            ctx,
        )
        ENTITIES["Invoice"].create(
            co,
            {
                "CustomerRef": {"value": customers["Cool Cars"]["Id"]},
                "Line": [
                    {
                        "Amount": 100.0,
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}},
                    }
                ],
            },
            ctx,
        )
        ENTITIES["Payment"].create(
            co,
            {
                "CustomerRef": {"value": amy["Id"]},
                "TotalAmt": 100.0,
                "Line": [{"Amount": 100.0, "LinkedTxn": [{"TxnId": inv1["Id"], "TxnType": "Invoice"}]}],
            },
            ctx,
        )
