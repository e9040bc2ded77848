"""The webhook endpoint Intuit calls, and the two choices about an invoice changed in QuickBooks."""

import logging

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from invoices.models import Invoice
from qbsync.firms.permissions import can_manage_quickbooks, permission_required
from qbsync.quickbooks.webhooks import (
    MAX_BODY_BYTES,
    MalformedNotification,
    content_type_accepted,
    parse_notifications,
    signature_valid,
)
from qbsync.sync.engine.errors import SyncRequestError

from .services.decisions import invoice_change_accept, invoice_change_repush
from .services.inbox import changes_record_notices

logger = logging.getLogger(__name__)


def _refuse(status: int, why: str, request: HttpRequest) -> JsonResponse:
    logger.warning(
        "QuickBooks webhook refused (%s): %s [from %s, %s bytes]",
        status,
        why,
        request.META.get("REMOTE_ADDR", "?"),
        request.META.get("CONTENT_LENGTH", "?"),
    )
    return JsonResponse({"error": why}, status=status)


@csrf_exempt
@require_POST
def qbo_webhook_view(request: HttpRequest) -> HttpResponse:
    """Verify, record, answer: the reacting happens in a task, so Intuit gets its 200 at once."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _refuse(400, "unreadable Content-Length", request)
    if declared > MAX_BODY_BYTES:
        return _refuse(413, f"body larger than {MAX_BODY_BYTES} bytes", request)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _refuse(413, f"body larger than {MAX_BODY_BYTES} bytes", request)
    token = settings.QBO_WEBHOOK_VERIFIER_TOKEN
    if not token:
        return _refuse(401, "webhooks are not configured (QBO_WEBHOOK_VERIFIER_TOKEN is empty)", request)
    if not signature_valid(body, request.headers.get("intuit-signature"), token):
        return _refuse(401, "missing or invalid intuit-signature", request)
    if not content_type_accepted(request.content_type or ""):
        return _refuse(415, f"unsupported content type {request.content_type!r}", request)
    try:
        notices = parse_notifications(body)
    except MalformedNotification as exc:
        return _refuse(400, f"malformed notification: {exc}", request)
    counts = changes_record_notices(notices=notices)
    return JsonResponse(counts)


def _decide(request: HttpRequest, pk: int, action, done: str) -> HttpResponse:
    invoice = get_object_or_404(Invoice.objects.for_firm(request.firm), pk=pk)
    try:
        action(invoice=invoice, actor=request.user)
    except SyncRequestError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect(f"{reverse('invoices:detail', args=[pk])}#quickbooks")


@require_POST
@permission_required(can_manage_quickbooks)
def invoice_repush_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, invoice_change_repush, "Pushing the invoice to QuickBooks again.")


@require_POST
@permission_required(can_manage_quickbooks)
def invoice_accept_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request, pk, invoice_change_accept, "Change accepted: this invoice is no longer synced to QuickBooks."
    )
