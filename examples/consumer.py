"""An example consumer of mediahook's notifications (docs/consuming.md).

An SQS queue is subscribed to the events topic with raw message delivery and the filter policy below:
only failed VOD events reach it. This Lambda function reads the queue: each message is parsed with the
model mediahook publishes (``lib.notification.Notification``) and handled once per CloudEvent, with
powertools idempotency on the consumer's own DynamoDB table keyed by ``source`` and ``id`` together (as
CloudEvents defines an event's identity: one payload that VOD and MPS both send has one id and is two
events). A notification sent twice (a delivery retried after a partial failure, a replay) has the same
source and id, so it is handled once. A message that fails
is reported back alone (partial batch failures) and comes back after the queue's visibility timeout.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from lib.notification import Notification

# The subscription's filter policy (message attributes): failed VOD events, no smoke checks.
FILTER_POLICY = {"product": ["vod"], "succeeded": ["false"], "synthetic": [{"exists": False}]}
# With the ledger (LEDGER_TABLE, on by default), add this to see each task or file move forward only: no late
# PROCESSING after its FINISH, no re-sent copy, nothing after a deletion (docs/consuming.md). On EventBridge,
# the same as a rule's pattern: {"detail": {"data": {"state_change": ["advanced"]}}}.
ADVANCED_ONLY = {"state_change": ["advanced"]}

logger = Logger(service="mediahook-consumer")
processor = BatchProcessor(event_type=EventType.SQS)
# The CloudEvent's identity: its source (tencentcloud/{product}) with its id (mediahook's event_id).
config = IdempotencyConfig(event_key_jmespath="[source, id]")
persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("CONSUMER_TABLE", "mediahook-consumer"))


@idempotent_function(data_keyword_argument="cloud_event", persistence_store=persistence,  # type: ignore[untyped-decorator]
                     config=config)
def handle(cloud_event: dict[str, Any]) -> dict[str, Any]:
    """Runs once per CloudEvent (source + id). Here: say which task failed and why; yours: retry it, open a ticket..."""
    note = Notification.model_validate(cloud_event)
    logger.warning("VOD task failed", extra={"task_id": note.data.task_id, "event_type": note.data.event_type,
                                             "error_code": note.data.error_code, "archive": note.data.archive.key})
    return {"task_id": note.data.task_id, "error_code": note.data.error_code}


def record_handler(record: SQSRecord) -> None:
    handle(cloud_event=json.loads(record.body))  # raw message delivery: the body is the CloudEvent


def handler(event: dict[str, Any], context: Any) -> Any:
    """SQS batch in, ``{"batchItemFailures": [...]}`` out."""
    config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
