"""QBO's maximum field lengths on every entity the sandbox models, over HTTP: a value at the limit is
kept, one character more is refused with 2050 naming the field, on create, update and in a batch."""

import pytest

CUSTOMER = [
    ("DisplayName", 500),
    ("Title", 16),
    ("Suffix", 16),
    ("GivenName", 100),
    ("MiddleName", 100),
    ("FamilyName", 100),
    ("CompanyName", 100),
    ("PrintOnCheckName", 110),
    ("Notes", 2000),
    ("PrimaryPhone.FreeFormNumber", 30),
    ("Mobile.FreeFormNumber", 30),
    ("Fax.FreeFormNumber", 30),
    ("AlternatePhone.FreeFormNumber", 30),
]
INVOICE = [
    ("DocNumber", 21),
    ("PrivateNote", 4000),
    ("CustomerMemo.value", 1000),
    ("Line.Description", 4000),
]
PAYMENT = [("PrivateNote", 4000), ("PaymentRefNum", 21)]
ITEM = [("Name", 100)]


def put(body: dict, path: str, value: str) -> dict:
    """``body`` with ``value`` at ``path`` ("A.b": inside object A; "Line.x": in the first line)."""
    head, _, tail = path.partition(".")
    if not tail:
        return {**body, head: value}
    if head == "Line":
        first, *rest = body["Line"]
        return {**body, "Line": [{**first, tail: value}, *rest]}
    return {**body, head: {**body.get(head, {}), tail: value}}


def filler(length: int) -> str:
    return ("1234567890" * (length // 10 + 1))[:length]  # digits: valid in names, phones and numbers


def sales_line():
    return {
        "Amount": 10,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
    }


def base_body(qbo, entity: str) -> dict:
    if entity == "Customer":
        return {"DisplayName": f"Length {qbo.realm}"}
    if entity == "Item":
        return {"Name": "x", "Type": "Service", "IncomeAccountRef": {"value": "1"}}
    customer = qbo.customer()
    if entity == "Invoice":
        return {"CustomerRef": {"value": customer["Id"]}, "Line": [sales_line()]}
    return {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 25}


def read_back(record: dict, path: str) -> str:
    head, _, tail = path.partition(".")
    if not tail:
        return record[head]
    return record[head][0][tail] if head == "Line" else record[head][tail]


def assert_too_long(qbo, response, path: str, limit: int) -> None:
    assert response.status_code == 400, response.text
    [error] = response.json()["Fault"]["Error"]
    assert (error["code"], error["element"]) == ("2050", path)
    assert response.json()["Fault"]["type"] == "ValidationFault"
    assert f"Max:{limit} supported. Supplied length:{limit + 1}" in error["Detail"]


CASES = (
    [("Customer", *case) for case in CUSTOMER]
    + [("Invoice", *case) for case in INVOICE]
    + [("Payment", *case) for case in PAYMENT]
    + [("Item", *case) for case in ITEM]
)


@pytest.mark.parametrize(("entity", "path", "limit"), CASES)
def test_a_value_at_the_limit_is_kept_one_more_is_2050(qbo, entity, path, limit):
    body = base_body(qbo, entity)
    created = qbo.create(entity, put(body, path, filler(limit)))
    assert read_back(created, path) == filler(limit)

    if entity in ("Customer", "Item"):
        body = put(body, "DisplayName" if entity == "Customer" else "Name", "another")
    assert_too_long(qbo, qbo.post(entity.lower(), put(body, path, filler(limit + 1))), path, limit)


@pytest.mark.parametrize(("entity", "path", "limit"), CASES)
def test_a_too_long_value_is_refused_on_sparse_update(qbo, entity, path, limit):
    created = qbo.create(entity, base_body(qbo, entity))
    update = {"Id": created["Id"], "SyncToken": created["SyncToken"], "sparse": True}
    if path.startswith("Line."):
        update["Line"] = [sales_line()]
    if entity == "Payment":
        update["TotalAmt"] = 25
    response = qbo.post(entity.lower(), put(update, path, filler(limit + 1)))
    assert_too_long(qbo, response, path, limit)
    assert qbo.read(entity, created["Id"])["SyncToken"] == created["SyncToken"]


def test_every_line_is_checked_not_only_the_first(qbo):
    body = base_body(qbo, "Invoice")
    body["Line"] = [sales_line(), {**sales_line(), "Description": filler(4001)}]
    assert_too_long(qbo, qbo.post("invoice", body), "Line.Description", 4000)


def test_a_too_long_value_in_a_batch_faults_that_item_only(qbo):
    body = base_body(qbo, "Invoice")
    response = qbo.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "ok", "operation": "create", "Invoice": put(body, "Line.Description", filler(4000))},
                {
                    "bId": "long",
                    "operation": "create",
                    "Invoice": put(body, "Line.Description", filler(4001)),
                },
            ]
        },
    )
    assert response.status_code == 200, response.text
    ok, long = response.json()["BatchItemResponse"]
    assert ok["Invoice"]["Line"][0]["Description"] == filler(4000)
    [error] = long["Fault"]["Error"]
    assert (error["code"], error["element"]) == ("2050", "Line.Description")


def test_characters_not_bytes_are_counted(qbo):
    body = base_body(qbo, "Invoice")
    created = qbo.create("Invoice", put(body, "PrivateNote", "é" * 4000))
    assert created["PrivateNote"] == "é" * 4000


def test_a_number_sent_for_a_text_field_is_measured_as_its_digits(qbo):
    body = base_body(qbo, "Invoice")
    assert qbo.create("Invoice", {**body, "DocNumber": 10**20})["DocNumber"] == str(10**20)  # 21 digits
    assert_too_long(qbo, qbo.post("invoice", {**body, "DocNumber": 10**21}), "DocNumber", 21)
