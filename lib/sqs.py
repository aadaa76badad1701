"""MPS notifications delivered to AWS SQS: the ``queue`` entry point's logic.

Each SQS message body is one notification: the event JSON itself, or that JSON as a string inside
an SCF/CMQ-style envelope (``{"msgBody": "..."}``, ``{"CMQ": {"msgBody": ...}}``,
``{"Records": [{"CMQ": {...}}]}``) or an SNS notification (``{"Type": "Notification", "Message": "..."}``).
Messages run through the same pipeline; powertools batch processing reports only the failed ones,
so SQS redelivers exactly those (and the DLQ catches what keeps failing). A message is deleted by
SQS only when the function reports it done, which happens only after archive and publish.

The queue is reached through IAM, so an unsigned message is accepted; when ``MPS_NOTIFY_KEYS`` are
configured (and ``AUTH_MODE=required``), MPS messages must carry a valid ``Sign``/``Timestamp``.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from lib import auth
from lib.errors import InvalidEvent
from lib.intake import parse_json, read_events, split_delivery
from lib.pipeline import Outcome, process_all
from lib.settings import Settings, get_settings

QUEUE_PRODUCT = "mps"  # what arrives on the queue; ProcedureStateChanged there is the VTS-era MPS name
MAX_WRAPPING = 4

processor = BatchProcessor(event_type=EventType.SQS)


def unwrap(body: str) -> bytes:
    """The notification JSON inside an SQS body, however many envelopes it came in."""
    raw = body.encode("utf-8")
    for _ in range(MAX_WRAPPING):
        document = parse_json(raw)
        inner: Any = None
        if isinstance(document, dict):
            records = document.get("Records")
            if isinstance(records, list) and len(records) == 1 and isinstance(records[0], dict):
                document = records[0]
            cmq = document.get("CMQ")
            if isinstance(cmq, dict):
                document = cmq
            if isinstance(document.get("msgBody"), str):
                inner = document["msgBody"]
            elif document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
                inner = document["Message"]
        if inner is None:
            return raw
        raw = inner.encode("utf-8")
    raise InvalidEvent("the message is wrapped too many times")


def verify_queue_signatures(settings: Settings, documents: list[dict[str, Any]],
                            envelope: dict[str, Any] | None) -> None:
    """With MPS keys configured (and AUTH_MODE=required), every message must carry a valid Sign/Timestamp."""
    if settings.auth_mode == "off":
        return
    secrets = auth.load_secrets(settings)
    if not secrets.mps_notify_keys:
        return
    verifier = auth.Verifier.for_settings(settings, secrets)
    for document in documents:
        verifier.check_signature(QUEUE_PRODUCT, [document, *([envelope] if envelope else [])], time.time())


def process_notification(body: str, settings: Settings | None = None) -> list[Outcome]:
    """Run one queued notification (SQS or TDMQ-CMQ message body) through the pipeline; raises on failure."""
    settings = settings or get_settings()
    raw_events = split_delivery(unwrap(body), pinned=QUEUE_PRODUCT, max_bytes=settings.max_body_bytes)
    verify_queue_signatures(settings, [e.document for e in raw_events],
                            raw_events[0].envelope if raw_events else None)
    return process_all(read_events(raw_events, pinned=QUEUE_PRODUCT), delivery="queue", settings=settings)


def handle_record(record: SQSRecord) -> None:
    """Process one message; raising marks it failed (SQS redelivers it, then the DLQ takes it)."""
    process_notification(record.body)


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process an SQS batch and report partial failures (``batchItemFailures``)."""
    response = process_partial_response(event=event, record_handler=handle_record, processor=processor,
                                        context=context)
    return dict(response)
