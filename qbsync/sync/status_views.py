"""A record's QuickBooks status on its pages, once for every record kind: the context of the record page's
QuickBooks section, and the status poll that list cells and sections in "Syncing" call until they settle
(``accounts:sync_status``, ``invoices:sync_status``). A helper of the views, on their floor."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model
from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from qbsync.firms.models import Firm
from qbsync.firms.permissions import firm_member_required

from .display import Badge, sync_link_of
from .engine.connection import has_company
from .selectors import LATEST_HISTORY, HistoryFilter, connection_for_firm, sync_history


def quickbooks_section_context(
    record: Model,
    *,
    kind: str,
    badge: Badge,
    connected: bool,
    history: HistoryFilter = LATEST_HISTORY,
) -> dict:
    """What a record page's QuickBooks section shows; ``kind`` ("account", "invoice", "payment") names the
    record in the template and in the history's filter."""
    return {
        kind: record,
        "badge": badge,
        "link": sync_link_of(record),
        "connected": connected,
        "sync_events": sync_history(firm=record.firm_id, history=history, **{kind: record})
        if connected
        else [],
        **history.context(),
    }


@dataclass(frozen=True)
class StatusPages:
    """What one record kind gives its list cells, its page's QuickBooks section and their poll."""

    kind: str  # "account" or "invoice": the record's name in the templates and in the history's filter
    badge: Callable[..., Badge]  # (record, *, connected) -> its badge
    records: Callable[..., list]  # (*, firm, ids) -> the firm's records among ids, with their sync_link
    cell_template: str
    section_template: str
    max_ids: int  # the most ids one poll answers

    def section_context(
        self, record: Model, *, connected: bool, history: HistoryFilter = LATEST_HISTORY
    ) -> dict:
        return quickbooks_section_context(
            record,
            kind=self.kind,
            badge=self.badge(record, connected=connected),
            connected=connected,
            history=history,
        )

    def poll_view(self) -> Callable[[HttpRequest], JsonResponse]:
        """This kind's status-poll endpoint: GET only, for the members of the signed-in firm."""

        @require_GET
        @firm_member_required
        def view(request: HttpRequest) -> JsonResponse:
            return self.poll(request)

        return view

    def poll(self, request: HttpRequest) -> JsonResponse:
        """The current QuickBooks status of the firm's records among ``?ids=``, for cells that are syncing.

        ``{"<id>": {"status": "Synced", "html": "<the status cell>"}}``; ids of other firms are simply absent.
        With ``&section=<id>`` that record's entry also carries its page's QuickBooks section.
        """
        section_id = request.GET.get("section", "")
        connected = has_company(connection_for_firm(firm=request.firm))
        statuses = {}
        for record in self._records_polled(request.firm, request.GET.get("ids", "")):
            badge = self.badge(record, connected=connected)
            entry = {
                "status": badge.label,
                "html": render_to_string(self.cell_template, {self.kind: record, "badge": badge}),
            }
            if str(record.pk) == section_id:
                entry["section"] = render_to_string(
                    self.section_template,
                    # The page's history filter, passed along by the poll, so the refreshed section keeps it.
                    self.section_context(
                        record, connected=connected, history=HistoryFilter.from_query(request.GET)
                    ),
                    request=request,
                )
            statuses[str(record.pk)] = entry
        response = JsonResponse(statuses)
        response["Cache-Control"] = "no-store"
        return response

    def _records_polled(self, firm: Firm, raw_ids: str) -> list:
        ids = [int(part) for part in raw_ids.split(",") if part.strip().isdigit()][: self.max_ids]
        return self.records(firm=firm, ids=ids)
