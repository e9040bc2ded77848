"""``{% quickbooks_integration_card firm %}``: the QuickBooks Online card of the firm's settings page. The
sync app renders it, so the firms app (a lower floor) does not read the firm's connection itself."""

from django import template

from qbsync.firms.models import Firm
from qbsync.sync.selectors import connection_for_firm

register = template.Library()


@register.inclusion_tag("sync/_integration_card.html")
def quickbooks_integration_card(firm: Firm | None) -> dict:
    return {"quickbooks_connection": connection_for_firm(firm=firm)}
