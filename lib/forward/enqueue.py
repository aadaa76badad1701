"""Queue a notification for every destination whose filter matches it: the pipeline's forwarding step.

It runs after the archive write and the ledger's decision (a filter reads ``state_change``; a stale event
is not forwarded unless asked for) and side by side with publishing, in a thread of its own, so that one
destination adds an SQS call's time to the callback only where it is longer than SNS's. Like publishing,
it must succeed before the delivery is acknowledged: a failure is a 503 and the retry queues again (the
FIFO queue drops the copy by its deduplication id). Each destination has its own queue (lib/forward/names.py):
one SendMessageBatch per destination, the destinations' queues sent to side by side
on threads of their own (``send``), so the callback waits for the slowest queue, not for the sum.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lib import aws
from lib.archive import ArchivedObject
from lib.errors import StorageUnavailable
from lib.forward import names
from lib.forward.message import MAX_MESSAGE_BYTES, Queued
from lib.forward.order import unless_moved_on
from lib.intake import InboundEvent
from lib.ledger import Place
from lib.notification import Delivery, StateChange
from lib.observability import count, logger
from lib.publish import outgoing
from lib.settings import Settings

if TYPE_CHECKING:  # the models load only where destinations are configured
    from lib.forward.config import Destination

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="forward")
# one destination's queue per thread when an event goes to several (a pool of its own: _pool's threads wait on it)
_senders = ThreadPoolExecutor(max_workers=8, thread_name_prefix="forward-send")
SQS_BATCH = 10


def matching(event: InboundEvent, settings: Settings, state_change: StateChange | None) -> list[Destination]:
    """The destinations this event goes to (none for a smoke check's synthetic event)."""
    if not settings.forward_destinations or event.synthetic:
        return []
    from lib.forward.config import destinations_of

    return destinations_of(settings.forward_destinations).matching(event.product, event.event_type,
                                                                   event.summary.succeeded, state_change)


def messages(event: InboundEvent, archived: ArchivedObject, destinations: list[Destination], *,
             delivery: Delivery, received_at: str, state_change: StateChange | None,
             sequences: dict[str, int] | None = None) -> list[Queued]:
    cloud_event_body: str | None = None
    tencent_body: str | None = None
    if any(d.format == "cloudevents" for d in destinations):
        cloud_event_body = outgoing(event, archived, delivery, received_at, state_change).body
    if any(d.format == "tencent" for d in destinations) and len(event.body) <= MAX_MESSAGE_BYTES:
        tencent_body = event.body.decode("utf-8")
    now = time.time()
    queued = [Queued(destination=d.name, event_id=event.event_id, product=event.product, event_type=event.event_type,
                     subject=event.summary.subject, queued_at=now,
                     body=cloud_event_body if d.format == "cloudevents" else tencent_body,
                     archive_bucket=archived.bucket, archive_key=archived.key, format=d.format, legacy=event.legacy,
                     sequences=sequences)
              for d in destinations]
    # a tencent body too large for its message goes by claim check (the archive holds Tencent's bytes); a
    # CloudEvent is within SNS's 256 KiB, as publishing it already requires
    return [q.fitting() if q.format == "tencent" else q for q in queued]


def sequences_of(places: Mapping[str, Place] | None) -> dict[str, int] | None:
    """Each subject's sequence, for the messages (None when no subject has one: the message stays small)."""
    found = {subject: p.sequence for subject, p in (places or {}).items() if p.sequence is not None}
    return found or None


def batches(queued: list[Queued]) -> Iterator[list[tuple[Queued, str]]]:
    """``queued`` with their JSON, in SendMessageBatch requests: at most ten messages and ``MAX_MESSAGE_BYTES``
    each."""
    batch: list[tuple[Queued, str]] = []
    size = 0
    for q in queued:
        text = q.to_json()
        length = len(text.encode())
        if batch and (len(batch) == SQS_BATCH or size + length > MAX_MESSAGE_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((q, text))
        size += length
    if batch:
        yield batch


def send(queue_url_prefix: str, queued: list[Queued]) -> None:
    """Each destination's messages to its own queue: SendMessageBatch, within SQS's limits of count and size;
    any entry SQS did not take fails the whole step (it is retried). Several destinations' queues are sent to
    side by side (the callback waits for the slowest, not the sum)."""
    by_destination: dict[str, list[Queued]] = {}
    for q in queued:
        by_destination.setdefault(q.destination, []).append(q)
    if len(by_destination) == 1:
        [(destination, theirs)] = by_destination.items()
        _send_to(queue_url_prefix, destination, theirs)
        return
    futures = [_senders.submit(_send_to, queue_url_prefix, destination, theirs)
               for destination, theirs in by_destination.items()]
    errors = [e for e in (f.exception() for f in futures) if e is not None]  # waits for every one
    if errors:
        raise errors[0]


def _send_to(queue_url_prefix: str, destination: str, queued: list[Queued]) -> None:
    sqs = aws.client("sqs")
    queue_url = names.queue_url(queue_url_prefix, destination)
    for chunk in batches(queued):
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": text, "MessageGroupId": q.group_id,
             "MessageDeduplicationId": q.deduplication_id} for i, (q, text) in enumerate(chunk)])
        if answer.get("Failed"):
            failed = answer["Failed"][0]
            raise StorageUnavailable(f"the forwarding queue of {destination} refused a message "
                                     f"({failed.get('Code')}); the delivery was not acknowledged")


def _queue(event: InboundEvent, archived: ArchivedObject, destinations: list[Destination], **kwargs: Any) -> None:
    settings: Settings = kwargs.pop("settings")
    queued = messages(event, archived, destinations, **kwargs)
    send(str(settings.forward_queue_url_prefix), queued)
    for q in queued:
        count("ForwardQueued", destination=q.destination)


@contextmanager
def queued_alongside(event: InboundEvent, archived: ArchivedObject, *, delivery: Delivery, received_at: str,
                     settings: Settings, state_change: StateChange | None,
                     places: Mapping[str, Place] | None = None) -> Iterator[None]:
    """Queue the event for its destinations while the block (publishing) runs; on leaving, wait for the
    queueing and raise ``StorageUnavailable`` if it failed, so nothing is acknowledged before it is queued.
    ``places``: what the ledger said of the event's place in each subject's order (None without a ledger);
    their sequences go in the messages, and an event that has moved on in any goes only where stale events
    are taken."""
    destinations = matching(event, settings, state_change)
    if places is not None and state_change != "stale":  # (without a ledger nothing knows the resource moved on)
        destinations = unless_moved_on(event, places, destinations)
    if not destinations:
        yield
        return
    future: Future[None] = _pool.submit(_queue, event, archived, destinations, delivery=delivery,
                                        received_at=received_at, settings=settings, state_change=state_change,
                                        sequences=sequences_of(places))
    try:
        yield
    finally:
        error = future.exception()  # waits: a frozen sandbox must not resume the call later
    if isinstance(error, ClientError | BotoCoreError | StorageUnavailable):
        count("Failures", stage="forward")
        logger.error("forwarding queue failed after archiving", extra={"archive_key": archived.key,
                                                                        "error": str(error)[:300]})
        raise StorageUnavailable("the notification could not be queued for forwarding; the delivery was not "
                                 "acknowledged") from error
    if error is not None:
        raise error
