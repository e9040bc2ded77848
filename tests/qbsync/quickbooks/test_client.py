import json
import socket
from decimal import Decimal

import pytest

from qbsync.quickbooks.client import MINOR_VERSION, QboClient, encode_body
from qbsync.quickbooks.errors import QboUnavailableError
from tests.qbsync.quickbooks.test_governor_over_http import FixedToken


def test_construction_makes_no_network_call():
    # Nothing listens on this port; building the client must still succeed at once.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = QboClient(realm_id="1", base_url=f"http://127.0.0.1:{port}/v3", token_source=FixedToken("t"))
    assert client.realm_id == "1"
    with pytest.raises(QboUnavailableError, match="Could not reach"):
        client.company_info()


def test_amounts_go_out_as_json_numbers_exactly():
    body = json.loads(encode_body({"Amount": Decimal("1234567.89"), "Qty": Decimal("1.5"), "Note": "x"}))
    assert body == {"Amount": 1234567.89, "Qty": 1.5, "Note": "x"}
    assert encode_body({"Amount": Decimal("0.10")}) == '{"Amount": 0.1}'


def test_an_amount_json_cannot_carry_exactly_is_refused():
    with pytest.raises(ValueError, match="does not survive"):
        encode_body({"Amount": Decimal("12345678901234567.89")})


def test_every_call_sends_minorversion_and_decimal_parsing(qbo_sandbox):
    realm = qbo_sandbox.control.create_company("Minor Co")
    token = qbo_sandbox.control.tokens(realm)["access_token"]
    client = QboClient(realm_id=realm, base_url=qbo_sandbox.api_base, token_source=FixedToken(token))
    item = client.read("Item", "1")
    assert isinstance(item["UnitPrice"], Decimal | int)
    [logged] = [r for r in qbo_sandbox.control.requests(realm) if r["path"].endswith("/item/1")]
    assert f"minorversion={MINOR_VERSION}" in logged["query"]
    assert client.last_intuit_tid
