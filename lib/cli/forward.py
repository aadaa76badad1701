"""``mediahook forward {status,redrive}``: each destination's forwarding queues (docs/forwarding.md).

Reads FORWARD_QUEUE_URL_PREFIX (the stack's ForwardQueueUrlPrefix output: the queues' URL up to the
destination's name) or ``--queue-url-prefix``, with the usual AWS settings."""

from __future__ import annotations

import argparse
import json
import re
from typing import TYPE_CHECKING, Any

from lib.cli.common import Command
from lib.cli.errors import CliError, require_aws, require_setting

if TYPE_CHECKING:
    from lib.forward.queues import DestinationStatus



def _client(service: str) -> Any:
    from lib import aws

    return aws.client(service)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["status", "redrive"],
                        help="status: per destination, what waits, what is in flight, what is dead-lettered, the "
                             "oldest waiting message's age and the last failure; redrive: send one destination's "
                             "dead letters back to its queue, in order, with a fresh maximum age")
    parser.add_argument("--destination", metavar="NAME", help="redrive: the destination's name (required)")
    parser.add_argument("--json", action="store_true", help="status: one JSON object, nothing else")
    parser.add_argument("--queue-url-prefix", metavar="URL",
                        help="the destinations' queues up to their name, e.g. https://sqs.us-east-1.amazonaws.com/"
                             "123456789012/mediahook-prod-forward- (default: FORWARD_QUEUE_URL_PREFIX)")


def _missing_queue(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code", "") in (
        "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def run(args: argparse.Namespace) -> int:
    """Raises :class:`CliError` (printed by ``lib.cli.main`` as one line): 2 for a missing prefix, destination,
    region or credentials, or a destination without queues; 1 when SQS refuses (botocore's errors are worded by
    ``lib.cli.errors.explain``)."""
    from lib.forward import names, queues

    if args.action == "redrive" and not args.destination:
        raise CliError("redrive needs --destination NAME (the destination whose dead letters go back)")
    prefix = args.queue_url_prefix or require_setting(
        "FORWARD_QUEUE_URL_PREFIX", "the stack's ForwardQueueUrlPrefix output", option="--queue-url-prefix")
    if not re.fullmatch(names.URL_PREFIX_PATTERN, prefix.strip()):
        raise CliError(f"FORWARD_QUEUE_URL_PREFIX: the URL prefix of the forwarding queues expected (the stack's "
                       f"ForwardQueueUrlPrefix output, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/"
                       f"mediahook-prod-forward-), got {prefix[:120]!r}")
    prefix = prefix.strip()
    require_aws()
    sqs = _client("sqs")
    if args.action == "redrive":
        name = args.destination
        try:
            moved = queues.redrive(sqs, names.dead_letter_queue_url(prefix, name), names.queue_url(prefix, name), name)
        except Exception as exc:
            if _missing_queue(exc):
                raise CliError(f"no forwarding queues for destination {name} under {prefix}: check the name "
                               "(`mediahook forward status` lists them) and FORWARD_QUEUE_URL_PREFIX") from None
            raise
        print(f"{moved} dead letters of {name} sent back to delivery")
        return 0
    found = queues.status(sqs, _client("cloudwatch"), prefix)
    if args.json:
        print(json.dumps({"queue_url_prefix": prefix, "destinations": {d.name: d.as_json() for d in found}}))
        return 0
    if not found:
        print(f"no forwarding queues under {prefix} (no destinations deployed on this stage)")
        return 0
    print(_table(found))
    for note in dict.fromkeys(d.age_unknown for d in found if d.age_unknown):
        print(f"oldest age -: {note}")
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def _table(found: list[DestinationStatus]) -> str:
    width = max(11, *(len(d.name) for d in found))
    lines = [f"{'destination':<{width}}  {'waiting':>7}  {'in flight':>9}  {'dead-lettered':>13}  {'oldest age':>10}  "
             "last failure"]
    for d in found:
        letters = d.dead_letters
        failure = "-"
        if d.dead_lettered:
            status = "-" if letters.last_status is None else letters.last_status
            failure = (f"{letters.last_reason or '?'} (status {status}), oldest dead letter "
                       f"{_seconds(letters.oldest_age_seconds)}")
            if letters.unreadable:
                failure += f", {letters.unreadable} unreadable"
        lines.append(f"{d.name:<{width}}  {d.waiting:>7}  {d.in_flight:>9}  {d.dead_lettered:>13}  "
                     f"{_seconds(d.oldest_age_seconds):>10}  {failure}")
    return "\n".join(lines)


COMMAND = Command(
    "forward", help="the forwarding queues: status, redrive",
    description="Operate forwarding (docs/forwarding.md): `forward status` shows, per destination, what waits for "
                "delivery, what is in flight, what is dead-lettered, the oldest waiting message's age and the last "
                "failure; `forward redrive --destination NAME` sends that destination's dead letters back to its "
                "queue once the endpoint is fixed (a redriven notification is not sent if a newer state of its "
                "resource was sent there since, unless the destination takes stale events). Exit codes: 0 done, "
                "1 SQS refused a call, 2 the "
                "queue URL prefix, the destination (or its queues), the region or credentials missing.",
    configure=configure, run=run)
