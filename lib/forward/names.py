"""Each destination's two queues: their names, their URLs, and the rules a destination's name keeps for them.

Every destination has a FIFO queue ``{prefix}{name}.fifo`` and a FIFO dead-letter queue
``{prefix}{name}-dlq.fifo``, where the prefix is ``mediahook-{stage}-forward-`` (plugins/forward-queues.js
creates them at package time from ``forwardDestinations``). ``FORWARD_QUEUE_URL_PREFIX`` is that prefix as a
URL (``https://sqs.{region}.amazonaws.com/{account}/mediahook-{stage}-forward-``): this module is the one
place that turns it and a destination's name into a queue's URL. plugins/forward-queues.js keeps the same
name rules (tests/forward/test_queue_names.py holds the two together).
"""

from __future__ import annotations

import re

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"  # a metric dimension, part of every message group id and queue name
DEAD_LETTER_SUFFIX = "-dlq"
# No name has it as a word: {name}-dlq.fifo would be another destination's dead-letter queue, and the dashboard's
# CloudWatch SEARCH (which matches words of a queue's name) tells the dead-letter queues apart by it.
DEAD_LETTER_WORD = "dlq"
FIFO = ".fifo"
MAX_QUEUE_NAME = 80  # SQS's limit on a queue name, .fifo included
# FORWARD_QUEUE_URL_PREFIX: a queue URL without its last name's end (no .fifo: not one queue's URL)
URL_PREFIX_PATTERN = r"^https?://[^/]+/(.+/)?[A-Za-z0-9_-]+$"


def name_problem(name: str, prefix_name: str | None = None) -> str | None:
    """Why ``name`` cannot name a destination (None: it can). With ``prefix_name`` (the queues' name prefix,
    ``mediahook-{stage}-forward-``), also whether its dead-letter queue's name fits in SQS's 80 characters."""
    if not re.fullmatch(NAME_PATTERN, name):
        return "letters, digits, - and _ only, 1 to 40 of them"
    if DEAD_LETTER_WORD in re.split(r"[-_]", name.lower()):
        return (f"must not have {DEAD_LETTER_WORD} as a word (-{DEAD_LETTER_WORD} marks the dead-letter queues, "
                "and the dashboard tells them apart by it)")
    if prefix_name is not None:
        longest = dead_letter_queue_name(prefix_name, name)
        if len(longest) > MAX_QUEUE_NAME:
            return (f"its dead-letter queue's name {longest} has {len(longest)} characters, more than SQS's "
                    f"{MAX_QUEUE_NAME}: use a shorter name")
    return None


def queue_name(prefix_name: str, name: str) -> str:
    return f"{prefix_name}{name}{FIFO}"


def dead_letter_queue_name(prefix_name: str, name: str) -> str:
    return f"{prefix_name}{name}{DEAD_LETTER_SUFFIX}{FIFO}"


def prefix_name(prefix: str) -> str:
    """The queue name prefix of a URL prefix (its last path segment): what ListQueues' QueueNamePrefix takes."""
    return prefix.rstrip().rsplit("/", 1)[-1]


def queue_url(prefix: str, name: str) -> str:
    """Destination ``name``'s forwarding queue."""
    return queue_name(prefix, name)


def dead_letter_queue_url(prefix: str, name: str) -> str:
    """Destination ``name``'s dead-letter queue."""
    return dead_letter_queue_name(prefix, name)


def destination_of(queue: str, name_prefix: str) -> tuple[str, bool] | None:
    """(destination name, is its dead-letter queue) of a queue's name or URL under the prefix; None for a queue
    that is not a destination's."""
    name = queue.rsplit("/", 1)[-1]
    if not name.startswith(name_prefix) or not name.endswith(FIFO):
        return None
    stem = name[len(name_prefix):-len(FIFO)]
    dead = stem.endswith(DEAD_LETTER_SUFFIX)
    stem = stem.removesuffix(DEAD_LETTER_SUFFIX) if dead else stem
    return (stem, dead) if re.fullmatch(NAME_PATTERN, stem) else None
