"""The operator's view of forwarding: what waits, what is dead-lettered, and sending dead letters back.

Each destination has its own FIFO queue and dead-letter queue (lib/forward/names.py), so SQS's own counts
are the destination's: waiting and in flight from its queue's attributes, dead-lettered from its dead-letter
queue's (visible and not), the oldest waiting message's age from CloudWatch (``AWS/SQS``
``ApproximateAgeOfOldestMessage``). The dead-letter queue, which nothing else reads, is also scanned for the
last failure and the oldest dead letter's age. The destinations are the queues found under the prefix, so a
destination removed from the list whose queues were kept (they are retained) shows too. Used by
``mediahook forward`` and the console.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lib.forward import names
from lib.forward.message import Queued

SCAN_VISIBILITY = 30  # seconds a scanned dead letter stays hidden from another scan (nothing else reads it)


@dataclass(frozen=True)
class QueueCounts:
    waiting: int
    in_flight: int


@dataclass
class DeadLetters:
    """What the scan of a dead-letter queue found: the oldest dead letter's age (since it was first queued),
    the latest failure (when, why, the last status), and how many were not queued notifications."""

    oldest_age_seconds: float | None = None
    last_dead_at: float | None = None  # Unix time
    last_status: int | None = None
    last_reason: str = ""
    unreadable: int = 0


@dataclass
class DestinationStatus:
    """One destination's queues: waiting, in flight, dead-lettered (exact: SQS's counts of its own queues), the
    oldest waiting message's age (None: CloudWatch has no datapoint), and what the dead letters say."""

    name: str
    waiting: int = 0
    in_flight: int = 0
    dead_lettered: int = 0
    oldest_age_seconds: float | None = None
    age_unknown: str = ""  # why the oldest age is None: NO_DATAPOINT or NO_PERMISSION ("" when known)
    dead_letters: DeadLetters = field(default_factory=DeadLetters)

    def as_json(self) -> dict[str, Any]:
        letters = self.dead_letters
        return {"waiting": self.waiting, "in_flight": self.in_flight, "dead_lettered": self.dead_lettered,
                "oldest_age_seconds": self.oldest_age_seconds, "oldest_age_unknown": self.age_unknown or None,
                "dead_letters": {"oldest_age_seconds": letters.oldest_age_seconds, "last_dead_at": letters.last_dead_at,
                                 "last_status": letters.last_status, "last_reason": letters.last_reason,
                                 "unreadable": letters.unreadable}}


def counts(sqs: Any, queue_url: str) -> QueueCounts:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return QueueCounts(int(attributes.get("ApproximateNumberOfMessages", 0)),
                       int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)))


def _read(body: str) -> Queued | None:
    try:
        return Queued.from_json(body)
    except (ValueError, TypeError):  # moved there by the redrive policy: the function could not read it either
        return None


def scan(sqs: Any, queue_url: str, visibility: int = SCAN_VISIBILITY) -> Iterator[tuple[Queued | None, str, str]]:
    """Every message of the dead-letter queue (None: unreadable) with its receipt handle and SQS message id,
    each received once (hidden for ``visibility`` seconds). The scan ends when nothing more comes, or when
    what comes was all seen already (a scan longer than ``visibility`` meets its first messages again). SQS
    FIFO returns none of a message group's messages while some of the group are held, so the scan sees the
    first ten or so of each group (the oldest; redrive, which deletes as it goes, reaches them all)."""
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=visibility).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield _read(message["Body"]), message["ReceiptHandle"], message["MessageId"]


def dead_letters(sqs: Any, dead_letter_queue_url: str) -> DeadLetters:
    """The oldest dead letter's age and the latest failure among those the scan reaches; scanned messages are
    made visible again at once."""
    found = DeadLetters()
    handles: list[str] = []
    now = time.time()
    for queued, handle, _ in scan(sqs, dead_letter_queue_url):
        handles.append(handle)
        if queued is None:
            found.unreadable += 1
            continue
        found.oldest_age_seconds = max(found.oldest_age_seconds or 0.0, now - queued.queued_at)
        if queued.failure and queued.failure.dead_at >= (found.last_dead_at or 0.0):
            found.last_dead_at = queued.failure.dead_at
            found.last_status, found.last_reason = queued.failure.status, queued.failure.reason
    _release(sqs, dead_letter_queue_url, handles)
    return found


def destinations(sqs: Any, prefix: str) -> dict[str, dict[bool, str]]:
    """The destinations whose queues exist under ``prefix`` (FORWARD_QUEUE_URL_PREFIX), configured or not:
    name -> {False: its queue's URL, True: its dead-letter queue's URL} (either may be missing)."""
    prefix_name = names.prefix_name(prefix)
    found: dict[str, dict[bool, str]] = {}
    for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix_name,
                                                           PaginationConfig={"PageSize": 1000}):
        for url in page.get("QueueUrls", []):
            owner = names.destination_of(url, prefix_name)
            if owner is not None:
                found.setdefault(owner[0], {})[owner[1]] = url
    return dict(sorted(found.items()))


NO_DATAPOINT = ("CloudWatch has no ApproximateAgeOfOldestMessage datapoint for the queue in the last 5 minutes "
                "(an idle queue, or a local stack)")
NO_PERMISSION = "CloudWatch refused GetMetricStatistics: these credentials need cloudwatch:GetMetricStatistics"
_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def oldest_age(cloudwatch: Any, queue_url: str, minutes: int = 5) -> float | None:
    """``ApproximateAgeOfOldestMessage``'s Maximum over the last ``minutes`` (None: no datapoint: an idle queue's
    metrics pause, and a local stack has none)."""
    end = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_url.rsplit("/", 1)[-1]}],
        StartTime=end - timedelta(minutes=minutes), EndTime=end, Period=60, Statistics=["Maximum"])["Datapoints"]
    return max((float(p["Maximum"]) for p in points), default=None)


def status(sqs: Any, cloudwatch: Any | None, prefix: str, *, scan_dead_letters: bool = True) -> list[DestinationStatus]:
    """Every destination's figures (see :class:`DestinationStatus`); without ``cloudwatch`` no ages, without
    ``scan_dead_letters`` nothing read from the dead letters themselves (counts only: nothing hidden)."""
    out = []
    denied = False
    for name, urls in destinations(sqs, prefix).items():
        entry = DestinationStatus(name)
        if False in urls:
            waiting = counts(sqs, urls[False])
            entry.waiting, entry.in_flight = waiting.waiting, waiting.in_flight
            if cloudwatch is not None and not denied:
                try:
                    entry.oldest_age_seconds = oldest_age(cloudwatch, urls[False])
                except ClientError as exc:  # the counts are still worth showing: say why the age is not
                    if exc.response.get("Error", {}).get("Code") not in _DENIED:
                        raise
                    denied = True
            if entry.oldest_age_seconds is None:
                entry.age_unknown = NO_PERMISSION if denied else NO_DATAPOINT
        if True in urls:
            dead = counts(sqs, urls[True])
            entry.dead_lettered = dead.waiting + dead.in_flight
            if scan_dead_letters and entry.dead_lettered:
                entry.dead_letters = dead_letters(sqs, urls[True])
        out.append(entry)
    return out


def _release(sqs: Any, queue_url: str, handles: list[str]) -> None:
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for i, h in enumerate(handles[start:start + 10])])


def redrive(sqs: Any, dead_letter_queue_url: str, queue_url: str, destination: str) -> int:
    """Send ``destination``'s dead letters (its dead-letter queue's) back to its queue, in the order they died
    (each group's order is the FIFO order), with a fresh maximum age; a message of another destination, or
    unreadable, stays. Returns how many moved. Each is deleted from the dead-letter queue only after the queue
    took it (nothing lost; a crash between the two leaves it in both; run again within five minutes, the queue
    drops the second copy by its deduplication id, later the receiver dedupes it by its webhook-id / event id)."""
    moved, others = 0, []
    now = time.time()
    for queued, handle, message_id in scan(sqs, dead_letter_queue_url):
        if queued is None or queued.destination != destination:
            others.append(handle)
            continue
        revived = replace(queued.revived(), queued_at=now)
        # the dead letter's own SQS id: not the original deduplication id (it may still be inside SQS's
        # five-minute window, and the message would be dropped), and the same in a run repeated after a crash
        token = hashlib.sha256(f"redrive\n{message_id}".encode()).hexdigest()
        sqs.send_message(QueueUrl=queue_url, MessageBody=revived.to_json(), MessageGroupId=revived.group_id,
                         MessageDeduplicationId=token)
        sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=handle)
        moved += 1
    _release(sqs, dead_letter_queue_url, others)
    return moved
