"""The pipeline every entry point shares: archive first, then publish (and queue for forwarding), then acknowledge.

Ordering is the whole point. An event is published only after its bytes are in S3 (and, with
``LEDGER_TABLE``, it is recorded in the ledger, side by side with the archive write), and the caller
acknowledges (2xx, ConfirmEvents, queue delete) only after both succeeded. Any AWS failure becomes
``StorageUnavailable`` so the delivery is retried and nothing is lost.
"""

from __future__ import annotations

import contextlib
import functools
import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib import aws, dedup
from lib.archive import archive_key, metadata, put_event
from lib.errors import StorageUnavailable
from lib.forward import enqueue as forward
from lib.intake import InboundEvent
from lib.ledger import LedgerUnavailable, Pending, ledger_for
from lib.notification import Delivery, StateChange
from lib.observability import count, logger
from lib.publish import NotificationTarget, SnsTarget, TargetUnavailable, outgoing
from lib.settings import Settings


@dataclass(frozen=True)
class Outcome:
    """What happened to one event; ``as_result`` is its entry in the HTTP response."""

    event_id: str
    product: str
    event_type: str
    duplicate: bool
    archive_key: str
    state_change: StateChange | None = None  # the ledger's decision (None without LEDGER_TABLE)

    def as_result(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "product": self.product, "event_type": self.event_type,
                "duplicate": self.duplicate, "archive_key": self.archive_key}


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 with milliseconds and ``Z``, as CloudEvents and the archive metadata use."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.cache
def targets(settings: Settings) -> tuple[NotificationTarget, ...]:
    """Where notifications go: SNS when a topic (or a ROUTES topic) is configured, then the EventBridge bus
    when ``EVENT_BUS_NAME`` is (settings require at least one of the two)."""
    found: list[NotificationTarget] = []
    if settings.events_topic_arn or settings.routes:
        found.append(SnsTarget(settings.events_topic_arn, settings.routes, lambda: aws.client("sns")))
    if settings.event_bus_name:
        from lib.eventbridge import EventBridgeTarget  # off the cold path unless a bus is configured

        found.append(EventBridgeTarget(settings.event_bus_name, lambda: aws.client("events")))
    return tuple(found)


def notify(event: InboundEvent, archived: Any, *, delivery: Delivery, received_at: str, settings: Settings,
           state_change: StateChange | None = None) -> None:
    """Send the event's notification to every target, in order. A target's failure is a 503 (the delivery
    is retried; a target that already had it sees the same CloudEvent id again, which consumers dedupe)."""
    message = outgoing(event, archived, delivery, received_at, state_change)
    for target in targets(settings):
        try:
            target.send(message)
        except (ClientError, BotoCoreError, TargetUnavailable) as exc:
            count("Failures", stage=target.stage)
            logger.exception("notification failed after archiving", extra={"archive_key": archived.key,
                                                                              "target": target.stage})
            raise StorageUnavailable(f"the notification could not be sent ({target.stage}); the delivery was not "
                                     "acknowledged") from exc


def run_effects(event: InboundEvent, *, delivery: Delivery, settings: Settings,
                received_at: datetime) -> dict[str, Any]:
    """Archive (and record in the ledger, at the same time) then publish one event. Returns a JSON-able
    record of what was done."""
    stamp = utc_timestamp(received_at)
    key = archive_key(event, received_at, settings.archive_prefix)
    ledger = ledger_for(settings)
    pending = ledger.record(event, delivery=delivery, received_at=stamp, archive_key=key) if ledger else None
    try:
        archived = put_event(aws.client("s3"), settings.archive_bucket, key, event,
                             metadata(event, delivery, stamp))
    except (ClientError, BotoCoreError) as exc:
        count("Failures", stage="archive")
        logger.exception("archive failed", extra={"archive_key": key})
        _settle(pending)
        raise StorageUnavailable("the archive is unavailable; the delivery was not acknowledged") from exc
    if not archived.created:
        logger.info("event already archived; publishing again", extra={"archive_key": key})
    state_change = _state_change(pending, key)
    places = pending.places() if pending is not None else None  # known already: the same calls' answers
    # The events table's row, side by side with the notification (its round trip is not added to the
    # callback's). Once per event: with IDEMPOTENCY_TABLE these effects run once per accepted event (a failed
    # attempt releases its record: its retry writes the row again, and the events view keeps one); without
    # one, the archive's conditional write is the witness of the first time.
    row = None
    if settings.events_stream_name and (archived.created or settings.idempotency_table):
        row = start_table_row(event, key, delivery=delivery, received_at=stamp, state_change=state_change,
                              stream=settings.events_stream_name)
    try:
        with forward.queued_alongside(event, archived, delivery=delivery, received_at=stamp, settings=settings,
                                      state_change=state_change, places=places):
            notify(event, archived, delivery=delivery, received_at=stamp, settings=settings,
                   state_change=state_change)
    finally:
        finish_table_row(row)
    return {"archive_key": key, "state_change": state_change}


@functools.cache
def _row_writers() -> ThreadPoolExecutor:
    """The threads that put table rows (created on the first row: nothing at cold start)."""
    return ThreadPoolExecutor(4, thread_name_prefix="table-row")


@dataclass(frozen=True)
class TableRow:
    """A row on its way to the events table's stream."""

    future: Future[None]
    product: str
    archive_key: str


def start_table_row(event: InboundEvent, key: str, *, delivery: Delivery, received_at: str,
                    state_change: StateChange | None, stream: str) -> TableRow:
    """Put the event's row in the events table (lib/query/row.py) on a writer thread; ``finish_table_row`` waits
    for it."""
    from lib.query.row import event_row, write_row  # off the cold path: only when the table is configured

    row = event_row(event, archive_key=key, delivery=delivery, received_at=received_at, state_change=state_change)
    future = _row_writers().submit(lambda: write_row(aws.client("firehose"), stream, row))
    return TableRow(future, event.product, key)


def finish_table_row(row: TableRow | None) -> None:
    """Wait for the row (a frozen sandbox must not resume it later). Its failure never fails the delivery: the
    archive is the record, a lost row is counted (TableRowsFailed) and ``mediahook query backfill`` rebuilds it."""
    if row is None:
        return
    try:
        row.future.result()
    except (ClientError, BotoCoreError):
        count("TableRowsFailed", product=row.product)
        logger.exception("events table row not written (the archive has the event; backfill rebuilds the row)",
                         extra={"archive_key": row.archive_key})


def _state_change(pending: Pending | None, key: str) -> StateChange | None:
    """Wait for the ledger's writes: a failure is a 503 before anything is published (the retry converges:
    the ledger's writes are conditional or rewrite the same items)."""
    if pending is None:
        return None
    try:
        return pending.result()
    except LedgerUnavailable as exc:
        count("Failures", stage="ledger")
        logger.exception("ledger write failed", extra={"archive_key": key})
        raise StorageUnavailable("the ledger is unavailable; the delivery was not acknowledged") from exc


def _settle(pending: Pending | None) -> None:
    """Let the ledger's calls finish before answering (a frozen sandbox must not resume them later)."""
    if pending is not None:
        with contextlib.suppress(LedgerUnavailable):
            pending.result()


def process(event: InboundEvent, *, delivery: Delivery, settings: Settings,
            received_at: datetime | None = None) -> Outcome:
    """Run one event through the pipeline and say what happened."""
    moment = received_at or datetime.now(UTC)
    # Thread-safe keys: pull workers and a batch's window process events side by side.
    logger.thread_safe_append_keys(correlation_id=event.event_id, product=event.product, event_type=event.event_type,
                                   delivery=delivery)
    record = dedup.run_once(settings.idempotency_table, run_effects, event=event, delivery=delivery,
                            settings=settings, received_at=moment)
    duplicate = bool(record.get("duplicate"))
    if duplicate:
        count("Duplicates", product=event.product)
        logger.info("duplicate event: already archived and published", extra={"archive_key": record["archive_key"]})
        return Outcome(event.event_id, event.product, event.event_type, duplicate=True,
                       archive_key=record["archive_key"], state_change=record.get("state_change"))
    count("EventsAccepted", product=event.product, event_type=event.event_type if event.known else "_unknown")
    if not event.known:
        count("UnknownEventType", product=event.product)
        logger.warning("unknown EventType archived under _unknown/", extra={"archive_key": record["archive_key"]})
    if event.variant is not None:  # archived as sent; its summary was read from where the variant put it
        count("PublishedVariant", product=event.product, variant=event.variant)
        logger.warning("published variant read by what it carries", extra={"variant": event.variant})
    logger.info("event archived and published", extra={"archive_key": record["archive_key"],
                                                       "state_change": record.get("state_change")})
    return Outcome(event.event_id, event.product, event.event_type, duplicate=False,
                   archive_key=record["archive_key"], state_change=record.get("state_change"))


def dead_letter(settings: Settings, *, product: str, document: dict[str, Any], event_id: str, code: str,
                message: str, attempts: int, delivery: Delivery) -> str:
    """Archive a poison event under ``{product}/_dead/`` with its error, so that it can be acknowledged
    (it stops blocking its queue) and inspected. Returns the key; S3 errors propagate (then the event
    must not be acknowledged)."""
    now = datetime.now(UTC)
    key = f"{settings.archive_prefix}{product}/_dead/{now:%Y/%m/%d}/{event_id}.json"
    record = {"event_id": event_id, "error": {"code": code, "message": message[:2000]}, "attempts": attempts,
              "dead_at": utc_timestamp(now), "delivery": delivery, "event": document}
    aws.client("s3").put_object(
        Bucket=settings.archive_bucket, Key=key, ContentType="application/json",
        # backslashreplace: a lone surrogate (why some events die) becomes its JSON escape again.
        Body=json.dumps(record, ensure_ascii=False).encode("utf-8", "backslashreplace"),
        Metadata={"delivery": delivery, "product": product, "error-code": code[:100], "dead-at": record["dead_at"]})
    count("DeadEvents", product=product)
    logger.error("poison event dead-lettered and acknowledged",
                 extra={"event_id": event_id, "archive_key": key, "error_code": code, "attempts": attempts})
    return key


def process_all(events: list[InboundEvent], *, delivery: Delivery, settings: Settings) -> list[Outcome]:
    """Process a delivery's events; a repeated event inside one delivery is done once. With an EventBridge
    bus, a batch runs in windows of up to ten events side by side, so that their entries share PutEvents
    calls; otherwise one after the other."""
    received_at = datetime.now(UTC)
    first_copies: dict[tuple[str, str], InboundEvent] = {}
    for event in events:
        first_copies.setdefault(event.identity, event)
    unique = list(first_copies.values())  # the first copy of each event, in delivery order
    if settings.event_bus_name and len(unique) > 1:
        done = _process_in_windows(unique, delivery=delivery, settings=settings, received_at=received_at)
    else:
        done = {e.identity: process(e, delivery=delivery, settings=settings, received_at=received_at) for e in unique}
    outcomes, seen = [], set()
    for event in events:
        first = done[event.identity]
        repeated = event.identity in seen
        seen.add(event.identity)
        outcomes.append(Outcome(first.event_id, first.product, first.event_type, True, first.archive_key,
                                first.state_change) if repeated else first)
    return outcomes


def _process_in_windows(events: list[InboundEvent], *, delivery: Delivery, settings: Settings,
                        received_at: datetime) -> dict[tuple[str, str], Outcome]:
    from lib.eventbridge import MAX_ENTRIES, Window

    done: dict[tuple[str, str], Outcome] = {}
    for start in range(0, len(events), MAX_ENTRIES):
        chunk = events[start:start + MAX_ENTRIES]
        window = Window(len(chunk), lambda: aws.client("events"))

        def one(event: InboundEvent, window: Window = window) -> Outcome:
            with window.joined():
                return process(event, delivery=delivery, settings=settings, received_at=received_at)

        with ThreadPoolExecutor(len(chunk), thread_name_prefix="window") as pool:
            futures = [pool.submit(one, event) for event in chunk]
        failures = [error for error in (f.exception() for f in futures) if error is not None]
        if failures:  # every event of the window has finished; raised as the one-by-one path raises it
            raise failures[0]
        done.update({e.identity: f.result() for e, f in zip(chunk, futures, strict=True)})
    return done
