from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .permissions import firm_member_required


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; it touches nothing else."""
    return JsonResponse({"status": "ok"})


@firm_member_required
def settings_view(request):
    return render(request, "firms/settings.html", {"firm": request.firm})
