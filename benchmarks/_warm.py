"""Warm per-event cost (child of run.py): api.receive with in-memory sinks on every sample, vs json.loads."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, percentile, use_memory_sinks


def main() -> None:
    target, iterations = sys.argv[1], int(sys.argv[2])
    use_memory_sinks(conditional=False)
    from lib.api import receive

    per_sample: list[dict[str, Any]] = []
    for path in sorted((ROOT / "events").rglob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        body = event["body"].encode("utf-8")
        product = event["pathParameters"]["product"]
        for _ in range(20):  # warm up: first-use model builds, caches
            receive(body, pinned=product)
        timings = []
        for _ in range(iterations):
            start = time.perf_counter_ns()
            status, _ = receive(body, pinned=product)
            timings.append((time.perf_counter_ns() - start) / 1000)
            assert status == 200
        loads = []
        for _ in range(iterations):
            start = time.perf_counter_ns()
            json.loads(body)
            loads.append((time.perf_counter_ns() - start) / 1000)
        p50, loads_p50 = percentile(timings, 0.5), percentile(loads, 0.5)
        per_sample.append({"sample": str(path.relative_to(ROOT / "events")), "bytes": len(body),
                           "p50_us": round(p50, 1), "p99_us": round(percentile(timings, 0.99), 1),
                           "json_loads_p50_us": round(loads_p50, 1), "ratio": round(p50 / loads_p50, 2)})
    largest = max(per_sample, key=lambda r: r["bytes"])
    Path(target).write_text(json.dumps({"iterations": iterations, "largest": largest, "samples": per_sample}))


if __name__ == "__main__":
    main()
