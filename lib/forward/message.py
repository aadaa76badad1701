"""The message queued for one (notification, destination): what the delivery function needs and no secret.

Message groups keep one resource's notifications for one destination in order (SQS FIFO delivers a group's
messages one at a time), while other resources and other destinations go on: the group is the destination
plus the notification's subject (FileId, TaskId, ...). The deduplication id makes a retried callback, which
queues the same notification again, a no-op for SQS's five minutes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace

# SQS's limit for one message and for one SendMessageBatch (a queue may be set to take up to 1 MiB; every
# queue takes this). A queued message above it carries no body: the delivery reads the archived bytes (claim
# check). Measured on the message as queued: the body travels JSON-escaped, up to twice its own size.
MAX_MESSAGE_BYTES = 256 * 1024
# Left in a queued message for the failure a dead letter adds (an excerpt of 4096 characters, JSON-escaped).
DEAD_LETTER_RESERVE = 32 * 1024
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/=+@-]")


@dataclass(frozen=True)
class Failure:
    """Why a message was dead-lettered: the last status (None: no HTTP answer), an excerpt of the answer."""

    reason: str  # rejected (a 4xx or 3xx), expired (max age), refused (the SSRF guard), unknown_destination
    status: int | None
    response_excerpt: str
    attempts: int
    dead_at: float


@dataclass(frozen=True)
class Queued:
    """One notification for one destination. ``body`` is what is posted (for ``tencent``, before its
    signature fields are written afresh); None when it is too large, then ``archive_key`` is read."""

    destination: str
    event_id: str
    product: str
    event_type: str
    subject: str | None
    queued_at: float
    body: str | None
    archive_bucket: str
    archive_key: str
    format: str = "cloudevents"
    legacy: bool = False  # the pre-2019 VOD v2.0 format: Tencent does not sign it, nor does the tencent format
    redriven: bool = False  # sent back from the dead-letter queue by `mediahook forward redrive`
    # the ledger's sequence of this state of each subject it moved (Place; a deletion of several files has one per
    # file): the delivery claims each on its watermark (lib/forward/order.py). None without a ledger, for an event
    # that moved nothing of its own; a message queued before there were several reads its ``sequence`` (from_json)
    sequences: dict[str, int] | None = None
    failure: Failure | None = field(default=None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    def fitting(self) -> Queued:
        """This message, or (above ``MAX_MESSAGE_BYTES`` less what its dead letter would add) the same without
        its body: a claim check."""
        if self.body is None or len(self.to_json().encode()) <= MAX_MESSAGE_BYTES - DEAD_LETTER_RESERVE:
            return self
        return replace(self, body=None)

    @classmethod
    def from_json(cls, text: str) -> Queued:
        document = json.loads(text)
        failure = document.pop("failure", None)
        sequence = document.pop("sequence", None)  # a message queued when one number (its subject's) was carried
        if sequence is not None and document.get("sequences") is None and document.get("subject"):
            document["sequences"] = {document["subject"]: sequence}
        return cls(**document, failure=Failure(**failure) if failure else None)

    def dead(self, failure: Failure) -> Queued:
        return replace(self, failure=failure)

    def revived(self) -> Queued:
        return replace(self, failure=None, redriven=True)

    @property
    def group_id(self) -> str:
        return group_id(self.destination, self.subject, self.event_id)

    @property
    def deduplication_id(self) -> str:
        return hashlib.sha256(f"{self.destination}\n{self.event_id}".encode()).hexdigest()


def group_id(destination: str, subject: str | None, event_id: str) -> str:
    """``destination/subject`` within SQS's 128 characters of its alphabet (hashed when it does not fit);
    no subject: the event is its own group (nothing to keep it in order with)."""
    resource = subject or event_id
    candidate = f"{destination}/{resource}"
    if len(candidate) <= 128 and not _GROUP_UNSAFE.search(candidate):
        return candidate
    return f"{destination}/{hashlib.sha256(resource.encode()).hexdigest()}"
