"""Shared pieces of the benchmarks: statistics, in-memory AWS sinks, the environment."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

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
