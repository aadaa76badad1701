"""Shared pieces of the benchmarks: statistics, in-memory AWS sinks, the environment."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


from tests.fakes.memory_aws import MemoryDynamoDB, MemoryS3, MemorySNS  # noqa: E402


def use_memory_sinks(delay: float = 0.0, conditional: bool = True) -> tuple[MemoryS3, MemorySNS]:
    """Point lib.aws at in-memory S3/SNS (no I/O; ``delay`` seconds per call if asked). The warm benchmark
    sends one body many times and turns the conditional write off, so each send takes the normal path."""
    from lib import aws

    s3, sns = MemoryS3(delay, conditional), MemorySNS(delay)
    sinks = {"s3": s3, "sns": sns}
    aws.client = lambda service: sinks[service]
    return s3, sns


def use_memory_aws(delay: float = 0.0) -> tuple[MemoryS3, MemorySNS, MemoryDynamoDB]:
    """Point lib.aws at in-memory S3, SNS and DynamoDB, ``delay`` seconds per call (a network round trip)."""
    from lib import aws

    s3, sns, dynamodb = MemoryS3(delay), MemorySNS(delay), MemoryDynamoDB(delay)
    sinks = {"s3": s3, "sns": sns, "dynamodb": dynamodb}
    aws.client = lambda service: sinks[service]
    return s3, sns, dynamodb


def callback_bodies(n: int, offset: int) -> list[bytes]:
    """``n`` distinct ProcedureStateChanged events (a task each, on a file): what the callback gets most."""
    import copy
    import json

    template = json.loads((ROOT / "tests" / "samples" / "vod_ProcedureStateChanged.json").read_text(encoding="utf-8"))
    out = []
    for i in range(n):
        event = copy.deepcopy(template)
        event["ProcedureStateChangeEvent"]["TaskId"] = f"1500000001-Procedure-{offset + i:07d}t0"
        out.append(json.dumps(event, ensure_ascii=False).encode("utf-8"))
    return out


def time_callback(bodies: list[bytes], settings: Any) -> list[float]:
    """Milliseconds per body through the callback's receive() with ``settings``."""
    import time

    from lib.api import receive

    timings = []
    for body in bodies:
        start = time.perf_counter()
        status, answer = receive(body, pinned="vod", settings=settings)
        timings.append((time.perf_counter() - start) * 1000)
        assert status == 200, answer
    return timings


def callback_ab(without: Any, with_: Any, n: int) -> tuple[list[float], list[float]]:
    """The callback's timings under two settings in the same run: both warmed up, then ``n`` events each,
    interleaved in four rounds so that drift on a shared machine hits both alike. Returns (without, with)."""
    time_callback(callback_bodies(5, 10**6), without)  # first-use model builds, clients, threads
    time_callback(callback_bodies(5, 2 * 10**6), with_)
    off: list[float] = []
    on: list[float] = []
    for round_ in range(4):
        off += time_callback(callback_bodies(n // 4, round_ * n), without)
        on += time_callback(callback_bodies(n // 4, 10 * n + round_ * n), with_)
    return off, on
