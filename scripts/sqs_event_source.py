"""Lambda's SQS event source, on this machine: poll a queue, invoke a handler with the batch, delete what it did
not report failed (``ReportBatchItemFailures``). ``make serve``/``make demo`` run the forwarding function so, over
every destination's queue (one event source per queue, as the stack has), against moto server, and the tests do
the same in-process.

    python scripts/sqs_event_source.py --queue-url URL [--queue-url URL ...] --handler handler.forward

As Lambda does: records carry SQS's attributes (receive count, group id, ...) and the queue's ARN; a handler that
raises leaves the whole batch to come back after its visibility timeout; a message it reported failed is not
deleted (it returns when its visibility timeout, possibly changed by the handler, ends).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class Context:
    """The bits of Lambda's context object the handlers read."""

    function_name: str = "mediahook-local-forward"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mediahook-local-forward"
    aws_request_id: str = "local"
    timeout_seconds: float = 60  # the forward function's timeout in serverless.yml
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """What is left of the invocation, counting down from its start as Lambda's does."""
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


def queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def lambda_event(messages: list[dict[str, Any]], arn: str) -> dict[str, Any]:
    """The event Lambda gives a function for ``messages`` (ReceiveMessage's answer) from the queue ``arn``."""
    region = arn.split(":")[3]
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": region} for m in messages]}


def poll_once(sqs: Any, queue_url: str, arn: str, handler: Handler, *, batch_size: int = 10,
              wait_seconds: int = 0) -> int:
    """One poll: receive up to ``batch_size`` messages, invoke, delete the successes. Returns how many were
    received."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=batch_size, WaitTimeSeconds=wait_seconds,
                                   AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
    if not messages:
        return 0
    try:
        answer = handler(lambda_event(messages, arn), Context()) or {}
    except Exception as exc:  # noqa: BLE001 - Lambda's behaviour: the batch comes back, the poller goes on
        print(f"sqs event source: the handler raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return len(messages)
    failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
    done = [m for m in messages if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
    return len(messages)


def drain(sqs: Any, queue_url: str, handler: Handler, *, until: Callable[[], bool], timeout: float,
          pause: float = 0.2) -> bool:
    """Poll until ``until()`` holds (True) or ``timeout`` seconds pass (False)."""
    arn = queue_arn(sqs, queue_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until():
            return True
        if not poll_once(sqs, queue_url, arn, handler):
            time.sleep(pause)
    return until()


def _handler(dotted: str) -> Handler:
    module, _, name = dotted.rpartition(".")
    sys.path.insert(0, str(ROOT))
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue-url", required=True, action="append",
                        help="a queue to poll; repeat it for several (each polled in turn, as its own event source)")
    parser.add_argument("--handler", default="handler.forward")
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args(argv)
    running = True

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    handler = _handler(args.handler)
    sqs = boto3.client("sqs")
    arns = {url: queue_arn(sqs, url) for url in args.queue_url}
    while running:
        received = sum(poll_once(sqs, url, arn, handler, batch_size=args.batch_size, wait_seconds=0)
                       for url, arn in arns.items())
        if not received:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
