"""The archive: every event's bytes in S3, written once and never overwritten.

The key is deterministic (product, type, receipt date, event_id) and the write is conditional
(``If-None-Match: *``), so a retried delivery finds its own object instead of replacing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lib.intake import InboundEvent


@dataclass(frozen=True)
class ArchivedObject:
    bucket: str
    key: str
    created: bool  # False: the object was already there (a retry or a duplicate)


def archive_key(event: InboundEvent, received_at: datetime, prefix: str = "") -> str:
    """``{prefix}{product}/{EventType}/{YYYY}/{MM}/{DD}/{event_id}.json``; unknown types under ``_unknown/``;
    synthetic (smoke check) events under ``{prefix}_synthetic/``, apart from Tencent's."""
    folder = event.event_type if event.known else f"_unknown/{event.event_type}"
    if event.synthetic:
        prefix = f"{prefix}_synthetic/"
    return f"{prefix}{event.product}/{folder}/{received_at:%Y/%m/%d}/{event.event_id}.json"


def metadata(event: InboundEvent, delivery: str, received_at: str) -> dict[str, str]:
    meta = {"received-at": received_at, "delivery": delivery, "product": event.product,
            "event-type": event.event_type}
    if event.legacy:
        meta["format"] = "legacy-v2"
    if event.synthetic:
        meta["synthetic"] = "true"
    return meta


def put_event(s3: Any, bucket: str, key: str, event: InboundEvent, meta: dict[str, str]) -> ArchivedObject:
    """Write the event unless an object already holds that key. Other S3 errors propagate."""
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=event.body,
            ContentType="application/json",
            Metadata=meta,
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
            return ArchivedObject(bucket, key, created=False)
        raise
    return ArchivedObject(bucket, key, created=True)
