"""The ledger's cost (child of run.py): the callback with and without LEDGER_TABLE, in the same run, with a fixed
``latency`` per AWS call (in-memory S3, SNS and DynamoDB), and the DynamoDB writes each event costs."""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, median, percentile, use_memory_aws


def _bodies(n: int, offset: int) -> list[bytes]:
    """``n`` distinct ProcedureStateChanged events (a task each, on a file): what the callback gets most."""
    template = json.loads((ROOT / "tests" / "samples" / "vod_ProcedureStateChanged.json").read_text(encoding="utf-8"))
    out = []
    for i in range(n):
        event = copy.deepcopy(template)
        event["ProcedureStateChangeEvent"]["TaskId"] = f"1500000001-Procedure-{offset + i:07d}t0"
        out.append(json.dumps(event, ensure_ascii=False).encode("utf-8"))
    return out


def _time(bodies: list[bytes], settings: Any) -> list[float]:
    from lib.api import receive

    timings = []
    for body in bodies:
        start = time.perf_counter()
        status, answer = receive(body, pinned="vod", settings=settings)
        timings.append((time.perf_counter() - start) * 1000)
        assert status == 200, answer
    return timings


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
    _time(_bodies(5, 10**6), without)  # warm up both paths: first-use model builds, clients, threads
    _time(_bodies(5, 2 * 10**6), with_ledger)
    off: list[float] = []
    on: list[float] = []
    for round_ in range(4):  # interleaved, so that drift on a shared machine hits both alike
        off += _time(_bodies(n // 4, round_ * n), without)
        on += _time(_bodies(n // 4, 10 * n + round_ * n), with_ledger)
    _, _, counting = use_memory_aws(delay=0.0)
    writes = _writes_per_event(counting, with_ledger)
    Path(target).write_text(json.dumps({
        "events": len(on), "latency_ms": latency * 1000,
        "without_p50_ms": round(median(off), 1), "with_p50_ms": round(median(on), 1),
        "without_p99_ms": round(percentile(off, 0.99), 1), "with_p99_ms": round(percentile(on, 0.99), 1),
        "ratio": round(median(on) / median(off), 3), "writes": writes, "dynamodb_calls": dynamodb.calls}))


if __name__ == "__main__":
    main()
