"""Business rules of each emulated entity: Customer, Vendor, Employee, Item, Invoice, Payment, plus
read/query-mostly entities (CustomerType, Account, ...) handled generically."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from . import errors as E
from . import tax
from .clock import fmt_datetime
from .currency import (
    USD,
    check_currency_unchanged,
    exchange_rate,
    home_amount,
    party_currency,
    transaction_currency,
)
from .store import DELETED_SUFFIX_RE, NAME_LIST, Company

BAD_NAME_CHARS = re.compile(r"[:\t\n\r]")
ID_RE = re.compile(r"^\d+$")


@dataclass
class Ctx:
    """What a rule needs to know about the request being served."""

    now: datetime
    epoch: float
    include: frozenset[str] = frozenset()
    minor_version: int = 75  # the request's minorversion, raised to the company's minor_version_floor


# --- small helpers -------------------------------------------------------------------------------


def blank(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def amount(value: object, field: str, required: bool = False) -> float | None:
    if value is None or value == "":
        if required:
            raise E.required_missing(field)
        return None
    if isinstance(value, bool):
        raise E.invalid_number(field, value)
    try:
        return round(float(value), 2)
    except (TypeError, ValueError):
        raise E.invalid_number(field, value) from None


def money(value: float) -> float | int:
    value = round(value + 0.0, 2)
    return int(value) if value == int(value) else value


def ref_id(value: object, field: str, required: bool = False) -> str | None:
    if isinstance(value, dict):
        value = value.get("value")
    if value is None or value == "":
        if required:
            raise E.required_missing(field)
        return None
    text = str(value).strip()
    if not ID_RE.match(text):
        raise E.invalid_id(text, element=field)
    return text


def parse_date(value: object, field: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise E.QBOError(
            2010,
            "Request has invalid or unsupported property",
            f"Invalid date {value!r} for {field}",
            element=field,
        ) from None


def _values_at(body: dict, path: str) -> list[object]:
    """The values at ``path``: "Field", "Object.Field", or "Line.Field" in every element of a list."""
    values: list[object] = [body]
    for key in path.split("."):
        found: list[object] = []
        for value in values:
            for each in value if isinstance(value, list) else [value]:
                if isinstance(each, dict) and key in each:
                    found.append(each[key])
        values = found
    return values


def check_lengths(body: dict, limits: dict[str, int]) -> None:
    """QBO's maximum lengths, in characters: a longer value is 2050 naming the field's path."""
    for path, maximum in limits.items():
        for value in _values_at(body, path):
            # A number sent for a string field (DocNumber: 12345) is read as its text.
            text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
            if isinstance(text, str) and len(text) > maximum:
                raise E.string_length(path, maximum, len(text))


def check_sync_token(body: dict, record: dict) -> None:
    token = body.get("SyncToken")
    if token is None or token == "":
        raise E.required_missing("SyncToken")
    if str(token).strip() != str(record.get("SyncToken")):
        raise E.stale_object()


def new_meta(ctx: Ctx) -> dict:
    stamp = fmt_datetime(ctx.now)
    return {"CreateTime": stamp, "LastUpdatedTime": stamp}


def strip_deleted(name: str) -> str:
    return DELETED_SUFFIX_RE.sub("", name)


# --- base classes --------------------------------------------------------------------------------


class Entity:
    name = "Entity"
    known: frozenset[str] = frozenset()  # empty: no unknown-property check
    # Maximum lengths (qbo-api-facts.md), checked on every create and update body (api.entity_write).
    field_limits: dict[str, int] = {}
    readonly = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status"})
    creatable = True
    updatable = True
    deletable = False
    voidable = False
    namelist = False  # has Active / " (deleted)" semantics
    default_order: tuple[tuple[str, bool], ...] = (("Id", False),)

    @property
    def path(self) -> str:
        return self.name.lower()

    def check_known(self, body: dict) -> None:
        if not self.known:
            return
        for key in body:
            if key not in self.known:
                raise E.unsupported_property(self.name, key)

    def lookup(self, co: Company, body: dict) -> dict:
        ident = body.get("Id")
        if ident is None or ident == "":
            raise E.required_missing("Id")
        if not ID_RE.match(str(ident).strip()):
            raise E.invalid_id(ident)
        record = co.get(self.name, str(ident).strip())
        if record is None:
            raise E.object_not_found(
                f"Object Not Found : Something you're trying to use has been made inactive. Check the fields "
                f"with accounts, customers, items, vendors or employees. ({self.name} Id={ident})"
            )
        return record

    def create(self, co: Company, body: dict, ctx: Ctx) -> dict:
        record = {k: v for k, v in body.items() if k not in self.readonly and not blank(v)}
        record.update(
            {
                "domain": "QBO",
                "sparse": False,
                "Id": co.next_id(self.name),
                "SyncToken": "0",
                "MetaData": new_meta(ctx),
            }
        )
        if self.namelist:
            record.setdefault("Active", True)
        co.put(self.name, record, ctx.epoch, "Create")
        return record

    def update(self, co: Company, body: dict, ctx: Ctx) -> dict:
        record = self.lookup(co, body)
        check_sync_token(body, record)
        sparse = body.get("sparse") is True or str(body.get("sparse")).lower() == "true"
        new = dict(record) if sparse else {k: record[k] for k in self.readonly if k in record}
        for key, value in body.items():
            if key in self.readonly:
                continue
            if blank(value):
                new.pop(key, None)
            else:
                new[key] = value
        return self.commit_update(co, record, new, ctx)

    def commit_update(self, co: Company, old: dict, new: dict, ctx: Ctx, operation: str = "Update") -> dict:
        new["domain"], new["sparse"] = "QBO", False
        if new == old:
            return old  # nothing changed: QBO keeps the SyncToken (recorded deactivate/employee.yml)
        new["MetaData"] = dict(old.get("MetaData") or {})
        co.touch(new, ctx.now)
        co.put(self.name, new, ctx.epoch, operation)
        return new

    def delete(self, co: Company, body: dict, ctx: Ctx) -> dict:
        raise E.unsupported_operation(f"delete for {self.name}")

    def void(self, co: Company, body: dict, ctx: Ctx) -> dict:
        raise E.unsupported_operation(f"void for {self.name}")


class ReadOnlyEntity(Entity):
    creatable = False
    updatable = False


class NamedEntity(Entity):
    """Name-list entities keyed by `Name` (Item, Account, ...): " (deleted)" on deactivation."""

    namelist = True
    default_order = (("FullyQualifiedName", False), ("Name", False))

    def _unique(self, co: Company, name: str, ident: str | None) -> None:
        key = co.name_key(name)
        for other_id, other in co.table(self.name).items():
            if other_id != ident and co.name_key(other.get("Name", "")) == key:
                raise E.duplicate_item_name()

    def apply_active(self, co: Company, record: dict, was_active: bool) -> None:
        active = record.get("Active", True) is not False
        name = record.get("Name", "")
        if not active and not DELETED_SUFFIX_RE.search(name):
            record["Name"] = name + " (deleted)"
        elif active and not was_active and co.setting("reactivate_strips_suffix"):
            record["Name"] = strip_deleted(name)
        record["FullyQualifiedName"] = record["Name"]

    def create(self, co: Company, body: dict, ctx: Ctx) -> dict:
        self.check_known(body)
        name = (body.get("Name") or "").strip()
        if not name:
            raise E.required_missing("Name")
        self._unique(co, name, None)
        record = super().create(co, {**body, "Name": name}, ctx)
        self.apply_active(co, record, True)
        return record

    def update(self, co: Company, body: dict, ctx: Ctx) -> dict:
        self.check_known(body)
        record = self.lookup(co, body)
        check_sync_token(body, record)
        sparse = body.get("sparse") is True or str(body.get("sparse")).lower() == "true"
        new = (
            dict(record) if sparse else {k: v for k, v in record.items() if k in self.readonly or k == "Name"}
        )
        for key, value in body.items():
            if key not in self.readonly and key != "FullyQualifiedName" and not blank(value):
                new[key] = value.strip() if key == "Name" and isinstance(value, str) else value
        self.apply_active(co, new, record.get("Active", True) is not False)
        if co.name_key(new.get("Name", "")) != co.name_key(record.get("Name", "")):
            self._unique(co, new["Name"], record["Id"])
        return self.commit_update(co, record, new, ctx)


class Item(NamedEntity):
    name = "Item"
    field_limits = {"Name": 100}
    known = frozenset(
        {
            "AbatementRate",
            "Active",
            "AssetAccountRef",
            "ClassRef",
            "Description",
            "ExpenseAccountRef",
            "FullyQualifiedName",
            "Id",
            "IncomeAccountRef",
            "InvStartDate",
            "ItemCategoryType",
            "Level",
            "MetaData",
            "Name",
            "ParentRef",
            "PurchaseCost",
            "PurchaseDesc",
            "PurchaseTaxCodeRef",
            "PurchaseTaxIncluded",
            "QtyOnHand",
            "ReorderPoint",
            "ReverseChargeRate",
            "SalesTaxCodeRef",
            "SalesTaxIncluded",
            "ServiceType",
            "Sku",
            "SubItem",
            "SyncToken",
            "TaxClassificationRef",
            "Taxable",
            "TrackQtyOnHand",
            "Type",
            "UnitPrice",
            "domain",
            "sparse",
            "status",
            "PrefVendorRef",
            "UQCDisplayText",
            "UQCId",
        }
    )

    def create(self, co: Company, body: dict, ctx: Ctx) -> dict:
        body = dict(body)
        if blank(body.get("Type")):
            body["Type"] = "Service"
        if body["Type"] in ("Service", "NonInventory", "Inventory") and blank(body.get("IncomeAccountRef")):
            raise E.required_missing("IncomeAccountRef")
        return super().create(co, body, ctx)


class GenericNamed(NamedEntity):
    def __init__(self, name: str):
        self.name = name


class CustomerType(ReadOnlyEntity):
    name = "CustomerType"
    namelist = True
    default_order = (("Name", False),)


class TaxCode(ReadOnlyEntity):
    """Read and query only, as in QBO (the TaxService makes codes); seeded per region (regions.py)."""

    name = "TaxCode"
    namelist = True
    default_order = (("Name", False),)


class TaxRate(ReadOnlyEntity):
    name = "TaxRate"
    namelist = True
    default_order = (("Name", False),)


class TaxAgency(ReadOnlyEntity):
    name = "TaxAgency"
    default_order = (("DisplayName", False),)


NOT_IN_CDC = frozenset({"TaxCode", "TaxRate", "TaxAgency"})  # Intuit's CDC page (qbo-api-facts §9)


class Generic(Entity):
    def __init__(self, name: str, deletable: bool = False):
        self.name = name
        self.deletable = deletable
        if deletable:  # transactions: newest first, as the recorded SalesReceipt query shows
            self.default_order = (("TxnDate", True), ("Id", True))

    def delete(self, co: Company, body: dict, ctx: Ctx) -> dict:
        if not self.deletable:
            return super().delete(co, body, ctx)
        record = self.lookup(co, body)
        check_sync_token(body, record)
        co.remove(self.name, record["Id"], ctx.epoch, ctx.now)
        return {"domain": "QBO", "status": "Deleted", "Id": record["Id"]}


# --- Customer, Vendor, Employee ------------------------------------------------------------------

NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
NAME_LIMITS = {
    "DisplayName": 500,
    "Title": 16,
    "Suffix": 16,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "CompanyName": 100,
    "PrintOnCheckName": 110,
    "Notes": 2000,
    **{f"{phone}.FreeFormNumber": 30 for phone in ("PrimaryPhone", "Mobile", "Fax", "AlternatePhone")},
}


class Person(Entity):
    """Shared rules of the three name lists whose DisplayName must be unique across all of them."""

    namelist = True
    default_order = (("DisplayName", False),)
    field_limits = NAME_LIMITS
    defaults: dict = {}
    order: tuple[str, ...] = ()
    computed = frozenset({"FullyQualifiedName", "Level", "Balance", "BalanceWithJobs", "IsProject"})
    create_only = frozenset({"CurrencyRef", "Balance", "OpenBalanceDate"})

    def validate_names(self, body: dict) -> None:
        for field in ("DisplayName", *NAME_PARTS, "PrintOnCheckName"):
            value = body.get(field)
            if isinstance(value, str) and BAD_NAME_CHARS.search(value):
                raise E.QBOError(
                    6000,
                    "A business validation error has occurred while processing your request",
                    f"Business Validation Error: {field} cannot contain a colon (:), a tab or a newline.",
                    element=field,
                )

    def display_name(self, body: dict, old: dict | None) -> str:
        name = body.get("DisplayName")
        if isinstance(name, str) and name.strip():
            return name.strip()
        parts = [body.get(p) if p in body else (old or {}).get(p) for p in NAME_PARTS]
        built = " ".join(str(p).strip() for p in parts if isinstance(p, str) and p.strip())
        if built:
            return built
        if old and old.get("DisplayName"):
            return old["DisplayName"]
        raise E.no_name_provided()

    def check_unique(self, co: Company, name: str, ident: str | None) -> None:
        holder = co.names.get(co.name_key(name))
        if holder is not None and holder != (self.name, ident):
            raise E.duplicate_name()

    def reindex(self, co: Company, old_name: str | None, new_name: str | None, ident: str) -> None:
        if old_name is not None:
            key = co.name_key(old_name)
            if co.names.get(key) == (self.name, ident):
                del co.names[key]
        if new_name is not None:
            co.names[co.name_key(new_name)] = (self.name, ident)

    def deleted_name(self, co: Company, base: str, ident: str) -> str:
        candidate = f"{base} (deleted)"
        n = 0
        while co.names.get(co.name_key(candidate)) not in (None, (self.name, ident)):
            n += 1
            candidate = f"{base} (deleted-{n})"
        return candidate

    def refs(self, co: Company, record: dict) -> None:
        """Validate and name-fill references (Customer overrides)."""

    def fqn(self, co: Company, record: dict) -> None:
        """Set FullyQualifiedName / Level (Customer overrides; Vendor and Employee have none)."""

    def arrange(self, record: dict) -> dict:
        ordered = {k: record[k] for k in self.order if k in record}
        ordered.update({k: v for k, v in record.items() if k not in ordered})
        return ordered

    def create(self, co: Company, body: dict, ctx: Ctx) -> dict:
        self.check_known(body)
        self.validate_names(body)
        name = self.display_name(body, None)
        active = body.get("Active") is not False
        if active:
            self.check_unique(co, name, None)
        record = dict(self.defaults)
        if tax.region_of(co).is_global:
            record.pop("DefaultTaxCodeRef", None)  # the recorded default ("2") is a US company's
        for key, value in body.items():
            if key in self.readonly or key in self.computed or blank(value):
                continue
            record[key] = value
        record["DisplayName"] = name
        if "CurrencyRef" in self.defaults:
            record["CurrencyRef"] = party_currency(co, body)
        record.setdefault("PrintOnCheckName", name[:110])
        if "Balance" in self.defaults:
            opening = amount(body.get("Balance"), "Balance") or 0
            record["Balance"] = money(opening)
            if "BalanceWithJobs" in self.defaults:
                record["BalanceWithJobs"] = money(opening)
        ident = co.next_id(self.name)
        record.update(
            {"domain": "QBO", "sparse": False, "Id": ident, "SyncToken": "0", "MetaData": new_meta(ctx)}
        )
        record["Active"] = active
        self.refs(co, record)
        if not active:
            record["DisplayName"] = self.deleted_name(co, name, ident)
        self.fqn(co, record)
        record = self.arrange(record)
        self.reindex(co, None, record["DisplayName"], ident)
        co.put(self.name, record, ctx.epoch, "Create")
        return record

    def update(self, co: Company, body: dict, ctx: Ctx) -> dict:
        self.check_known(body)
        record = self.lookup(co, body)
        check_sync_token(body, record)
        self.validate_names(body)
        if "CurrencyRef" in self.defaults:
            check_currency_unchanged(record, body, self.name.lower())
        sparse = body.get("sparse") is True or str(body.get("sparse")).lower() == "true"
        if sparse:
            new = dict(record)
        else:  # a full update: omitted writable fields are cleared, defaults and computed fields stay
            new = dict(self.defaults)
            new.update(
                {
                    k: v
                    for k, v in record.items()
                    if k in self.readonly or k in self.computed or k in self.create_only
                }
            )
            new["DisplayName"] = record["DisplayName"]
            new["Active"] = record.get("Active", True)
        for key, value in body.items():
            if key in self.readonly or key in self.computed or key in self.create_only:
                continue
            if blank(value):
                if sparse or key == "DisplayName":
                    continue
                new.pop(key, None)
            else:
                new[key] = value
        was_active = record.get("Active", True) is not False
        active = new.get("Active", True) is not False
        new["Active"] = active
        old_name = record["DisplayName"]
        requested = body.get("DisplayName")
        if isinstance(requested, str) and requested.strip():
            name = requested.strip()
        elif any(p in body for p in NAME_PARTS) and not sparse and not body.get("DisplayName"):
            name = self.display_name({p: new.get(p) for p in NAME_PARTS}, record)
        else:
            name = old_name
        if active:
            if not was_active and co.setting("reactivate_strips_suffix"):
                name = strip_deleted(name)
            if co.name_key(name) != co.name_key(old_name) or not was_active:
                self.check_unique(co, name, record["Id"])
        elif not DELETED_SUFFIX_RE.search(name):
            name = self.deleted_name(co, name, record["Id"])
        new["DisplayName"] = name
        if "PrintOnCheckName" not in new:
            new["PrintOnCheckName"] = strip_deleted(name)[:110]
        self.refs(co, new)
        self.fqn(co, new)
        new = self.arrange(new)
        result = self.commit_update(co, record, new, ctx)
        if result is not record:
            self.reindex(co, old_name, result["DisplayName"], record["Id"])
        return result


CUSTOMER_KNOWN = frozenset(
    {
        "ARAccountRef",
        "Active",
        "AlternatePhone",
        "Balance",
        "BalanceWithJobs",
        "BillAddr",
        "BillWithParent",
        "BusinessNumber",
        "CompanyName",
        "CurrencyRef",
        "CustomerTypeRef",
        "DefaultTaxCodeRef",
        "DisplayName",
        "FamilyName",
        "Fax",
        "FullyQualifiedName",
        "GSTIN",
        "GSTRegistrationType",
        "GivenName",
        "Id",
        "IsProject",
        "Job",
        "Level",
        "MetaData",
        "MiddleName",
        "Mobile",
        "Notes",
        "OpenBalanceDate",
        "ParentRef",
        "PaymentMethodRef",
        "PreferredDeliveryMethod",
        "PrimaryEmailAddr",
        "PrimaryPhone",
        "PrimaryTaxIdentifier",
        "PrintOnCheckName",
        "ResaleNum",
        "SalesTermRef",
        "SecondaryTaxIdentifier",
        "ShipAddr",
        "Source",
        "Suffix",
        "SyncToken",
        "TaxExemptionReasonId",
        "Taxable",
        "Title",
        "WebAddr",
        "domain",
        "sparse",
        "status",
        "TaxRegimeRef",
        "ClientEntityId",
        "HasChildren",
    }
)


class Customer(Person):
    name = "Customer"
    known = CUSTOMER_KNOWN
    defaults = {
        "Taxable": True,
        "Job": False,
        "BillWithParent": False,
        "Balance": 0,
        "BalanceWithJobs": 0,
        "CurrencyRef": USD,
        "PreferredDeliveryMethod": "Print",
        "DefaultTaxCodeRef": {"value": "2"},
    }
    order = (
        "Taxable",
        "BillAddr",
        "ShipAddr",
        "Job",
        "BillWithParent",
        "ParentRef",
        "Level",
        "Balance",
        "BalanceWithJobs",
        "CurrencyRef",
        "PreferredDeliveryMethod",
        "domain",
        "sparse",
        "Id",
        "SyncToken",
        "MetaData",
        "Title",
        "GivenName",
        "MiddleName",
        "FamilyName",
        "Suffix",
        "FullyQualifiedName",
        "CompanyName",
        "DisplayName",
        "PrintOnCheckName",
        "Active",
        "PrimaryPhone",
        "PrimaryEmailAddr",
    )
    default_order = (("FullyQualifiedName", False),)

    def refs(self, co: Company, record: dict) -> None:
        type_id = ref_id(record.get("CustomerTypeRef"), "CustomerTypeRef")
        if type_id is not None:
            ctype = co.get("CustomerType", type_id)
            if ctype is None:
                raise E.invalid_reference("CustomerType", type_id, "CustomerTypeRef")
            if ctype.get("Active") is False:
                raise E.object_not_found()
            record["CustomerTypeRef"] = {"value": type_id}
        parent_id = ref_id(record.get("ParentRef"), "ParentRef")
        if parent_id is not None:
            parent = co.get("Customer", parent_id)
            if parent is None or parent_id == record.get("Id"):
                raise E.invalid_reference("Names", parent_id, "ParentRef")
            if parent.get("Active") is False:
                raise E.object_not_found()
            if int(parent.get("Level", 0)) >= 4:
                raise E.business_validation("Sub-customers can be nested at most 4 levels deep.")
            record["ParentRef"] = {"value": parent_id}
            record["Job"] = True
        else:
            record.pop("ParentRef", None)
            record.pop("Level", None)

    def fqn(self, co: Company, record: dict) -> None:
        parent_id = (record.get("ParentRef") or {}).get("value")
        if parent_id:
            parent = co.get("Customer", parent_id) or {}
            record["FullyQualifiedName"] = f"{parent.get('FullyQualifiedName', '')}:{record['DisplayName']}"
            record["Level"] = int(parent.get("Level", 0)) + 1
        else:
            record["FullyQualifiedName"] = record["DisplayName"]


class Vendor(Person):
    name = "Vendor"
    known = frozenset(
        {
            "APAccountRef",
            "AcctNum",
            "Active",
            "AlternatePhone",
            "Balance",
            "BillAddr",
            "BillRate",
            "BusinessNumber",
            "CompanyName",
            "CostRate",
            "CurrencyRef",
            "DisplayName",
            "FamilyName",
            "Fax",
            "GSTIN",
            "GSTRegistrationType",
            "GivenName",
            "HasTPAR",
            "Id",
            "MetaData",
            "MiddleName",
            "Mobile",
            "OtherContactInfo",
            "PrimaryEmailAddr",
            "PrimaryPhone",
            "PrintOnCheckName",
            "Source",
            "Suffix",
            "SyncToken",
            "T4AEligible",
            "T5018Eligible",
            "TaxIdentifier",
            "TaxReportingBasis",
            "TermRef",
            "Title",
            "Vendor1099",
            "VendorPaymentBankDetail",
            "WebAddr",
            "domain",
            "sparse",
            "status",
        }
    )
    defaults = {"Balance": 0, "Vendor1099": False, "CurrencyRef": USD}
    order = (
        "BillAddr",
        "TermRef",
        "Balance",
        "AcctNum",
        "Vendor1099",
        "CurrencyRef",
        "domain",
        "sparse",
        "Id",
        "SyncToken",
        "MetaData",
    )
    computed = frozenset({"Balance"})


class Employee(Person):
    name = "Employee"
    known = frozenset(
        {
            "Active",
            "AlternatePhone",
            "BillRate",
            "BillableTime",
            "BirthDate",
            "CostRate",
            "DisplayName",
            "EmailAddress",
            "EmployeeNumber",
            "EmployeeType",
            "FamilyName",
            "Gender",
            "GivenName",
            "HiredDate",
            "Id",
            "MetaData",
            "MiddleName",
            "Mobile",
            "Organization",
            "PrimaryAddr",
            "PrimaryEmailAddr",
            "PrimaryPhone",
            "PrintOnCheckName",
            "ReleasedDate",
            "SSN",
            "Suffix",
            "SyncToken",
            "Title",
            "domain",
            "sparse",
            "status",
        }
    )
    defaults = {"BillableTime": False}
    order = ("BillableTime", "domain", "sparse", "Id", "SyncToken", "MetaData")
    computed = frozenset()
    create_only = frozenset()


# --- Invoice -------------------------------------------------------------------------------------

INVOICE_KNOWN = frozenset(
    {
        "DocNumber",
        "HomeTotalAmt",
        "TotalAmt",
        "TxnSource",
        "AllowOnlinePayment",
        "RecurringInfo",
        "EmailStatus",
        "callToAction",
        "AutoDocNumber",
        "ECloudStatusTimeStamp",
        "TaxFormNum",
        "TxnDate",
        "FOB",
        "ClassRef",
        "AllowOnlineACHPayment",
        "DepositToAccountRef",
        "InvoiceEx",
        "AllowOnlineCreditCardPayment",
        "CurrencyRef",
        "InvoiceLink",
        "PONumber",
        "ShipDate",
        "PaymentMethodRef",
        "TrackingNum",
        "TxnTaxDetail",
        "CustomerRef",
        "ShipFromAddr",
        "BillAddr",
        "EInvoiceStatus",
        "Id",
        "RecurDataRef",
        "ApplyTaxAfterDiscount",
        "DepartmentRef",
        "SalesRepRef",
        "ExchangeRate",
        "domain",
        "invoiceStatusLog",
        "TaxFormType",
        "BillEmailBcc",
        "LessCIS",
        "CustomerMemo",
        "TxnStatus",
        "HomeBalance",
        "PrintStatus",
        "ConvenienceFeeDetail",
        "DiscountRate",
        "DeliveryInfo",
        "FreeFormAddress",
        "AllowIPNPayment",
        "CustomField",
        "PaymentDetailsMessage",
        "TransactionLocationType",
        "MetaData",
        "LinkedTxn",
        "status",
        "RemitToRef",
        "PrivateNote",
        "ShipMethodRef",
        "PaymentRefNum",
        "Tag",
        "TxnApprovalInfo",
        "SyncToken",
        "sparse",
        "Line",
        "DueDate",
        "Balance",
        "Deposit",
        "BillEmail",
        "BillEmailCc",
        "SalesTermRef",
        "GlobalTaxCalculation",
        "TaxExemptionRef",
        "ShipAddr",
        "DiscountAmt",
        "ProjectRef",
        "Attachable",
        "TemplateRef",
        "HomeAmtTotal",
    }
)
INVOICE_COMPUTED = frozenset(
    {
        "TotalAmt",
        "Balance",
        "HomeBalance",
        "HomeTotalAmt",
        "LinkedTxn",
        "TxnTaxDetail",
        "InvoiceLink",
        "EInvoiceStatus",
        "invoiceStatusLog",
        "AutoDocNumber",
    }
)
INVOICE_ORDER = (
    "AllowIPNPayment",
    "AllowOnlinePayment",
    "AllowOnlineCreditCardPayment",
    "AllowOnlineACHPayment",
    "domain",
    "sparse",
    "Id",
    "SyncToken",
    "MetaData",
    "CustomField",
    "DocNumber",
    "TxnDate",
    "CurrencyRef",
    "PrivateNote",
    "LinkedTxn",
    "Line",
    "TxnTaxDetail",
    "CustomerRef",
    "CustomerMemo",
    "BillAddr",
    "ShipAddr",
    "SalesTermRef",
    "DueDate",
    "TotalAmt",
    "ApplyTaxAfterDiscount",
    "PrintStatus",
    "EmailStatus",
    "BillEmail",
    "Balance",
    "GlobalTaxCalculation",
    "ExchangeRate",
    "HomeTotalAmt",
    "HomeBalance",
)
ENUMS = {
    "PrintStatus": {"NotSet", "NeedToPrint", "PrintComplete"},
    "EmailStatus": {"NotSet", "NeedToSend", "EmailSent"},
}


def next_doc_number(last: str | None) -> str:
    if not last:
        return "1001"
    m = re.match(r"^(.*?)(\d+)$", last)
    if not m:
        return last + "1"
    digits = m.group(2)
    return m.group(1) + str(int(digits) + 1).zfill(len(digits))


def line_totals(lines: list[dict]) -> Decimal:
    """Sales lines less discounts; the SubTotal line is set to the sales lines' (net) total."""
    sales = sum(
        (Decimal(str(ln["Amount"])) for ln in lines if ln.get("DetailType") == "SalesItemLineDetail"),
        Decimal(0),
    )
    discounts = sum(
        (Decimal(str(ln["Amount"])) for ln in lines if ln.get("DetailType") == "DiscountLineDetail"),
        Decimal(0),
    )
    for ln in lines:
        if ln.get("DetailType") == "SubTotalLineDetail":
            ln["Amount"] = money(float(sales))
    return sales - discounts


def requested_tax(body: dict, stored: dict | None, sparse: bool) -> dict | None:
    """The TxnTaxDetail an update asks for: the one sent; for a sparse update without one, the stored tax
    code, and the stored amounts too when the lines stay as they are (nothing to compute again)."""
    if isinstance(body.get("TxnTaxDetail"), dict):
        return body["TxnTaxDetail"]
    if not sparse or not stored:
        return None
    if "Line" not in body:
        return stored
    return {"TxnTaxCodeRef": stored["TxnTaxCodeRef"]} if stored.get("TxnTaxCodeRef") else None


def check_customer_ref(co: Company, body: dict, required: bool = True) -> dict | None:
    cust_id = ref_id(body.get("CustomerRef"), "CustomerRef", required=required)
    if cust_id is None:
        return None
    customer = co.get("Customer", cust_id)
    if customer is None:
        raise E.invalid_reference("Names", cust_id, "CustomerRef")
    if customer.get("Active") is False:
        raise E.object_not_found()
    return customer


def adjust_customer_balance(co: Company, customer_id: str, delta: float, ctx: Ctx) -> None:
    """Customer balances follow their invoices and payments; QBO does not bump the SyncToken for this."""
    if abs(delta) < 0.0001:
        return
    customer = co.get("Customer", customer_id)
    first = True
    while customer is not None:
        if first:
            customer["Balance"] = money(float(customer.get("Balance", 0)) + delta)
            first = False
        customer["BalanceWithJobs"] = money(float(customer.get("BalanceWithJobs", 0)) + delta)
        customer.setdefault("MetaData", {})["LastUpdatedTime"] = fmt_datetime(ctx.now)
        co.ts[("Customer", customer["Id"])] = ctx.epoch
        parent = (customer.get("ParentRef") or {}).get("value")
        customer = co.get("Customer", parent) if parent else None


class Invoice(Entity):
    name = "Invoice"
    known = INVOICE_KNOWN
    field_limits = {
        "DocNumber": 21,
        "PrivateNote": 4000,
        "CustomerMemo.value": 1000,
        "Line.Description": 4000,
    }
    deletable = True
    voidable = True
    default_order = (("TxnDate", True), ("Id", True))

    def build_lines(self, co: Company, lines: object, inclusive: bool = False) -> list[dict]:
        """The stored lines (and the SubTotal line) from the request's; `inclusive`: a tax-inclusive invoice,
        whose lines' TaxInclusiveAmt (else Amount) is the price with tax (tax.apply splits it)."""
        if not isinstance(lines, list) or not lines:
            raise E.required_missing("Line")
        out: list[dict] = []
        discounts: list[dict] = []
        subtotal = 0.0
        n = 0
        for raw in lines:
            if not isinstance(raw, dict):
                raise E.bad_request_body("Line items must be objects")
            detail_type = raw.get("DetailType")
            if detail_type == "SubTotalLineDetail":
                continue  # recomputed by the server
            if not detail_type:
                raise E.required_missing("DetailType")
            n += 1
            line: dict = {"Id": str(n), "LineNum": n}
            if not blank(raw.get("Description")):
                line["Description"] = raw["Description"]
            if detail_type == "SalesItemLineDetail":
                detail = raw.get("SalesItemLineDetail")
                if not isinstance(detail, dict):
                    raise E.required_missing("SalesItemLineDetail")
                item_id = ref_id(detail.get("ItemRef"), "ItemRef", required=True)
                item = co.get("Item", item_id)
                if item is None:
                    raise E.invalid_reference("Item", item_id, "ItemRef")
                if item.get("Active") is False:
                    raise E.object_not_found()
                if item.get("Type") == "Category":
                    raise E.QBOError(
                        2500,
                        "Invalid Reference Id",
                        "Invalid Reference Id : An item in this "
                        "transaction is set up as a category instead of a product or service.",
                    )
                qty = amount(detail.get("Qty"), "Qty")
                unit = amount(detail.get("UnitPrice"), "UnitPrice")
                value = amount(raw.get("Amount"), "Amount")
                gross = amount(detail.get("TaxInclusiveAmt"), "TaxInclusiveAmt") if inclusive else None
                if gross:  # python-quickbooks sends 0 for "not given"
                    value = gross
                if value is None:
                    if qty is None or unit is None:
                        raise E.required_missing("Amount")
                    value = round(qty * unit, 2)
                elif qty and unit and abs(qty * unit - value) > 0.005:
                    raise E.amount_mismatch()
                out_detail: dict = {
                    "ItemRef": {"value": item_id, "name": strip_deleted(item.get("Name", ""))}
                }
                if unit:
                    out_detail["UnitPrice"] = money(unit)
                if qty:
                    out_detail["Qty"] = money(qty)
                for key in ("ServiceDate", "ClassRef", "TaxInclusiveAmt", "DiscountAmt", "DiscountRate"):
                    if not blank(detail.get(key)) and detail.get(key) != 0:
                        out_detail[key] = detail[key]
                if not blank(detail.get("TaxCodeRef")):
                    out_detail["TaxCodeRef"] = detail["TaxCodeRef"]  # checked and defaulted by tax.apply
                line.update(
                    {"Amount": money(value), "DetailType": detail_type, "SalesItemLineDetail": out_detail}
                )
                subtotal += value
                out.append(line)
            elif detail_type == "DescriptionOnly":
                line.update(
                    {
                        "DetailType": detail_type,
                        "DescriptionLineDetail": raw.get("DescriptionLineDetail") or {},
                    }
                )
                out.append(line)
            elif detail_type == "DiscountLineDetail":
                detail = raw.get("DiscountLineDetail") or {}
                value = amount(raw.get("Amount"), "Amount")
                if detail.get("PercentBased") and detail.get("DiscountPercent") is not None:
                    value = round(subtotal * float(detail["DiscountPercent"]) / 100, 2)
                if value is None:
                    raise E.required_missing("Amount")
                line.update({"Amount": money(value), "DetailType": detail_type, "DiscountLineDetail": detail})
                discounts.append(line)
            else:
                raise E.invalid_enum("DetailType", detail_type)
        if not out:
            raise E.required_missing("Line")
        out.append({"Amount": money(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        return out + discounts

    def check_doc_number(self, co: Company, doc: str, ident: str | None, ctx: Ctx) -> None:
        if not co.setting("check_duplicate_doc_number") or "allowduplicatedocnum" in ctx.include:
            return
        holder = co.docnums.get(doc.strip().casefold())
        if holder is not None and holder != ident and co.get("Invoice", holder) is not None:
            raise E.duplicate_doc_number(doc, "Invoice", holder)

    def auto_doc_number(self, co: Company) -> str:
        candidate = next_doc_number(co.last_docnum)
        while candidate.casefold() in co.docnums:
            candidate = next_doc_number(candidate)
        return candidate

    def applied_total(self, co: Company, ident: str) -> float:
        return round(sum(co.applied.get(ident, {}).values()), 2)

    def linked(self, co: Company, ident: str) -> list[dict]:
        return [{"TxnId": pid, "TxnType": "Payment"} for pid in co.applied.get(ident, {})]

    def fill(
        self,
        co: Company,
        record: dict,
        body: dict,
        customer: dict,
        ctx: Ctx,
        creating: bool,
        requested_tax: dict | None = None,
    ) -> None:
        for key in ("PrintStatus", "EmailStatus"):
            if key in record and record[key] not in ENUMS[key]:
                raise E.invalid_enum(key, record[key])
        if record.get("EmailStatus") == "NeedToSend" and blank(
            (record.get("BillEmail") or {}).get("Address")
        ):
            raise E.business_validation("Need to supply a BillEmail address when EmailStatus is NeedToSend.")
        record["CustomerRef"] = {"value": customer["Id"], "name": customer.get("DisplayName", "")}
        txn_date = parse_date(record.get("TxnDate"), "TxnDate") or ctx.now.date().isoformat()
        record["TxnDate"] = txn_date
        due = parse_date(record.get("DueDate"), "DueDate")
        record["DueDate"] = (
            due
            or (
                date.fromisoformat(txn_date) + timedelta(days=int(co.setting("default_terms_days")))
            ).isoformat()
        )
        for key in ("ShipDate",):
            if key in record:
                record[key] = parse_date(record[key], key)
                if record[key] is None:
                    del record[key]
        for addr in ("BillAddr", "ShipAddr"):
            if addr not in record and customer.get(addr):
                record[addr] = customer[addr]
        record["CurrencyRef"] = transaction_currency(co, record, customer)
        record.setdefault("PrintStatus", "NeedToPrint")
        record.setdefault("EmailStatus", "NotSet")
        record.setdefault("ApplyTaxAfterDiscount", False)
        for flag in (
            "AllowIPNPayment",
            "AllowOnlinePayment",
            "AllowOnlineCreditCardPayment",
            "AllowOnlineACHPayment",
        ):
            record.setdefault(flag, False)
        tax.check_mode(co, record)
        voided = ("Invoice", record["Id"]) in co.voided
        if voided and "Line" not in body:
            # Editing a voided invoice's other fields (its memo, say) keeps its zeroed lines as they are.
            lines = list(record.get("Line") or [])
        else:
            lines = self.build_lines(
                co, body.get("Line") if "Line" in body else record.get("Line"), tax.inclusive(co, record)
            )
        record["Line"] = lines
        if voided:
            record["Line"] = [{**ln, "Amount": 0} if "Amount" in ln else ln for ln in lines]
            record["TxnTaxDetail"] = {"TotalTax": 0}
            total = Decimal(0)
        else:
            total_tax = tax.apply(co, record, requested_tax, customer, ctx)
            total = line_totals(record["Line"]) + total_tax
        record["TotalAmt"] = money(float(total))
        record["LinkedTxn"] = self.linked(co, record["Id"])
        record["Balance"] = money(float(total) - self.applied_total(co, record["Id"]))
        rate = exchange_rate(co, record)
        if rate is not None:
            record["HomeTotalAmt"] = home_amount(record["TotalAmt"], rate)
            record["HomeBalance"] = home_amount(record["Balance"], rate)

    def arrange(self, record: dict) -> dict:
        ordered = {k: record[k] for k in INVOICE_ORDER if k in record}
        ordered.update({k: v for k, v in record.items() if k not in ordered})
        return ordered

    def create(self, co: Company, body: dict, ctx: Ctx) -> dict:
        self.check_known(body)
        customer = check_customer_ref(co, body)
        if "Line" not in body or blank(body.get("Line")):
            raise E.required_missing("Line")
        record = {
            k: v
            for k, v in body.items()
            if k not in self.readonly and k not in INVOICE_COMPUTED and not blank(v)
        }
        ident = co.next_id("Invoice")
        record.update(
            {"domain": "QBO", "sparse": False, "Id": ident, "SyncToken": "0", "MetaData": new_meta(ctx)}
        )
        doc = body.get("DocNumber")
        doc = doc.strip() if isinstance(doc, str) else (str(doc) if doc is not None else "")
        if doc and doc != "AUTO_GENERATE":
            self.check_doc_number(co, doc, None, ctx)
            record["DocNumber"] = doc
        elif doc == "AUTO_GENERATE" or not co.setting("custom_txn_numbers"):
            record["DocNumber"] = self.auto_doc_number(co)
        else:
            record.pop("DocNumber", None)
        self.fill(co, record, body, customer, ctx, True, body.get("TxnTaxDetail"))
        record = self.arrange(record)
        if record.get("DocNumber"):
            co.docnums[record["DocNumber"].casefold()] = ident
            co.last_docnum = record["DocNumber"]
        co.put("Invoice", record, ctx.epoch, "Create")
        adjust_customer_balance(co, customer["Id"], float(record["Balance"]), ctx)
        return record

    def update(self, co: Company, body: dict, ctx: Ctx) -> dict:
        self.check_known(body)
        record = self.lookup(co, body)
        check_sync_token(body, record)
        sparse = body.get("sparse") is True or str(body.get("sparse")).lower() == "true"
        customer = check_customer_ref(co, body, required=not sparse)
        if customer is None:
            customer = co.get("Customer", record["CustomerRef"]["value"]) or {
                "Id": record["CustomerRef"]["value"]
            }
            if customer.get("Active") is False:
                raise E.object_not_found()
        if customer["Id"] != record["CustomerRef"]["value"] and co.applied.get(record["Id"]):
            # Checked before anything is stored: a refused update changes nothing.
            raise E.business_validation("The customer of an invoice with payments applied cannot change.")
        if sparse:
            new = dict(record)
        else:
            new = {
                k: record[k]
                for k in ("domain", "sparse", "Id", "SyncToken", "MetaData", "DocNumber")
                if k in record
            }
            if "Line" not in body or blank(body.get("Line")):
                raise E.required_missing("Line")
        for key, value in body.items():
            if key in self.readonly or key in INVOICE_COMPUTED:
                continue
            if blank(value):
                if not sparse:
                    new.pop(key, None)
                continue
            new[key] = value
        if "DocNumber" in body and not blank(body.get("DocNumber")):
            doc = str(body["DocNumber"]).strip()
            if doc != record.get("DocNumber"):
                self.check_doc_number(co, doc, record["Id"], ctx)
            new["DocNumber"] = doc
        new_txn_date = "TxnDate" in body and not blank(body.get("TxnDate"))
        if ("DueDate" not in body or blank(body.get("DueDate"))) and (new_txn_date or not sparse):
            new.pop("DueDate", None)
        self.fill(
            co, new, body, customer, ctx, False, requested_tax(body, record.get("TxnTaxDetail"), sparse)
        )
        new = self.arrange(new)
        result = self.commit_update(co, record, new, ctx)
        if result is not record:
            old_doc, new_doc = record.get("DocNumber"), result.get("DocNumber")
            if old_doc != new_doc:
                if old_doc and co.docnums.get(old_doc.casefold()) == record["Id"]:
                    del co.docnums[old_doc.casefold()]
                if new_doc:
                    co.docnums[new_doc.casefold()] = record["Id"]
            old_cust, new_cust = record["CustomerRef"]["value"], result["CustomerRef"]["value"]
            adjust_customer_balance(co, old_cust, -float(record["Balance"]), ctx)
            adjust_customer_balance(co, new_cust, float(result["Balance"]), ctx)
        return result

    def void(self, co: Company, body: dict, ctx: Ctx) -> dict:
        record = self.lookup(co, body)
        check_sync_token(body, record)
        if co.applied.get(record["Id"]) and co.setting("void_paid_invoice") == "reject":
            raise E.business_validation(
                "This invoice has payments applied to it. Delete or unapply the payments before voiding it."
            )
        if ("Invoice", record["Id"]) in co.voided:
            return record
        for pid in list(co.applied.get(record["Id"], {})):
            unlink_payment(co, pid, record["Id"], ctx)
        new = dict(record)
        new["Line"] = [{**ln, "Amount": 0} if "Amount" in ln else ln for ln in record["Line"]]
        new["TotalAmt"] = 0
        new["Balance"] = 0
        new["LinkedTxn"] = []
        new["TxnTaxDetail"] = {"TotalTax": 0}
        for key in ("HomeTotalAmt", "HomeBalance"):
            if key in new:
                new[key] = 0
        note = record.get("PrivateNote")
        new["PrivateNote"] = (
            f"Voided - {note}" if note and not note.startswith("Voided") else (note or "Voided")
        )
        new = self.arrange(new)
        co.voided.add(("Invoice", record["Id"]))
        new["MetaData"] = dict(record.get("MetaData") or {})
        co.touch(new, ctx.now)
        co.put("Invoice", new, ctx.epoch, "Void")
        adjust_customer_balance(co, record["CustomerRef"]["value"], -float(record["Balance"]), ctx)
        return new

    def delete(self, co: Company, body: dict, ctx: Ctx) -> dict:
        ident = body.get("Id")
        if ident is not None and str(ident).strip() and co.get("Invoice", str(ident).strip()) is None:
            raise E.object_not_found()
        record = self.lookup(co, body)
        check_sync_token(body, record)
        if co.applied.get(record["Id"]):
            raise E.business_validation(
                "This invoice has linked transactions (payments). Unlink or delete them before deleting it."
            )
        co.remove("Invoice", record["Id"], ctx.epoch, ctx.now)
        co.voided.discard(("Invoice", record["Id"]))
        doc = record.get("DocNumber")
        if doc and co.docnums.get(doc.casefold()) == record["Id"]:
            del co.docnums[doc.casefold()]
        adjust_customer_balance(co, record["CustomerRef"]["value"], -float(record["Balance"]), ctx)
        return {"domain": "QBO", "status": "Deleted", "Id": record["Id"]}


# --- Payment -------------------------------------------------------------------------------------

PAYMENT_KNOWN = frozenset(
    {
        "ARAccountRef",
        "CreditCardPayment",
        "CurrencyRef",
        "CustomerRef",
        "DepositToAccountRef",
        "ExchangeRate",
        "Id",
        "Line",
        "MetaData",
        "PaymentMethodRef",
        "PaymentRefNum",
        "PrivateNote",
        "SyncToken",
        "TaxExemptionRef",
        "TotalAmt",
        "TransactionLocationType",
        "TxnDate",
        "TxnSource",
        "TxnStatus",
        "UnappliedAmt",
        "domain",
        "sparse",
        "status",
        "ProcessPayment",
        "ProjectRef",
        "LinkedTxn",
        "DocNumber",
        "HomeTotalAmt",
        "TxnPostingAccountRef",
    }
)
PAYMENT_ORDER = (
    "CustomerRef",
    "DepositToAccountRef",
    "PaymentMethodRef",
    "PaymentRefNum",
    "TotalAmt",
    "UnappliedAmt",
    "ProcessPayment",
    "domain",
    "sparse",
    "Id",
    "SyncToken",
    "MetaData",
    "TxnDate",
    "CurrencyRef",
    "PrivateNote",
    "Line",
)


def set_invoice_application(co: Company, invoice_id: str, payment_id: str, value: float, ctx: Ctx) -> None:
    """Apply `value` of a payment to an invoice (0 removes the link); updates Balance and LinkedTxn."""
    invoice = co.get("Invoice", invoice_id)
    links = co.applied.setdefault(invoice_id, {})
    before = links.get(payment_id, 0.0)
    if value > 0:
        links[payment_id] = value
    else:
        links.pop(payment_id, None)
    if not links:
        co.applied.pop(invoice_id, None)
    if invoice is None:
        return
    delta = value - before
    new = dict(invoice)
    new["Balance"] = money(float(invoice["Balance"]) - delta)
    if "HomeBalance" in new:
        new["HomeBalance"] = home_amount(new["Balance"], Decimal(str(new.get("ExchangeRate", 1))))
    new["LinkedTxn"] = [{"TxnId": pid, "TxnType": "Payment"} for pid in co.applied.get(invoice_id, {})]
    new["MetaData"] = dict(invoice.get("MetaData") or {})
    co.touch(new, ctx.now)
    co.put("Invoice", new, ctx.epoch, "Update")
    adjust_customer_balance(co, invoice["CustomerRef"]["value"], -delta, ctx)


def unlink_payment(co: Company, payment_id: str, invoice_id: str, ctx: Ctx) -> None:
    payment = co.get("Payment", payment_id)
    set_invoice_application(co, invoice_id, payment_id, 0.0, ctx)
    if payment is None:
        return
    kept = [
        ln
        for ln in payment.get("Line", [])
        if not any(str(lt.get("TxnId")) == invoice_id for lt in ln.get("LinkedTxn") or [])
    ]
    new = dict(payment)
    new["Line"] = kept
    applied = sum(float(ln.get("Amount") or 0) for ln in kept)
    new["UnappliedAmt"] = money(float(payment.get("TotalAmt", 0)) - applied)
    new["MetaData"] = dict(payment.get("MetaData") or {})
    co.touch(new, ctx.now)
    co.put("Payment", new, ctx.epoch, "Update")
    adjust_customer_balance(
        co,
        payment["CustomerRef"]["value"],
        -(float(new["UnappliedAmt"]) - float(payment.get("UnappliedAmt", 0))),
        ctx,
    )


class Payment(Entity):
    name = "Payment"
    known = PAYMENT_KNOWN
    field_limits = {"PrivateNote": 4000, "PaymentRefNum": 21}
    deletable = True
    voidable = True
    default_order = (("TxnDate", True), ("Id", True))

    def build(
        self, co: Company, record: dict, customer: dict, lines: object, total: float, payment_id: str
    ) -> dict[str, float]:
        """Validate lines; return the new {invoice id: amount} applications."""
        if lines is None:
            lines = []
        if not isinstance(lines, list):
            raise E.bad_request_body("Line must be a list")
        applications: dict[str, float] = {}
        out_lines = []
        for raw in lines:
            if not isinstance(raw, dict):
                raise E.bad_request_body("Line items must be objects")
            value = amount(raw.get("Amount"), "Amount", required=True)
            links = raw.get("LinkedTxn")
            if not isinstance(links, list) or not links:
                raise E.required_missing("LinkedTxn")
            link = links[0]
            txn_type = link.get("TxnType")
            txn_id = ref_id(link.get("TxnId"), "TxnId", required=True)
            if txn_type != "Invoice":
                raise E.business_validation(f"The sandbox applies payments to invoices only, not {txn_type}.")
            invoice = co.get("Invoice", txn_id)
            if invoice is None:
                raise E.object_not_found("Object Not Found : Another user has deleted this transaction.")
            if invoice["CustomerRef"]["value"] != customer["Id"]:
                raise E.business_validation(
                    f"Invoice {txn_id} belongs to another customer than the payment's CustomerRef."
                )
            already = co.applied.get(txn_id, {}).get(payment_id, 0.0)
            open_balance = float(invoice["Balance"]) + already - applications.get(txn_id, 0.0)
            if value - open_balance > 0.005:
                raise E.business_validation(
                    f"The payment amount {value} applied to invoice {txn_id} exceeds its open balance "
                    f"{money(open_balance)}."
                )
            if value < 0:
                raise E.business_validation("A payment line amount cannot be negative.")
            applications[txn_id] = round(applications.get(txn_id, 0.0) + value, 2)
            out_lines.append({"Amount": money(value), "LinkedTxn": [{"TxnId": txn_id, "TxnType": "Invoice"}]})
        applied = sum(applications.values())
        if applied - total > 0.005:
            raise E.business_validation(
                "The total of the applied amounts is greater than the payment's TotalAmt."
            )
        record["Line"] = out_lines
        record["TotalAmt"] = money(total)
        record["UnappliedAmt"] = money(total - applied)
        return applications

    def fill(self, co: Company, record: dict, customer: dict, ctx: Ctx) -> None:
        record["CustomerRef"] = {"value": customer["Id"], "name": customer.get("DisplayName", "")}
        deposit = ref_id(record.get("DepositToAccountRef"), "DepositToAccountRef")
        if deposit is None:
            record["DepositToAccountRef"] = {"value": "4"}
        else:
            if co.get("Account", deposit) is None:
                raise E.invalid_reference("Accounts", deposit, "DepositToAccountRef")
            record["DepositToAccountRef"] = {"value": deposit}
        record["TxnDate"] = parse_date(record.get("TxnDate"), "TxnDate") or ctx.now.date().isoformat()
        record["CurrencyRef"] = transaction_currency(co, record, customer)
        record.setdefault("ProcessPayment", False)
        rate = exchange_rate(co, record)
        if rate is not None:
            record["HomeTotalAmt"] = home_amount(record["TotalAmt"], rate)

    def apply(
        self, co: Company, payment_id: str, old: dict[str, float], new: dict[str, float], ctx: Ctx
    ) -> None:
        for invoice_id in set(old) | set(new):
            if round(old.get(invoice_id, 0.0) - new.get(invoice_id, 0.0), 2) != 0:
                set_invoice_application(co, invoice_id, payment_id, new.get(invoice_id, 0.0), ctx)

    def current(self, co: Company, payment_id: str) -> dict[str, float]:
        return {inv: links[payment_id] for inv, links in co.applied.items() if payment_id in links}

    def arrange(self, record: dict) -> dict:
        ordered = {k: record[k] for k in PAYMENT_ORDER if k in record}
        ordered.update({k: v for k, v in record.items() if k not in ordered})
        return ordered

    def create(self, co: Company, body: dict, ctx: Ctx) -> dict:
        self.check_known(body)
        customer = check_customer_ref(co, body)
        total = amount(body.get("TotalAmt"), "TotalAmt", required=True)
        if total < 0:
            raise E.business_validation("TotalAmt cannot be negative.")
        record = {
            k: v
            for k, v in body.items()
            if k not in self.readonly
            and k not in ("UnappliedAmt", "LinkedTxn", "HomeTotalAmt")
            and not blank(v)
        }
        ident = co.next_id("Payment")
        record.update(
            {"domain": "QBO", "sparse": False, "Id": ident, "SyncToken": "0", "MetaData": new_meta(ctx)}
        )
        applications = self.build(co, record, customer, body.get("Line"), total, ident)
        self.fill(co, record, customer, ctx)
        record = self.arrange(record)
        co.put("Payment", record, ctx.epoch, "Create")
        self.apply(co, ident, {}, applications, ctx)
        adjust_customer_balance(co, customer["Id"], -float(record["UnappliedAmt"]), ctx)
        return co.get("Payment", ident)

    def update(self, co: Company, body: dict, ctx: Ctx) -> dict:
        self.check_known(body)
        record = self.lookup(co, body)
        check_sync_token(body, record)
        if ("Payment", record["Id"]) in co.voided:
            raise E.business_validation("A voided payment cannot be changed.")
        sparse = body.get("sparse") is True or str(body.get("sparse")).lower() == "true"
        customer = check_customer_ref(co, body, required=not sparse)
        if customer is None:
            customer = co.get("Customer", record["CustomerRef"]["value"])
            if customer is None or customer.get("Active") is False:
                raise E.object_not_found()
        new = (
            dict(record)
            if sparse
            else {k: record[k] for k in ("domain", "sparse", "Id", "SyncToken", "MetaData")}
        )
        for key, value in body.items():
            if key in self.readonly or key in ("UnappliedAmt", "LinkedTxn", "HomeTotalAmt"):
                continue
            if blank(value) and key != "Line":
                if not sparse:
                    new.pop(key, None)
                continue
            new[key] = value
        total = amount(new.get("TotalAmt"), "TotalAmt", required=True)
        old_apps = self.current(co, record["Id"])
        if customer["Id"] != record["CustomerRef"]["value"] and old_apps and "Line" not in body:
            raise E.business_validation("Unapply the payment before moving it to another customer.")
        lines = body.get("Line") if "Line" in body else record.get("Line")
        applications = self.build(co, new, customer, lines, total, record["Id"])
        self.fill(co, new, customer, ctx)
        new = self.arrange(new)
        result = self.commit_update(co, record, new, ctx)
        if result is not record:
            self.apply(co, record["Id"], old_apps, applications, ctx)
            adjust_customer_balance(co, record["CustomerRef"]["value"], float(record["UnappliedAmt"]), ctx)
            adjust_customer_balance(co, customer["Id"], -float(result["UnappliedAmt"]), ctx)
        return co.get("Payment", record["Id"])

    def void(self, co: Company, body: dict, ctx: Ctx) -> dict:
        record = self.lookup(co, body)
        check_sync_token(body, record)
        if ("Payment", record["Id"]) in co.voided:
            return record
        self.apply(co, record["Id"], self.current(co, record["Id"]), {}, ctx)
        adjust_customer_balance(co, record["CustomerRef"]["value"], float(record.get("UnappliedAmt", 0)), ctx)
        new = dict(record)
        new.update({"TotalAmt": 0, "UnappliedAmt": 0, "Line": []})
        if "HomeTotalAmt" in new:
            new["HomeTotalAmt"] = 0
        note = record.get("PrivateNote")
        new["PrivateNote"] = (
            f"Voided - {note}" if note and not note.startswith("Voided") else (note or "Voided")
        )
        new["MetaData"] = dict(record.get("MetaData") or {})
        co.voided.add(("Payment", record["Id"]))
        co.touch(new, ctx.now)
        co.put("Payment", self.arrange(new), ctx.epoch, "Void")
        return co.get("Payment", record["Id"])

    def delete(self, co: Company, body: dict, ctx: Ctx) -> dict:
        ident = body.get("Id")
        if ident is not None and str(ident).strip() and co.get("Payment", str(ident).strip()) is None:
            raise E.object_not_found()
        record = self.lookup(co, body)
        check_sync_token(body, record)
        self.apply(co, record["Id"], self.current(co, record["Id"]), {}, ctx)  # restores invoice balances
        adjust_customer_balance(co, record["CustomerRef"]["value"], float(record.get("UnappliedAmt", 0)), ctx)
        co.remove("Payment", record["Id"], ctx.epoch, ctx.now)
        co.voided.discard(("Payment", record["Id"]))
        return {"domain": "QBO", "status": "Deleted", "Id": record["Id"]}


# --- registry ------------------------------------------------------------------------------------

ENTITIES: dict[str, Entity] = {}
for _entity in (
    Customer(),
    Vendor(),
    Employee(),
    Item(),
    Invoice(),
    Payment(),
    CustomerType(),
    GenericNamed("Account"),
    GenericNamed("Class"),
    GenericNamed("Department"),
    GenericNamed("Term"),
    GenericNamed("PaymentMethod"),
    Generic("SalesReceipt", deletable=True),
    Generic("Estimate", deletable=True),
    Generic("CreditMemo", deletable=True),
    Generic("Bill", deletable=True),
    Generic("Purchase", deletable=True),
    Generic("JournalEntry", deletable=True),
    Generic("Deposit", deletable=True),
    Generic("RefundReceipt", deletable=True),
):
    ENTITIES[_entity.name] = _entity

for _ro in (TaxCode(), TaxRate(), TaxAgency()):
    ENTITIES[_ro.name] = _ro
_currency = ReadOnlyEntity()
_currency.name = "CompanyCurrency"
ENTITIES["CompanyCurrency"] = _currency

BY_PATH = {e.path: e for e in ENTITIES.values()}
BY_LOWER = {name.lower(): e for name, e in ENTITIES.items()}
TRANSACTIONS = frozenset(
    {
        "Invoice",
        "Payment",
        "SalesReceipt",
        "Estimate",
        "CreditMemo",
        "Bill",
        "Purchase",
        "JournalEntry",
        "Deposit",
        "RefundReceipt",
    }
)


def merge_customers(co: Company, from_id: str, into_id: str, ctx: Ctx) -> dict:
    """What a QBO user does in the UI: every transaction of `from` moves to `into`; `from` disappears."""
    if from_id == into_id:
        raise E.business_validation("Cannot merge a customer into itself.")
    source, target = co.get("Customer", from_id), co.get("Customer", into_id)
    if source is None or target is None:
        raise E.object_not_found()
    for entity in ("Invoice", "Payment"):
        for txn in list(co.table(entity).values()):
            if txn.get("CustomerRef", {}).get("value") == from_id:
                new = dict(txn)
                new["CustomerRef"] = {"value": into_id, "name": target["DisplayName"]}
                new["MetaData"] = dict(txn.get("MetaData") or {})
                co.touch(new, ctx.now)
                co.put(entity, new, ctx.epoch, "Update")
    for cust in list(co.table("Customer").values()):
        if (cust.get("ParentRef") or {}).get("value") == from_id:
            new = dict(cust)
            new["ParentRef"] = {"value": into_id}
            new["FullyQualifiedName"] = f"{target['FullyQualifiedName']}:{cust['DisplayName']}"
            co.touch(new, ctx.now)
            co.put("Customer", new, ctx.epoch, "Update")
    balance = float(source.get("Balance", 0))
    co.remove("Customer", from_id, ctx.epoch, ctx.now, operation=None)
    key = co.name_key(source.get("DisplayName", ""))
    if co.names.get(key) == ("Customer", from_id):
        del co.names[key]
    target = co.get("Customer", into_id)
    new = dict(target)
    new["Balance"] = money(float(target.get("Balance", 0)) + balance)
    new["BalanceWithJobs"] = money(float(target.get("BalanceWithJobs", 0)) + balance)
    new["MetaData"] = dict(target.get("MetaData") or {})
    co.touch(new, ctx.now)
    co.put("Customer", new, ctx.epoch, "Merge", deleted_id=from_id)
    return new


def is_namelist(entity: str) -> bool:
    e = ENTITIES.get(entity)
    return bool(e and e.namelist) or entity in NAME_LIST
