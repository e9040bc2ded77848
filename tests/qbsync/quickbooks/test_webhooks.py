"""Webhook signatures (Intuit's published test vector), both payload formats, and the endpoint: 401 and
nothing recorded without a valid signature, each event once, routed by realm, 4xx and a log line for
what is too large or malformed."""

import json
import logging

import pytest
from django.urls import reverse

from qbsync.changes.models import QboChange
from qbsync.quickbooks.webhooks import (
    MAX_BODY_BYTES,
    MalformedNotification,
    legacy_event_id,
    parse_notifications,
    signature_for,
    signature_valid,
)
from qbsync.sandbox.webhooks import cloudevents_payload, legacy_payload
from qbsync.sandbox.webhooks import sign as sandbox_sign

# From Intuit's Java SDK (WebhooksServiceTest.java), docs/qbo-api-facts.md §9.
INTUIT_TOKEN = "b5771f19b12ddb4bcdb9f08bdc50bc63878a"
INTUIT_PAYLOAD = (
    '{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer",'
    '"id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}'
)
INTUIT_SIGNATURE = "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q="
TOKEN = "test-verifier-token"
URL = "/integrations/webhooks/quickbooks/"


def cloudevent(realm="1185883450", kind="qbo.customer.created.v1", entity_id="1", event_id="ev-1", **extra):
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
        "type": kind,
        "datacontenttype": "application/json",
        "time": "2025-09-10T21:31:25.179Z",
        "intuitentityid": entity_id,
        "intuitaccountid": realm,
        "data": {},
        **extra,
    }


# The signature -------------------------------------------------------------------------------------


def test_intuits_published_vector_verifies():
    body = INTUIT_PAYLOAD.encode()
    assert signature_for(body, INTUIT_TOKEN) == INTUIT_SIGNATURE
    assert signature_valid(body, INTUIT_SIGNATURE, INTUIT_TOKEN)


@pytest.mark.parametrize(
    ("body", "signature", "token"),
    [
        (INTUIT_PAYLOAD + " ", INTUIT_SIGNATURE, INTUIT_TOKEN),  # one byte more
        (INTUIT_PAYLOAD, INTUIT_SIGNATURE, INTUIT_TOKEN + "x"),  # another app's token
        (INTUIT_PAYLOAD, INTUIT_SIGNATURE[:-2] + "A=", INTUIT_TOKEN),
        (INTUIT_PAYLOAD, "", INTUIT_TOKEN),
        (INTUIT_PAYLOAD, None, INTUIT_TOKEN),
        (INTUIT_PAYLOAD, INTUIT_SIGNATURE, ""),
    ],
)
def test_anything_else_does_not_verify(body, signature, token):
    assert not signature_valid(body.encode(), signature, token)


def test_the_same_hmac_signs_a_cloudevents_array():
    body = json.dumps([cloudevent()], separators=(",", ":")).encode()
    assert signature_valid(body, sandbox_sign(INTUIT_TOKEN, body), INTUIT_TOKEN)
    assert signature_for(body, INTUIT_TOKEN) == sandbox_sign(INTUIT_TOKEN, body)


# The two formats -----------------------------------------------------------------------------------


def test_intuits_legacy_sample_parses_with_a_stable_derived_id():
    [notice] = parse_notifications(INTUIT_PAYLOAD.encode())
    assert (notice.realm_id, notice.entity, notice.entity_id, notice.operation) == (
        "1185883450",
        "Customer",
        "1",
        "Create",
    )
    assert notice.occurred_at == "2015-10-05T14:42:19-0700"
    # Intuit's retry of the same notification gets the same id; another change gets another.
    assert notice.event_id == parse_notifications(INTUIT_PAYLOAD.encode())[0].event_id
    assert notice.event_id == legacy_event_id(
        "1185883450", "Customer", "1", "Create", "2015-10-05T14:42:19-0700"
    )
    assert notice.event_id != legacy_event_id(
        "1185883450", "Customer", "1", "Update", "2015-10-05T14:42:19-0700"
    )


def test_cloudevents_carry_their_id_realm_entity_and_operation_and_may_mix_realms():
    body = json.dumps(
        [
            cloudevent(),
            cloudevent(realm="222", kind="qbo.invoice.voided.v1", entity_id="130", event_id="ev-2"),
            cloudevent(
                realm="222",
                kind="qbo.customer.merged.v1",
                entity_id="7",
                event_id="ev-3",
                data={"deletedId": "12"},
            ),
        ]
    ).encode()
    notices = parse_notifications(body)
    assert [(n.event_id, n.realm_id, n.entity, n.entity_id, n.operation, n.deleted_id) for n in notices] == [
        ("ev-1", "1185883450", "Customer", "1", "Create", ""),
        ("ev-2", "222", "Invoice", "130", "Void", ""),
        ("ev-3", "222", "Customer", "7", "Merge", "12"),
    ]


def test_the_sandboxes_payloads_parse_in_both_formats():
    from datetime import UTC, datetime

    event = {
        "realm_id": "9",
        "entity": "Customer",
        "id": "7",
        "operation": "Merge",
        "time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "deleted_id": "12",
        "event_id": "uuid-1",
    }
    legacy = parse_notifications(json.dumps(legacy_payload([event])).encode())
    cloud = parse_notifications(json.dumps(cloudevents_payload([event])).encode())
    for [notice] in (legacy, cloud):
        assert (notice.realm_id, notice.entity, notice.entity_id, notice.operation, notice.deleted_id) == (
            "9",
            "Customer",
            "7",
            "Merge",
            "12",
        )
    assert cloud[0].event_id == "uuid-1"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"{}",
        b'{"eventNotifications": {}}',
        b'{"eventNotifications": [{"dataChangeEvent": {"entities": []}}]}',
        b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": '
        b'{"entities": [{"name": "Customer"}]}}]}',
        b'[{"specversion": "1.0", "type": "qbo.customer.created.v1", "intuitaccountid": "1"}]',
        b'[{"specversion": "1.0", "id": "x", "type": "other", '
        b'"intuitaccountid": "1", "intuitentityid": "2"}]',
        b"[1, 2]",
    ],
)
def test_malformed_bodies_are_refused(body):
    with pytest.raises(MalformedNotification):
        parse_notifications(body)


# The endpoint --------------------------------------------------------------------------------------


@pytest.fixture
def webhooks_on(settings):
    settings.QBO_WEBHOOK_VERIFIER_TOKEN = TOKEN


def post(client, body: bytes, *, signature: str | None = "sign", content_type="application/json"):
    headers = {}
    if signature == "sign":
        headers["HTTP_INTUIT_SIGNATURE"] = signature_for(body, TOKEN)
    elif signature is not None:
        headers["HTTP_INTUIT_SIGNATURE"] = signature
    return client.post(URL, data=body, content_type=content_type, **headers)


def legacy_body(realm: str, *entities: tuple[str, str, str]) -> bytes:
    return json.dumps(
        {
            "eventNotifications": [
                {
                    "realmId": realm,
                    "dataChangeEvent": {
                        "entities": [
                            {"name": n, "id": i, "operation": op, "lastUpdated": "2026-01-05T14:42:19-0700"}
                            for n, i, op in entities
                        ]
                    },
                }
            ]
        }
    ).encode()


@pytest.fixture
def connected_realm(firm, owner):
    from qbsync.sync.models import QuickBooksConnection

    QuickBooksConnection.objects.create(
        firm=firm, realm_id="4620816365000001", access_token="a", refresh_token="r", connected_by=owner
    )
    return "4620816365000001"


def test_the_url_is_public_and_named():
    assert reverse("changes:qbo_webhook") == URL


@pytest.mark.django_db
@pytest.mark.parametrize("signature", [None, "", "bm90IHRoZSBzaWduYXR1cmU=", INTUIT_SIGNATURE])
def test_a_missing_or_wrong_signature_is_401_and_nothing_is_recorded(
    client, webhooks_on, connected_realm, signature, caplog
):
    body = legacy_body(connected_realm, ("Customer", "1", "Update"))
    with caplog.at_level(logging.WARNING, logger="qbsync.changes.views"):
        response = post(client, body, signature=signature)
    assert response.status_code == 401
    assert QboChange.objects.count() == 0
    assert "intuit-signature" in caplog.text


@pytest.mark.django_db
def test_without_a_verifier_token_webhooks_are_refused(client, settings, connected_realm):
    settings.QBO_WEBHOOK_VERIFIER_TOKEN = ""
    body = legacy_body(connected_realm, ("Customer", "1", "Update"))
    assert (
        client.post(URL, data=body, content_type="application/json", HTTP_INTUIT_SIGNATURE="").status_code
        == 401
    )
    assert QboChange.objects.count() == 0


@pytest.mark.django_db
def test_a_signed_legacy_notification_is_a_hint_for_the_firms_company(
    client, webhooks_on, connected_realm, firm
):
    # Behaviour changed on purpose (issue 13 item 3): a webhook records a hint per company and asks one
    # CDC poll; nothing is recorded in the inbox from the body itself.
    from qbsync.changes.models import ChangePoll

    body = legacy_body(connected_realm, ("Customer", "1", "Update"), ("Invoice", "130", "Void"))
    first = post(client, body)
    again = post(client, body)  # Intuit retries with the same body: one more hint, joined to the same poll
    assert first.status_code == again.status_code == 200
    assert (
        first.json()
        == again.json()
        == {"events": 2, "companies": 1, "merges_claimed": 0, "unknown_company": 0}
    )
    assert QboChange.objects.count() == 0
    poll = ChangePoll.objects.get(firm=firm, realm_id=connected_realm)
    assert (poll.hints_received, poll.hinted_at is not None) == (4, True)


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["application/cloudevents+json", "application/json; charset=utf-8"])
def test_a_signed_cloudevents_array_is_routed_per_event_to_each_company(
    client, webhooks_on, connected_realm, other_firm, content_type
):
    from qbsync.changes.models import ChangePoll
    from qbsync.sync.models import QuickBooksConnection

    QuickBooksConnection.objects.create(firm=other_firm, realm_id="777", access_token="a", refresh_token="r")
    body = json.dumps(
        [
            cloudevent(realm=connected_realm, event_id="e-1"),
            cloudevent(realm="777", kind="qbo.invoice.deleted.v1", entity_id="55", event_id="e-2"),
            cloudevent(realm="not-ours", event_id="e-3"),
        ]
    ).encode()
    response = post(client, body, content_type=content_type)
    assert response.status_code == 200
    assert response.json() == {"events": 2, "companies": 2, "merges_claimed": 0, "unknown_company": 1}
    hints = dict(ChangePoll.objects.values_list("realm_id", "hints_received"))
    assert hints == {connected_realm: 1, "777": 1}
    # A merge is kept as a claim (once per event id), checked against QBO before anything follows it.
    merge = cloudevent(realm="777", kind="qbo.customer.merged.v1", entity_id="9", event_id="m-1")
    merge["data"] = {"deletedId": "8"}
    for _ in range(2):
        post(client, json.dumps([merge]).encode(), content_type=content_type)
    assert list(QboChange.objects.values_list("realm_id", "entity_id", "deleted_id", "source")) == [
        ("777", "9", "8", "webhook")
    ]


@pytest.mark.django_db
def test_a_body_over_one_megabyte_is_413_and_logged(client, webhooks_on, connected_realm, caplog):
    events = [cloudevent(realm=connected_realm, event_id=f"e-{i}", entity_id=str(i)) for i in range(5000)]
    body = json.dumps(events).encode()
    assert len(body) > MAX_BODY_BYTES
    with caplog.at_level(logging.WARNING, logger="qbsync.changes.views"):
        response = post(client, body)
    assert response.status_code == 413
    assert QboChange.objects.count() == 0
    assert "larger than" in caplog.text


@pytest.mark.django_db
def test_a_body_of_almost_one_megabyte_is_accepted(client, webhooks_on, connected_realm):
    events = [cloudevent(realm=connected_realm, event_id=f"e-{i}", entity_id=str(i)) for i in range(100)]
    padding = "x" * (MAX_BODY_BYTES - len(json.dumps(events)) - 200)
    events[0]["data"] = {"padding": padding}
    body = json.dumps(events).encode()
    assert MAX_BODY_BYTES - 300 < len(body) <= MAX_BODY_BYTES
    response = post(client, body)
    assert response.status_code == 200
    assert response.json()["events"] == 100


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"hello": 1}', "application/json", 400),
        (b"[]", "text/xml", 415),
    ],
)
def test_malformed_or_foreign_bodies_are_4xx_and_logged(
    client, webhooks_on, body, content_type, status, caplog
):
    with caplog.at_level(logging.WARNING, logger="qbsync.changes.views"):
        response = post(client, body, content_type=content_type)
    assert response.status_code == status
    assert QboChange.objects.count() == 0
    assert "QuickBooks webhook refused" in caplog.text


@pytest.mark.django_db
def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


# Issue 13, item 12: nesting is bounded before parsing, so a deep body is a 400, not a RecursionError.


@pytest.mark.parametrize("body", [b"[" * 200_000, b'{"a":' * 100_000, b"[" * 100_000 + b"]" * 100_000])
def test_a_too_deeply_nested_body_is_malformed(body):
    with pytest.raises(MalformedNotification, match="nested"):
        parse_notifications(body)


def test_brackets_inside_strings_do_not_count_as_nesting():
    deep_text = "[" * 5000 + '\\"{' * 5000
    events = [cloudevent(event_id=f"e-{deep_text}", data={"note": deep_text})]
    assert [n.event_id for n in parse_notifications(json.dumps(events).encode())] == [f"e-{deep_text}"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"[" * 200_000, b"[" * 200_000 + b"]" * 200_000])
def test_a_signed_deeply_nested_body_is_400_and_logged(client, webhooks_on, connected_realm, body, caplog):
    with caplog.at_level(logging.WARNING, logger="qbsync.changes.views"):
        response = post(client, body)
    assert response.status_code == 400
    assert "nested" in response.json()["error"]
    assert QboChange.objects.count() == 0
    assert "QuickBooks webhook refused" in caplog.text
