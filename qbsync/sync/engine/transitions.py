"""The only writer of a link's state: compare-and-set moves by the table in `qbsync/sync/states.py`, for
one link or for a set of links at once. Two clicks, or a click racing a worker, never both win."""

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from ..states import TRANSITIONS


def transition(link, action: str, **fields) -> bool:
    """Move ``link`` (an account, invoice or payment link) by ``action`` only if it is still in one of the
    action's sources, setting ``fields`` with it; the instance is refreshed when it moved (its related
    records stay as they were loaded)."""
    sources, target = TRANSITIONS[action]
    now = timezone.now()
    updated = (
        type(link)
        .objects.filter(pk=link.pk, state__in=sources)
        .update(state=target, state_changed_at=now, updated_at=now, **fields)
    )
    if updated:
        # Django forgets the related rows on a refresh; the record a link belongs to never changes, and the
        # history line that follows most moves needs it: kept, not loaded again (unless the move set it).
        related = [
            (field, field.get_cached_value(link))
            for field in type(link)._meta.concrete_fields
            if field.is_relation and field.is_cached(link)
        ]
        link.refresh_from_db()
        for field, value in related:
            if getattr(link, field.attname) == getattr(value, "pk", None):
                field.set_cached_value(link, value)
    return bool(updated)


def transition_all(links: QuerySet, action: str, *, now=None, **fields) -> int:
    """Move every link of ``links`` that is in one of the action's sources; returns how many moved.
    ``now`` stamps the move (a claim uses it to find exactly the rows it moved)."""
    sources, target = TRANSITIONS[action]
    now = now or timezone.now()
    return links.filter(state__in=sources).update(
        state=target, state_changed_at=now, updated_at=now, **fields
    )


def transition_each(moves: list[tuple[Any, dict]], action: str) -> list:
    """Move each link of ``moves`` (links of one model, each with its own ``fields``) by ``action`` if it
    is still in one of the action's sources, in a fixed number of queries (one for one link); returns the
    links moved, their instances carrying the new values. Called in a transaction: the links are locked
    until it ends."""
    if not moves:
        return []
    sources, target = TRANSITIONS[action]
    model = type(moves[0][0])
    now = timezone.now()
    if len(moves) == 1:
        # One link (a record pushed alone): one compare-and-set, without bulk_update's CASE per field.
        link, fields = moves[0]
        values = {**fields, "state": target, "state_changed_at": now, "updated_at": now}
        if not model.objects.filter(pk=link.pk, state__in=sources).update(**values):
            return []
        for name, value in values.items():
            setattr(link, name, value)
        return [link]
    movable = set(
        model.objects.select_for_update()
        .filter(pk__in=[link.pk for link, _ in moves], state__in=sources)
        .values_list("pk", flat=True)
    )
    moved = [(link, fields) for link, fields in moves if link.pk in movable]
    if not moved:
        return []
    # The fields every link gets the same value of go in one plain UPDATE; only the others in
    # bulk_update, whose CASE per field per row is costly to build (a batch's Ids and SyncTokens).
    names = set().union(*(fields.keys() for _, fields in moved))
    same = {
        name: moved[0][1][name]
        for name in names
        if all(name in fields and fields[name] == moved[0][1][name] for _, fields in moved)
    }
    for link, fields in moved:
        for name, value in {**fields, "state": target, "state_changed_at": now, "updated_at": now}.items():
            setattr(link, name, value)
    links = [link for link, _ in moved]
    if names - same.keys():
        model.objects.filter(state__in=sources).bulk_update(links, sorted(names - same.keys()))
    model.objects.filter(pk__in=[link.pk for link in links], state__in=sources).update(
        **same, state=target, state_changed_at=now, updated_at=now
    )
    return links


def error_fields_cleared(link_model) -> dict:
    """The fields that describe a failure, emptied: for a link that succeeds or starts over."""
    cleared = {
        "error_code": "",
        "error_message": "",
        "error_explanation": "",
        "error_cause": "",
        "error_intuit_tid": "",
    }
    if _has_field(link_model, "error_proposed_name"):
        cleared["error_proposed_name"] = ""
    return cleared


def _has_field(model, name: str) -> bool:
    return any(field.name == name for field in model._meta.get_fields())
