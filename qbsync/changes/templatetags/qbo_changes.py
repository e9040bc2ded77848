from django import template

from invoices.models import Invoice
from qbsync.changes.selectors import invoice_open_change, invoice_paid_in_qbo

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
