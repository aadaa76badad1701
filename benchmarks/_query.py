"""The events table, measured (``python -m benchmarks._query OUT EVENTS ARCHIVE_SAMPLE``; benchmarks/run.py runs it):

1. what keeping the table costs per million events at list prices: the rows' real sizes (every sample's row),
   Firehose's ingestion (each record rounded up to 5 KB), S3 storage of the gzip objects, S3 PUTs;
2. the bytes a named query scans per million events (Athena reads whole gzip JSON objects of the partitions in
   its window: one week's failures read a week of rows) and what that costs at Athena's price;
3. the local engine's time for ``failures --since 7d`` over EVENTS events (moto in-process: the table as
   Firehose-sized gzip objects), next to reading the same events one object at a time from the archive
   (get, parse, validate, keep the failures) in the same run. Reading the archive costs about the same per
   object for every object, so it is timed on ARCHIVE_SAMPLE of them and scaled to EVENTS (said so in the output).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# List prices, us-east-1, as published in 2026 (USD).
FIREHOSE_USD_PER_GB = 0.029  # Direct PUT ingestion, first 500 TB a month; each record billed in 5 KB steps
FIREHOSE_RECORD_STEP = 5 * 1024
S3_STANDARD_USD_PER_GB_MONTH = 0.023
S3_PUT_USD_PER_1000 = 0.005
ATHENA_USD_PER_TB = 5.0
ATHENA_MINIMUM_BYTES = 10 * 1024**2  # Athena bills at least 10 MB a query
OBJECT_ROWS = 5_000  # rows per table object in the benchmark (Firehose's 64 MB / 5 min buffers make larger ones)
BUCKET = "mediahook-bench-query"
GB = 1024**3


def sample_rows() -> list[tuple[dict[str, Any], bytes, str]]:
    """Every sample in events/ as (row, archived bytes, product): what the table and the archive hold for it."""
    from lib.cli.common import load_sample
    from lib.intake import read_event
    from lib.query.row import event_row

    found = []
    for path in sorted((ROOT / "events").rglob("*.json")):
        sample = load_sample(path)
        body = sample.body.encode()
        document = json.loads(body)
        if not isinstance(document, dict):
            continue
        event = read_event(document, pinned=sample.product, body=body)
        found.append((event_row(event, archive_key="", delivery="push", received_at="2026-12-03T10:00:00.000Z",
                                state_change="advanced"), body, sample.product))
    return found


def costs(samples: list[tuple[dict[str, Any], bytes, str]], gzip_bytes_per_event: float) -> dict[str, Any]:
    """``gzip_bytes_per_event``: the table objects' size over their rows (the local benchmark's objects)."""
    from lib.query.row import encode_row

    lines = [encode_row(row) for row, _, _ in samples]
    raw = sum(len(line) for line in lines) / len(lines)
    billed = sum(-(-len(line) // FIREHOSE_RECORD_STEP) * FIREHOSE_RECORD_STEP for line in lines) / len(lines)
    ratio = gzip_bytes_per_event / raw
    stored = gzip_bytes_per_event * 1e6  # bytes per million events, gzip
    firehose = billed * 1e6 / GB * FIREHOSE_USD_PER_GB
    storage = stored / GB * S3_STANDARD_USD_PER_GB_MONTH
    scan = stored * 8 / 7  # failures --since 7d reads 8 days of partitions (a day of margin) per 7 days of rows
    return {
        "row_bytes_mean": round(raw), "firehose_billed_bytes_mean": round(billed), "gzip_ratio": round(ratio, 3),
        "stored_mb_per_million": round(stored / 1e6, 1),
        "usd_per_million": {"firehose_ingest": round(firehose, 3), "s3_storage_per_month": round(storage, 4),
                            # Firehose's 5-minute buffers: 288 objects a day whatever the volume
                            "s3_puts_per_day_fixed": round(288 * S3_PUT_USD_PER_1000 / 1000, 4)},
        "scan_mb_per_million_failures_7d": round(scan / 1e6, 1),
        "athena_usd_per_query_per_million": round(max(scan, ATHENA_MINIMUM_BYTES) / 1024**4 * ATHENA_USD_PER_TB, 4),
        "events_under_1gb_cutoff_millions": round(GB / (scan / 1e6) / 1e6, 1),
        "prices": {"firehose_usd_per_gb": FIREHOSE_USD_PER_GB, "s3_usd_per_gb_month": S3_STANDARD_USD_PER_GB_MONTH,
                   "athena_usd_per_tb": ATHENA_USD_PER_TB},
    }


def local_vs_archive(samples: list[tuple[dict[str, Any], bytes, str]], events: int,
                     archive_sample: int) -> dict[str, Any]:
    import boto3
    from moto import mock_aws
    from moto.s3.models import s3_backends

    from lib import aws
    from lib.intake import read_event
    from lib.query import named_query, run_query
    from lib.query.row import encode_row

    now = datetime.now(UTC)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        backend = s3_backends["123456789012"]["aws"]  # seeding straight into moto: it is not what is measured
        rows, keys = [], []
        for n in range(events):
            row, body, product = samples[n % len(samples)]
            at = now - timedelta(seconds=n * 7 * 86400 // events)
            event_id = f"{n:064x}"
            key = f"{product}/{row['event_type']}/{at:%Y/%m/%d}/{event_id}.json"
            rows.append(encode_row({**row, "event_id": event_id, "archive_key": key,
                                    "received_at": at.strftime("%Y-%m-%d %H:%M:%S.000")}))
            keys.append((key, body, product))
        table_bytes = 0
        for start in range(0, events, OBJECT_ROWS):
            data = gzip.compress(b"".join(rows[start:start + OBJECT_ROWS]))
            table_bytes += len(data)
            backend.put_object(BUCKET, f"tables/events/dt=x/part-{start:07d}.json.gz", data)
        step = max(1, events // archive_sample)
        sampled = keys[::step][:archive_sample]
        for key, body, _ in sampled:
            backend.put_object(BUCKET, key, body)
        aws.reset()
        os.environ["ARCHIVE_BUCKET"] = BUCKET

        started = time.perf_counter()
        failures = run_query(named_query("failures", since="7d", now=now + timedelta(seconds=1)))
        local_s = time.perf_counter() - started

        started = time.perf_counter()
        found = 0
        for key, _, product in sampled:  # what an operator does without the table: each object, one at a time
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            if read_event(json.loads(body), pinned=product, body=body).summary.succeeded is False:
                found += 1
        archive_s = (time.perf_counter() - started) * events / len(sampled)
    expected = sum(1 for n in range(events) if samples[n % len(samples)][0]["succeeded"] is False)
    assert len(failures.rows) == expected, (len(failures.rows), expected)
    return {"events": events, "failures": expected, "table_objects": -(-events // OBJECT_ROWS),
            "gzip_bytes_per_event": round(table_bytes / events, 1),
            "local_s": round(local_s, 2), "archive_s": round(archive_s, 1), "archive_sampled": len(sampled),
            "archive_ms_per_object": round(archive_s * 1000 / events, 2), "speedup": round(archive_s / local_s, 1)}


def main() -> None:
    target, events, archive_sample = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    samples = sample_rows()
    local = local_vs_archive(samples, events, archive_sample)
    result = {**costs(samples, local["gzip_bytes_per_event"]), "local": local}
    Path(target).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
