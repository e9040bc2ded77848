"""Beat's look at the month's QBO reads: alerts and pausing (engine/metering.py), and while QBO itself
refuses reads, one probe read an hour so that a plan change (or Intuit lifting the block) ends the pause
without waiting for ops or the month's turn. A refused probe costs nothing: failed calls are not metered."""

from __future__ import annotations

import logging

from django.utils import timezone

from qbsync.quickbooks.errors import QboError

from ..engine import metering
from ..engine.client import connection_client
from ..engine.connection import usable_connections
from ..models import ReadBudgetMonth

logger = logging.getLogger(__name__)


def read_budget_check() -> dict[str, object]:
    summary = metering.read_budget_check()
    now = timezone.now()
    row = metering.reads_paused(now)
    if row is not None and metering.probe_due(row, now):
        summary["probe"] = reads_probe(row)
    return summary


def reads_probe(row: ReadBudgetMonth) -> str:
    """One read (a company's CompanyInfo) past the pause: answered means reads are back."""
    ReadBudgetMonth.objects.filter(pk=row.pk).update(probed_at=timezone.now())
    connection = usable_connections().order_by("pk").first()
    if connection is None:
        return "no connected company to probe with"
    try:
        connection_client(connection, past_read_pause=True).company_info()
    except metering.QboReadsRefusedError:
        return "reads still refused"
    except QboError as exc:
        logger.warning("QuickBooks read probe failed: %s", exc)
        return f"probe failed: {exc.message}"
    metering.reads_resume()
    return "reads answered again: resumed"
