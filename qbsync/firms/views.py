from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from qbsync.sync.selectors import connection_for_firm

from .permissions import firm_member_required
from .selectors import firm_member_list


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; it touches nothing else."""
    return JsonResponse({"status": "ok"})


@firm_member_required
def settings_view(request: HttpRequest) -> HttpResponse:
    """The firm, its members and its integrations. Read-only for now; every member may look."""
    members = firm_member_list(firm=request.firm)
    return render(
        request,
        "firms/settings.html",
        {
            "firm": request.firm,
            "members": members,
            "quickbooks_connection": connection_for_firm(firm=request.firm),
        },
    )
