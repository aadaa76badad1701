"""The operator's view of forwarding: what waits, what is dead-lettered, and sending dead letters back.

The forwarding queue and its dead-letter queue are shared by every destination (one FIFO queue, one group per
destination and resource). SQS counts a queue's messages, not a group's: the queue's own numbers (waiting, in
flight) are read from its attributes, while the dead-letter queue, which nothing else reads, is scanned, so
its messages are counted per destination with the oldest one's age. Used by ``mediahook forward``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from lib.forward.message import Queued

SCAN_VISIBILITY = 30  # seconds a scanned dead letter stays hidden from another scan (nothing else reads it)


@dataclass(frozen=True)
class QueueCounts:
    waiting: int
    in_flight: int


@dataclass
class DeadLetters:
    count: int = 0
    oldest_age_seconds: float = 0.0
    last_status: int | None = None
    last_reason: str = ""


def counts(sqs: Any, queue_url: str) -> QueueCounts:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return QueueCounts(int(attributes.get("ApproximateNumberOfMessages", 0)),
                       int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)))


UNREADABLE = "(unreadable)"  # what status calls a dead letter that is not a queued notification


def _read(body: str) -> Queued | None:
    try:
        return Queued.from_json(body)
    except (ValueError, TypeError):  # moved there by the redrive policy: the function could not read it either
        return None


def scan(sqs: Any, queue_url: str, visibility: int = SCAN_VISIBILITY) -> Iterator[tuple[Queued | None, str]]:
    """Every message of the dead-letter queue (None: unreadable) with its receipt handle, each received once
    (hidden for ``visibility`` seconds so the scan ends)."""
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=visibility).get("Messages", [])
        if not messages:
            return
        for message in messages:
            yield _read(message["Body"]), message["ReceiptHandle"]


def dead_letters(sqs: Any, dead_letter_queue_url: str) -> dict[str, DeadLetters]:
    """Per destination: how many dead letters, the oldest one's age (since it was first queued), and the last
    one's failure. Scanned messages are made visible again at once."""
    found: dict[str, DeadLetters] = {}
    handles: list[str] = []
    now = time.time()
    for queued, handle in scan(sqs, dead_letter_queue_url):
        handles.append(handle)
        if queued is None:
            found.setdefault(UNREADABLE, DeadLetters()).count += 1
            continue
        entry = found.setdefault(queued.destination, DeadLetters())
        entry.count += 1
        entry.oldest_age_seconds = max(entry.oldest_age_seconds, now - queued.queued_at)
        if queued.failure:
            entry.last_status, entry.last_reason = queued.failure.status, queued.failure.reason
    _release(sqs, dead_letter_queue_url, handles)
    return found


def _release(sqs: Any, queue_url: str, handles: list[str]) -> None:
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for i, h in enumerate(handles[start:start + 10])])


def redrive(sqs: Any, dead_letter_queue_url: str, queue_url: str, destination: str) -> int:
    """Send ``destination``'s dead letters back to the forwarding queue, in the order they died (each group's
    order is the FIFO order), with a fresh maximum age; the others stay. Returns how many moved. Each is
    deleted from the dead-letter queue only after the forwarding queue took it (nothing lost; a crash between
    the two leaves a copy, which the receiver dedupes by its webhook-id / event id)."""
    moved, others = 0, []
    now = time.time()
    for queued, handle in scan(sqs, dead_letter_queue_url):
        if queued is None or queued.destination != destination:
            others.append(handle)
            continue
        revived = replace(queued.revived(), queued_at=now)
        # a new deduplication id: the original one may still be inside SQS's five-minute window
        token = hashlib.sha256(f"{revived.deduplication_id}\n{now}\n{moved}".encode()).hexdigest()
        sqs.send_message(QueueUrl=queue_url, MessageBody=revived.to_json(), MessageGroupId=revived.group_id,
                         MessageDeduplicationId=token)
        sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=handle)
        moved += 1
    _release(sqs, dead_letter_queue_url, others)
    return moved
