"""``mediahook query backfill``: the table's rows of the events archived before the table existed (or whose
row write failed), built from the archive, the record.

For each day, the events archived that day (by the archive key's date) that no row of the table holds yet
are read back, validated as the pipeline validates them, and written as one gzip NDJSON object,
``{table prefix}dt=YYYY-MM-DD/backfill.json.gz``. The rows the function wrote (Firehose's objects) are
looked up first, and the backfill's own object is rewritten whole, so running it twice adds nothing.
Backfilled rows have no ``state_change`` (the ledger's decision was made on arrival and is not in the
archive) and their delivery is the archive's metadata.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from lib.query.local import fetch_rows, table_keys
from lib.query.row import encode_row, event_row

BACKFILL_OBJECT = "backfill.json.gz"
# An archive key after the archive prefix (lib/archive.py): dead letters and synthetic events do not match.
_ARCHIVED = re.compile(
    r"^(?P<product>vod|cme|mps)/(?:_unknown/)?[A-Za-z][\w.\-]*/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<event_id>[0-9a-f]{64})\.json$")
_PARTITION = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/")
FETCH_THREADS = 8


@dataclass(frozen=True)
class DayReport:
    """What backfill did for one day."""

    day: date
    archived: int  # events archived that day
    present: int  # of them, already in the table (written by the function)
    written: int  # rows in the day's backfill object
    skipped: tuple[str, ...] = ()  # archive keys that could not be read back as events


def archived_by_day(s3: Any, bucket: str, prefix: str, start: date, end: date) -> dict[date, list[str]]:
    """The archive's event keys between ``start`` and ``end`` (inclusive), by their date."""
    days: dict[date, list[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            match = _ARCHIVED.match(item["Key"][len(prefix):])
            if match:
                day = date(int(match["y"]), int(match["m"]), int(match["d"]))
                if start <= day <= end:
                    days.setdefault(day, []).append(item["Key"])
    return {day: sorted(keys) for day, keys in sorted(days.items())}


def _rows_present(s3: Any, bucket: str, table_prefix: str, day: date) -> set[tuple[str, str]]:
    """(product, event_id) of the rows the function wrote that can hold ``day``'s events: the partitions of
    that day and the next (Firehose's day can be the next one just after midnight), and any object outside
    a ``dt=`` partition. The backfill objects are not counted (each is rewritten whole)."""
    wanted = {day.isoformat(), (day + timedelta(days=1)).isoformat()}
    keys = []
    for key in table_keys(s3, bucket, table_prefix):
        partition = _PARTITION.search(key[len(table_prefix):])
        if key.endswith(BACKFILL_OBJECT) or (partition and partition[1] not in wanted):
            continue
        keys.append(key)
    present = set()
    for chunk in fetch_rows(s3, bucket, keys):
        for line in chunk.splitlines():
            if line.strip():
                row = json.loads(line)
                present.add((row.get("product"), row.get("event_id")))
    return present


def _row_of(s3: Any, bucket: str, prefix: str, key: str) -> dict[str, Any] | None:
    """The row of the archived event at ``key``, or None when its bytes are not an event any more."""
    from lib.errors import DeliveryError
    from lib.intake import read_event
    from lib.pipeline import utc_timestamp

    match = _ARCHIVED.match(key[len(prefix):])
    if match is None:  # listed by the same pattern; a key that no longer fits it is no event of ours
        return None
    obj = s3.get_object(Bucket=bucket, Key=key)
    body, meta = obj["Body"].read(), obj.get("Metadata", {})
    try:
        event = read_event(json.loads(body), pinned=match["product"], body=body)
    except (ValueError, DeliveryError):
        return None
    received_at = meta.get("received-at") or utc_timestamp(obj["LastModified"])
    return event_row(event, archive_key=key, delivery=meta.get("delivery", "push"), received_at=received_at,
                     state_change=None)


def backfill_day(s3: Any, *, archive_bucket: str, archive_prefix: str, table_bucket: str, table_prefix: str,
                 day: date, keys: list[str], dry_run: bool = False) -> DayReport:
    """Write (or rewrite) ``day``'s backfill object with the rows of ``keys`` the table does not hold."""
    present = _rows_present(s3, table_bucket, table_prefix, day)
    missing = [k for k in keys if (m := _ARCHIVED.match(k[len(archive_prefix):])) is not None
               and (m["product"], m["event_id"]) not in present]
    with ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="backfill") as pool:
        rows = list(pool.map(lambda k: _row_of(s3, archive_bucket, archive_prefix, k), missing))
    skipped = tuple(k for k, row in zip(missing, rows, strict=True) if row is None)
    built = sorted((r for r in rows if r is not None), key=lambda r: (r["received_at"], r["archive_key"]))
    target = f"{table_prefix}dt={day.isoformat()}/{BACKFILL_OBJECT}"
    if not dry_run:
        if built:
            # mtime=0: the same rows make the same bytes, so a second run rewrites the object unchanged.
            data = gzip.compress(b"".join(encode_row(r) for r in built), mtime=0)
            s3.put_object(Bucket=table_bucket, Key=target, Body=data, ContentType="application/x-ndjson",
                          ContentEncoding="gzip")
        else:
            s3.delete_object(Bucket=table_bucket, Key=target)  # nothing missing (any more): no object
    return DayReport(day, len(keys), len(keys) - len(missing), len(built), skipped)


def backfill(s3: Any, *, archive_bucket: str, archive_prefix: str, table_bucket: str, table_prefix: str,
             start: date, end: date, dry_run: bool = False) -> Iterable[DayReport]:
    """Backfill every day from ``start`` to ``end`` (inclusive) that has archived events, one at a time."""
    for day, keys in archived_by_day(s3, archive_bucket, archive_prefix, start, end).items():
        yield backfill_day(s3, archive_bucket=archive_bucket, archive_prefix=archive_prefix,
                           table_bucket=table_bucket, table_prefix=table_prefix, day=day, keys=keys,
                           dry_run=dry_run)
