from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .permissions import firm_member_required
from .selectors import firm_member_list


@firm_member_required
def settings_view(request: HttpRequest) -> HttpResponse:
    """The firm, its members and its integrations (each integration's app renders its own card). Read-only
    for now; every member may look."""
    members = firm_member_list(firm=request.firm)
    return render(
        request,
        "firms/settings.html",
        {"firm": request.firm, "members": members},
    )
