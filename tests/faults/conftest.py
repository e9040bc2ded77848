"""Fixtures of the fault suite: firms connected to sandbox companies of their own, and real worker
processes with the settings a scenario needs. The PostgreSQL restart scenario runs last in any session."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.factories import AccountFactory, make_invoice, make_payment

RUN_LAST = "test_s05_postgres_restart"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    # Restarting PostgreSQL drops every connection on the machine: nothing of this run comes after it.
    items[:] = [i for i in items if RUN_LAST not in i.nodeid] + [i for i in items if RUN_LAST in i.nodeid]


@dataclass
class Tenant:
    firm: object
    owner: object
    connection: object
    realm: str


def connect_tenant(qbo, firm=None, **company_settings) -> Tenant:
    """A firm connected to a fresh sandbox company, with the customer type and item chosen."""
    from qbsync.firms.models import User
    from qbsync.sync.services.connections import connection_apply_first_defaults
    from tests.factories import FirmFactory, UserFactory, connection_for_realm

    firm = firm or FirmFactory()
    owner = UserFactory(firm=firm, role=User.Role.OWNER)
    realm = qbo.control.create_company(
        f"Fault Co {uuid.uuid4().hex[:6]}",
        customer_types=["Individual", "Business"],
        custom_txn_numbers=company_settings.pop("custom_txn_numbers", False),
        settings=company_settings or None,
    )
    connection = connection_for_realm(firm=firm, user=owner, sandbox=qbo, realm_id=realm)
    connection_apply_first_defaults(connection=connection)
    return Tenant(firm=firm, owner=owner, connection=connection, realm=realm)


@pytest.fixture
def tenant(qbo, db):
    return connect_tenant(qbo)


@pytest.fixture
def two_tenants(qbo, db):
    return connect_tenant(qbo), connect_tenant(qbo)


@contextmanager
def worker(qbo, *, name: str, concurrency: int = 2, env: dict | None = None):
    """A real `celery worker` process pointed at the sandbox; stopped (or already killed) on exit."""
    from tests.conftest import QBO_TEST_CLIENT_ID, QBO_TEST_CLIENT_SECRET, QBO_TEST_REDIRECT_URI
    from tests.workers import WorkerProcess

    process = WorkerProcess(
        name=f"faults-{name}",
        concurrency=concurrency,
        env={
            "QBO_API_BASE_URL": qbo.api_base,
            "QBO_OAUTH_DISCOVERY_URL": qbo.discovery_url,
            "QBO_CLIENT_ID": QBO_TEST_CLIENT_ID,
            "QBO_CLIENT_SECRET": QBO_TEST_CLIENT_SECRET,
            "QBO_REDIRECT_URI": QBO_TEST_REDIRECT_URI,
            "QBO_READ_TIMEOUT": "5",
        }
        | (env or {}),
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def make_work(firm, accounts: int, invoices: int, prefix: str = "Work") -> int:
    """Accounts with invoices, every other one paid: the firm's rule syncs each account on its first
    invoice. Returns the number of operations (customers, invoices, payments)."""
    ops = 0
    for a in range(accounts):
        account = AccountFactory(firm=firm, name=f"{prefix} Client {a}")
        ops += 1
        for i in range(invoices):
            invoice = make_invoice(account=account, amounts=(f"{200 + i}.10",))
            ops += 1
            if i % 2 == 0:
                make_payment(account=account, amount=f"{200 + i}.10", allocations={invoice: f"{200 + i}.10"})
                ops += 1
    return ops
