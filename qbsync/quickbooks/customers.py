"""QBO customers: reading, finding by name, creating (one or a batch), and the DisplayName rules.

Names are compared the way a person would: case-insensitively, trimmed, with runs of whitespace as one,
composed (NFC: "Cafe\u0301" pasted from macOS is "Café") and without invisible format characters
(Unicode Cf: zero-width spaces, joiners, bidi controls, soft hyphens). Names are sent to QBO the same way.
QBO's own case, whitespace and Unicode behaviour is UNCONFIRMED, so nothing here depends on it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .batch import batch_write
from .client import QboClient
from .errors import QboError
from .queries import qbo_literal

DISPLAY_NAME_MAX_LENGTH = 500
DELETED_SUFFIX = " (deleted)"
CLIENT_SUFFIX = " (client)"
_FORBIDDEN = re.compile(r"[:\t\n\r]")
_WHITESPACE = re.compile(r"\s+")


def without_format_characters(text: str) -> str:
    """``text`` composed (NFC) and without Unicode format characters (Cf), which are invisible."""
    return "".join(ch for ch in unicodedata.normalize("NFC", text) if unicodedata.category(ch) != "Cf")


def normalize_name(name: str) -> str:
    return _WHITESPACE.sub(" ", without_format_characters(name)).strip().casefold()


def bare_name(display_name: str) -> str:
    """The name without the " (deleted)" QBO appends to inactive records."""
    return display_name[: -len(DELETED_SUFFIX)] if display_name.endswith(DELETED_SUFFIX) else display_name


@dataclass(frozen=True)
class NameProblem:
    reason: str  # "characters" | "too_long" | "empty"
    proposed: str


def display_name_problem(name: str) -> NameProblem | None:
    """Why QBO would refuse this DisplayName, with a cleaned proposal; None when it is acceptable."""
    name = without_format_characters(name)  # judged as CustomerDraft sends it
    if not name.strip():
        return NameProblem("empty", "")
    if _FORBIDDEN.search(name):
        cleaned = _WHITESPACE.sub(
            " ", _FORBIDDEN.sub(lambda m: " - " if m.group() == ":" else " ", name)
        ).strip()
        return NameProblem("characters", cleaned[:DISPLAY_NAME_MAX_LENGTH].rstrip())
    if len(name.strip()) > DISPLAY_NAME_MAX_LENGTH:
        return NameProblem("too_long", name.strip()[:DISPLAY_NAME_MAX_LENGTH].rstrip())
    return None


def alternative_customer_name(name: str) -> str:
    """A customer name for one a vendor or employee holds (names are unique across the three in QBO):
    "Staples" -> "Staples (client)", within the length limit."""
    name = _WHITESPACE.sub(" ", name).strip()
    return name[: DISPLAY_NAME_MAX_LENGTH - len(CLIENT_SUFFIX)].rstrip() + CLIENT_SUFFIX


@dataclass(frozen=True)
class QboCustomer:
    id: str
    sync_token: str
    display_name: str
    active: bool
    # CurrencyRef ("" when QBO does not say: a company without multicurrency keeps every customer in its
    # home currency).
    currency: str = ""

    @property
    def name_key(self) -> str:
        return normalize_name(bare_name(self.display_name) if not self.active else self.display_name)


@dataclass(frozen=True)
class CustomerDraft:
    display_name: str
    email: str = ""
    phone: str = ""
    customer_type_id: str = ""
    company_name: str = ""
    # Multicurrency companies: the customer's currency, fixed once set (None: QBO's home currency).
    currency: str = ""

    def payload(self) -> dict[str, Any]:
        # Composed and without invisible characters: one name, one spelling in QBO (no look-alikes).
        body: dict[str, Any] = {"DisplayName": without_format_characters(self.display_name)}
        if self.email:
            body["PrimaryEmailAddr"] = {"Address": self.email}
        if self.phone:
            body["PrimaryPhone"] = {"FreeFormNumber": self.phone[:30]}
        if self.company_name:
            body["CompanyName"] = without_format_characters(self.company_name)[:100]
        if self.customer_type_id:
            body["CustomerTypeRef"] = {"value": self.customer_type_id}
        if self.currency:
            body["CurrencyRef"] = {"value": self.currency}
        return body


@dataclass(frozen=True)
class NameHolder:
    entity: str  # Customer | Vendor | Employee
    id: str
    display_name: str
    active: bool


def customer_from_json(row: dict[str, Any]) -> QboCustomer:
    return QboCustomer(
        id=str(row["Id"]),
        sync_token=str(row.get("SyncToken", "0")),
        display_name=row.get("DisplayName", ""),
        active=bool(row.get("Active", True)),
        currency=str((row.get("CurrencyRef") or {}).get("value") or "").upper(),
    )


def _like_pattern(name: str, form: str = "NFC") -> str:
    """A LIKE pattern that finds ``name`` whatever the whitespace between its words: '%Smith%&%Co%'.

    LIKE's only wildcard, %, is dropped from the words, and format characters split them (they may be
    absent on QBO's side); the exact comparison happens afterwards in Python. ``form``: NFC or NFD.
    """
    visible = "".join(" " if unicodedata.category(ch) == "Cf" else ch for ch in name)
    words = [w for w in re.split(r"[\s%]+", unicodedata.normalize(form, visible).strip()) if w]
    return "%" + "%".join(words) + "%" if words else "%"


def _both_forms_pattern(name: str) -> str | None:
    """One LIKE pattern that matches ``name`` composed (NFC) and decomposed (NFD): every character that
    decomposes becomes a wildcard ('José Smith' -> '%Jos%Smith%'). None when nothing would be left to
    narrow the search (a name made only of such characters)."""
    composed = unicodedata.normalize("NFC", name)
    kept = "".join("%" if unicodedata.decomposition(ch) else ch for ch in composed)
    pattern = _like_pattern(kept)
    return pattern if any(len(part) >= 2 for part in pattern.split("%")) else None


def _name_like_conditions(name: str) -> list[str]:
    """The DisplayName LIKEs that find ``name`` in either Unicode form (QBO compares code points, and a
    name typed in QBO may be decomposed as easily as composed): one query, since every look-up is a
    metered read and QBO's queries have no OR; two (one per form) only when one pattern cannot narrow
    the search."""
    patterns = list(dict.fromkeys(_like_pattern(name, form) for form in ("NFC", "NFD")))
    if len(patterns) > 1:
        merged = _both_forms_pattern(name)
        if merged is not None:
            patterns = [merged]
    return [f"DisplayName LIKE {qbo_literal(pattern)}" for pattern in patterns]


def find_customers_named(client: QboClient, name: str) -> list[QboCustomer]:
    """Active and inactive customers whose name equals ``name`` as a person compares names.

    Narrow LIKE queries (one, or two for a name with accents); use scan_customers_named when QBO's LIKE
    may be case-sensitive, or when QBO's name may hold invisible characters between letters of a word.
    """
    key = normalize_name(name)
    found: dict[str, QboCustomer] = {}
    for condition in _name_like_conditions(name):
        for customer in map(
            customer_from_json, client.query_all("Customer", where=("Active IN (true, false)", condition))
        ):
            if customer.name_key == key:
                found.setdefault(customer.id, customer)
    return list(found.values())


def iter_customers(client: QboClient, *, include_inactive: bool = True) -> Iterator[QboCustomer]:
    where = ("Active IN (true, false)",) if include_inactive else ()
    for page in client.query_pages("Customer", where=where):
        yield from map(customer_from_json, page)


def iter_name_holders(client: QboClient, entity: str) -> Iterator[NameHolder]:
    """Every vendor or employee (``entity``), active or not: their names block customer names."""
    for page in client.query_pages(entity, where=("Active IN (true, false)",)):
        for row in page:
            yield NameHolder(
                entity=entity,
                id=str(row["Id"]),
                display_name=row.get("DisplayName", ""),
                active=bool(row.get("Active", True)),
            )


def scan_customers_named(client: QboClient, name: str) -> list[QboCustomer]:
    """The thorough version of find_customers_named: reads every customer (a page per 1000)."""
    key = normalize_name(name)
    return [c for c in iter_customers(client) if c.name_key == key]


def find_name_holders(client: QboClient, name: str) -> list[NameHolder]:
    """Vendors and employees whose DisplayName equals ``name`` (QBO's names are unique across all three)."""
    key = normalize_name(name)
    holders: dict[tuple[str, str], NameHolder] = {}
    for entity in ("Vendor", "Employee"):
        for condition in _name_like_conditions(name):
            for row in client.query_all(entity, where=("Active IN (true, false)", condition)):
                active = bool(row.get("Active", True))
                shown = row.get("DisplayName", "")
                if normalize_name(shown if active else bare_name(shown)) == key:
                    holders.setdefault(
                        (entity, str(row["Id"])),
                        NameHolder(entity=entity, id=str(row["Id"]), display_name=shown, active=active),
                    )
    return list(holders.values())


def read_customer(client: QboClient, customer_id: str) -> QboCustomer:
    return customer_from_json(client.read("Customer", customer_id))


def create_customer(client: QboClient, draft: CustomerDraft, *, request_id: str) -> QboCustomer:
    return customer_from_json(client.create("Customer", draft.payload(), request_id=request_id))


def customers_containing(client: QboClient, *, term: str) -> list[QboCustomer]:
    """Every active customer whose name contains ``term`` (all of them without a term), in name order; a
    request per 1000."""
    term = without_format_characters(term).strip()
    where = (f"DisplayName LIKE {qbo_literal('%' + term + '%')}",) if term else ()
    return [
        customer_from_json(row)
        for page in client.query_pages("Customer", where=where, order_by="DisplayName")
        for row in page
    ]


def batch_create_customers(
    client: QboClient, drafts: Iterable[tuple[str, CustomerDraft]], *, request_id: str
) -> dict[str, QboCustomer | QboError]:
    """Create up to 30 customers in one batch request. Keys are our batch ids; a failed item fails alone.

    The batch request carries a requestid, so a retry of the same batch replays where QBO honours it.
    """
    answers = batch_write(
        client, [(bid, "create", "Customer", draft.payload()) for bid, draft in drafts], request_id=request_id
    )
    return {
        bid: answer if isinstance(answer, QboError) else customer_from_json(answer)
        for bid, answer in answers.items()
    }
