"""Reads for the pages: what changed in QuickBooks Online about one invoice."""

from invoices.models import Invoice
from qbsync.sync.models import InvoiceSyncLink
from qbsync.sync.states import SyncState

from . import causes
from .models import InvoiceChangeInQbo, QboPaymentOnInvoice


def invoice_open_change(*, invoice: Invoice) -> InvoiceChangeInQbo | None:
    """The deletion or void in QBO still waiting for a decision, if any (a sync asked meanwhile, by a
    person or by an edit, has decided it)."""
    waiting = InvoiceSyncLink.objects.filter(
        invoice=invoice, state=SyncState.FAILED, error_cause=causes.CHANGED_IN_QBO
    ).exists()
    if not waiting:
        return None
    return InvoiceChangeInQbo.objects.filter(
        invoice=invoice, resolution=InvoiceChangeInQbo.Resolution.OPEN
    ).first()


def invoice_paid_in_qbo(*, invoice: Invoice) -> list[QboPaymentOnInvoice]:
    """Payments recorded directly in QBO against this invoice (still standing there)."""
    return list(QboPaymentOnInvoice.objects.filter(invoice=invoice, removed_at__isnull=True))
