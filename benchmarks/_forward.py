"""Forwarding's cost on the callback (child of run.py): the callback with one destination configured next to the
callback with none, in the same run, interleaved, with a fixed ``latency`` per AWS call (in-memory S3, SNS,
DynamoDB and SQS) and the ledger on in both (the stack's default: the filter reads its decision)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.common import callback_ab, median, percentile, use_memory_aws
from tests.fakes.memory_aws import MemorySQS


def main() -> None:
    target, n, latency = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    from lib import aws
    from lib.settings import Settings

    env = {"ARCHIVE_BUCKET": "bench-archive", "EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
           "AUTH_MODE": "off", "IDEMPOTENCY_TABLE": "bench-idempotency", "LEDGER_TABLE": "bench-ledger"}
    destination = [{"name": "app", "url": "https://app.example.com/hooks/tencent",
                    "secret_param": "/mediahook/bench/forward/app"}]
    without = Settings.from_env(env)
    # the destination's own queue: FORWARD_QUEUE_URL_PREFIX + its name (lib/forward/names.py)
    with_one = Settings.from_env({**env, "FORWARD_DESTINATIONS": json.dumps(destination), "FORWARD_QUEUE_URL_PREFIX":
                                  "https://sqs.us-east-1.amazonaws.com/123456789012/mediahook-bench-forward-"})
    memory = use_memory_aws(delay=latency)
    sqs = MemorySQS(delay=latency)
    sinks = {"s3": memory[0], "sns": memory[1], "dynamodb": memory[2], "sqs": sqs}
    aws.client = lambda service: sinks[service]
    off, on = callback_ab(without, with_one, n)
    Path(target).write_text(json.dumps({
        "events": len(on), "latency_ms": latency * 1000,
        "without_p50_ms": round(median(off), 1), "with_p50_ms": round(median(on), 1),
        "without_p99_ms": round(percentile(off, 0.99), 1), "with_p99_ms": round(percentile(on, 0.99), 1),
        "ratio": round(median(on) / median(off), 3), "queued": len(sqs.messages), "sqs_calls": sqs.calls}))


if __name__ == "__main__":
    main()
