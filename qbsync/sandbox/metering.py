"""Intuit's API metering: which data-API calls are Core (free) and which CorePlus (metered reads), counted
per realm and per OAuth client (the app's workspace) per calendar month of the sandbox clock (UTC), and an
optional monthly cap on a client's CorePlus calls.

Only successful calls count (status < 400). A batch counts nothing itself; each of its items counts as its
own call (an assumption: Intuit does not say how batches are metered). What the cap answers is UNCONFIRMED
(Intuit does not publish it), so it is configurable: see docs/sandbox.md, "Read metering and the monthly cap".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from . import api
from . import errors as E
from .clock import Clock

CORE = "Core"
CORE_PLUS = "CorePlus"
ANSWERS = ("429", "403")  # how a read over the cap is refused
NO_CLIENT = "(none)"  # counts of control-API tokens no client has refreshed yet (they carry no client id)

# api.classify's operation -> class. classify calls every other GET "read" (reports/*, unknown paths) and
# every other POST "create" ({entity}/{id}/send, unknown paths): CorePlus and Core, the conservative guesses.
RULES = {
    "read": CORE_PLUS,  # GET {entity}/{id}
    "query": CORE_PLUS,  # GET or POST
    "cdc": CORE_PLUS,
    "companyinfo": CORE_PLUS,
    "preferences": CORE_PLUS,
    "create": CORE,
    "update": CORE,  # full or sparse
    "delete": CORE,
    "void": CORE,
    "preferences_update": CORE,
    "companyinfo_update": CORE,
}


def call_class(method: str, rest: str, params: dict, body: object) -> str | None:
    """ "Core" or "CorePlus" for a data-API call (`rest` is the path after /v3/company/{realm}/); None for the
    batch envelope, whose items are classed one by one (`item_class`)."""
    operation = api.classify(method, rest, params, body)
    if operation == "batch" and method == "POST":
        return None
    return RULES.get(operation, CORE_PLUS if method == "GET" else CORE)


def item_class(item: dict) -> str:
    """A BatchItemRequest's class: a Query (or CDCQuery) reads, an entity operation writes."""
    return CORE_PLUS if "Query" in item or "CDCQuery" in item else CORE


def read_cap_reached(answer: str) -> E.QBOError:
    return E.QBOError(
        3002,
        "API read limit exceeded",
        "This app has used its monthly allowance of CorePlus (read) API calls for its plan. Reads are "
        "blocked until the next calendar month or until the plan changes.",
        status=int(answer),
        fault_type="ThrottlingFault" if answer == "429" else "AuthorizationFault",
    )


@dataclass(frozen=True)
class Ticket:
    """One admitted call (or batch item) waiting for its outcome."""

    month: str
    realm: str
    client: str
    klass: str
    reserved: bool  # holds a place under the client's read cap until settled


class Meter:
    def __init__(self, clock: Clock, on_change: Callable[[], None] | None = None):
        self.clock = clock
        self.on_change = on_change
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str, str], dict[str, int]] = {}  # (month, realm, client) -> class -> n
        # CorePlus calls admitted and not yet settled, per (month, client): concurrent reads cannot overshoot.
        self.pending: dict[tuple[str, str], int] = {}
        self.caps: dict[str | None, dict] = {}  # client id (None: every client) -> {"read_cap", "answer"}

    def month(self) -> str:
        return datetime.fromtimestamp(self.clock.epoch(), UTC).strftime("%Y-%m")

    # --- counting -------------------------------------------------------------------------------
    def admit(self, realm: str, client: str | None, klass: str) -> Ticket:
        """Let a call in, or raise the cap's QBOError when it is a read over its client's monthly cap."""
        client = client or NO_CLIENT
        with self.lock:
            month = self.month()
            if klass != CORE_PLUS:
                return Ticket(month, realm, client, klass, reserved=False)
            cap = self.caps.get(client, self.caps.get(None))
            if cap and cap["read_cap"] is not None:
                used = sum(
                    c[CORE_PLUS] for (m, _, cl), c in self.counts.items() if m == month and cl == client
                )
                if used + self.pending.get((month, client), 0) >= cap["read_cap"]:
                    raise read_cap_reached(cap["answer"])
            self.pending[(month, client)] = self.pending.get((month, client), 0) + 1
            return Ticket(month, realm, client, klass, reserved=True)

    def settle(self, ticket: Ticket, ok: bool) -> bool:
        """Count an admitted call if it succeeded; returns whether it was counted."""
        with self.lock:
            if ticket.reserved:
                key = (ticket.month, ticket.client)
                left = self.pending.get(key, 0) - 1
                if left > 0:
                    self.pending[key] = left
                else:
                    self.pending.pop(key, None)
            if ok:
                row = self.counts.setdefault(
                    (ticket.month, ticket.realm, ticket.client), {CORE: 0, CORE_PLUS: 0}
                )
                row[ticket.klass] += 1
        if ok and self.on_change:
            self.on_change()
        return ok

    def settle_batch(
        self, realm: str, client: str | None, items: list, answers: list, admitted: dict[str, Ticket]
    ) -> dict[str, int]:
        """Count a batch's items by their answers (an item answered with a Fault is not counted). Items not
        admitted one by one (a replayed batch) are counted as they are answered."""
        faulted = {a.get("bId"): "Fault" in a for a in answers if isinstance(a, dict)}
        counted = {CORE: 0, CORE_PLUS: 0}
        for item in items:
            bid = item.get("bId") if isinstance(item, dict) else None
            if bid is None:  # only in a replay whose body differs from the first one's
                continue
            ticket = admitted.pop(bid, None) or Ticket(
                self.month(), realm, client or NO_CLIENT, item_class(item), reserved=False
            )
            if self.settle(ticket, faulted.get(bid) is False):
                counted[ticket.klass] += 1
        for ticket in admitted.values():
            self.settle(ticket, False)
        return counted

    def clear(self) -> None:
        with self.lock:
            self.counts.clear()
        if self.on_change:
            self.on_change()

    # --- the cap --------------------------------------------------------------------------------
    def set_cap(self, read_cap: int | None, client: str | None = None, answer: str = "429") -> None:
        """Cap one client's CorePlus calls a month (None lifts it even under a cap for every client), or
        every client's (client None; this replaces the per-client caps, and read_cap None lifts them all)."""
        if read_cap is not None and (
            isinstance(read_cap, bool) or not isinstance(read_cap, int) or read_cap < 0
        ):
            raise ValueError("read_cap must be a whole number >= 0, or null")
        answer = str(answer)
        if answer not in ANSWERS:
            raise ValueError(f"answer must be one of {list(ANSWERS)}")
        with self.lock:
            if client is None:
                self.caps.clear()
                if read_cap is not None:
                    self.caps[None] = {"read_cap": read_cap, "answer": answer}
            else:
                self.caps[client] = {"read_cap": read_cap, "answer": answer}
        if self.on_change:
            self.on_change()

    def cap_list(self) -> list[dict]:
        with self.lock:
            return self._cap_rows()

    def _cap_rows(self) -> list[dict]:
        return [{"client_id": client, **cap} for client, cap in self.caps.items()]

    # --- reports and persistence ----------------------------------------------------------------
    def report(self, realm: str | None = None, client: str | None = None, month: str | None = None) -> dict:
        """Counts per month, per realm and per client, of the calls matching the filters."""
        months: dict[str, dict] = {}
        with self.lock:
            for (m, r, cl), row in sorted(self.counts.items()):
                if (realm and r != realm) or (client and cl != client) or (month and m != month):
                    continue
                out = months.setdefault(m, {"realms": {}, "clients": {}, "total": {CORE: 0, CORE_PLUS: 0}})
                for group, key in (("realms", r), ("clients", cl)):
                    into = out[group].setdefault(key, {CORE: 0, CORE_PLUS: 0})
                    for klass in (CORE, CORE_PLUS):
                        into[klass] += row[klass]
                for klass in (CORE, CORE_PLUS):
                    out["total"][klass] += row[klass]
        return {"month": self.month(), "months": months, "read_caps": self.cap_list()}

    def dump(self) -> dict:
        with self.lock:
            return {
                "counts": [[m, r, cl, row[CORE], row[CORE_PLUS]] for (m, r, cl), row in self.counts.items()],
                "caps": self._cap_rows(),
            }

    def restore(self, data: dict | None) -> None:
        if not data:
            return
        with self.lock:
            self.counts = {
                (m, r, cl): {CORE: core, CORE_PLUS: plus} for m, r, cl, core, plus in data["counts"]
            }
            self.caps = {
                cap["client_id"]: {"read_cap": cap["read_cap"], "answer": cap["answer"]}
                for cap in data["caps"]
            }
