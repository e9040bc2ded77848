"""``{% invoice_quickbooks_cell invoice connected %}``, ``{% payment_quickbooks_cell payment connected %}``:
an invoice's or a payment's QuickBooks status cell, for pages whose view lists them without building their
badges (the account's Info tab). The record must carry its ``sync_link`` (``invoice_list`` and
``payment_list`` load it), so a row costs no query."""

from django import template

from invoices.models import Invoice, Payment
from qbsync.sync.display import invoice_badge, payment_badge

register = template.Library()


@register.inclusion_tag("invoices/_quickbooks_cell.html")
def invoice_quickbooks_cell(invoice: Invoice, connected: bool) -> dict:
    return {"invoice": invoice, "badge": invoice_badge(invoice, connected=bool(connected))}


@register.inclusion_tag("invoices/_payment_quickbooks_cell.html")
def payment_quickbooks_cell(payment: Payment, connected: bool) -> dict:
    return {"payment": payment, "badge": payment_badge(payment, connected=bool(connected))}
