"""Control API, webhooks, merge, persistence, the CLI and the demo seed."""

import base64
import hashlib
import hmac
import json
import os
import queue
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests

from qbsync.sandbox.seed import DEMO_REALM_ID
from qbsync.sandbox.testing import ControlAPIError, running_sandbox
from qbsync.sandbox.webhooks import sign

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def receiver():
    """A local webhook endpoint collecting (headers, raw body)."""
    received: queue.Queue = queue.Queue()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((self.headers, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_signature_matches_intuit_test_vector():
    payload = (
        b'{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer",'
        b'"id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}'
    )
    assert (
        sign("b5771f19b12ddb4bcdb9f08bdc50bc63878a", payload)
        == "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q="
    )


def test_webhooks_legacy_and_cloudevents(receiver):
    url, received = receiver
    with running_sandbox() as sb:
        realm = sb.control.create_company("Hooked")
        token = sb.control.tokens(realm)["access_token"]
        sb.control.webhook(url, "verifier-1", "legacy")
        sb.control.webhook(url, "verifier-2", "cloudevents")
        api = f"{sb.api_base}/company/{realm}"
        headers = {"Authorization": f"Bearer {token}"}
        cust = requests.post(
            f"{api}/customer", json={"DisplayName": "Hooked Customer"}, headers=headers, timeout=5
        )
        assert cust.status_code == 200
        got = {}
        for _ in range(2):
            hdrs, body = received.get(timeout=5)
            key = hdrs["intuit-signature"]
            expected_token = "verifier-1" if body.startswith(b"{") else "verifier-2"
            digest = hmac.new(expected_token.encode(), body, hashlib.sha256).digest()
            assert base64.b64encode(digest).decode() == key
            got["legacy" if body.startswith(b"{") else "cloudevents"] = (hdrs, json.loads(body))
        legacy = got["legacy"][1]["eventNotifications"][0]
        assert legacy["realmId"] == realm
        entity = legacy["dataChangeEvent"]["entities"][0]
        assert (entity["name"], entity["operation"]) == ("Customer", "Create")
        assert entity["id"] == cust.json()["Customer"]["Id"]
        event = got["cloudevents"][1][0]
        assert event["type"] == "qbo.customer.created.v1"
        assert event["intuitaccountid"] == realm
        assert event["specversion"] == "1.0"
        assert got["cloudevents"][0]["Content-Type"] == "application/cloudevents+json"
        deliveries = sb.control.webhooks()["deliveries"]
        assert all(d["ok"] for d in deliveries)


def test_merge_customers(qbo):
    a = qbo.customer("Acme Inc")
    b = qbo.customer("ACME Incorporated")
    inv = qbo.invoice(a["Id"], 40)
    merged = qbo.control.merge(qbo.realm, a["Id"], b["Id"])["Customer"]
    assert merged["Id"] == b["Id"]
    assert merged["Balance"] == 40
    assert merged["SyncToken"] == "1"
    assert qbo.read("Invoice", inv["Id"])["CustomerRef"]["value"] == b["Id"]
    assert qbo.code(qbo.get(f"customer/{a['Id']}")) == "610"
    assert qbo.customer("Acme Inc")["DisplayName"] == "Acme Inc"  # the merged-away name is free
    listed = {c["Id"]: c for c in qbo.control.entities(qbo.realm, "Customer")}
    assert listed[a["Id"]]["status"] == "Deleted"


def test_entities_listing_includes_inactive_and_deleted(qbo):
    c = qbo.customer()
    qbo.create("Customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    inv = qbo.invoice(qbo.customer()["Id"])
    qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    customers = qbo.control.entities(qbo.realm, "Customer")
    assert any(x["Active"] is False for x in customers)
    assert [x.get("status") for x in qbo.control.entities(qbo.realm, "Invoice")] == ["Deleted"]
    with pytest.raises(ControlAPIError) as exc:
        qbo.control.entities(qbo.realm, "Unicorn")
    assert exc.value.status == 404


def test_companies_listing_and_settings_validation(qbo):
    assert qbo.realm in {c["realmId"] for c in qbo.control.companies()}
    with pytest.raises(ControlAPIError):
        qbo.control.settings(qbo.realm, no_such_setting=1)
    summary = qbo.control.company(qbo.realm)
    assert summary["settings"]["limits"]["per_minute"] == 500
    assert summary["counts"]["Item"] == 1


def test_reset_clears_everything():
    with running_sandbox() as sb:
        realm = sb.control.create_company("Gone")
        sb.control.tokens(realm)
        sb.control.reset()
        assert sb.control.companies() == []
        assert sb.control.requests() == []


def test_persistence_across_restarts(tmp_path):
    data = tmp_path / "sandbox.json"
    with running_sandbox(data=str(data)) as sb:
        realm = sb.control.create_company("Persistent", customer_types=["Individual"])
        tokens = sb.control.tokens(realm)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        created = requests.post(
            f"{sb.api_base}/company/{realm}/customer",
            json={"DisplayName": "Kept"},
            headers=headers,
            timeout=5,
        ).json()["Customer"]
    assert json.loads(data.read_text())["companies"]
    with running_sandbox(data=str(data)) as sb:
        got = requests.get(
            f"{sb.api_base}/company/{realm}/customer/{created['Id']}", headers=headers, timeout=5
        )
        assert got.status_code == 200  # the access token survived too
        assert got.json()["Customer"]["DisplayName"] == "Kept"
        dup = requests.post(
            f"{sb.api_base}/company/{realm}/customer",
            json={"DisplayName": "kept"},
            headers=headers,
            timeout=5,
        )
        assert dup.json()["Fault"]["Error"][0]["code"] == "6240"  # indexes were rebuilt
        nxt = requests.post(
            f"{sb.api_base}/company/{realm}/customer",
            json={"DisplayName": "Next"},
            headers=headers,
            timeout=5,
        ).json()["Customer"]
        assert int(nxt["Id"]) == int(created["Id"]) + 1


def test_demo_seed():
    with running_sandbox(seed="demo") as sb:
        assert [c["realmId"] for c in sb.control.companies()] == [DEMO_REALM_ID]
        customers = {c["DisplayName"]: c for c in sb.control.entities(DEMO_REALM_ID, "Customer")}
        assert "Old Mill Cafe (deleted)" in customers
        assert customers["Amy's Bird Sanctuary"]["Balance"] == 200
        vendors = [v["DisplayName"] for v in sb.control.entities(DEMO_REALM_ID, "Vendor")]
        assert vendors == ["Staples", "Quill Office Supply", "Harbor Freight Tools"]
        items = {i["Name"]: i for i in sb.control.entities(DEMO_REALM_ID, "Item")}
        assert items["Payroll Setup (deleted)"]["Active"] is False


def test_cli_prints_one_line_and_serves(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbsync.sandbox", "--host", "127.0.0.1", "--port", "0", "--seed", "demo",
         "--time-scale", "60", "--no-limits"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("QBO sandbox listening on http://127.0.0.1:")
        base = line.rsplit(" ", 1)[1]
        deadline = time.monotonic() + 5
        while True:
            try:
                info = requests.get(base + "/_sandbox", timeout=2).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert info["time_scale"] == 60
        assert info["limits"] == "off"
        assert (
            requests.get(base + "/_sandbox/companies", timeout=2).json()["companies"][0]["realmId"]
            == DEMO_REALM_ID
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert proc.stdout.read() == ""
