"""Reading a company's invoices and payments of many customers at once, for reconciliation: one paged
query per entity per chunk of customers (``CustomerRef IN (...)``; QBO has no OR), never one per record."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .client import QboClient
from .queries import MAX_RESULTS, qbo_in, qbo_select
from .transactions import QboInvoice, QboPayment, invoice_from_json, payment_from_json

# Customers per IN list: keeps each query short whatever the number of customers.
CUSTOMERS_PER_QUERY = 100


@dataclass
class CustomerTransactions:
    """What QBO holds for a set of customers, by Id, and how many queries it took to read."""

    invoices: dict[str, QboInvoice] = field(default_factory=dict)
    payments: dict[str, QboPayment] = field(default_factory=dict)
    queries: int = 0


def _read_all(
    client: QboClient, entity: str, where: str, parse: Callable[[dict[str, Any]], Any], page_size: int
) -> tuple[list, int]:
    rows, start, queries = [], 1, 0
    while True:
        sql = qbo_select(entity, where=(where,), start_position=start, max_results=page_size)
        page = client.query(sql).get(entity, [])
        queries += 1
        rows.extend(parse(row) for row in page)
        if len(page) < page_size:
            return rows, queries
        start += page_size


def transactions_of_customers(
    client: QboClient,
    customer_ids: Iterable[str],
    *,
    chunk_size: int = CUSTOMERS_PER_QUERY,
    page_size: int = MAX_RESULTS,
) -> CustomerTransactions:
    """Every invoice and payment of ``customer_ids``, paged. Deleted records are simply absent; voided
    invoices come back with zero amounts."""
    ids = sorted({str(c) for c in customer_ids if c})
    found = CustomerTransactions()
    for start in range(0, len(ids), chunk_size):
        where = f"CustomerRef IN {qbo_in(ids[start : start + chunk_size])}"
        invoices, n_invoice_queries = _read_all(client, "Invoice", where, invoice_from_json, page_size)
        payments, n_payment_queries = _read_all(client, "Payment", where, payment_from_json, page_size)
        found.invoices.update((inv.id, inv) for inv in invoices)
        found.payments.update((p.id, p) for p in payments)
        found.queries += n_invoice_queries + n_payment_queries
    return found
