"""Unit tests of the query language parser and evaluator."""

import pytest

from qbsync.sandbox.errors import QBOError
from qbsync.sandbox.query import Evaluator, parse

RECORDS = [
    {
        "Id": "1",
        "DisplayName": "Amy's Bird Sanctuary",
        "Active": True,
        "Balance": 10.5,
        "MetaData": {"LastUpdatedTime": "2024-01-02T10:00:00-07:00"},
        "CustomerRef": {"value": "7"},
    },
    {
        "Id": "2",
        "DisplayName": "Bill's Windsurf",
        "Active": False,
        "Balance": 0,
        "MetaData": {"LastUpdatedTime": "2024-03-02T10:00:00-07:00"},
        "CustomerRef": {"value": "8"},
    },
]


def matches(text: str) -> list[str]:
    q = parse(text)
    ev = Evaluator()
    return [r["Id"] for r in RECORDS if all(ev.matches(r, c) for c in q.where)]


def test_select_star_and_count():
    q = parse("SELECT * FROM Customer")
    assert (q.entity, q.count, q.start, q.max_results) == ("Customer", False, 1, 100)
    assert parse("select count(*) from Customer").count is True
    assert parse("SELECT COUNT(*) FROM Customer WHERE Active = true").count is True


def test_where_operators_and_and():
    assert matches("SELECT * FROM Customer WHERE Balance > '5'") == ["1"]
    assert matches("SELECT * FROM Customer WHERE Balance >= 0 AND Active = true") == ["1"]
    assert matches("SELECT * FROM Customer WHERE Balance < 1") == ["2"]
    assert matches("SELECT * FROM Customer WHERE Balance <= 10.5") == ["1", "2"]
    assert matches("SELECT * FROM Customer WHERE Id IN ('1', '2')") == ["1", "2"]
    assert matches("SELECT * FROM Customer WHERE DisplayName LIKE 'bill%'") == ["2"]
    assert matches("SELECT * FROM Customer WHERE DisplayName LIKE '%Sanctuary'") == ["1"]
    assert matches("SELECT * FROM Customer WHERE CustomerRef = '8'") == ["2"]
    assert matches("SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '2024-02-01T00:00:00-07:00'") == [
        "2"
    ]


def test_string_escapes_and_booleans():
    q = parse(r"SELECT * FROM Customer WHERE DisplayName = 'Amy\'s Bird Sanctuary'")
    assert q.where[0].value == "Amy's Bird Sanctuary"
    assert matches(r"SELECT * FROM Customer WHERE DisplayName = 'Amy\'s Bird Sanctuary'") == ["1"]
    assert parse(r"SELECT * FROM Customer WHERE DisplayName = 'a\\b'").where[0].value == "a\\b"
    assert parse("SELECT * FROM Customer WHERE Active = True").where[0].value is True
    assert parse("SELECT * FROM Customer WHERE Active IN (true, false)").where[0].value == [True, False]


def test_order_by_both_spellings_and_paging_in_any_order():
    q = parse("SELECT * FROM Customer ORDER BY DisplayName DESC STARTPOSITION 3 MAXRESULTS 5")
    assert q.order == [("DisplayName", True)]
    assert (q.start, q.max_results) == (3, 5)
    q = parse("select * from Customer where Active = true orderby Id maxresults 1000 startposition 1")
    assert q.order == [("Id", False)]
    assert (q.start, q.max_results) == (1, 1000)
    assert parse("SELECT * FROM Customer MAXRESULTS 5000").max_results == 1000


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM Customer WHERE Active = true OR Active = false",
        "SELECT * FROM Customer WHERE",
        "SELECT * FROM Customer WHERE DisplayName = 'unterminated",
        "SELECT FROM Customer",
        "DELETE FROM Customer",
        "SELECT * FROM Customer GROUP BY DisplayName",
        "SELECT * FROM Customer MAXRESULTS 5 MAXRESULTS 6",
        "SELECT * FROM Customer WHERE DisplayName = Amy",
        "SELECT * FROM Customer WHERE DisplayName \u2019 'x'",
        "",
    ],
)
def test_parse_errors_are_4000(text):
    with pytest.raises(QBOError) as exc:
        parse(text)
    assert exc.value.code == "4000"
    assert exc.value.message == "Error parsing query"
