from django import template
from django.conf import settings
from django.utils import dateformat, timezone

from invoices.models import Invoice
from qbsync.changes import explanations as say
from qbsync.changes.selectors import (
    changes_polling,
    invoice_open_change,
    invoice_paid_in_qbo,
    reads_a_month,
)
from qbsync.sync.models import QuickBooksConnection

register = template.Library()


@register.inclusion_tag("changes/_invoice_changes.html", takes_context=True)
def invoice_qbo_changes(context, invoice: Invoice, can_manage: bool) -> dict:
    """What changed in QuickBooks Online about this invoice: a deletion or void waiting for a decision
    (with the two choices for owners and admins) and payments recorded there."""
    return {
        "invoice": invoice,
        "change": invoice_open_change(invoice=invoice),
        "paid_in_qbo": invoice_paid_in_qbo(invoice=invoice),
        "can_manage": bool(can_manage),
        "current_firm": context.get("current_firm"),
        "csrf_token": context.get("csrf_token"),
    }


def _when(moment) -> str:
    return dateformat.format(timezone.localtime(moment), "M j, Y H:i")


def _every(seconds: float) -> str:
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} seconds"


@register.inclusion_tag("changes/_changes_from_quickbooks.html")
def qbo_changes_from_quickbooks(connection: QuickBooksConnection) -> dict:
    """How changes made in QuickBooks Online come back to the firm, in words for its admin: whether
    QuickBooks' change notices (webhooks) work, the last one, and how often QBO is asked and what that
    costs in metered reads a month."""
    polling = changes_polling(connection)
    health = polling.health
    if not health.configured:
        state, notices = "not_configured", say.WEBHOOKS_NOT_CONFIGURED
    elif health.healthy:
        state, notices = "healthy", say.WEBHOOKS_HEALTHY
    elif health.silent_since:
        state, notices = "silent", say.WEBHOOKS_SILENT.format(since=_when(health.silent_since))
    else:
        state, notices = "silent", say.WEBHOOKS_NEVER
    every = {"every": _every(polling.every), "reads": f"{polling.reads_a_month:,}"}
    if health.healthy:
        checks = say.POLLING_SAFETY_NET.format(**every)
    else:
        safety = reads_a_month(float(settings.QBSYNC_CDC_SAFETY_POLL_SECONDS))
        checks = say.POLLING_REGULAR.format(**every, safety_reads=f"{safety:,}")
    rows = [(say.CHANGES_LABEL_NOTICES, notices, "notices")]
    if health.configured:
        last = health.company_delivery_at
        rows.append((say.CHANGES_LABEL_LAST_NOTICE, _when(last) if last else say.LAST_NOTICE_NONE, "last"))
    rows.append((say.CHANGES_LABEL_CHECKS, checks, "checks"))
    return {"heading": say.CHANGES_HEADING, "state": state, "rows": rows}
