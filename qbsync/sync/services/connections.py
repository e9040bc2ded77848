"""The firm's QuickBooks connection: connect, reconnect, disconnect, defaults and pick lists (the QBO
client and token refresh are in `qbsync/sync/engine/client.py`).

Tokens change only here and in the engine's client, under a row lock on the connection, and a rotated
refresh token is committed in the same transaction that received it, before anything uses the new access
token.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from invoices.models import Service
from qbsync.firms.models import Firm, User
from qbsync.quickbooks import oauth
from qbsync.quickbooks.errors import QboError, QboReconnectRequiredError
from qbsync.quickbooks.records import CompanyProfile, NamedRef

from ..engine.client import (
    client_for_token,
    connection_client,
    oauth_config,
    set_status,
    store_grant,
)
from ..engine.company import preferences_keep
from ..engine.connection import linked_connections
from ..models import BulkSyncPlan, QuickBooksConnection, ServiceItemMapping
from ..work.bulk import bulk_sync_preview_start, first_sync_has_run
from ..work.reconnect import sync_resume_after_reconnect
from ..work.reset import clear_all_links

logger = logging.getLogger(__name__)

RECONNECT_OTHER_COMPANY = (
    'This firm is linked to the QuickBooks company "{linked}" (company id {linked_realm}), but you signed in '
    'to "{new}" (company id {new_realm}). Reconnect to "{linked}" to keep every account link, or choose '
    '"Start over with another company" to clear the links and connect the new company.'
)
REALM_TAKEN = (
    "This QuickBooks company is already connected to another firm in qbsync. Disconnect it there first."
)


class ConnectionRealmMismatch(Exception):
    """A reconnect signed in to a different company than the one the firm's links belong to."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PickLists:
    customer_types: list[NamedRef]
    items: list[NamedRef]


def connection_authorization_url(*, state: str) -> str:
    return oauth.authorization_url(oauth_config(), state=state)


def _revoke_quietly(token: str) -> bool:
    try:
        oauth.revoke_token(oauth_config(), token=token)
        return True
    except QboError as exc:
        logger.warning("QuickBooks token revocation failed: %s", exc.__class__.__name__)
        return False


def connection_connect(
    *, firm: Firm, user: User, code: str, realm_id: str, start_over: bool = False
) -> QuickBooksConnection:
    """Finish the authorize flow: trade the code for tokens and link (or re-link) the firm's company.

    Reconnecting to the same company keeps every link. A different company is refused with
    ConnectionRealmMismatch (and the new grant revoked) unless ``start_over``, which clears the links.
    """
    grant = oauth.exchange_code(oauth_config(), code=code, realm_id=realm_id)
    existing = QuickBooksConnection.objects.filter(firm=firm).first()
    # Links belong to the company they were made in, even while disconnected.
    if existing is not None and existing.realm_id != realm_id and not start_over:
        new_name = _company_name_or_blank(realm_id=realm_id, access_token=grant.access_token, firm_id=firm.pk)
        _revoke_quietly(grant.refresh_token)
        raise ConnectionRealmMismatch(
            RECONNECT_OTHER_COMPANY.format(
                linked=existing.company_name or existing.realm_id,
                linked_realm=existing.realm_id,
                new=new_name or realm_id,
                new_realm=realm_id,
            )
        )
    taken_elsewhere = linked_connections().exclude(firm=firm).filter(realm_id=realm_id)
    if taken_elsewhere.exists():
        _revoke_quietly(grant.refresh_token)
        raise ConnectionRealmMismatch(REALM_TAKEN)

    try:
        with transaction.atomic():
            connection, created = QuickBooksConnection.objects.select_for_update().get_or_create(
                firm=firm, defaults={"realm_id": realm_id}
            )
            company_changed = not created and connection.realm_id != realm_id
            if company_changed:
                # Ids of customer types, items and tax codes belong to the old company (each tax code
                # mapping names its company, so the old ones are not used in the new one).
                connection_clear_links(connection=connection)
                connection.default_customer_type_id = connection.default_customer_type_name = ""
                connection.default_item_id = connection.default_item_name = ""
                ServiceItemMapping.objects.filter(firm=firm).delete()
                connection.tax_codes, connection.tax_codes_read_at = [], None
                connection.untaxed_tax_code_id = connection.untaxed_tax_code_name = ""
            connection.realm_id = realm_id
            connection.refresh_token_hard_expires_at = None
            store_grant(connection, grant)
            set_status(connection, QuickBooksConnection.Status.CONNECTED)
            connection.connected_by = user
            connection.connected_at = timezone.now()
            connection.save()
    except IntegrityError:
        # Nothing was saved, so the grant just made is nobody's. The usual cause: another firm connected
        # this company between the check above and this save (connection_realm_unique_while_active).
        _revoke_quietly(grant.refresh_token)
        if taken_elsewhere.exists():
            raise ConnectionRealmMismatch(REALM_TAKEN) from None
        raise
    connection_refresh_company(connection=connection)
    if created or company_changed:
        connection_apply_first_defaults(connection=connection)
    else:
        sync_resume_after_reconnect(firm_id=firm.pk)
    return connection


def connection_apply_first_defaults(*, connection: QuickBooksConnection) -> None:
    """New customers get the "Individual" type when the company has one, and none otherwise; invoice
    lines get the company's "Services" item when it has one."""
    try:
        pick_lists = connection_pick_lists(connection=connection, fresh=True)
    except QboError as exc:
        logger.warning("Could not read QuickBooks pick lists after connecting: %s", exc)
        return
    customer_type = connection_default_customer_type(pick_lists=pick_lists)
    item = next((i for i in pick_lists.items if i.name.casefold() == "services"), None)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        default_customer_type_id=customer_type.id if customer_type else "",
        default_customer_type_name=customer_type.name if customer_type else "",
        default_item_id=item.id if item else "",
        default_item_name=item.name if item else "",
    )
    connection.refresh_from_db()


def _company_name_or_blank(*, realm_id: str, access_token: str, firm_id: int) -> str:
    class _Fixed:
        def access_token(self) -> str:
            return access_token

        def refresh_after_rejection(self, rejected_token: str) -> str:
            raise QboReconnectRequiredError("The new authorization was not accepted")

    try:
        return (
            client_for_token(realm_id=realm_id, token_source=_Fixed(), firm_id=firm_id)
            .company_info()
            .get("CompanyName", "")
        )
    except QboError:
        return ""


def connection_clear_links(*, connection: QuickBooksConnection) -> None:
    """Forget every record's link to the old company. Nothing is deleted in QuickBooks."""
    clear_all_links(firm_id=connection.firm_id)


def connection_refresh_company(*, connection: QuickBooksConnection) -> CompanyProfile | None:
    """Read the company's name (and preferences) after connecting; a failure here is not fatal."""
    try:
        profile = connection_check(connection_id=connection.pk)
    except QboError as exc:
        logger.warning("Could not read QuickBooks company info after connecting: %s", exc)
        return None
    connection.company_name = profile.name[:255]
    return profile


def connection_check(*, connection_id: int) -> CompanyProfile:
    """Prove the connection works end to end (token, refresh if due, API) and keep the company name fresh."""
    connection = QuickBooksConnection.objects.get(pk=connection_id)
    profile = connection_client(connection).company_profile()
    QuickBooksConnection.objects.filter(pk=connection_id).update(company_name=profile.name[:255])
    if profile.preferences is not None:
        preferences_keep(connection_id, profile.preferences)
    return profile


def connection_disconnect(*, connection: QuickBooksConnection) -> bool:
    """Revoke the tokens at Intuit and forget them; links stay for a later reconnect.

    Returns whether Intuit confirmed the revocation (the local tokens are erased either way).
    """
    with transaction.atomic():
        locked = QuickBooksConnection.objects.select_for_update().get(pk=connection.pk)
        refresh_token = locked.refresh_token
        locked.access_token = locked.refresh_token = ""
        locked.access_token_expires_at = locked.refresh_token_expires_at = None
        locked.token_version += 1
        set_status(locked, QuickBooksConnection.Status.DISCONNECTED, "Disconnected by the firm.")
        locked.save()
    return _revoke_quietly(refresh_token) if refresh_token else True


def _kept_pick_lists(connection: QuickBooksConnection) -> PickLists | None:
    kept, read_at = connection.pick_lists, connection.pick_lists_read_at
    max_age = timedelta(seconds=float(settings.QBSYNC_PICK_LISTS_MAX_AGE_SECONDS))
    if not kept or read_at is None or timezone.now() - read_at > max_age:
        return None
    return PickLists(
        customer_types=[NamedRef(**ref) for ref in kept.get("customer_types", [])],
        items=[NamedRef(**ref) for ref in kept.get("items", [])],
    )


def connection_pick_lists(*, connection: QuickBooksConnection, fresh: bool = False) -> PickLists:
    """The company's customer types and items: as kept on the connection (each read costs metered reads,
    and the settings page shows them on every visit), read again when ``fresh``, none are kept, or they are
    older than QBSYNC_PICK_LISTS_MAX_AGE_SECONDS."""
    kept = None if fresh else _kept_pick_lists(connection)
    if kept is not None:
        return kept
    client = connection_client(connection)
    lists = PickLists(customer_types=client.customer_types(), items=client.active_items())
    now = timezone.now()
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        pick_lists={
            "customer_types": [asdict(ref) for ref in lists.customer_types],
            "items": [asdict(ref) for ref in lists.items],
        },
        pick_lists_read_at=now,
    )
    connection.pick_lists_read_at = now
    return lists


def connection_update_defaults(
    *,
    connection: QuickBooksConnection,
    auto_sync_scope: str,
    customer_type_id: str,
    item_id: str,
    sync_start_date: date | None,
    pick_lists: PickLists,
    first_sync_without_preview: bool = False,
    actor: User | None = None,
) -> QuickBooksConnection:
    """Save the integration defaults; ids must come from the connected company's own pick lists. Choosing
    to start the first sync without a preview starts it now when it has not run (its plan is made by a
    worker, then started as planned)."""
    errors: dict[str, str] = {}
    if auto_sync_scope not in QuickBooksConnection.AutoSyncScope.values:
        errors["auto_sync_scope"] = "Choose which accounts sync automatically."
    types = {t.id: t.name for t in pick_lists.customer_types}
    items = {i.id: i.name for i in pick_lists.items}
    if customer_type_id and customer_type_id not in types:
        errors["default_customer_type"] = "That customer type is not in the connected company (any more)."
    if item_id and item_id not in items:
        errors["default_item"] = "That item is not an active item of the connected company."
    if errors:
        raise ValidationError(errors)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        auto_sync_scope=auto_sync_scope,
        default_customer_type_id=customer_type_id,
        default_customer_type_name=types.get(customer_type_id, ""),
        default_item_id=item_id,
        default_item_name=items.get(item_id, ""),
        sync_start_date=sync_start_date,
        first_sync_without_preview=first_sync_without_preview,
        updated_at=timezone.now(),
    )
    connection.refresh_from_db()
    if first_sync_without_preview and not first_sync_has_run(connection.firm_id):
        previewing = BulkSyncPlan.objects.filter(
            firm_id=connection.firm_id, state=BulkSyncPlan.State.PREVIEWING
        ).exists()
        if not previewing:
            bulk_sync_preview_start(firm=connection.firm, actor=actor)
    return connection


def connection_default_customer_type(
    *, pick_lists: PickLists, preferred: str = "Individual"
) -> NamedRef | None:
    """The type new customers get by default: "Individual" when the company has it, else none."""
    return next((t for t in pick_lists.customer_types if t.name.casefold() == preferred.casefold()), None)


def service_items_update(
    *, connection: QuickBooksConnection, mapping: dict[int, str], pick_lists: PickLists
) -> int:
    """Map the firm's services to QBO items (an empty id means the default item). Returns how many now are."""
    items = {i.id: i.name for i in pick_lists.items}
    services = {s.pk: s for s in Service.objects.for_firm(connection.firm)}
    unknown = [item_id for item_id in mapping.values() if item_id and item_id not in items]
    if unknown or set(mapping) - set(services):
        raise ValidationError("Choose items of the connected company for the firm's own services.")
    with transaction.atomic():
        for service_id, item_id in mapping.items():
            if item_id:
                ServiceItemMapping.objects.update_or_create(
                    service=services[service_id],
                    defaults={
                        "firm": connection.firm,
                        "qbo_item_id": item_id,
                        "qbo_item_name": items[item_id],
                    },
                )
            else:
                ServiceItemMapping.objects.filter(service_id=service_id).delete()
    return ServiceItemMapping.objects.filter(firm=connection.firm).count()
