"""Name rules and matching, without QBO: what counts as the same name, and what QBO would refuse."""

import pytest

from qbsync.quickbooks.customers import (
    CustomerDraft,
    QboCustomer,
    _like_pattern,
    bare_name,
    display_name_problem,
    normalize_name,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("O'Brien & Sons", "o'brien & SONS"),
        ("Smith & Co", "  Smith  &\tCo "),
        ("Zoë Müller", "ZOË MÜLLER"),
        ("Zoë Müller", "Zoe\u0308 Mu\u0308ller"),  # the same letters, decomposed
        ("株式会社", "株式会社"),
        ("Straße", "STRASSE"),  # casefold, not lower
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
