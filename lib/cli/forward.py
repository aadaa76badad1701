"""``mediahook forward {status,redrive}``: the forwarding queues of a stage (docs/forwarding.md).

Reads FORWARD_QUEUE_URL and FORWARD_DEAD_LETTER_QUEUE_URL (the stack's ForwardQueueUrl and
ForwardDeadLetterQueueUrl outputs) or the options of the same name, with the usual AWS settings."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lib.cli.common import Command
from lib.cli.errors import CliError, require_aws, require_setting


def _queue_url(given: str | None, variable: str, option: str, output: str) -> str:
    """The queue URL from its option, else its variable, else a :class:`CliError` saying how to give it."""
    if given:
        return given
    return require_setting(variable, f"the stack's {output} output", option=option)


def _sqs() -> Any:
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
    """Raises :class:`CliError` (printed by ``lib.cli.main`` as one line): 2 for a missing queue URL, destination,
    region or credentials; 1 when SQS refuses (botocore's errors are worded by ``lib.cli.errors.explain``)."""
    from lib.forward import queues

    if args.action == "redrive" and not args.destination:
        raise CliError("redrive needs --destination NAME (the destination whose dead letters go back)")
    queue_url = _queue_url(args.queue_url, "FORWARD_QUEUE_URL", "--queue-url", "ForwardQueueUrl")
    dead_url = _queue_url(args.dead_letter_queue_url, "FORWARD_DEAD_LETTER_QUEUE_URL", "--dead-letter-queue-url",
                          "ForwardDeadLetterQueueUrl")
    require_aws()
    sqs = _sqs()
    if args.action == "redrive":
        moved = queues.redrive(sqs, dead_url, queue_url, args.destination)
        print(f"{moved} dead letters of {args.destination} sent back to delivery")
        return 0
    waiting = queues.counts(sqs, queue_url)
    dead = queues.dead_letters(sqs, dead_url)
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
                "SQS refused a call, 2 a queue URL, the destination, the region or credentials missing.",
    configure=configure, run=run)
