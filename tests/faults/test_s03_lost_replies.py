"""S3, replies lost and timeouts: QBO drops the connection (nothing applied), holds the reply past our read
timeout (nothing applied), then applies the create and drops the reply, for one invoice and one payment
handled by a real worker. Each ends Synced once; every resend of the create carries the same stored
requestid (read from the sandbox's request log), and the last lost reply is found by its marker instead of
being sent again."""

import time

import pytest

from qbsync.sync.kinds.accounts import account_sync_request
from tests.factories import AccountFactory, make_invoice, make_payment
from tests.faults.conftest import worker
from tests.faults.invariants import assert_invariants, wait_settled

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

READ_TIMEOUT = 2  # the worker's; the hang outlasts it


def arm_lost_replies(qbo, realm: str, entity: str) -> None:
    where = {"method": "POST", "path": entity, "operation": "create"}
    qbo.control.fault(realm, "drop", **where)
    qbo.control.fault(realm, "hang", hang_seconds=READ_TIMEOUT + 1, **where)
    qbo.control.fault(realm, "drop_after_commit", **where)


def creates_of(qbo, realm: str, entity: str) -> list[dict]:
    return [
        r
        for r in qbo.control.requests(realm)
        if r.get("method") == "POST" and r.get("operation") == "create" and r["path"].endswith(f"/{entity}")
    ]


def test_lost_replies_and_timeouts_end_synced_once_with_one_requestid_per_create(qbo, tenant):
    realm, firm = tenant.realm, tenant.firm
    started = time.monotonic()
    with worker(qbo, name="s3", env={"QBO_READ_TIMEOUT": str(READ_TIMEOUT)}):
        account = AccountFactory(firm=firm, name="Lost Reply Client")
        account_sync_request(account=account)
        wait_settled([firm], 30)
        arm_lost_replies(qbo, realm, "invoice")
        invoice = make_invoice(account=account, amounts=("640.00",))
        wait_settled([firm], 60)
        arm_lost_replies(qbo, realm, "payment")
        make_payment(account=account, amount="700.00", allocations={invoice: "640.00"})
        wait_settled([firm], 60)
    assert_invariants(qbo, {firm: realm})
    for entity in ("invoice", "payment"):
        sent = creates_of(qbo, realm, entity)
        assert len(sent) == 3, f"{entity}: dropped, timed out, applied with the reply lost; then found"
        assert len({r["requestid"] for r in sent}) == 1, f"{entity}: every resend reused the requestid"
        # (The log is in order of answers: the hang is logged when it gives up, after our next try.)
        assert sorted(r.get("injected") for r in sent) == ["drop", "drop_after_commit", "hang"]
    print(f"S3: {time.monotonic() - started:.1f} s")
