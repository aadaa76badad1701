"""One row of the events table per accepted event: built from what the pipeline already knows, written to
the Firehose delivery stream (``EVENTS_STREAM_NAME``), which batches rows into gzip NDJSON objects under
``dt=YYYY-MM-DD/``.

The row is written once, after the event's notification, when the event is accepted for the first time:
the idempotency record says so (``IDEMPOTENCY_TABLE``), or without one, the conditional archive write created
its object. The archive is the record: a failed row write is logged and counted (``TableRowsFailed``) and
does not fail the delivery; ``mediahook query backfill`` rebuilds the missing rows from the archive.
Nothing here is imported at cold start (the pipeline imports it on the first row), and the Firehose
client is created on first use.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from lib.intake import InboundEvent

# Firehose takes records of at most 1,000 KiB; a row whose payload would not fit goes without it
# (the archive_key points at the bytes).
MAX_RECORD_BYTES = 1_000 * 1024


def table_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.mmm`` (UTC): the timestamp form Athena's JSON SerDe and DuckDB both read."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def parse_received_at(text: str) -> datetime:
    """The pipeline's RFC 3339 receipt time (``2026-12-03T10:00:00.123Z``) as a datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _sub_app_id(document: Any, depth: int = 0) -> int | None:
    """The first integer ``SubAppId`` at most three levels down (VOD names it inside the payload)."""
    if depth > 3:
        return None
    if isinstance(document, dict):
        value = document.get("SubAppId")
        if isinstance(value, int) and not isinstance(value, bool) and value:
            return value
        for child in document.values():
            if isinstance(child, dict | list) and (found := _sub_app_id(child, depth + 1)) is not None:
                return found
    elif isinstance(document, list):
        for child in document[:10]:
            if (found := _sub_app_id(child, depth + 1)) is not None:
                return found
    return None


def event_row(event: InboundEvent, *, archive_key: str, delivery: str, received_at: str,
              state_change: str | None) -> dict[str, Any]:
    """The table's row for ``event`` (keys: lib/query/schema.py's columns, without the partition)."""
    s = event.summary
    return {
        "event_id": event.event_id,
        "product": event.product,
        "event_type": event.event_type,
        "received_at": table_timestamp(parse_received_at(received_at)),
        "delivery": delivery,
        "subject": s.subject,
        "task_id": s.task_id,
        "file_ids": list(s.file_ids),
        "status": s.status,
        "succeeded": s.succeeded,
        "error_code": s.error_code,
        "error_message": s.error_message,
        "state_change": state_change,
        "recovered": delivery == "reconcile",
        "sub_app_id": _sub_app_id(event.document),
        "archive_key": archive_key,
        "payload": event.body.decode("utf-8", "replace"),
    }


def encode_row(row: dict[str, Any]) -> bytes:
    """One NDJSON line; without its payload when the line would exceed Firehose's record limit."""
    line = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace") + b"\n"
    if len(line) > MAX_RECORD_BYTES:
        line = encode_row({**row, "payload": None})
    return line


def write_row(firehose: Any, stream: str, row: dict[str, Any]) -> None:
    """Put one row on the delivery stream; AWS errors propagate (the pipeline counts and logs them)."""
    firehose.put_record(DeliveryStreamName=stream, Record={"Data": encode_row(row)})
