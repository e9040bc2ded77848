"""One pipeline for the records we push to QuickBooks (invoices and payments; credit memos and refunds
next). A record kind describes itself once, in a `TransactionKind`; this module does the rest the same way
for every kind: ask to sync on a change, push (create once, or a sparse update with the current
SyncToken), settle the link, delete it in QBO through the outbox, and a person's skip and sync-again.

The link row is the durable intent: it is written in the same transaction as the record's change, a task
is enqueued after commit, and the sweep re-enqueues whatever is left. Before creating again after an
unknown outcome, the record is looked up in QBO by the marker we put in its PrivateNote, so nothing is
created twice whether or not QBO honours requestid. Every move of a link is a compare-and-set transition
with its event in the history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from qbsync.quickbooks.errors import (
    QboDuplicateDocNumberError,
    QboError,
    QboNotFoundError,
    QboReconnectRequiredError,
    QboStaleObjectError,
    QboTransientError,
)
from qbsync.quickbooks.requestids import request_id_for

from ..engine import explanations
from ..engine.causes import FailureCause
from ..engine.client import FirmClients
from ..engine.company import currency_refusal, preferences_forget, preferences_of
from ..engine.connection import usable_connection
from ..engine.enqueue import ACCOUNT_RECORDS_MOVE, enqueue, enqueue_outbox, wake_batch_pusher
from ..engine.errors import SyncFailure, SyncRequestError
from ..engine.history import record_event, record_events, record_events_each
from ..engine.leases import SYNCING_LEASE
from ..engine.retry import defer, fail
from ..engine.transitions import error_fields_cleared, transition, transition_all, transition_each
from ..models import AccountSyncLink, QuickBooksConnection, SyncEvent, SyncOutbox, TransactionSyncLink
from ..states import SyncAction, SyncState, target_of

T = TypeVar("T")

# Why a record waits or does not sync (shown as its status's reason).
WAITING_FOR_ACCOUNT = "waiting for the account to sync"
# Its copy in QBO is under a customer the account is no longer linked to: it is moved, not made again.
MOVING_TO_NEW_CUSTOMER = "moving to the account's new QuickBooks customer"
MOVING_EVENT = (
    "Its account is now linked to another QuickBooks customer: the invoice or payment QuickBooks has is "
    "being moved there (not created again)."
)
# The history event written (and committed) just before a create is sent: after it, QBO may have the record.
CREATE_SENT = "create_sent"
# Beyond the read timeout, for a create sent just before its worker died to land in QBO.
CREATE_LANDING_MARGIN = timedelta(seconds=30)
WAITING_FOR_DELETES = "waiting for deleted payments to be deleted in QuickBooks first"
BEFORE_START_DATE = "dated before the firm's sync start date ({start})"
ACCOUNT_UNSYNCED = TransactionSyncLink.ACCOUNT_NOT_SYNCED
SYNC_THE_ACCOUNT_FIRST = (
    "This {noun} goes to QuickBooks once its account does. Sync the account first (Sync Account to "
    "QuickBooks, on the account's page); its {noun}s follow by themselves."
)
ACCOUNT_NOT_SYNCED_EVENT = "Not synced: its account is not synced. It goes once the account is synced."
# The history line of a record that asked to sync and was skipped, or must wait, and why.
SKIPPED_EVENT = "Skipped: {reason}."
WAITING_EVENT = "Syncing: {reason}."
SKIPPED_BY = "skipped by {who}"
# The history event saying QBO gets some of the record in a shorter or other form than here (once a version).
SENT_DIFFERENTLY = "sent_shortened"
VOIDED_BEFORE_SYNC = (
    "Voided before it reached QuickBooks Online, so it is not synced (nothing to void there)."
)
# How a push got QBO's copy of the record, for its history: it created it, found it there by its marker
# (an earlier attempt created it and its answer was lost, or the account was synced again), or updated it.
CREATED, FOUND, UPDATED = "created", "found", "updated"


def _always(record) -> bool:
    return True


def _never(record) -> bool:
    return False


def _no_fields(qbo_record) -> dict:
    return {}


def _no_explanation(exc: QboError, record) -> SyncFailure | None:
    return None


def _as_written(record, qbo_record, version: int) -> SyncFailure | None:
    return None


def _sent_as_is(draft) -> str:
    return ""


def _read_nothing(records: list) -> None:
    return None


@dataclass(frozen=True)
class TransactionKind:
    """What the pipeline needs to know of one kind of record pushed to QBO."""

    record_model: type[models.Model]
    link_model: type[TransactionSyncLink]
    outbox_entity: str  # QBO's entity name ("Invoice"), on its outbox rows
    request_prefix: str  # starts the requestids of its writes ("inv")
    batch_id_prefix: str  # starts its items' bIds in a batch request ("i"; a bId has 10 characters at most)
    enqueue_push: Callable[..., None]
    # The marker in its PrivateNote, and how to find the customer's records carrying one.
    marker: Callable[[Any], str]
    find_by_marker: Callable[..., list]
    dated: Callable[[Any], date]  # compared with the firm's sync start date
    # Why each of some records of one account cannot go yet (its account or what it refers to is not in
    # QBO), by record id; "" for one that can. Set-based: a fixed number of queries for any number of
    # records, since an invoice syncing asks it of every record waiting in its account.
    blockers: Callable[[list], dict[int, str]]
    # (record, customer id, connection, custom numbers) -> the QBO body.
    draft: Callable[[Any, str, QuickBooksConnection, bool], Any]
    create: Callable[..., Any]  # (client, draft, *, request_id)
    update: Callable[..., Any]  # (client, qbo id, sync token, draft, *, request_id): sparse
    read: Callable[..., Any]  # (client, qbo id): the current record and its SyncToken
    # Carries out an outbox row (deleting it, or voiding what QBO will not delete); says what it did.
    delete_in_qbo: Callable[..., str]
    outbox_label: Callable[[Any], str]  # the record in the history once it is gone here
    lost_message: str  # for a link whose QBO record is gone
    # A 610 on its create: something it refers to is inactive in QBO. (cause, explanation with {message})
    reference_inactive: tuple[str, str]
    # The create_sent event: its message and what it adds to the sent requestid.
    create_sent: Callable[[Any, Any], tuple[str, dict]]
    # The succeeded event's kind, message and received, from (the record as it is now, QBO's record, how:
    # CREATED, FOUND or UPDATED).
    synced_event: Callable[[Any, Any, str], dict]
    synced_fields: Callable[[Any], dict] = _no_fields  # more link fields from QBO's record
    syncs: Callable[[Any], bool] = _always  # whether the record syncs at all in its status
    not_syncable: str = ""  # what sync-again says of a record that does not
    voided: Callable[[Any], bool] = _never  # voided here: only what QBO has is voided there
    void: Callable[..., Any] | None = None  # (client, qbo id, sync token, *, request_id)
    # Whether it waits for the account's payment deletes to reach QBO first (QBO refuses otherwise).
    waits_for_deletes: Callable[[Any], bool] = _never
    # A refusal it explains better than "QBO refused the record" (an invoice number QBO already has: 6140).
    explain_refusal: Callable[[QboError, Any], SyncFailure | None] = _no_explanation
    # (the record as it is now, QBO's record, version pushed) -> the failure to report when QBO booked it
    # otherwise than billed (an invoice's total), or None. The record stays linked to its copy, Failed
    # until fixed.
    written_differs: Callable[[Any, Any, int], SyncFailure | None] = _as_written
    # What of its draft QBO gets in another form than ours (a description trimmed to QBO's limit), in
    # words for its history; "" when it is sent as it is here.
    sent_differently: Callable[[Any], str] = _sent_as_is
    # Reads what the drafts of many records use in a fixed number of queries (a batch's), so that drafting
    # each reads nothing more.
    read_for_drafts: Callable[[list], None] = _read_nothing
    numbered: bool = False  # its draft carries our number when the company numbers its own
    # The kinds whose sync may release its records' waits, each with the path from one of its records to
    # the ids of the records of that kind it waits for (a payment: the invoices it pays).
    waits_on: dict[str, str] = field(default_factory=dict, compare=False)
    # A first-sync record that must wait keeps its place in the batch (it waits for records of the batch)
    # rather than leaving it (its account's link brings it back).
    waits_in_batch: bool = False

    def blocker(self, record) -> str:
        """Why ``record`` cannot go yet; "" when it can."""
        return self.blockers([record])[record.pk]

    @property
    def name(self) -> str:
        """The record in words ("invoice"), also the link's field for it."""
        return self.link_model.RECORD_FIELD

    @property
    def qbo_id_field(self) -> str:
        return self.link_model.QBO_ID_FIELD

    def record_of(self, link: TransactionSyncLink):
        return getattr(link, self.name)

    def record_id_of(self, link: TransactionSyncLink) -> int:
        return getattr(link, f"{self.name}_id")


_KINDS: dict[str, TransactionKind] = {}


def register(kind: TransactionKind) -> TransactionKind:
    """Make ``kind`` known to the pipeline (by its links and its outbox rows), at import of its module;
    `kinds/__init__.py` imports every kind, so the set is whole wherever the pipeline runs."""
    _KINDS[kind.name] = kind
    return kind


def kind_of(link: TransactionSyncLink) -> TransactionKind:
    return _KINDS[type(link).RECORD_FIELD]


def kind_of_model(link_model: type[TransactionSyncLink]) -> TransactionKind:
    return _KINDS[link_model.RECORD_FIELD]


def kind_named(name: str) -> TransactionKind:
    return _KINDS[name]


def kind_of_entity(entity: str) -> TransactionKind:
    return next(kind for kind in _KINDS.values() if kind.outbox_entity == entity)


def _waiting_on(kind: TransactionKind) -> list[TransactionKind]:
    return [other for other in _KINDS.values() if kind.name in other.waits_on]


# What a record waits for -------------------------------------------------------------------------------


def hold_account(account_id: int) -> tuple[int, str] | None:
    """Lock the account's link row for the rest of the transaction; returns its id and customer when the
    account is Synced.

    Every decision about what an account's records wait for takes this lock first: a record deciding it
    must wait (its account or invoice not synced yet), and the account or an invoice syncing and releasing
    what waits on it. So a record either sees what committed before it, or commits its wait before the
    release looks; it never waits for something that has already happened (until the sweep noticed).
    """
    return hold_accounts([account_id]).get(account_id)


def hold_accounts(account_ids: list[int]) -> dict[int, tuple[int, str]]:
    """`hold_account` for several accounts at once, in id order (as every holder of more than one takes
    them, so two never wait on each other). Returns the Synced ones' link ids and customers, by account."""
    return {
        account_id: (link_id, customer_id)
        for account_id, link_id, state, customer_id in AccountSyncLink.objects.select_for_update()
        .filter(account_id__in=account_ids)
        .order_by("account_id")
        .values_list("account_id", "pk", "state", "qbo_customer_id")
        if state == SyncState.SYNCED
    }


def account_blockers(records: list) -> dict[int, str]:
    """For records of one account: WAITING_FOR_ACCOUNT while the account is not Synced,
    MOVING_TO_NEW_CUSTOMER for one whose copy in QBO is under another customer than the account's, else "".
    Two queries whatever the number of records."""
    if not records:
        return {}
    (account_id,) = {record.account_id for record in records}
    customer_id = (
        AccountSyncLink.objects.filter(account_id=account_id, state=SyncState.SYNCED)
        .values_list("qbo_customer_id", flat=True)
        .first()
    )
    if customer_id is None:
        return dict.fromkeys((record.pk for record in records), WAITING_FOR_ACCOUNT)
    link_model = type(records[0]).sync_link.related.related_model
    elsewhere = set(
        link_model.objects.filter(**{f"{link_model.RECORD_FIELD}__in": records})
        .exclude(qbo_customer_id="")
        .exclude(qbo_customer_id=customer_id)
        .values_list(f"{link_model.RECORD_FIELD}_id", flat=True)
    )
    return {record.pk: MOVING_TO_NEW_CUSTOMER if record.pk in elsewhere else "" for record in records}


def account_stopped(account_id: int) -> bool:
    """Whether the account will not sync unless a person asks: skipped, not synced (lost in QBO, or the
    firm's rule did not ask), or never asked. Its records then do not wait for it; they are not synced, for
    that reason, until it syncs (which asks for them again). Queued, syncing and failed accounts are on
    their way or need a fix that releases what waits."""
    state = AccountSyncLink.objects.filter(account_id=account_id).values_list("state", flat=True).first()
    return state in (None, SyncState.SKIPPED, SyncState.NOT_SYNCED)


def settle_blocked(link: TransactionSyncLink, record, blocker: str, **defer_fields) -> str:
    """A record taken to push that cannot go now: "not-synced" when its account was unsynced or lost in
    QBO since it was queued (it would wait for ever), else "waiting" for ``blocker``."""
    if blocker == WAITING_FOR_ACCOUNT and account_stopped(record.account_id):
        _stop_with_account(link)
        return "not-synced"
    transition(link, SyncAction.DEFER, waiting_reason=blocker, **defer_fields)
    if blocker == MOVING_TO_NEW_CUSTOMER:
        # Asked again while its copy is still under the old customer: the move (idempotent) brings it.
        account_link = AccountSyncLink.objects.filter(account_id=record.account_id).values_list(
            "pk", flat=True
        )
        enqueue(ACCOUNT_RECORDS_MOVE, account_link.get())
    return "waiting"


def start_moving(links) -> int:
    """These links' copies in QBO are under a customer their account has left: each stops showing Synced
    and waits while `work/relink.py` moves its copy (the caller sends that job), after which the whole
    record is sent again. Returns how many moved."""
    moving = 0
    for link in links:
        if transition(
            link,
            SyncAction.REQUEST,
            waiting_reason=MOVING_TO_NEW_CUSTOMER,
            pushed_version=0,  # the update after the move sends the whole record again
            in_batch=False,
            next_attempt_at=None,
            request_epoch=link.request_epoch + 1,
        ):
            record_event(link=link, kind="moving", trigger="auto", message=MOVING_EVENT)
            moving += 1
    return moving


def _stop_with_account(link: TransactionSyncLink) -> bool:
    """Not synced because its account is not: said at once rather than waiting for ever."""
    if not transition(
        link, SyncAction.SKIP, skip_reason=ACCOUNT_UNSYNCED, waiting_reason="", next_attempt_at=None
    ):
        return False
    record_event(link=link, kind="skipped", trigger="auto", message=ACCOUNT_NOT_SYNCED_EVENT)
    return True


def payment_deletes_pending(account_id: int) -> bool:
    return SyncOutbox.objects.filter(
        account_id=account_id, entity="Payment", state=SyncOutbox.State.PENDING
    ).exists()


def release_waiting(kind: TransactionKind, *, account_id: int) -> int:
    """What these records waited for (an invoice, the account) may have synced: try the waiting ones.

    Each waiting link is locked before its blocker is worked out, so two records syncing at once cannot
    both read the other as not yet synced and leave the waiting one waiting for nothing.
    """
    with transaction.atomic():
        hold_account(account_id)
        waiting = list(
            kind.link_model.objects.select_for_update(of=("self",))
            .filter(**{f"{kind.name}__account_id": account_id}, state=SyncState.QUEUED)
            .exclude(waiting_reason="")
            .select_related(kind.name)
            .order_by("pk")
        )
        released = to_batch = 0
        blockers = kind.blockers([kind.record_of(link) for link in waiting])
        for link in waiting:
            blocker = blockers[kind.record_id_of(link)]
            if blocker != link.waiting_reason:
                kind.link_model.objects.filter(pk=link.pk).update(
                    waiting_reason=blocker, updated_at=timezone.now()
                )
            if blocker:
                continue
            released += 1
            if link.in_batch and not link.qbo_id:
                to_batch += 1
            else:
                kind.enqueue_push(link.pk)
        if to_batch:
            wake_batch_pusher(waiting[0].firm_id)
    return released


def release_waiting_on(kind: TransactionKind, *, account_ids, record_ids=None) -> None:
    """Records of ``kind`` of these accounts synced (``record_ids``: which, when known): what waits on that
    kind there may go now. Given the records, only accounts where something waits for one of them are
    looked at: a wait on other records has not changed (nor has what it says)."""
    for waiting in _waiting_on(kind):
        accounts = sorted(account_ids)
        if record_ids is not None:
            referring = waiting.record_model.objects.filter(
                **{f"{waiting.waits_on[kind.name]}__in": record_ids}
            ).values("pk")
            accounts = sorted(
                set(
                    waiting.link_model.objects.filter(
                        **{f"{waiting.name}_id__in": referring, f"{waiting.name}__account_id__in": accounts},
                        state=SyncState.QUEUED,
                    )
                    .exclude(waiting_reason="")
                    .values_list(f"{waiting.name}__account_id", flat=True)
                )
            )
        for account_id in accounts:
            release_waiting(waiting, account_id=account_id)


# Asking to sync ----------------------------------------------------------------------------------------


def sync_on_change(kind: TransactionKind, record, *, via_batch: bool = False) -> TransactionSyncLink | None:
    """The record was created or changed. Called inside the change's transaction. ``via_batch``: it is
    part of its account's first sync, so a batch pusher creates it (if QBO has never seen it)."""
    connection = usable_connection(record.firm_id)
    if connection is None or not kind.syncs(record):
        return None
    with transaction.atomic():
        hold_account(record.account_id)  # before the link: see hold_account
        return _request_sync(kind, record, connection, via_batch)


def first_sync_request(*, account_id: int, asking: list[tuple[TransactionKind, models.QuerySet]]) -> int:
    """The account's records that never asked to sync (no link yet) ask now, as part of its first sync,
    kind by kind in the order given (``(kind, records)``; a kind's waits are worked out with the kinds
    before it already asked): what `sync_on_change` with ``via_batch`` does to each, in a fixed number of
    queries for any number of records (an account's whole history asks at once when it links). Returns
    how many got a link."""
    connection = None
    asked = 0
    to_batch = False
    with transaction.atomic():
        hold_account(account_id)  # before the links: see hold_account
        for kind, records in asking:
            # Read under the account's lock: a link made meanwhile (by a change, or a person's skip) stays.
            unlinked = [
                record
                for record in records.filter(sync_link__isnull=True)
                if kind.syncs(record) and not kind.voided(record)
            ]
            if not unlinked:
                continue
            connection = connection or usable_connection(unlinked[0].firm_id)
            if connection is None:
                return 0
            try:
                with transaction.atomic():
                    links = _first_sync_links(kind, account_id, unlinked, connection)
            except IntegrityError:
                # A link was made outside the account's lock (a person's skip) just now: one at a time.
                asked += sum(_request_sync(kind, r, connection, via_batch=True) is not None for r in unlinked)
                continue
            asked += len(links)
            to_batch = to_batch or any(
                link.state == SyncState.QUEUED and not link.waiting_reason for link in links
            )
    if to_batch:
        wake_batch_pusher(connection.firm_id)
    return asked


def _first_sync_links(kind: TransactionKind, account_id: int, records: list, connection) -> list:
    now = timezone.now()
    start = connection.sync_start_date
    before_start = BEFORE_START_DATE.format(start=start.isoformat()) if start else ""
    early = {r.pk for r in records if start and kind.dated(r) < start}
    blockers = kind.blockers([r for r in records if r.pk not in early])
    stopped = WAITING_FOR_ACCOUNT in blockers.values() and account_stopped(account_id)
    links = []
    for record in records:
        blocker = blockers.get(record.pk, "")
        link = kind.link_model(**{kind.name: record}, firm_id=record.firm_id, state_changed_at=now)
        if record.pk in early:
            link.state, link.skip_reason = SyncState.SKIPPED, before_start
        elif blocker == WAITING_FOR_ACCOUNT and stopped:
            link.state, link.skip_reason = SyncState.SKIPPED, ACCOUNT_UNSYNCED
        else:
            link.state = target_of(SyncAction.REQUEST, link.state)
            link.in_batch, link.request_epoch, link.waiting_reason = True, link.request_epoch + 1, blocker
        links.append(link)
    kind.link_model.objects.bulk_create(links, batch_size=500)
    said: dict[tuple[str, str], list] = {}
    for link in links:
        if link.state == SyncState.SKIPPED:
            message = (
                ACCOUNT_NOT_SYNCED_EVENT
                if link.skip_reason == ACCOUNT_UNSYNCED
                else SKIPPED_EVENT.format(reason=link.skip_reason)
            )
            said.setdefault(("skipped", message), []).append(link)
        elif link.waiting_reason:
            said.setdefault(("waiting", WAITING_EVENT.format(reason=link.waiting_reason)), []).append(link)
    for (event_kind, message), said_of in said.items():
        record_events(links=said_of, kind=event_kind, message=message, trigger="auto")
    return links


def _request_sync(kind: TransactionKind, record, connection, via_batch: bool) -> TransactionSyncLink | None:
    if kind.voided(record):
        # A void follows only a record QBO has; one it never had is simply not synced.
        link = (
            kind.link_model.objects.filter(**{kind.name: record}).exclude(**{kind.qbo_id_field: ""}).first()
        )
        if link is None:
            return None
    else:
        link, _ = kind.link_model.objects.get_or_create(
            **{kind.name: record}, defaults={"firm_id": record.firm_id}
        )
    if link.state == SyncState.SKIPPED:
        return link
    start = connection.sync_start_date
    if start and kind.dated(record) < start:
        if transition(link, SyncAction.SKIP, skip_reason=BEFORE_START_DATE.format(start=start.isoformat())):
            record_event(
                link=link,
                kind="skipped",
                trigger="auto",
                message=SKIPPED_EVENT.format(reason=link.skip_reason),
            )
        return link
    if target_of(SyncAction.REQUEST, link.state) is None:
        # A worker holds it now; it compares versions when it finishes and picks the change up.
        return link
    blocker = kind.blocker(record)
    if blocker == WAITING_FOR_ACCOUNT and account_stopped(record.account_id):
        _stop_with_account(link)
        return link
    in_batch = via_batch and not link.qbo_id
    # An edit while it waits keeps it waiting for the same thing: its history says so once.
    waited_already = link.state == SyncState.QUEUED and link.waiting_reason == blocker
    transition(
        link,
        SyncAction.REQUEST,
        in_batch=in_batch,
        request_epoch=link.request_epoch + 1,
        attempts=0,
        next_attempt_at=None,
        waiting_reason=blocker,
        **error_fields_cleared(kind.link_model),
    )
    if blocker:
        if not waited_already:
            record_event(
                link=link, kind="waiting", trigger="auto", message=WAITING_EVENT.format(reason=blocker)
            )
    elif in_batch:
        wake_batch_pusher(record.firm_id)
    else:
        kind.enqueue_push(link.pk)
    return link


# Pushing ----------------------------------------------------------------------------------------------


class VoidedBeforeSync(Exception):
    """The record was voided here before QBO ever had it: there is nothing to void there."""


def push(kind: TransactionKind, *, link_id: int, clients: FirmClients | None = None) -> str:
    """Create, update or void the record in QBO (``clients``: the firm's client, kept by a caller pushing
    several records in a row). Returns "synced", "waiting", "deferred", "failed", "lost", "not-synced"
    (voided before QBO had it), "moving" (made under a customer its account left meanwhile) or
    "not-queued"."""
    link = kind.link_model.objects.select_related(kind.name).filter(pk=link_id).first()
    if link is None or (
        link.next_attempt_at and link.next_attempt_at > timezone.now() + timedelta(seconds=1)
    ):
        return "not-queued"
    if not transition(link, SyncAction.START):
        return "not-queued"
    record = kind.record_model.objects.select_related("account", "firm").get(pk=kind.record_id_of(link))
    with transaction.atomic():
        account = hold_account(record.account_id)
        blocker = kind.blocker(record)
        if not blocker and kind.waits_for_deletes(record) and payment_deletes_pending(record.account_id):
            blocker = WAITING_FOR_DELETES
        if blocker:
            return settle_blocked(link, record, blocker)
    _, customer_id = account  # not blocked: the account is Synced (every kind's blockers say so first)
    connection, client = (clients or FirmClients()).of(record.firm_id)
    if connection is None:
        fail(link, SyncFailure(FailureCause.CONNECTION, explanations.CONNECTION))
        return "failed"
    version = record.content_version

    def work():
        if kind.voided(record):
            return _void(kind, client, link, record, customer_id)
        preferences = preferences_of(client, connection)
        refusal = currency_refusal(preferences, record.firm.currency)
        if refusal is not None:
            raise refusal
        draft = kind.draft(record, customer_id, connection, kind.numbered and preferences.custom_txn_numbers)
        say_sent_differently(kind, link, record, draft)
        try:
            return _create_or_update(kind, client, link, record, draft)
        except QboError as exc:
            if isinstance(exc, QboDuplicateDocNumberError):
                # Numbering may have changed in QBO: the next push reads the preferences again.
                preferences_forget(connection.pk)
            failure = kind.explain_refusal(exc, record)
            if failure is None:
                raise
            raise failure from exc

    try:
        outcome, pushed = attempt_push(
            link,
            work,
            lost_message=kind.lost_message,
            forget={kind.qbo_id_field: ""},
            enqueue=kind.enqueue_push,
        )
    except VoidedBeforeSync:
        with transaction.atomic():
            if transition(link, SyncAction.LOST, waiting_reason="", pushed_version=0, qbo_sync_token=""):
                record_event(link=link, kind="not_synced", message=VOIDED_BEFORE_SYNC)
        return "not-synced"
    if outcome is not None:
        return outcome
    qbo_record, how = pushed
    return link_synced(link, qbo_record, version, client.last_intuit_tid, how=how)


def say_sent_differently(kind: TransactionKind, link: TransactionSyncLink, record, draft) -> None:
    """Tell the record's history, once for each version of it, what QBO gets in another form than ours."""
    message = kind.sent_differently(draft)
    if not message:
        return
    version = record.content_version
    said = SyncEvent.objects.filter(**{kind.name: record}, kind=SENT_DIFFERENTLY, sent__version=version)
    if not said.exists():
        record_event(link=link, kind=SENT_DIFFERENTLY, message=message, sent={"version": version})


def _create_or_update(kind: TransactionKind, client, link, record, draft):
    request_id = request_id_for(
        kind.request_prefix, link.firm_id, record.pk, link.request_epoch, record.content_version
    )
    if not link.qbo_id:
        # An earlier attempt may have created it and lost the reply: find it by our marker first. Only
        # then: a look-up is a metered read, and a record never sent cannot be in QBO.
        found = create_ever_sent(kind, record) and kind.find_by_marker(
            client, draft.customer_id, kind.marker(record)
        )
        if found:
            existing = found[0]
            if link.pushed_version == record.content_version:
                return existing, FOUND
            # Not the lost create's requestid: QBO would replay that create's answer, or refuse it (600).
            adopt_id = request_id_for(
                f"{kind.request_prefix}-adopt",
                link.firm_id,
                record.pk,
                link.request_epoch,
                record.content_version,
            )
            return _update(kind, client, existing.id, existing.sync_token, draft, adopt_id), FOUND
        message, sent = kind.create_sent(record, draft)
        record_event(link=link, kind=CREATE_SENT, message=message, sent={"request_id": request_id, **sent})
        return kind.create(client, draft, request_id=request_id), CREATED
    if link.pushed_version == record.content_version:
        return kind.read(client, link.qbo_id), UPDATED
    return _update(kind, client, link.qbo_id, link.qbo_sync_token, draft, request_id), UPDATED


def _update(kind: TransactionKind, client, qbo_id: str, sync_token: str, draft, request_id: str):
    return retry_once_if_stale(
        lambda token, rid: kind.update(client, qbo_id, token, draft, request_id=rid),
        sync_token=sync_token,
        request_id=request_id,
        current_token=lambda: kind.read(client, qbo_id).sync_token,
    )


def _void(kind: TransactionKind, client, link, record, customer_id: str):
    qbo_id, sync_token = link.qbo_id, link.qbo_sync_token
    if not qbo_id:
        # Voided while its first push was under way: an earlier attempt may have created it after all.
        found = create_ever_sent(kind, record) and kind.find_by_marker(
            client, customer_id, kind.marker(record)
        )
        if not found:
            raise VoidedBeforeSync
        qbo_id, sync_token = found[0].id, found[0].sync_token
    voided = retry_once_if_stale(
        lambda token, rid: kind.void(client, qbo_id, token, request_id=rid),
        sync_token=sync_token,
        request_id=request_id_for(f"{kind.request_prefix}-void", link.firm_id, record.pk, link.request_epoch),
        current_token=lambda: kind.read(client, qbo_id).sync_token,
    )
    return voided, UPDATED


def retry_once_if_stale(
    write: Callable[[str, str], T], *, sync_token: str, request_id: str, current_token: Callable[[], str]
) -> T:
    """Write with ``sync_token`` (the one our last write got back; read first when none is kept); on 5010
    (QBO's copy changed since) re-read the current SyncToken and write once more, under a requestid of its
    own."""
    try:
        return write(sync_token or current_token(), request_id)
    except QboStaleObjectError:
        return write(current_token(), request_id + "r")


def attempt_push(
    link: TransactionSyncLink,
    work: Callable[[], T],
    *,
    lost_message: str,
    forget: dict,
    enqueue: Callable[..., None],
) -> tuple[str | None, T | None]:
    """Run the QBO calls of one push. Success comes back as (None, result); a failure settles the link and
    comes back as its outcome: "failed" (with the reason), "lost" (gone from QBO) or "deferred"."""
    kind = kind_of(link)
    try:
        return None, work()
    except SyncFailure as failure:
        fail(link, failure)
    except QboNotFoundError as exc:
        if all(getattr(link, field) for field in forget):
            link_lost(link, tid=exc.intuit_tid, message=lost_message, forget=forget)
            return "lost", None
        # Nothing of ours exists in QBO yet: 610 on a create means something it refers to is inactive.
        cause, explanation = kind.reference_inactive
        failure = SyncFailure(cause, explanation.format(message=exc.message.rstrip(".")))
        failure.code, failure.message, failure.tid = exc.code, exc.message, exc.intuit_tid
        fail(link, failure)
    except QboReconnectRequiredError as exc:
        fail(
            link,
            SyncFailure(FailureCause.CONNECTION, explanations.CONNECTION, code=exc.code, message=exc.message),
        )
    except QboTransientError as exc:
        return defer(link, exc, enqueue=enqueue), None
    except QboError as exc:
        fail(link, refused(kind, exc))
    return "failed", None


def refused(kind: TransactionKind, exc: QboError) -> SyncFailure:
    """QBO refused the record, in words that say what to correct."""
    return SyncFailure(
        FailureCause.REFUSED,
        explanations.refused(message=exc.message, detail=exc.detail, record=kind.name),
        code=exc.code,
        message=exc.message,
        tid=exc.intuit_tid,
    )


def link_lost(link: TransactionSyncLink, *, tid: str, message: str, forget: dict) -> None:
    """QBO says the linked record is gone (610): Not synced, with the reason; never recreated by itself."""
    with transaction.atomic():
        if transition(link, SyncAction.LOST, qbo_sync_token="", pushed_version=0, **forget):
            record_event(
                link=link,
                kind="deleted_in_qbo",
                outcome=SyncEvent.Outcome.FAILURE,
                intuit_tid=tid,
                message=message,
            )


def link_synced(link: TransactionSyncLink, qbo_record, version: int, tid: str, *, how: str = "") -> str:
    """QBO has ``version`` of the record (pushed alone): see `links_synced`. Returns "synced", "failed",
    "moving", or "not-queued" when the link had moved meanwhile."""
    return links_synced(kind_of(link), [(link, qbo_record, version)], tid, how=how)[0]


def links_synced(
    kind: TransactionKind, synced: list[tuple], tid: str, *, how: str = "", release: bool = True
) -> list[str]:
    """QBO has these records of ``kind`` (``(link, QBO's record, version pushed)``: one pushed alone, or
    a batch's), in a fixed number of queries for any number: each Synced with its history line, and what
    waited for them goes. ``how`` the push got them (CREATED, FOUND or UPDATED; by default created when a
    link had no QBO Id). ``release`` False: what waited is left waiting (for measuring the settling
    alone). Returns each one's outcome, in order: "synced", "failed" (QBO booked it otherwise
    than billed), "moving" (made under a customer its account has left since: see `_left_customer`), or
    "not-queued" (its link moved meanwhile, or the record is gone)."""
    records = kind.record_model.objects.select_related("firm").in_bulk(
        [kind.record_id_of(link) for link, _, _ in synced]
    )
    outcome: dict[int, str] = {}
    moves, events = [], {}
    for link, qbo_record, version in synced:
        record = records.get(kind.record_id_of(link))
        if record is None:
            outcome[link.pk] = "not-queued"
            continue
        fields = {
            kind.qbo_id_field: qbo_record.id,
            "qbo_sync_token": qbo_record.sync_token,
            "qbo_customer_id": qbo_record.customer_id,
            **kind.synced_fields(qbo_record),
        }
        differs = kind.written_differs(record, qbo_record, version)
        if differs is not None:
            # In QBO, but not as billed: linked to its copy (the retry updates it), Failed with both figures.
            fail(link, differs, **fields, attempts=0, waiting_reason="")
            outcome[link.pk] = "failed"
            continue
        events[link.pk] = kind.synced_event(record, qbo_record, how or (UPDATED if link.qbo_id else CREATED))
        fields.update(pushed_version=version, attempts=0, next_attempt_at=None, waiting_reason="")
        moves.append((link, fields))
    account_ids = sorted({records[kind.record_id_of(link)].account_id for link, _ in moves})
    with transaction.atomic():
        accounts = hold_accounts(account_ids)  # before the links: see hold_account
        moved = transition_each(moves, SyncAction.SUCCEED)
        line = {"outcome": SyncEvent.Outcome.SUCCESS, "intuit_tid": tid, "trigger": "worker"}
        record_events_each([(link, line | events[link.pk]) for link in moved])
        account_of = {link.pk: records[kind.record_id_of(link)].account_id for link in moved}
        left = _left_customer(moved, account_of, accounts)
        if moved and release:
            released = [kind.record_id_of(link) for link in moved if link.pk not in left]
            release_waiting_on(kind, account_ids=account_ids, record_ids=released)
        pushed = {kind.record_id_of(link): link.pushed_version for link in moved if link.pk not in left}
        for record_id, current in kind.record_model.objects.filter(pk__in=pushed).values_list(
            "pk", "content_version"
        ):
            if current != pushed[record_id]:
                # Changed while we were pushing: push the newer version too.
                sync_on_change(kind, kind.record_model.objects.get(pk=record_id))
    for link in moved:
        outcome[link.pk] = "moving" if link.pk in left else "synced"
    return [outcome.get(link.pk, "not-queued") for link, _, _ in synced]


def _left_customer(links: list, account_of: dict[int, int], accounts: dict[int, tuple[int, str]]) -> set[int]:
    """Of links just Synced (``account_of`` each one's account id; ``accounts`` the Synced ones' link ids
    and customers, held), those whose copy QBO made under a customer the account has left since (linked
    to another while the create was under way, after the account's other records were set moving) move
    too, so none shows Synced under it. Returns their ids."""
    left = [
        link
        for link in links
        if link.qbo_customer_id
        and account_of[link.pk] in accounts
        and link.qbo_customer_id != accounts[account_of[link.pk]][1]
    ]
    if not left:
        return set()
    start_moving(left)
    for account_link_id in sorted({accounts[account_of[link.pk]][0] for link in left}):
        enqueue(ACCOUNT_RECORDS_MOVE, account_link_id)
    return {link.pk for link in left}


# Deleting -----------------------------------------------------------------------------------------------


def delete_in_qbo(kind: TransactionKind, record) -> SyncOutbox | None:
    """Called in the transaction that deletes the local record: remember to delete it in QBO too.

    A record QBO has (its Id is known) is deleted by Id. One whose create may have reached QBO without us
    knowing its Id (the reply was lost, or a worker holds it mid-push) is looked up by its marker under
    its customer, for as long as a create sent before this delete could still land there
    (``create_may_land_until``). A record that was never sent leaves nothing to do.
    """
    # Locked: a worker taking this link now waits for the delete and then finds it gone.
    link = kind.link_model.objects.select_for_update().filter(**{kind.name: record}).first()
    if link is None:
        return None
    fields = {"qbo_id": link.qbo_id, "qbo_sync_token": link.qbo_sync_token}
    if not link.qbo_id:
        look_until = create_may_land_until(kind, link, record)
        customer_id = (
            AccountSyncLink.objects.filter(account_id=record.account_id)
            .values_list("qbo_customer_id", flat=True)
            .first()
        )
        if look_until is None or not customer_id:
            return None
        fields = {"marker": kind.marker(record), "qbo_customer_id": customer_id, "look_until": look_until}
    row = SyncOutbox.objects.create(
        firm_id=record.firm_id,
        account_id=record.account_id,
        entity=kind.outbox_entity,
        operation="delete",
        local_label=kind.outbox_label(record),
        **fields,
    )
    enqueue_outbox(row.pk)
    return row


def create_ever_sent(kind: TransactionKind, record) -> bool:
    """Whether a create of ``record`` was ever sent to QBO (singly or in a batch that went out)."""
    return SyncEvent.objects.filter(**{kind.name: record}, kind=CREATE_SENT).exists()


def create_may_land_until(kind: TransactionKind, link: TransactionSyncLink, record) -> datetime | None:
    """Until when a create of ``record`` may still reach QBO; None when none was ever sent.

    A worker holding the link (Syncing) may send it any moment until its lease runs out; a create already
    sent lands, if at all, within the read timeout of its sending (its worker gave up waiting by then).
    """
    if link.state == SyncState.SYNCING:
        return link.state_changed_at + SYNCING_LEASE
    sent_at = (
        SyncEvent.objects.filter(**{kind.name: record}, kind=CREATE_SENT)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if sent_at is None:
        return None
    return sent_at + timedelta(seconds=settings.QBO_READ_TIMEOUT) + CREATE_LANDING_MARGIN


# A person's choice ------------------------------------------------------------------------------------


def sync_skip(kind: TransactionKind, record, actor) -> TransactionSyncLink:
    """Stop syncing this record (it is not changed or deleted in QBO)."""
    link, _ = kind.link_model.objects.get_or_create(
        **{kind.name: record}, defaults={"firm_id": record.firm_id}
    )
    who = actor.get_full_name() or actor.username
    with transaction.atomic():
        if not transition(
            link,
            SyncAction.SKIP,
            skip_reason=SKIPPED_BY.format(who=who),
            waiting_reason="",
            next_attempt_at=None,
        ):
            raise SyncRequestError(f"Sync is already off for this {kind.name}.")
        record_event(
            link=link,
            kind="skipped",
            actor=actor,
            trigger="user",
            message=f"Sync skipped for this {kind.name}.",
        )
    return link


def sync_again(kind: TransactionKind, record, actor) -> TransactionSyncLink | None:
    """Sync a skipped, failed or not synced record again (a re-push of a synced one is an edit)."""
    if usable_connection(record.firm_id) is None:
        raise SyncRequestError(explanations.NOT_CONNECTED)
    if not kind.syncs(record):
        raise SyncRequestError(kind.not_syncable)
    with transaction.atomic():
        transition_all(
            kind.link_model.objects.filter(**{kind.name: record}), SyncAction.UNSKIP, skip_reason=""
        )
        link = sync_on_change(kind, record)
        if link is not None and link.waits_for_its_account:
            raise SyncRequestError(SYNC_THE_ACCOUNT_FIRST.format(noun=kind.name))
        if link is not None and link.state == SyncState.SKIPPED:
            raise SyncRequestError(f"This {kind.name} is not synced: {link.skip_reason}.")
        if link is not None:
            record_event(link=link, kind="requested", actor=actor, trigger="user", message="Sync requested.")
    return link
