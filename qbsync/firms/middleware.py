class FirmMiddleware:
    """Sets ``request.firm``: the tenant every view scopes its queries to (None when signed out)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        request.firm = user.firm if user.is_authenticated and user.firm_id else None
        return self.get_response(request)
