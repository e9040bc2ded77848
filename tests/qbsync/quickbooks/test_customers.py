"""Name rules and matching: what counts as the same name and what QBO would refuse (pure), then the
look-up and the create body against the sandbox over HTTP."""

import uuid

import pytest

from qbsync.quickbooks.client import QboClient
from qbsync.quickbooks.customers import (
    CustomerDraft,
    QboCustomer,
    _like_pattern,
    bare_name,
    create_customer,
    customer_from_json,
    display_name_problem,
    find_customers_named,
    find_name_holders,
    normalize_name,
    scan_customers_named,
)
from tests.qbsync.quickbooks.test_governor_over_http import FixedToken


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("O'Brien & Sons", "o'brien & SONS"),
        ("Smith & Co", "  Smith  &\tCo "),
        ("Zoë Müller", "ZOË MÜLLER"),
        ("Zoë Müller", "Zoe\u0308 Mu\u0308ller"),  # the same letters, decomposed
        ("株式会社", "株式会社"),
        ("Straße", "STRASSE"),  # casefold, not lower
        ("Café", "Cafe\u0301"),  # pasted from macOS: decomposed
        ("AcmeCorp", "Acme\u200bCorp"),  # a zero-width space (Unicode Cf) is absent
        ("Acme Corp", "Acme\u00ad \ufeffCorp\u2060"),  # soft hyphen, BOM, word joiner: all Cf
        ("Smith", "\u202eSmith"),  # a bidirectional override
    ],
)
def test_names_a_person_would_call_the_same_match(a, b):
    assert normalize_name(a) == normalize_name(b)


@pytest.mark.parametrize(
    ("a", "b"), [("Smith & Co", "Smith and Co"), ("Acme", "Acme Inc"), ("O'Brien", "OBrien")]
)
def test_different_names_do_not(a, b):
    assert normalize_name(a) != normalize_name(b)


def test_an_inactive_customer_is_known_by_its_bare_name():
    inactive = QboCustomer(id="9", sync_token="1", display_name="Old Mill Cafe (deleted)", active=False)
    assert inactive.name_key == normalize_name("Old Mill Cafe")
    assert bare_name("Plain") == "Plain"
    active = QboCustomer(id="9", sync_token="1", display_name="Really (deleted)", active=True)
    assert active.name_key == normalize_name("Really (deleted)")


@pytest.mark.parametrize(
    ("name", "reason", "proposed"),
    [
        ("Acme: West", "characters", "Acme - West"),
        ("Tab\there", "characters", "Tab here"),
        ("Line\nbreak", "characters", "Line break"),
        ("x" * 501, "too_long", "x" * 500),
        ("   ", "empty", ""),
    ],
)
def test_names_qbo_refuses_come_with_a_proposal(name, reason, proposed):
    problem = display_name_problem(name)
    assert (problem.reason, problem.proposed) == (reason, proposed)


@pytest.mark.parametrize("name", ["O'Brien & Sons", 'The "Quoted" Co', "株式会社", "x" * 500, "100% Organic"])
def test_acceptable_names(name):
    assert display_name_problem(name) is None


def test_the_like_pattern_spans_any_whitespace_and_drops_wildcards():
    assert _like_pattern("Smith  &  Co") == "%Smith%&%Co%"
    assert _like_pattern("100% Organic") == "%100%Organic%"


def test_a_draft_sends_only_what_it_has():
    assert CustomerDraft(display_name="A").payload() == {"DisplayName": "A"}
    full = CustomerDraft(display_name="A", email="a@b.test", phone="5" * 40, customer_type_id="2").payload()
    assert full["PrimaryEmailAddr"] == {"Address": "a@b.test"}
    assert len(full["PrimaryPhone"]["FreeFormNumber"]) == 30
    assert full["CustomerTypeRef"] == {"value": "2"}


# Issue 13, items 4 and 5: a name reaches QBO, and is looked up there, in one form (NFC, no format
# characters), whichever form was typed or stored on either side.


def test_the_like_pattern_is_composed_and_splits_at_format_characters():
    assert _like_pattern("Cafe\u0301 Ltd") == "%Café%Ltd%"
    assert _like_pattern("Acme\u200bCorp") == "%Acme%Corp%"


def test_a_draft_sends_the_name_composed_without_format_characters():
    body = CustomerDraft(display_name="Cafe\u0301\u200b Bleu", company_name="Cafe\u0301 SA").payload()
    assert body["DisplayName"] == "Café Bleu"
    assert body["CompanyName"] == "Café SA"


def test_names_qbo_refuses_are_judged_on_what_is_sent():
    # 250 decomposed "é" are 500 characters as typed but 250 as sent.
    assert display_name_problem("e\u0301" * 250) is None


@pytest.fixture
def qbo_company(qbo_sandbox):
    realm = qbo_sandbox.control.create_company(
        f"Names Co {uuid.uuid4().hex[:6]}", customer_types=["Business"]
    )
    token = qbo_sandbox.control.tokens(realm)["access_token"]
    return QboClient(realm_id=realm, base_url=qbo_sandbox.api_base, token_source=FixedToken(token))


def _raw_create(client, name: str) -> QboCustomer:
    # Straight to the sandbox, as someone typing in QuickBooks Online would (no CustomerDraft).
    return customer_from_json(client.create("Customer", {"DisplayName": name}, request_id=uuid.uuid4().hex))


@pytest.mark.parametrize(
    ("in_qbo", "ours"),
    [
        ("Café", "Cafe\u0301"),
        ("Cafe\u0301", "Café"),
        ("AcmeCorp", "Acme\u200bCorp"),
        ("Acme Corp", "Acme\u200b Corp"),
    ],
)
def test_the_look_up_finds_the_customer_in_either_form(qbo_company, in_qbo, ours):
    customer = _raw_create(qbo_company, in_qbo)
    assert [c.id for c in find_customers_named(qbo_company, ours)] == [customer.id]
    assert [c.id for c in scan_customers_named(qbo_company, ours)] == [customer.id]


def test_an_invisible_character_inside_a_word_in_qbo_is_found_by_the_scan(qbo_company):
    # A LIKE pattern cannot guess where QBO's name hides one; the thorough scan compares every name.
    customer = _raw_create(qbo_company, "Acme\u200bCorp")
    assert [c.id for c in scan_customers_named(qbo_company, "AcmeCorp")] == [customer.id]


def test_a_vendor_holding_the_name_in_the_other_form_is_found(qbo_company):
    vendor = qbo_company.create("Vendor", {"DisplayName": "Cafe\u0301 Supplies"}, request_id=uuid.uuid4().hex)
    assert [h.id for h in find_name_holders(qbo_company, "Café Supplies")] == [vendor["Id"]]


def test_a_customer_created_from_a_decomposed_name_is_stored_composed(qbo_company):
    created = create_customer(
        qbo_company, CustomerDraft(display_name="Cafe\u0301\u200b"), request_id=uuid.uuid4().hex
    )
    assert created.display_name == "Café"
    assert [c.id for c in find_customers_named(qbo_company, "Café")] == [created.id]
