"""EventBridge as a notification target: the same CloudEvent on a bus, for content-based rules.

One entry per event: ``Source`` is the CloudEvent's ``source``, ``DetailType`` its ``type``, ``Detail``
the whole CloudEvent JSON (rules match ``detail.data.succeeded``, ``detail.data.event_type``...),
``Time`` its ``time``. AWS's limits, as documented for PutEvents: at most 10 entries a call, and an
entry of at most 256 KB, counted as 14 bytes for ``Time`` plus the UTF-8 bytes of ``Source``,
``DetailType`` and ``Detail``. Entries that fail (``FailedEntryCount``, a per-entry ``ErrorCode``) are
retried alone, a bounded number of times; if one still fails, ``BusUnavailable`` is raised and the
delivery is not acknowledged.

A delivery of several events puts them in chunks: ``Window`` lets up to ten events, processed at the
same time, share one PutEvents call; each event still waits for its own entry's fate, so exactly-once
per event (lib/dedup.py) is unchanged.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib.observability import count, logger
from lib.publish import Outgoing, TargetUnavailable

MAX_ENTRIES = 10  # PutEvents: entries per call
MAX_ENTRY_BYTES = 256 * 1024  # PutEvents: one entry, as AWS counts it (entry_size)
PUT_ATTEMPTS = 3  # the first call and two retries of the entries that failed
RETRY_DELAYS = (0.1, 0.4)


class BusUnavailable(TargetUnavailable):
    """The bus did not take an entry (after the retries); the event must not be acknowledged."""


class EntryTooLarge(BusUnavailable):
    """An entry over EventBridge's 256 KB limit, even without its URL list."""


def entry_size(entry: dict[str, Any]) -> int:
    """The size EventBridge counts for a PutEvents entry (AWS: "Calculating PutEvents event entry size")."""
    size = 14 if entry.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(field) or "").encode("utf-8"))
    return size + sum(len(r.encode("utf-8")) for r in entry.get("Resources", []))


def entry_for(outgoing: Outgoing, bus: str) -> dict[str, Any]:
    """The PutEvents entry of one notification. A notification over the size limit goes without its URL
    list (``data.urls: []``): the archive it points to holds the whole event (AWS's own advice for large
    events: a claim check in S3). One that is still too large raises ``EntryTooLarge``."""
    note = outgoing.notification
    entry = {"EventBusName": bus, "Source": note.source, "DetailType": note.type, "Detail": outgoing.body,
             "Time": datetime.fromisoformat(note.time.replace("Z", "+00:00"))}
    size = entry_size(entry)
    if size <= MAX_ENTRY_BYTES:
        return entry
    from lib.publish import to_json

    trimmed = to_json(note.model_copy(update={"data": note.data.model_copy(update={"urls": []})}))
    entry["Detail"] = trimmed
    if entry_size(entry) > MAX_ENTRY_BYTES:
        raise EntryTooLarge(f"the notification of event {note.id} is {entry_size(entry)} bytes on EventBridge even "
                            f"without its URLs; the limit is {MAX_ENTRY_BYTES} (256 KB)")
    logger.warning("notification over EventBridge's 256 KB entry limit: sent without its URL list; the "
                   "archive holds the event", extra={"event_id": note.id, "entry_bytes": size})
    count("TrimmedNotifications", target="bus")
    return entry


def put_entries(client: Any, entries: list[dict[str, Any]]) -> list[str | None]:
    """Put ``entries`` in calls of at most ten, retrying only the ones that failed. Returns, per entry,
    None (on the bus) or the last error. A call that fails as a whole fails all of its entries."""
    errors: list[str | None] = [None] * len(entries)
    pending = list(range(len(entries)))
    for attempt in range(PUT_ATTEMPTS):
        failed: list[int] = []
        for start in range(0, len(pending), MAX_ENTRIES):
            chunk = pending[start:start + MAX_ENTRIES]
            try:
                results = client.put_events(Entries=[entries[i] for i in chunk])["Entries"]
            except (ClientError, BotoCoreError) as exc:
                results = [{"ErrorCode": type(exc).__name__, "ErrorMessage": str(exc)}] * len(chunk)
            for index, result in zip(chunk, results, strict=True):
                if result.get("ErrorCode"):
                    errors[index] = f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"
                    failed.append(index)
                else:
                    errors[index] = None
        pending = failed
        if not pending:
            break
        if attempt < len(RETRY_DELAYS):
            time.sleep(RETRY_DELAYS[attempt])
    return errors


class _Slot:
    """One participant's entry and, once the call is made, its fate."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry
        self.done = False
        self.error: str | None = None


class Window:
    """Up to ten events of one delivery, processed at the same time, whose entries go in one PutEvents.

    Each participant either ``submit``s its entry (and waits for its fate) or leaves without one (a
    duplicate, an archive failure). The call is made when every participant still in the window has
    submitted, so its size is the number of events that got that far, never a guess based on time."""

    def __init__(self, participants: int, client: Callable[[], Any]) -> None:
        self._active, self._client = participants, client
        self._pending: list[_Slot] = []
        self._changed = threading.Condition()

    def submit(self, entry: dict[str, Any]) -> None:
        slot = _Slot(entry)
        with self._changed:
            self._pending.append(slot)
            self._flush_if_all_in()
            while not slot.done:
                self._changed.wait()
        if slot.error is not None:
            raise BusUnavailable(slot.error)

    def _leave(self) -> None:
        with self._changed:
            self._active -= 1
            self._flush_if_all_in()

    def _flush_if_all_in(self) -> None:  # called with the condition held
        if not self._pending or len(self._pending) < self._active:
            return
        slots, self._pending = self._pending, []
        errors = put_entries(self._client(), [s.entry for s in slots])
        for slot, error in zip(slots, errors, strict=True):
            slot.done, slot.error = True, error
        self._changed.notify_all()

    @contextmanager
    def joined(self) -> Iterator[None]:
        """Run one participant (in its own thread): its entry, if any, goes through this window."""
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)
            self._leave()


_current: contextvars.ContextVar[Window | None] = contextvars.ContextVar("eventbridge_window", default=None)


class EventBridgeTarget:
    """Notifications as events on one bus (``EVENT_BUS_NAME``: a name or an ARN)."""

    stage = "bus"

    def __init__(self, bus: str, client: Callable[[], Any]) -> None:
        self.bus, self.client = bus, client

    def send(self, outgoing: Outgoing) -> None:
        entry = entry_for(outgoing, self.bus)
        window = _current.get()
        if window is not None:
            window.submit(entry)
            return
        (error,) = put_entries(self.client(), [entry])
        if error is not None:
            raise BusUnavailable(error)
