"""``{% invoice_quickbooks_cell invoice connected %}``: an invoice's QuickBooks status cell, for pages whose
view lists invoices without building their badges (the account's Info tab). The invoice must carry its
``sync_link`` (``invoice_list`` loads it), so a row costs no query."""

from django import template

from invoices.models import Invoice
from qbsync.sync.display import invoice_badge

register = template.Library()


@register.inclusion_tag("invoices/_quickbooks_cell.html")
def invoice_quickbooks_cell(invoice: Invoice, connected: bool) -> dict:
    return {"invoice": invoice, "badge": invoice_badge(invoice, connected=bool(connected))}
