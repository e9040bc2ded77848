"""Record markers: the word we put in a QBO record's PrivateNote so that we can find our own record
again after an unknown outcome (a lost reply, a killed worker), and tell our changes from others'."""

from __future__ import annotations

INVOICE_MARKER_PREFIX = "qbsync:inv:"
PAYMENT_MARKER_PREFIX = "qbsync:pay:"


def invoice_marker(invoice) -> str:
    return f"{INVOICE_MARKER_PREFIX}{invoice.pk}"


def payment_marker(payment) -> str:
    return f"{PAYMENT_MARKER_PREFIX}{payment.pk}"
