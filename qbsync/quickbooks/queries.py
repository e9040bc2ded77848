"""QBO query-language literals. python-quickbooks' filter()/choose() escape quotes but not backslashes,
so a name ending in a backslash breaks the query and a crafted one injects a clause: every value that
reaches a WHERE clause goes through qbo_literal()."""

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

MAX_RESULTS = 1000  # QBO's page-size ceiling


def qbo_string(value: str) -> str:
    # Backslash first, then quote: the other order would double-escape the quote's backslash.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def qbo_literal(value: object) -> str:
    """A value as a QBO query literal. Strings are quoted and escaped; nothing else is passed raw."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return qbo_string(value.isoformat())
    if isinstance(value, date):
        return qbo_string(value.isoformat())
    if isinstance(value, str):
        return qbo_string(value)
    raise TypeError(f"No QBO literal for {type(value).__name__}")


def qbo_in(values: Iterable[object]) -> str:
    items = [qbo_literal(v) for v in values]
    if not items:
        raise ValueError("IN () needs at least one value")
    return "(" + ", ".join(items) + ")"


def qbo_select(
    entity: str,
    *,
    where: Iterable[str] = (),
    order_by: str = "Id",
    start_position: int = 1,
    max_results: int = MAX_RESULTS,
    count: bool = False,
) -> str:
    """A SELECT statement; ``where`` holds clauses already built with qbo_literal/qbo_in."""
    if not entity.isalpha():
        raise ValueError(f"Not an entity name: {entity!r}")
    clauses = list(where)
    sql = f"SELECT {'COUNT(*)' if count else '*'} FROM {entity}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    if count:
        return sql
    return (
        f"{sql} ORDERBY {order_by} STARTPOSITION {start_position} MAXRESULTS {min(max_results, MAX_RESULTS)}"
    )
