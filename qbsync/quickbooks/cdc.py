"""Change data capture: every object of some entities changed in QBO since a moment.

QBO answers at most 1,000 objects per request, with no paging, and refuses a `changedSince` older than
30 days. Deleted objects come back as stubs with `"status": "Deleted"`. The response `time` (QBO's
clock) is where the next window starts.

QBO's timestamps are whole seconds, and whether an answer includes changes made in `changedSince`'s own
second is UNCONFIRMED: it may repeat changes a previous answer had (callers drop those by their identity)
or leave out that second (callers start a window that must not miss it BOUNDARY_OVERLAP earlier).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .client import QboClient

MAX_OBJECTS = 1000
# QBO refuses more than 30 days; one day of margin against clock differences and slow polls.
MAX_LOOKBACK = timedelta(days=29)
# changedSince's own second may be left out of the answer (see above).
BOUNDARY_OVERLAP = timedelta(seconds=1)


@dataclass(frozen=True)
class CdcAnswer:
    rows: dict[str, list[dict[str, Any]]]  # entity name -> changed objects (full, or deleted stubs)
    time: datetime | None  # QBO's clock when it answered

    def count(self, entity: str) -> int:
        return len(self.rows.get(entity, []))


def parse_qbo_datetime(value: object) -> datetime | None:
    """QBO's timestamps: 2015-10-05T14:42:19-07:00, ...-0700, ...187Z; None when absent or unreadable."""
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else None


def changed_at(row: dict[str, Any]) -> datetime | None:
    return parse_qbo_datetime((row.get("MetaData") or {}).get("LastUpdatedTime"))


def is_deleted(row: dict[str, Any]) -> bool:
    return str(row.get("status", "")).lower() == "deleted"


def changed_since(client: QboClient, entities: list[str], since: datetime) -> CdcAnswer:
    """GET /cdc for ``entities`` since ``since`` (an aware datetime, sent in whole seconds, rounded down)."""
    answer = client.request(
        "GET",
        "cdc",
        params={"entities": ",".join(entities), "changedSince": since.isoformat(timespec="seconds")},
    )
    rows: dict[str, list[dict[str, Any]]] = {}
    for block in answer.get("CDCResponse") or []:
        for response in block.get("QueryResponse") or []:
            for entity in entities:
                found = response.get(entity)
                if isinstance(found, list):
                    rows.setdefault(entity, []).extend(found)
    return CdcAnswer(rows=rows, time=parse_qbo_datetime(answer.get("time")))
