"""QBO's batch endpoint: up to 30 writes in one request, each answered on its own.

The reply is HTTP 200 even when items fail; each item comes back under its bId as the entity or a Fault,
and an item QBO did not answer is simply absent (its outcome is unknown to the caller).
"""

from __future__ import annotations

from typing import Any

from .client import QboClient
from .errors import FaultDetail, QboError, error_from_fault

BATCH_MAX_ITEMS = 30
# With a requestid on the batch, QBO allows bIds of at most 10 characters.
BATCH_ID_MAX_LENGTH = 10


def batch_write(
    client: QboClient, operations: list[tuple[str, str, str, dict[str, Any]]], *, request_id: str
) -> dict[str, dict[str, Any] | QboError]:
    """Send ``operations`` as (bId, operation, entity name, body) in one batch request.

    Returns what QBO answered per bId: the entity's JSON, or the item's error. The whole request carries
    ``request_id``, so resending the same batch replays where QBO honours requestid.
    """
    if not 0 < len(operations) <= BATCH_MAX_ITEMS:
        raise ValueError(f"A batch holds 1 to {BATCH_MAX_ITEMS} items, not {len(operations)}")
    entities: dict[str, str] = {}
    items = []
    for bid, operation, entity, body in operations:
        if not bid or len(bid) > BATCH_ID_MAX_LENGTH or bid in entities:
            raise ValueError(f"bId {bid!r} must be unique and 1 to {BATCH_ID_MAX_LENGTH} characters")
        entities[bid] = entity
        items.append({"bId": bid, "operation": operation, entity: body})
    response = client.request("POST", "batch", body={"BatchItemRequest": items}, request_id=request_id)
    results: dict[str, dict[str, Any] | QboError] = {}
    for item in response.get("BatchItemResponse", []):
        bid = str(item.get("bId"))
        if bid not in entities:
            continue
        if entities[bid] in item:
            results[bid] = item[entities[bid]]
            continue
        fault = (item.get("Fault") or {}).get("Error") or [{}]
        detail = FaultDetail(
            code=str(fault[0].get("code", "")),
            message=str(fault[0].get("Message", "QuickBooks Online refused this item")),
            detail=str(fault[0].get("Detail", "")),
            element=str(fault[0].get("element", "") or ""),
        )
        results[bid] = error_from_fault(detail, status=200, intuit_tid=client.last_intuit_tid)
    return results
