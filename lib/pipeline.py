"""The pipeline every entry point shares: archive first, then publish, then acknowledge.

Ordering is the whole point. An event is published only after its bytes are in S3, and the caller
acknowledges (2xx, ConfirmEvents, queue delete) only after both succeeded. Any AWS failure becomes
``StorageUnavailable`` so the delivery is retried and nothing is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from lib import aws, dedup
from lib.archive import archive_key, metadata, put_event
from lib.errors import StorageUnavailable
from lib.intake import InboundEvent
from lib.observability import count, logger
from lib.publish import cloud_event, message_attributes, publish_event
from lib.settings import Settings

Delivery = Literal["push", "pull", "queue"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one event; ``as_result`` is its entry in the HTTP response."""

    event_id: str
    product: str
    event_type: str
    duplicate: bool
    archive_key: str

    def as_result(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "product": self.product, "event_type": self.event_type,
                "duplicate": self.duplicate, "archive_key": self.archive_key}


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 with milliseconds and ``Z``, as CloudEvents and the archive metadata use."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def topics_for(event: InboundEvent, settings: Settings) -> list[str]:
    """The default topic plus every ``ROUTES`` topic whose pattern matches the event."""
    arns = [settings.events_topic_arn]
    arns += [r.topic_arn for r in settings.routes if r.matches(event.product, event.event_type)]
    return list(dict.fromkeys(arns))


def run_effects(event: InboundEvent, *, delivery: Delivery, settings: Settings,
                received_at: datetime) -> dict[str, Any]:
    """Archive then publish one event. Returns a JSON-able record of what was done."""
    stamp = utc_timestamp(received_at)
    key = archive_key(event, received_at, settings.archive_prefix)
    try:
        archived = put_event(aws.client("s3"), settings.archive_bucket, key, event,
                             metadata(event, delivery, stamp))
    except (ClientError, BotoCoreError) as exc:
        count("Failures", stage="archive")
        logger.exception("archive failed", extra={"archive_key": key})
        raise StorageUnavailable("the archive is unavailable; the delivery was not acknowledged") from exc
    if not archived.created:
        logger.info("event already archived; publishing again", extra={"archive_key": key})
    try:
        message_ids = publish_event(aws.client("sns"), topics_for(event, settings),
                                    cloud_event(event, archived, delivery, stamp), message_attributes(event))
    except (ClientError, BotoCoreError) as exc:
        count("Failures", stage="publish")
        logger.exception("publish failed after archiving", extra={"archive_key": key})
        raise StorageUnavailable("the notification could not be published; the delivery was not acknowledged") from exc
    return {"archive_key": key, "message_ids": message_ids}


def process(event: InboundEvent, *, delivery: Delivery, settings: Settings,
            received_at: datetime | None = None) -> Outcome:
    """Run one event through the pipeline and say what happened."""
    moment = received_at or datetime.now(UTC)
    logger.set_correlation_id(event.event_id)
    logger.append_keys(product=event.product, event_type=event.event_type, delivery=delivery)
    record = dedup.run_once(settings.idempotency_table, run_effects, event=event, delivery=delivery,
                            settings=settings, received_at=moment)
    duplicate = bool(record.get("duplicate"))
    if duplicate:
        count("Duplicates", product=event.product)
        logger.info("duplicate event: already archived and published", extra={"archive_key": record["archive_key"]})
        return Outcome(event.event_id, event.product, event.event_type, duplicate=True,
                       archive_key=record["archive_key"])
    count("EventsAccepted", product=event.product, event_type=event.event_type if event.known else "_unknown")
    if not event.known:
        count("UnknownEventType", product=event.product)
        logger.warning("unknown EventType archived under _unknown/", extra={"archive_key": record["archive_key"]})
    logger.info("event archived and published", extra={"archive_key": record["archive_key"]})
    return Outcome(event.event_id, event.product, event.event_type, duplicate=False,
                   archive_key=record["archive_key"])


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
    """Process a delivery's events in order; a repeated event inside one delivery is done once."""
    received_at = datetime.now(UTC)
    done: dict[str, Outcome] = {}
    outcomes = []
    for event in events:
        if event.event_id in done:
            first = done[event.event_id]
            outcomes.append(Outcome(first.event_id, first.product, first.event_type, True, first.archive_key))
            continue
        outcome = process(event, delivery=delivery, settings=settings, received_at=received_at)
        done[event.event_id] = outcome
        outcomes.append(outcome)
    return outcomes
