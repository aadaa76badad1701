"""Shared pieces of the benchmarks: statistics, in-memory AWS sinks, the environment."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


class MemoryS3:
    """put_object with If-None-Match semantics; ``delay`` models a network round trip."""

    def __init__(self, delay: float = 0.0, conditional: bool = True) -> None:
        self.delay, self.calls, self.conditional = delay, 0, conditional
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.calls += 1
            if self.conditional and kwargs.get("IfNoneMatch") == "*" and kwargs["Key"] in self.objects:
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": "PreconditionFailed", "Message": ""}}, "PutObject")
            self.objects[kwargs["Key"]] = kwargs["Body"]
        return {}


class MemorySNS:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.messages: list[str] = []
        self._lock = threading.Lock()

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.messages.append(kwargs["Message"])
            return {"MessageId": str(len(self.messages))}


def use_memory_sinks(delay: float = 0.0, conditional: bool = True) -> tuple[MemoryS3, MemorySNS]:
    """Point lib.aws at in-memory S3/SNS (no I/O; ``delay`` seconds per call if asked). The warm benchmark
    sends one body many times and turns the conditional write off, so each send takes the normal path."""
    from lib import aws

    s3, sns = MemoryS3(delay, conditional), MemorySNS(delay)
    sinks = {"s3": s3, "sns": sns}
    aws.client = lambda service: sinks[service]
    return s3, sns
