from django.db.models import Case, QuerySet, When

from .models import Firm, User


def firm_member_list(*, firm: Firm) -> QuerySet[User]:
    """Active members, owner first, then admins, then staff (sorted as text "admin" would come first)."""
    rank = Case(*(When(role=role, then=i) for i, role in enumerate(User.Role.values)), default=len(User.Role))
    return (
        User.objects.filter(firm=firm, is_active=True)
        .annotate(role_rank=rank)
        .order_by("role_rank", "last_name", "first_name", "username")
    )
