from qbsync.firms.permissions import can_manage_quickbooks

from .selectors import connection_needs_attention, reads_pause_notice


def quickbooks_banner(request):
    """Owners and admins see a banner on every page while the connection needs attention."""
    user = getattr(request, "user", None)
    if user is None or not can_manage_quickbooks(user):
        return {}
    return {
        "quickbooks_attention": connection_needs_attention(firm=request.firm),
        "quickbooks_reads_paused": reads_pause_notice(),
    }
