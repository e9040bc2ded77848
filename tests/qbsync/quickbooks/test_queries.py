import re

import pytest

from qbsync.quickbooks.queries import qbo_in, qbo_literal, qbo_select, qbo_string

NASTY_NAMES = [
    "O'Brien & Sons",
    "Amy's Bird Sanctuary",
    'The "Quoted" Company',
    "Back\\slash Partners",
    "ends with a backslash\\",
    "x\\' OR DisplayName LIKE '%",
    "100% Organic",
    "_under_score_",
    "Zoë Müller",
    "株式会社",
    "emoji 🍩 bakery",
    "''''",
    "\\\\\\'",
]


def unquote(literal: str) -> str:
    """What a QBO parser reads from a literal: \\x is x, for any x."""
    assert literal.startswith("'")
    assert literal.endswith("'")
    body = literal[1:-1]
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            out.append(body[i + 1])
            i += 2
            continue
        assert ch != "'", f"unescaped quote in {literal!r}"
        out.append(ch)
        i += 1
    return "".join(out)


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_every_name_round_trips_through_a_literal(name):
    assert unquote(qbo_string(name)) == name


def test_backslash_is_escaped_before_the_quote():
    assert qbo_string("O'Brien") == "'O\\'Brien'"
    assert qbo_string("a\\") == "'a\\\\'"
    # The injection python-quickbooks' filter() lets through stays one literal here.
    literal = qbo_string("x\\' OR DisplayName LIKE '%")
    assert re.fullmatch(r"'(?:[^'\\]|\\.)*'", literal)


def test_literals_of_other_types():
    assert qbo_literal(True) == "true"
    assert qbo_literal(12) == "12"
    with pytest.raises(TypeError):
        qbo_literal(1.5)
    assert qbo_in(["a", "b'c"]) == "('a', 'b\\'c')"
    with pytest.raises(ValueError, match="at least one"):
        qbo_in([])


def test_select_pages_and_counts():
    sql = qbo_select("Customer", where=(f"DisplayName = {qbo_literal('A')}",), start_position=1001)
    assert (
        sql == "SELECT * FROM Customer WHERE DisplayName = 'A' ORDERBY Id STARTPOSITION 1001 MAXRESULTS 1000"
    )
    assert qbo_select("Customer", count=True) == "SELECT COUNT(*) FROM Customer"
    with pytest.raises(ValueError, match="entity"):
        qbo_select("Customer; DROP")
