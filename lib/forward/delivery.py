"""The ``forward`` function: deliver queued notifications, with SQS (FIFO) as Lambda's event source.

powertools' ``SqsFifoPartialProcessor`` with ``skip_group_on_error``: a message that must wait fails, and
so does every later message of its group in the batch (one resource for one destination), while other
groups go on; SQS gives the failed ones back, still in order. Each message is handled so:

* delivered (2xx): done, SQS deletes it;
* retried (408, 425, 429, 5xx, timeout, connection error): its visibility timeout is set to the backoff
  (``Retry-After`` when the endpoint sent one) and it fails, so SQS hands it back then. The messages of its
  group skipped behind it are made visible again at once: SQS returns none of a FIFO group while one of its
  messages is in flight, so they wait behind it, in order, and come with it when it comes back;
* dead-lettered (another 4xx or a 3xx, the SSRF guard's refusal, or the next attempt past the destination's
  maximum age): sent to its destination's dead-letter queue with the last status and an excerpt of the
  answer, then deleted. ``mediahook forward redrive`` sends them back;
* superseded: a newer state of its resource was sent to the destination already (the ledger's watermark,
  lib/forward/order.py, claimed before the POST), so it is not sent (``ForwardSuperseded``) and deleted,
  unless the destination takes stale events. A watermark that cannot be written hands the message back
  after the backoff (``Failures``, ``stage=forward``): nothing is lost.

No secret is logged: the log lines carry the destination's name, the event id, status and timings only.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import SQSFifoMessageGroupCircuitBreakerError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from lib import aws
from lib.forward import names, order, retry, signing, transport
from lib.forward.config import Destination, destinations_of
from lib.forward.message import Failure, Queued
from lib.forward.ssrf import RefusedDestination
from lib.ledger import LedgerUnavailable
from lib.observability import count, logger
from lib.secret_store import secret_from
from lib.settings import Settings, get_settings

processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# A batch whose every message waits is a normal answer (batchItemFailures), not a function error: the base
# processor's documented switch, which the FIFO processor's constructor does not pass on.
processor.raise_on_entire_batch_failure = False


class RetryLater(Exception):
    """The message is to be tried again after ``delay`` seconds (its visibility timeout is already set)."""

    def __init__(self, delay: int) -> None:
        super().__init__(f"retry in {delay} s")
        self.delay = delay


@dataclass
class Batch:
    """What one invocation learnt: each destination's oldest message age."""

    oldest: dict[str, float] = field(default_factory=dict)


_batch = Batch()
_pacing_lock = threading.Lock()
_last_request: dict[str, float] = {}


def pace(destination: Destination, concurrency: int, budget: float | None = None) -> bool:
    """The destination's rate limit, shared among the ``concurrency`` sandboxes its queue's event source runs
    at most (its ``concurrency``, else the stage's): each keeps ``concurrency / rate_limit`` seconds between its
    requests to the destination. False, without waiting or
    taking the turn, when the wait would be longer than ``budget`` seconds (what the invocation can spare)."""
    interval = concurrency / destination.rate_limit
    with _pacing_lock:
        now = time.monotonic()
        wait = max(_last_request.get(destination.name, 0.0) + interval - now, 0.0)
        if budget is not None and wait > budget:
            return False
        _last_request[destination.name] = now + wait
    if wait > 0:
        time.sleep(wait)
    return True


def render(queued: Queued, destination: Destination, settings: Settings, now: int) -> tuple[bytes, dict[str, str]]:
    """The bytes to post and the headers, signed with the destination's secret (read from SSM, cached)."""
    body = queued.body
    if body is None:  # claim check: too large for the message; the archive holds the bytes
        answer = aws.client("s3").get_object(Bucket=queued.archive_bucket, Key=queued.archive_key)
        body = answer["Body"].read().decode("utf-8")
    secret = secret_from(None, destination.secret_param, settings.secrets_cache_seconds) or ""
    if destination.format == "cloudevents":
        return body.encode("utf-8"), signing.standard_webhook_headers(secret, queued.event_id, now, body)
    signed = signing.tencent_resigned(body, queued.product, secret, now, legacy=queued.legacy)
    return signed.encode("utf-8"), {"X-Mediahook-Event-Id": queued.event_id}


def dead_letter(settings: Settings, queued: Queued, failure: Failure) -> None:
    """Keep the message, with why it failed, on its destination's dead-letter queue (in its group: redrive
    keeps order)."""
    if not settings.forward_queue_url_prefix:
        raise RuntimeError("FORWARD_QUEUE_URL_PREFIX is not set: a message cannot be dead-lettered")
    dead = queued.dead(failure)
    aws.client("sqs").send_message(
        QueueUrl=names.dead_letter_queue_url(settings.forward_queue_url_prefix, queued.destination),
        MessageBody=dead.to_json(), MessageGroupId=dead.group_id,
        # its own id: the same event dead-lettered again after a redrive must not be dropped as a copy
        MessageDeduplicationId=f"{dead.deduplication_id[:40]}-{failure.dead_at:.6f}-{failure.attempts}")
    count("ForwardDeadLettered", destination=queued.destination)
    logger.error("forwarded notification dead-lettered", extra={
        "destination": queued.destination, "event_id": queued.event_id, "reason": failure.reason,
        "status": failure.status, "attempts": failure.attempts})


def wait(record: SQSRecord, delay: int) -> None:
    """Hand the message back to SQS after ``delay`` seconds."""
    try:
        aws.client("sqs").change_message_visibility(QueueUrl=record.queue_url, ReceiptHandle=record.receipt_handle,
                                                    VisibilityTimeout=delay)
    except (ClientError, BotoCoreError) as exc:  # it comes back after the queue's visibility timeout instead
        logger.warning("visibility timeout not changed", extra={"error": str(exc)[:200]})


class OutOfTime(Exception):
    """Not enough of the invocation is left for another attempt: the message goes back untried."""


SAFETY_MARGIN_MS = 5_000  # left for dead-lettering, the metrics and the answer after the last attempt


def deliver(record: SQSRecord, lambda_context: Any = None) -> None:
    """Deliver one message, or raise ``RetryLater`` (the processor reports it failed). powertools passes the
    Lambda context: a message is not attempted unless its rate limit's wait and its destination's timeout fit
    in what is left (a function timeout would give the whole batch back, delivered messages included)."""
    settings = get_settings()
    queued = Queued.from_json(record.body)
    attempt = int(record.attributes.approximate_receive_count or 1)
    now = time.time()
    destination = destinations_of(settings.forward_destinations).named(queued.destination)
    if destination is None:
        dead_letter(settings, queued, Failure("unknown_destination", None, "no such destination is configured",
                                              attempt, now))
        return
    age = now - queued.queued_at
    _batch.oldest[destination.name] = max(_batch.oldest.get(destination.name, 0.0), age)
    if age > destination.max_age_seconds:
        dead_letter(settings, queued, Failure("expired", None, "past the destination's max age before an attempt",
                                              attempt, now))
        return
    try:
        superseded = order.superseded(settings, queued, destination)
    except LedgerUnavailable as exc:  # given back, not lost: the claim is tried again with the message
        count("Failures", stage="forward")
        delay = retry.backoff_seconds(attempt, None)
        logger.warning("delivery watermark not written; the message goes back", extra={
            "destination": destination.name, "event_id": queued.event_id, "delay": delay, "error": str(exc)[:200]})
        wait(record, delay)
        raise RetryLater(delay) from exc
    if superseded:
        count("ForwardSuperseded", destination=destination.name)
        logger.info("notification superseded by a newer state of its resource; not sent",
                    extra={"destination": destination.name, "event_id": queued.event_id,
                           "redriven": queued.redriven})
        return
    remaining = lambda_context.get_remaining_time_in_millis() if lambda_context is not None else None
    # what is left once the attempt and the margin are set aside: the rate limit's wait must fit in it
    budget = None if remaining is None else (remaining - SAFETY_MARGIN_MS) / 1000 - destination.timeout_seconds
    if not pace(destination, destination.concurrency or settings.forward_concurrency, budget):
        wait(record, 0)
        raise OutOfTime(f"{remaining} ms left")
    status: int | None = None
    retry_after: str | None = None
    try:
        body, headers = render(queued, destination, settings, int(now))
        answer = transport.post(destination.url, body, headers, timeout=destination.timeout_seconds,
                                allow_loopback=settings.forward_allow_loopback)
        status, retry_after, excerpt = answer.status, answer.retry_after, answer.excerpt
    except (RefusedDestination, signing.SecretError) as exc:
        dead_letter(settings, queued, Failure("refused", None, str(exc)[:500], attempt, now))
        return
    except OSError as exc:  # TimeoutError included: no answer
        excerpt = f"{type(exc).__name__}: {exc}"[:500]
    verdict = retry.verdict(status)
    logger.info("forward attempt", extra={"destination": destination.name, "event_id": queued.event_id,
                                          "status": status, "attempt": attempt, "verdict": verdict})
    if verdict == "delivered":
        count("ForwardDelivered", destination=destination.name)
        return
    if verdict == "rejected":
        dead_letter(settings, queued, Failure("rejected", status, excerpt, attempt, now))
        return
    delay = retry.backoff_seconds(attempt, retry.retry_after_seconds(retry_after, now))
    if age + delay > destination.max_age_seconds:
        dead_letter(settings, queued, Failure("expired", status, excerpt, attempt, now))
        return
    count("ForwardRetried", destination=destination.name)
    wait(record, delay)
    raise RetryLater(delay)


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Deliver an SQS batch and report the messages to hand back (``batchItemFailures``)."""
    global _batch
    _batch = Batch()
    response: dict[str, Any] = dict(process_partial_response(event=event, record_handler=deliver,
                                                             processor=processor, context=context))
    for record, (kind, _, _) in zip(processor.fail_messages, processor.exceptions, strict=True):
        if kind is SQSFifoMessageGroupCircuitBreakerError and isinstance(record, SQSRecord):
            wait(record, 0)  # skipped behind its group's waiting message: queued behind it again, in order
    # (a message that raised anything else keeps the queue's visibility timeout: a poison message is retried
    # every 6 minutes, not in a loop, until the queue's redrive policy moves it to the dead-letter queue)
    for name, age in _batch.oldest.items():
        count("ForwardMessageAge", amount=int(age), destination=name)
    return response

