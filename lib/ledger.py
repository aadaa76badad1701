"""The ledger: every resource's history and each subject's latest state, in one DynamoDB table.

Tencent delivers at least once and in no promised order, so a consumer that keeps "the latest state of
task T" from the notifications can be set back by a delayed event. The ledger decides, for every event,
what it did to its subject (``state_change``) and records it under every resource it names, before the
event is published.

Identity is the event's product with its ``event_id`` (the CloudEvent's source and id). One table, four
kinds of item (``pk``, ``sk``):

* ``state#{product}#{subject}``, ``state``: the subject's latest state (rank, event, status). Moved only by
  an UpdateItem whose condition is ``attribute_not_exists(rank) OR rank < :rank``, so two events of one
  subject written at once give one ``advanced`` (a ``fact`` also passes at an equal rank when the subject has
  not had that fact type: ``facts``). On a failed condition DynamoDB returns the item
  (``ReturnValuesOnConditionCheckFailure``): equal rank is ``repeated``, a higher one ``stale``. The
  event_ids that advanced the subject are kept on it (``advanced_by``; at most one per rank), so a retry of
  an event that advanced it is ``advanced`` again, never read-then-write. Every update that moves it adds
  one to ``seq`` (the first starts it at the time in milliseconds) and reads it back on the same call
  (``ReturnValues``): the event's place in the order the ledger decided the subject's states (``Place``, one
  per subject), which forwarding carries to each destination. A ``change`` (not monotonic, not kept in
  ``advanced_by``) moves its subjects in one TransactWriteItems with its decision item, so its retry, which
  finds that item, moves nothing (``Ledger._move_change``); its place is then read (one GetItem per subject).
* ``event#{product}#{event_id}``, ``decision``: the decision of an event that did not advance anything, and
  of every ``change``, written once (``attribute_not_exists``), so its retry gets what it got the first time.
* ``resource#{id}``, ``{product}#{event_id}``: one entry per resource the event names (its subjects, FileIds,
  TaskId, MaterialIds, ProjectId), one PutItem each, beside the state's update. A retry rewrites the same
  items. An entry's ``state_change`` is read back from the two items above.
* ``delivered#{destination}#{product}#{subject}``, ``delivered``: forwarding's watermark, the ``seq`` (and
  ``event_id``) of the newest state of the subject sent to that destination (``claim_delivery``): a
  conditional UpdateItem that refuses an older state once a newer one was sent (lib/forward/order.py).

Every item carries ``expires_at`` (the table's TTL attribute): LEDGER_RETENTION_DAYS (90) after it was
written; a watermark at least ``DELIVERED_MIN_DAYS`` (the messages it guards live that long). An advanced
event costs one UpdateItem per subject and one PutItem per resource, all issued side by side, beside the
archive's PutObject: no sequential round trip is added to a delivery (a ``change`` adds its GetItems after
its transaction, still beside the archive's write). (PutItem rather
than BatchWriteItem: an event names two or three resources, the calls run in parallel anyway, and a cold
start then loads no other DynamoDB operation than the idempotency records already use.)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib.intake import InboundEvent
from lib.notification import StateChange
from lib.observability import logger
from lib.routing import LEGACY, RANK_DELETED, RANK_FINAL, Order, Position, Route, find_route, position
from lib.settings import ConfigError, Settings

__all__ = ["DELIVERED_MIN_DAYS", "Entry", "Ledger", "LedgerUnavailable", "Pending", "Place", "StateChange",
           "SubjectState", "ledger_for", "retention_days"]

STATE, DECISION, DELIVERED = "state", "decision", "delivered"
SEQUENCE = "seq"  # the state item's number of its latest move; the watermark's newest sequence sent
BATCH_ATTEMPTS = 5  # BatchGetItem (lookups): the first call and four retries of unprocessed keys
# Threads for the ledger's calls, started on demand: a callback uses two or three; the puller processes up to
# PULL_CONCURRENCY (64) events at once, each with an update and two or three entries in flight.
WORKERS = 192
DEFAULT_RETENTION_DAYS = 90
# A watermark (``delivered#``) must outlive every message it guards, whatever LEDGER_RETENTION_DAYS says: a message
# waits in its queue up to its destination's max age (at most SQS's 14 days), then up to 14 days in the dead-letter
# queue, and ``forward redrive`` sends it back with its age reset. A watermark that expired first would let that
# older state through after a newer one; this one is rewritten at every claim, so it lives 28 days past the last.
DELIVERED_MIN_DAYS = 28
# A change's transaction cancelled because another write of one of its items was under way: tried again this many
# times before the delivery is refused (503: Tencent's retry converges).
TRANSACTION_CONFLICT_RETRIES = 3


class LedgerUnavailable(Exception):
    """A ledger write failed (after the SDK's retries); the delivery must not be acknowledged."""


def retention_days(env: Mapping[str, str]) -> int:
    """LEDGER_RETENTION_DAYS (1 to 36500; 90 if unset): how long the ledger's items live. Read without a settings
    model: the callback's cold start should not build one for a single integer."""
    text = env.get("LEDGER_RETENTION_DAYS", "").strip()
    if not text:
        return DEFAULT_RETENTION_DAYS
    if not text.isdigit() or not 1 <= int(text) <= 36500:
        raise ConfigError(f"invalid ledger configuration: LEDGER_RETENTION_DAYS: a number of days from 1 to 36500 "
                          f"expected, got {text[:20]!r}")
    return int(text)


@dataclass(frozen=True)
class SubjectState:
    """The latest state of one subject (a task's TaskId, an upload's FileId, ...) of one product."""

    product: str
    subject: str
    event_type: str
    status: str | None
    rank: int
    final: bool  # a final status, a status-less task result (its arrival is the end), or a deletion
    event_id: str
    received_at: str


@dataclass(frozen=True)
class Entry:
    """One event recorded under one resource id."""

    resource_id: str
    product: str
    event_type: str
    status: str | None
    succeeded: bool | None
    error_code: int | None
    received_at: str
    delivery: str  # push | pull | queue | reconcile
    event_id: str
    archive_key: str
    state_change: StateChange | None  # None: not decided yet (its delivery failed and was not retried yet)

    def as_dict(self) -> dict[str, Any]:
        return {"received_at": self.received_at, "product": self.product, "event_type": self.event_type,
                "status": self.status, "state_change": self.state_change, "delivery": self.delivery,
                "event_id": self.event_id, "archive_key": self.archive_key, "resource_id": self.resource_id,
                "succeeded": self.succeeded, "error_code": self.error_code}


def route_of(event: InboundEvent) -> Route | None:
    return LEGACY if event.legacy else find_route(event.product, event.event_type)


def resources_of(event: InboundEvent) -> tuple[str, ...]:
    """Every resource id the event names: its subjects, then FileIds, TaskId, MaterialIds, ProjectId."""
    s = event.summary
    ids = (*s.subjects, *s.file_ids, s.task_id, *s.material_ids, s.project_id)
    return tuple(dict.fromkeys(i for i in ids if i))


def combine(changes: Iterable[StateChange]) -> StateChange:
    """An event of several subjects (a deletion of several files) advanced if it moved any of them."""
    found = set(changes)
    return "advanced" if "advanced" in found or not found else "repeated" if "repeated" in found else "stale"


# ----------------------------------------------------------------------------- DynamoDB attribute values


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _opt(value: str | int | bool | None) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return _n(value)
    return _s(value)


def _read(attr: dict[str, Any] | None) -> Any:
    if not attr or "NULL" in attr:
        return None
    if "S" in attr:
        return attr["S"]
    if "N" in attr:
        return int(attr["N"])
    if "BOOL" in attr:
        return attr["BOOL"]
    if "SS" in attr:
        return set(attr["SS"])
    if "L" in attr:
        return [_read(v) for v in attr["L"]]
    return None


def _decision(item: dict[str, Any] | None) -> StateChange | None:
    """The state_change a decision item holds, if it holds a valid one."""
    stored = _read((item or {}).get("state_change"))
    return stored if stored in ("advanced", "repeated", "stale") else None


def state_key(product: str, subject: str) -> dict[str, dict[str, str]]:
    return {"pk": _s(f"state#{product}#{subject}"), "sk": _s(STATE)}


def decision_key(product: str, event_id: str) -> dict[str, dict[str, str]]:
    return {"pk": _s(f"event#{product}#{event_id}"), "sk": _s(DECISION)}


def entry_key(resource_id: str, product: str, event_id: str) -> dict[str, dict[str, str]]:
    return {"pk": _s(f"resource#{resource_id}"), "sk": _s(f"{product}#{event_id}")}


def delivered_key(destination: str, product: str, subject: str) -> dict[str, dict[str, str]]:
    """The watermark of ``subject`` at ``destination`` (a destination's name has no ``#``: config's pattern)."""
    return {"pk": _s(f"delivered#{destination}#{product}#{subject}"), "sk": _s(DELIVERED)}


# The condition of the state's update: only forward. A ``change`` (not monotonic) moves it unless it has ended (a
# final rank: a live task's ProcessEof) or been deleted. A ``fact`` also moves it at the same rank when the subject
# has not had a fact of its type yet (an upload, then its persistence, then a restore: three facts, each advanced;
# the same fact again is repeated); a deletion's rank is above every fact's, so nothing but a deletion passes it.
ADVANCE_CONDITION = "attribute_not_exists(#rank) OR #rank < :rank"
FACT_CONDITION = "attribute_not_exists(#rank) OR #rank < :rank OR (#rank = :rank AND NOT contains(#facts, :type))"
CHANGE_CONDITION = "attribute_not_exists(#rank) OR #rank < :ended"
# The watermark's: nothing sent yet, or nothing newer: an older state, or this state (the message's own retry, or
# a ``repeated`` copy of the state, which shares its sequence).
CLAIM_CONDITION = "attribute_not_exists(#seq) OR #seq <= :seq"


def state_update(product: str, subject: str, event: InboundEvent, order: Order, at: Position, *, received_at: str,
                 expires_at: int) -> dict[str, Any]:
    """The UpdateItem request that moves ``subject`` to this event's state if the event is ahead of it."""
    names = {"#rank": "rank", "#final": "final", "#type": "event_type", "#status": "status", "#id": "event_id",
             "#at": "received_at", "#product": "product", "#subject": "subject", "#expires": "expires_at",
             "#seq": SEQUENCE}
    values: dict[str, Any] = {":rank": _n(at.rank), ":final": {"BOOL": at.final}, ":type": _s(event.event_type),
                              ":status": _opt(event.summary.status), ":id": _s(event.event_id),
                              ":at": _s(received_at), ":product": _s(product), ":subject": _s(subject),
                              ":expires": _n(expires_at), ":one": _n(1),
                              ":first": _n(int(time.time() * 1000))}
    # seq: one more per move, read back with the answer (ReturnValues): the order the ledger decided, at no cost.
    # A subject's first move starts it at the time in milliseconds, not at 0: a state that expired (TTL) and
    # comes back numbers above every watermark its earlier life left (lib/forward/order.py), which may outlive it.
    update = ("SET #rank = :rank, #final = :final, #type = :type, #status = :status, #id = :id, #at = :at, "
              "#product = :product, #subject = :subject, #expires = :expires, "
              "#seq = if_not_exists(#seq, :first) + :one")
    if order == "change":  # its retry is answered by its decision item (Ledger._move_change): advanced_by stays bounded
        condition = CHANGE_CONDITION
        values[":ended"] = _n(RANK_FINAL)  # below every final rank (an end, a final status, a deletion)
    else:
        condition = ADVANCE_CONDITION
        names["#advanced"] = "advanced_by"
        values[":ids"] = {"SS": [event.event_id]}
        update += " ADD #advanced :ids"
        if order == "fact":  # at most one id per fact type joins advanced_by
            condition = FACT_CONDITION
            names["#facts"] = "facts"
            values[":types"] = {"SS": [event.event_type]}
            update += ", #facts :types"
    return {"Key": state_key(product, subject), "UpdateExpression": update, "ConditionExpression": condition,
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
            "ReturnValues": "UPDATED_NEW", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


def claim_update(table: str, destination: str, product: str, subject: str, sequence: int, event_id: str,
                 expires_at: int) -> dict[str, Any]:
    """The conditional update of ``subject``'s watermark at ``destination`` (``CLAIM_CONDITION``): the request of
    ``Ledger.claim_delivery``'s UpdateItem and of each item of ``claim_deliveries``' transaction."""
    return {"TableName": table, "Key": delivered_key(destination, product, subject),
            "UpdateExpression": "SET #seq = :seq, #id = :id, #expires = :expires",
            "ConditionExpression": CLAIM_CONDITION,
            "ExpressionAttributeNames": {"#seq": SEQUENCE, "#id": "event_id", "#expires": "expires_at"},
            "ExpressionAttributeValues": {":seq": _n(sequence), ":id": _s(event_id), ":expires": _n(expires_at)}}


def judge(old: dict[str, Any], event_id: str, order: Order, rank: int) -> StateChange:
    """What a refused update means, from the item DynamoDB returned with the refusal."""
    if event_id in (_read(old.get("advanced_by")) or set()):
        return "advanced"  # a retry of the event that moved it: what it got the first time
    if order == "change":
        return "stale"  # refused only after the subject ended or was deleted
    old_rank = _read(old.get("rank"))
    return "repeated" if old_rank == rank else "stale"


def holds_same_state(old: dict[str, Any], event: InboundEvent, order: Order) -> bool:
    """Whether the state item ``old`` holds the very state ``event`` reports: the same EventType and, where the
    order ranks by status, the same status. A ``repeated`` event is only at the rank the subject holds, which
    several states share: two facts of a file (an upload, then its persistence, both rank 1), two final
    statuses, two statuses Tencent may add later. Elsewhere the status is no part of the state: an ``end``'s
    is a result code, and a legacy v2.0 copy of a task's end gives it as ``0`` where the v3 event has none."""
    if _read(old.get("event_type")) != event.event_type:
        return False
    return order != "status" or _read(old.get("status")) == event.summary.status


def place_of(old: dict[str, Any], event: InboundEvent, order: Order, change: StateChange) -> Place:
    """The place of an event whose update was refused, from the item DynamoDB returned: a retry of the event
    that holds the state has that state's sequence; a retry of an event that advanced the subject once, now
    held by another event, has moved on (no sequence: what was sent since is newer). A ``repeated`` copy of the
    state the subject holds shares that state's sequence (it is not sent after a newer one either); a
    ``repeated`` event at that rank which is another state (an earlier fact re-sent after a later one) has
    moved on too: sharing the number would let it through the watermark after the state it is not. A
    ``stale`` event holds no place (nothing is added to the order): no sequence, not moved on."""
    if change == "stale":
        return Place()
    if _read(old.get("event_id")) == event.event_id or (change == "repeated" and holds_same_state(old, event, order)):
        sequence = _read(old.get(SEQUENCE))
        return Place(sequence if isinstance(sequence, int) else None)  # (an item written before seq: none)
    return Place(moved_on=True)


def _refused(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Threads are started on demand, so a callback's cold start pays for the two or three it uses."""
    return ThreadPoolExecutor(WORKERS, thread_name_prefix="ledger")


@dataclass(frozen=True)
class Place:
    """An event's place in the order the ledger decided its primary subject's states (``event.summary.subject``).

    ``sequence``: the subject's ``seq`` this event's update set (or, for a retry of the event that still holds
    the state, the one its first attempt set; for a ``repeated`` copy, the state's it repeats); None when the
    event holds no place (stale, no subject, no route) or moved on. ``moved_on``: a retry of an event that
    advanced the subject, which another event holds since: a newer state may already have been sent."""

    sequence: int | None = None
    moved_on: bool = False


class Pending:
    """A recording under way (its calls run on the ledger's threads); ``result`` waits for its state_change,
    ``places`` says where it stands in each of its subjects' order (``place``: its primary subject's)."""

    def __init__(self, decision: Future[StateChange], entries: list[Future[None]],
                 moves: Mapping[str, Future[_Moved]] | None = None, changed: Future[_Changed] | None = None,
                 primary: str | None = None) -> None:
        self._decision, self._entries, self._moves, self._changed = decision, entries, moves or {}, changed
        self._primary = primary

    def result(self) -> StateChange:
        """The event's state_change once every write is done; ``LedgerUnavailable`` if one failed."""
        futures: list[Future[Any]] = [self._decision, *self._entries]
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            first = errors[0]
            if isinstance(first, LedgerUnavailable):
                raise first
            raise LedgerUnavailable(f"the ledger write failed: {first}") from first
        return self._decision.result()

    def places(self) -> dict[str, Place]:
        """The event's place in each subject's order (after ``result``; waits for the subjects' updates): a
        deletion of several files is a state of each, ordered against each file's own events."""
        if self._changed is not None:
            if self._changed.exception() is not None:
                return {}
            return {subject: moved.place for subject, moved in self._changed.result().moves.items()}
        return {subject: future.result().place for subject, future in self._moves.items()
                if future.exception() is None}

    def place(self) -> Place:
        """The event's place in its primary subject's order (``event.summary.subject``)."""
        return self.places().get(self._primary, Place()) if self._primary else Place()


@dataclass(frozen=True)
class _Moved:
    """What one subject's update said: the change, whether it was a retry of the event that moved it, and the
    event's place in the subject's order."""

    change: StateChange
    retried: bool = False
    place: Place = Place()


@dataclass(frozen=True)
class _Changed:
    """What a ``change`` event's transaction said: the decision its first attempt stored, when this is a retry
    (None: this attempt decided), and what it did to each subject."""

    stored: StateChange | None
    moves: dict[str, _Moved]


def named_elsewhere(event: InboundEvent) -> tuple[str, ...]:
    """The FileIds and MaterialIds the event names besides its subjects: deleted, they make the event stale."""
    s = event.summary
    return tuple(dict.fromkeys(i for i in (*s.file_ids, *s.material_ids) if i and i not in s.subjects))


class Ledger:
    """One ledger table: ``record`` (the pipeline) and ``latest``, ``entries`` (lookup, replay, reconcile)."""

    def __init__(self, table: str, client: Callable[[], Any], retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self.table, self.client, self.retention_days = table, client, retention_days

    # --------------------------------------------------------------------------- writing

    def record(self, event: InboundEvent, *, delivery: str, received_at: str, archive_key: str) -> Pending:
        """Start recording ``event``: one update per subject (for a ``change``, one transaction of its subjects'
        updates and its decision item), its entries, a read of each other resource it names (a deleted file makes
        a task event stale), all side by side on the ledger's threads; the decision (and, when it did not advance,
        its decision item) is made on a thread too. The caller archives meanwhile, then waits on
        ``Pending.result``."""
        expires_at = int(time.time()) + self.retention_days * 86400
        pool = _pool()
        entries = [pool.submit(self._write_entry, self._entry_item(event, resource, delivery=delivery,
                                                                   received_at=received_at, archive_key=archive_key,
                                                                   expires_at=expires_at))
                   for resource in resources_of(event)]
        route = route_of(event)
        subjects = tuple(dict.fromkeys(event.summary.subjects))
        moves: dict[str, Future[_Moved]] = {}
        guards: list[Future[bool]] = []
        changed: Future[_Changed] | None = None
        if route is not None:  # an event of no subject (an unknown EventType) cannot be behind anything
            at = position(route.order, event.summary.status)
            if route.order == "change" and subjects:
                changed = pool.submit(self._move_change, event, subjects, at, received_at, expires_at)
            else:
                moves = {subject: pool.submit(self._move, event, subject, route.order, at, received_at, expires_at)
                         for subject in subjects}
            if route.order != "delete":
                guards = [pool.submit(self._deleted, event.product, other) for other in named_elsewhere(event)]
        # Submitted last: every future it waits on was queued before it, so it never waits on a queued task.
        decision = pool.submit(self._decide, event, list(moves.values()), guards, changed, expires_at)
        return Pending(decision, entries, moves, changed, subjects[0] if subjects else None)

    def _decide(self, event: InboundEvent, moves: list[Future[_Moved]], guards: list[Future[bool]],
                changed: Future[_Changed] | None, expires_at: int) -> StateChange:
        deleted = any(g.result() for g in guards)
        if changed is not None:  # a change: its decision item was written "advanced" with its updates, or not at all
            answer = changed.result()
            if answer.stored is not None:
                return answer.stored  # a retry: what it got the first time
            if combine(m.change for m in answer.moves.values()) != "advanced":
                return self._remember(event, "stale", expires_at)  # every subject had ended or was deleted
            if not deleted:
                return "advanced"
            self._write_decision(event, "stale", expires_at)  # its first time, naming a deleted file or material
            return "stale"
        moved = [m.result() for m in moves]
        change = combine(m.change for m in moved)
        if change != "advanced":
            return self._remember(event, "stale" if deleted else change, expires_at)
        if not deleted:
            return "advanced"
        if any(m.retried for m in moved):  # it moved the subject before: stale only if it was then
            return self._stored_decision(event) or "advanced"
        return self._remember(event, "stale", expires_at)

    def _move(self, event: InboundEvent, subject: str, order: Order, at: Position, received_at: str,
              expires_at: int) -> _Moved:
        request = state_update(event.product, subject, event, order, at, received_at=received_at,
                               expires_at=expires_at)
        try:
            answer = self.client().update_item(TableName=self.table, **request)
        except ClientError as exc:
            if not _refused(exc):
                raise LedgerUnavailable(f"the ledger's state update failed: {exc}") from exc
            old = exc.response.get("Item") or {}
            change = judge(old, event.event_id, order, at.rank)
            return _Moved(change, retried=change == "advanced", place=place_of(old, event, order, change))
        except BotoCoreError as exc:
            raise LedgerUnavailable(f"the ledger's state update failed: {exc}") from exc
        sequence = _read((answer.get("Attributes") or {}).get(SEQUENCE))
        return _Moved("advanced", place=Place(sequence if isinstance(sequence, int) else None))

    def _deleted(self, product: str, resource: str) -> bool:
        """Whether ``resource`` (a FileId, a MaterialId the event names) has been deleted. A read, not a condition:
        a deletion is terminal, so what it finds cannot be undone by a write racing it."""
        try:
            item = self.client().get_item(TableName=self.table, Key=state_key(product, resource), ConsistentRead=True,
                                          ProjectionExpression="#rank", ExpressionAttributeNames={"#rank": "rank"})
        except (ClientError, BotoCoreError) as exc:
            raise LedgerUnavailable(f"the ledger's state could not be read: {exc}") from exc
        rank = _read((item.get("Item") or {}).get("rank"))
        return isinstance(rank, int) and rank >= RANK_DELETED

    def _move_change(self, event: InboundEvent, subjects: tuple[str, ...], at: Position, received_at: str,
                     expires_at: int) -> _Changed:
        """Move a ``change`` event's subjects and write its decision ``advanced`` in one TransactWriteItems: both
        or neither. A change is not monotonic (its condition passes until the subject ends), so without the
        decision in the same transaction a retry of change A after change B would move the state back to A and
        number it after B. Here a retry finds its decision item (the Put's condition cancels the transaction,
        and ``CancellationReasons`` hands back the stored item: ``ReturnValuesOnConditionCheckFailure``) and
        moves nothing. A subject whose update is refused (it ended, or was deleted) is ``stale``: the
        transaction is tried again without it, so the others still move, as an UpdateItem each would.
        TransactWriteItems answers no values: one consistent GetItem per subject then gives its place."""
        decision = {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            "Item": {**decision_key(event.product, event.event_id), "state_change": _s("advanced"),
                                     "expires_at": _n(expires_at)}}}
        moving, refused = list(subjects), []
        conflicts = 0
        while moving:
            updates = [{"Update": {"TableName": self.table, **{k: v for k, v in state_update(
                event.product, subject, event, "change", at, received_at=received_at, expires_at=expires_at).items()
                if k != "ReturnValues"}}} for subject in moving]  # (a transaction's Update answers no values)
            try:
                self.client().transact_write_items(TransactItems=[decision, *updates])
            except ClientError as exc:
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                if len(reasons) != 1 + len(moving):
                    raise LedgerUnavailable(f"the ledger's change could not be written: {exc}") from exc
                if reasons[0] == "ConditionalCheckFailed":  # a retry: its first attempt's decision stands
                    stored = _decision(exc.response["CancellationReasons"][0].get("Item")) or "advanced"
                    return self._retried_change(event, subjects, stored)
                ended = [s for s, code in zip(moving, reasons[1:], strict=True) if code == "ConditionalCheckFailed"]
                if ended and all(code in (None, "None", "ConditionalCheckFailed") for code in reasons):
                    refused += ended
                    moving = [s for s in moving if s not in ended]
                    continue
                if "TransactionConflict" in reasons and conflicts < TRANSACTION_CONFLICT_RETRIES:
                    conflicts += 1  # another write of one of these items was under way: try again shortly
                    time.sleep(0.02 * conflicts)
                    continue
                raise LedgerUnavailable(f"the ledger's change could not be written: {exc}") from exc
            except BotoCoreError as exc:
                raise LedgerUnavailable(f"the ledger's change could not be written: {exc}") from exc
            return _Changed(None, {**{s: _Moved("stale") for s in refused},
                                   **{s: _Moved("advanced", place=self._place_now(event, s)) for s in moving}})
        return _Changed(None, {s: _Moved("stale") for s in refused})  # every subject ended: nothing written

    def _retried_change(self, event: InboundEvent, subjects: tuple[str, ...], stored: StateChange) -> _Changed:
        """A retry of a change: the decision of its first attempt; an ``advanced`` one holds its subjects'
        states at its first number, or has moved on where a newer change moved them since."""
        if stored != "advanced":
            return _Changed(stored, {s: _Moved(stored) for s in subjects})
        return _Changed(stored, {s: _Moved("advanced", retried=True, place=self._place_now(event, s))
                                 for s in subjects})

    def _place_now(self, event: InboundEvent, subject: str) -> Place:
        """The place of ``event`` in ``subject``'s order, read (consistent GetItem) after its transaction: the
        state's ``seq`` if the state is still this event's, else moved on (a newer change moved it since)."""
        try:
            item = self.client().get_item(
                TableName=self.table, Key=state_key(event.product, subject), ConsistentRead=True,
                ProjectionExpression="#id, #seq", ExpressionAttributeNames={"#id": "event_id", "#seq": SEQUENCE},
            ).get("Item") or {}
        except (ClientError, BotoCoreError) as exc:
            raise LedgerUnavailable(f"the ledger's state could not be read: {exc}") from exc
        if _read(item.get("event_id")) != event.event_id:
            return Place(moved_on=True)
        sequence = _read(item.get(SEQUENCE))
        return Place(sequence if isinstance(sequence, int) else None)

    def _write_once(self, event: InboundEvent, change: StateChange, expires_at: int) -> StateChange | None:
        """Write the event's decision unless one is there: None when this call wrote it, else the stored one."""
        item = {**decision_key(event.product, event.event_id), "state_change": _s(change),
                "expires_at": _n(expires_at)}
        try:
            self.client().put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)",
                                   ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if not _refused(exc):
                raise LedgerUnavailable(f"the ledger's decision could not be written: {exc}") from exc
            return _decision(exc.response.get("Item")) or change
        except BotoCoreError as exc:
            raise LedgerUnavailable(f"the ledger's decision could not be written: {exc}") from exc
        return None

    def _write_decision(self, event: InboundEvent, change: StateChange, expires_at: int) -> None:
        item = {**decision_key(event.product, event.event_id), "state_change": _s(change),
                "expires_at": _n(expires_at)}
        try:
            self.client().put_item(TableName=self.table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise LedgerUnavailable(f"the ledger's decision could not be written: {exc}") from exc

    def _stored_decision(self, event: InboundEvent) -> StateChange | None:
        try:
            item = self.client().get_item(TableName=self.table, Key=decision_key(event.product, event.event_id),
                                          ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise LedgerUnavailable(f"the ledger's decision could not be read: {exc}") from exc
        return _decision(item)

    def _remember(self, event: InboundEvent, change: StateChange, expires_at: int) -> StateChange:
        """Keep a non-advancing decision once; a retry finds it and answers the same."""
        return self._write_once(event, change, expires_at) or change

    def take_over(self, product: str, subject: str, old_event_id: str, event: InboundEvent) -> bool:
        """Let ``event`` stand for the event that holds ``subject``'s state but was never published (its archive
        or publish failed and Tencent never retried it): reconcile rebuilds it with other bytes, so another
        event_id, which would otherwise be ``repeated`` behind a state nobody received. Conditional on the state
        still naming ``old_event_id``; the new id joins ``advanced_by``, so its processing is ``advanced``.
        False when the state has moved on (it is then decided as any other event). ``seq`` is kept: the new id
        stands in the old one's place in the subject's order."""
        try:
            self.client().update_item(
                TableName=self.table, Key=state_key(product, subject),
                UpdateExpression="SET #id = :new ADD #advanced :ids", ConditionExpression="#id = :old",
                ExpressionAttributeNames={"#id": "event_id", "#advanced": "advanced_by"},
                ExpressionAttributeValues={":new": _s(event.event_id), ":old": _s(old_event_id),
                                           ":ids": {"SS": [event.event_id]}})
        except ClientError as exc:
            if _refused(exc):
                return False
            raise LedgerUnavailable(f"the ledger's state could not be taken over: {exc}") from exc
        except BotoCoreError as exc:
            raise LedgerUnavailable(f"the ledger's state could not be taken over: {exc}") from exc
        return True

    def claim_delivery(self, destination: str, product: str, subject: str, sequence: int, event_id: str) -> bool:
        """Forwarding's watermark: record that the state of ``subject`` at ``sequence`` (``event_id``'s) is
        being sent to ``destination``, unless a newer one was. One conditional UpdateItem (no read): passes
        when nothing was sent yet, an older sequence was, or this one (the message's own retry, a repeated copy
        of the state); False when a newer state was sent (or is being sent) there. ``LedgerUnavailable`` when
        DynamoDB fails."""
        request = claim_update(self.table, destination, product, subject, sequence, event_id,
                               self._watermark_expiry())
        try:
            self.client().update_item(**request)
        except ClientError as exc:
            if _refused(exc):
                return False
            raise LedgerUnavailable(f"the delivery watermark could not be written: {exc}") from exc
        except BotoCoreError as exc:
            raise LedgerUnavailable(f"the delivery watermark could not be written: {exc}") from exc
        return True

    def claim_deliveries(self, destination: str, product: str, sequences: Mapping[str, int], event_id: str) -> bool:
        """``claim_delivery`` for every subject of the event at once: one subject, its UpdateItem; several (a
        deletion of several files), one TransactWriteItems of those updates, so the claim is whole or nothing:
        refused on one subject (a newer state of it was sent), no other subject's watermark is raised for a
        message that is then dropped (it would refuse that subject's older states for a state never sent).
        A transaction cancelled by a conflicting write (two messages of one file at once: the groups are per
        primary subject) is ``LedgerUnavailable``: the message is handed back and claimed again."""
        if len(sequences) == 1:
            [(subject, sequence)] = sequences.items()
            return self.claim_delivery(destination, product, subject, sequence, event_id)
        expires_at = self._watermark_expiry()
        claims = [{"Update": claim_update(self.table, destination, product, subject, sequence, event_id, expires_at)}
                  for subject, sequence in sequences.items()]
        try:
            self.client().transact_write_items(TransactItems=claims)
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if "ConditionalCheckFailed" in reasons and all(
                    code in (None, "None", "ConditionalCheckFailed") for code in reasons):
                return False
            raise LedgerUnavailable(f"the delivery watermarks could not be written: {exc}") from exc
        except BotoCoreError as exc:
            raise LedgerUnavailable(f"the delivery watermarks could not be written: {exc}") from exc
        return True

    def _watermark_expiry(self) -> int:
        """When a watermark claimed now expires: the retention, and never before ``DELIVERED_MIN_DAYS``."""
        return int(time.time()) + max(self.retention_days, DELIVERED_MIN_DAYS) * 86400

    def _entry_item(self, event: InboundEvent, resource: str, *, delivery: str, received_at: str, archive_key: str,
                    expires_at: int) -> dict[str, Any]:
        s = event.summary
        route = route_of(event)
        return {**entry_key(resource, event.product, event.event_id), "resource_id": _s(resource),
                "product": _s(event.product), "event_type": _s(event.event_type), "status": _opt(s.status),
                "succeeded": _opt(s.succeeded), "error_code": _opt(s.error_code), "received_at": _s(received_at),
                "delivery": _s(delivery), "event_id": _s(event.event_id), "archive_key": _s(archive_key),
                "subjects": {"L": [_s(v) for v in s.subjects]}, "order": _s(route.order if route else "none"),
                "expires_at": _n(expires_at)}

    def _write_entry(self, item: dict[str, Any]) -> None:
        try:
            self.client().put_item(TableName=self.table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise LedgerUnavailable(f"the ledger's entry could not be written: {exc}") from exc

    # --------------------------------------------------------------------------- reading

    def latest(self, product: str, subject: str) -> SubjectState | None:
        """The subject's latest state, or None if the ledger has none (never seen, or expired)."""
        item = self.client().get_item(TableName=self.table, Key=state_key(product, subject),
                                      ConsistentRead=True).get("Item")
        return _state(item) if item else None

    def entries(self, resource_id: str) -> list[Entry]:
        """Every event recorded under ``resource_id`` (every product), oldest first."""
        client = self.client()
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.table, "KeyConditionExpression": "pk = :pk",
                                   "ExpressionAttributeValues": {":pk": _s(f"resource#{resource_id}")},
                                   "ConsistentRead": True}
        while True:
            page = client.query(**request)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        changes = self._decisions(items)
        entries = [Entry(resource_id=_read(i["resource_id"]), product=_read(i["product"]),
                         event_type=_read(i["event_type"]), status=_read(i.get("status")),
                         succeeded=_read(i.get("succeeded")), error_code=_read(i.get("error_code")),
                         received_at=_read(i["received_at"]), delivery=_read(i["delivery"]),
                         event_id=_read(i["event_id"]), archive_key=_read(i["archive_key"]),
                         state_change=changes.get((_read(i["product"]), _read(i["event_id"]))))
                   for i in items]
        return sorted(entries, key=lambda e: (e.received_at, e.product, e.event_id))

    def _decisions(self, items: list[dict[str, Any]]) -> dict[tuple[str, str], StateChange | None]:
        """Each entry's state_change: its decision item if it has one (it did not advance), else advanced if a
        subject's state names it among the events that advanced it (or it cannot be behind anything)."""
        keys: dict[str, dict[str, Any]] = {}
        for item in items:
            product, event_id = _read(item["product"]), _read(item["event_id"])
            key = decision_key(product, event_id)
            keys[key["pk"]["S"]] = key
            for subject in _read(item.get("subjects")) or []:
                key = state_key(product, subject)
                keys[key["pk"]["S"]] = key
        found = self._get_all(list(keys.values()))
        out: dict[tuple[str, str], StateChange | None] = {}
        for item in items:
            product, event_id = _read(item["product"]), _read(item["event_id"])
            decision = found.get(decision_key(product, event_id)["pk"]["S"])
            subjects = _read(item.get("subjects")) or []
            change: StateChange | None = None
            if decision is not None:
                change = _read(decision.get("state_change"))
            elif any(event_id in (_read(found.get(state_key(product, s)["pk"]["S"], {}).get("advanced_by")) or set())
                     for s in subjects):
                change = "advanced"
            elif not subjects or _read(item.get("order")) in ("change", "none"):
                change = "advanced"  # never recorded otherwise: a refused change writes its decision item
            out[(product, event_id)] = change
        return out

    def _get_all(self, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """BatchGetItem in calls of 100 keys, unprocessed keys asked again; items by their pk."""
        client, found = self.client(), {}
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table: {"Keys": keys[start:start + 100], "ConsistentRead": True}}
            for _ in range(BATCH_ATTEMPTS):
                response = client.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"]] = item
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05)
            if pending:  # throttled throughout: those entries show no state_change; say so rather than guess
                left = len(pending.get(self.table, {}).get("Keys", []))
                logger.warning("the ledger did not answer for every key; some state_change values are missing",
                               extra={"unprocessed_keys": left, "attempts": BATCH_ATTEMPTS})
        return found


def _state(item: dict[str, Any]) -> SubjectState:
    return SubjectState(product=_read(item["product"]), subject=_read(item["subject"]),
                        event_type=_read(item["event_type"]), status=_read(item.get("status")),
                        rank=_read(item["rank"]), final=bool(_read(item.get("final"))),
                        event_id=_read(item["event_id"]), received_at=_read(item["received_at"]))


@functools.cache
def ledger_for(settings: Settings) -> Ledger | None:
    """The ledger of these settings; None when LEDGER_TABLE is not set."""
    if not settings.ledger_table:
        return None
    from lib import aws

    return Ledger(settings.ledger_table, lambda: aws.client("dynamodb"), settings.ledger_retention_days)


# The table's keys and TTL, as serverless.yml's LedgerTable declares them (tests/unit/test_ledger_order.py holds
# the two to each other): the one copy the local stack and the tests create their table from.
KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRIBUTE_DEFINITIONS = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]
TTL_ATTRIBUTE = "expires_at"


def create_table(dynamodb: Any, name: str) -> None:
    """Create a ledger table as the stack does (local stacks, tests); the deployed one is serverless.yml's."""
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
                          KeySchema=KEY_SCHEMA)
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True,
                                                                          "AttributeName": TTL_ATTRIBUTE})


def reset() -> None:
    """Forget the cached ledgers (tests switch tables)."""
    ledger_for.cache_clear()

