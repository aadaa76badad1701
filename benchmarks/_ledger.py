"""The ledger's cost (child of run.py): the callback with and without LEDGER_TABLE, in the same run, with a fixed
``latency`` per AWS call (in-memory S3, SNS and DynamoDB), and the DynamoDB writes each event costs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, callback_ab, median, percentile, use_memory_aws


def _writes_per_event(dynamodb: Any, settings: Any) -> dict[str, Any]:
    """Ledger items written per event over every sample, each posted once (all advance) then again with other
    bytes (none advances: one decision item more)."""
    from lib.api import receive

    per_type: dict[str, int] = {}
    totals = {"first": 0, "again": 0}
    files = sorted((ROOT / "events").rglob("*.json"))
    for pass_name in ("first", "again"):
        for path in files:
            event = json.loads(path.read_text(encoding="utf-8"))
            document = json.loads(event["body"])
            if pass_name == "again":
                document["MediahookBenchCopy"] = 1
            before = dynamodb.writes.get(settings.ledger_table, 0)
            status, answer = receive(json.dumps(document, ensure_ascii=False).encode(),
                                     pinned=event["pathParameters"]["product"], settings=settings)
            assert status == 200, answer
            written = dynamodb.writes.get(settings.ledger_table, 0) - before
            totals[pass_name] += written
            if pass_name == "first":
                per_type[str(path.relative_to(ROOT / "events").with_suffix(""))] = written
    n = len(files)
    return {"samples": n, "first_mean": round(totals["first"] / n, 2), "again_mean": round(totals["again"] / n, 2),
            "max": max(per_type.values()), "per_type": per_type}


def main() -> None:
    target, n, latency = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    from lib.settings import Settings

    env = {"ARCHIVE_BUCKET": "bench-archive", "EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
           "AUTH_MODE": "off", "IDEMPOTENCY_TABLE": "bench-idempotency"}
    without = Settings.from_env(env)
    with_ledger = Settings.from_env({**env, "LEDGER_TABLE": "bench-ledger"})
    _, _, dynamodb = use_memory_aws(delay=latency)
    off, on = callback_ab(without, with_ledger, n)
    _, _, counting = use_memory_aws(delay=0.0)
    writes = _writes_per_event(counting, with_ledger)
    Path(target).write_text(json.dumps({
        "events": len(on), "latency_ms": latency * 1000,
        "without_p50_ms": round(median(off), 1), "with_p50_ms": round(median(on), 1),
        "without_p99_ms": round(percentile(off, 0.99), 1), "with_p99_ms": round(percentile(on, 0.99), 1),
        "ratio": round(median(on) / median(off), 3), "writes": writes, "dynamodb_calls": dynamodb.calls}))


if __name__ == "__main__":
    main()
