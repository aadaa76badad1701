"""``mediahook forward {status,redrive}``: the forwarding queues of a stage (docs/forwarding.md).

Reads FORWARD_QUEUE_URL and FORWARD_DEAD_LETTER_QUEUE_URL (the stack's ForwardQueueUrl and
ForwardDeadLetterQueueUrl outputs) or the options of the same name, with the usual AWS settings."""

from __future__ import annotations

import argparse
import json
import os
import sys

from lib.cli.common import Command


class MissingQueue(RuntimeError):
    """A queue URL is neither given nor in the environment."""


def _queue_url(args: argparse.Namespace, option: str, variable: str, output: str) -> str:
    value = getattr(args, option.replace("-", "_")) or os.environ.get(variable, "").strip()
    if not value:
        raise MissingQueue(f"--{option} (or {variable}) is required: the stack's {output} output")
    return str(value)


def _sqs() -> object:
    from lib import aws

    return aws.client("sqs")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["status", "redrive"],
                        help="status: what waits (waiting, in flight) and each destination's dead letters (how "
                             "many, the oldest one's age, the last failure); redrive: send one destination's "
                             "dead letters back to delivery, in order, with a fresh maximum age")
    parser.add_argument("--destination", metavar="NAME", help="redrive: the destination's name (required)")
    parser.add_argument("--json", action="store_true", help="status: one JSON object, nothing else")
    parser.add_argument("--queue-url", help="the forwarding queue (default: FORWARD_QUEUE_URL)")
    parser.add_argument("--dead-letter-queue-url",
                        help="its dead-letter queue (default: FORWARD_DEAD_LETTER_QUEUE_URL)")


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from lib.forward import queues

    try:
        queue_url = _queue_url(args, "queue-url", "FORWARD_QUEUE_URL", "ForwardQueueUrl")
        dead_url = _queue_url(args, "dead-letter-queue-url", "FORWARD_DEAD_LETTER_QUEUE_URL",
                              "ForwardDeadLetterQueueUrl")
    except MissingQueue as exc:
        print(f"mediahook forward: {exc}", file=sys.stderr)
        return 2
    if args.action == "redrive" and not args.destination:
        print("mediahook forward: redrive needs --destination NAME (the destination whose dead letters go back)",
              file=sys.stderr)
        return 2
    sqs = _sqs()
    try:
        if args.action == "redrive":
            moved = queues.redrive(sqs, dead_url, queue_url, args.destination)
            print(f"{moved} dead letters of {args.destination} sent back to delivery")
            return 0
        waiting = queues.counts(sqs, queue_url)
        dead = queues.dead_letters(sqs, dead_url)
    except (ClientError, BotoCoreError) as exc:
        print(f"mediahook forward: the queues could not be read: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"waiting": waiting.waiting, "in_flight": waiting.in_flight,
                          "dead_letters": {name: vars(d) for name, d in sorted(dead.items())}}))
        return 0
    print(f"forwarding queue: {waiting.waiting} waiting, {waiting.in_flight} in flight")
    if not dead:
        print("no dead letters")
    for name, d in sorted(dead.items()):
        print(f"{name}: {d.count} dead-lettered, oldest {d.oldest_age_seconds:.0f} s, last {d.last_reason} "
              f"(status {d.last_status if d.last_status is not None else '-'})")
    return 0


COMMAND = Command(
    "forward", help="the forwarding queues: status, redrive",
    description="Operate forwarding (docs/forwarding.md): `forward status` shows what waits for delivery and each "
                "destination's dead letters; `forward redrive --destination NAME` sends that destination's dead "
                "letters back to delivery once the endpoint is fixed (a redriven notification whose resource has "
                "moved on since is not sent, unless the destination takes stale events). Exit codes: 0 done, 1 "
                "the queues could not be read, 2 a queue URL or the destination is missing.",
    configure=configure, run=run)
