from django.db.models import Case, When
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .models import User
from .permissions import firm_member_required


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; it touches nothing else."""
    return JsonResponse({"status": "ok"})


@firm_member_required
def settings_view(request: HttpRequest) -> HttpResponse:
    """The firm, its members and its integrations. Read-only for now; every member may look."""
    # Owner first, then admins, then staff; "role" sorted as text would put admins first.
    rank = Case(*(When(role=role, then=i) for i, role in enumerate(User.Role.values)), default=len(User.Role))
    members = (
        User.objects.filter(firm=request.firm, is_active=True)
        .annotate(role_rank=rank)
        .order_by("role_rank", "last_name", "first_name", "username")
    )
    return render(request, "firms/settings.html", {"firm": request.firm, "members": members})
