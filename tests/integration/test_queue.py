"""MPS notifications through AWS SQS: handler.queue with powertools partial batch failures."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest

import handler
from lib.settings import get_settings
from tests.conftest import Aws, LambdaContext, load_event


def _record(message_id: str, body: str) -> dict[str, Any]:
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x",
                           "ApproximateFirstReceiveTimestamp": "0"},
            "messageAttributes": {}, "md5OfBody": hashlib.md5(body.encode()).hexdigest(), "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:mediahook-mps", "awsRegion": "us-east-1"}


def _workflow(task: str) -> dict[str, Any]:
    document = json.loads(load_event("mps/WorkflowTask.json")["body"])
    document["WorkflowTaskEvent"]["TaskId"] = task
    return document


def test_one_bad_message_is_the_only_failure(aws: Aws, context: LambdaContext) -> None:
    batch = {"Records": [
        _record("m1", json.dumps(_workflow("t-1"))),
        _record("m2", "{not json"),
        _record("m3", json.dumps(_workflow("t-3"))),
    ]}
    response = handler.queue(batch, context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert len(aws.objects()) == 2
    messages = aws.messages()
    assert len(messages) == 2 and {m["cloudevent"]["data"]["delivery"] for m in messages} == {"queue"}
    assert all(k.startswith("mps/WorkflowTask/") for k in aws.objects())
    assert all(aws.head(k)["Metadata"]["delivery"] == "queue" for k in aws.objects())


@pytest.mark.parametrize("wrap", [
    lambda body: json.dumps({"msgBody": body}),
    lambda body: json.dumps({"CMQ": {"type": "queue", "msgId": "1", "msgBody": body}}),
    lambda body: json.dumps({"Records": [{"CMQ": {"type": "topic", "msgBody": body, "msgTag": ""}}]}),
    lambda body: json.dumps({"Type": "Notification", "MessageId": "x", "Message": body}),
], ids=["msgBody", "cmq", "scf-cmq-topic", "sns"])
def test_wrapped_notifications_are_unwrapped(aws: Aws, context: LambdaContext, wrap: Any) -> None:
    body = json.dumps(_workflow("t-wrapped"), ensure_ascii=False)
    assert handler.queue({"Records": [_record("m1", wrap(body))]}, context) == {"batchItemFailures": []}
    (stored,) = aws.objects().values()
    assert stored == body.encode()  # the inner notification is archived, byte for byte


def test_vts_name_on_the_queue_is_mps(aws: Aws, context: LambdaContext) -> None:
    body = load_event("mps/ProcedureStateChanged.json")["body"]
    assert handler.queue({"Records": [_record("m1", body)]}, context) == {"batchItemFailures": []}
    assert next(iter(aws.objects())).startswith("mps/ProcedureStateChanged/")


def test_a_repeated_message_is_not_a_second_effect(aws: Aws, idempotency_table: str, context: LambdaContext) -> None:
    body = json.dumps(_workflow("t-once"))
    handler.queue({"Records": [_record("m1", body)]}, context)
    assert handler.queue({"Records": [_record("m1-redelivered", body)]}, context) == {"batchItemFailures": []}
    assert len(aws.objects()) == 1 and len(aws.messages()) == 1


def test_signed_queue_messages_are_verified_when_keys_are_set(aws: Aws, context: LambdaContext,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "required")
    monkeypatch.setenv("MPS_NOTIFY_KEYS", "mpsKey")
    get_settings.cache_clear()
    ts = int(time.time()) + 600
    good = _workflow("t-signed") | {"Timestamp": ts, "Sign": hashlib.md5(f"{ts}mpsKey".encode()).hexdigest()}
    forged = _workflow("t-forged") | {"Timestamp": ts, "Sign": "0" * 32}
    response = handler.queue({"Records": [_record("good", json.dumps(good)), _record("bad", json.dumps(forged))]},
                             context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert len(aws.objects()) == 1


def test_an_archive_outage_fails_the_whole_batch_so_sqs_redelivers(aws: Aws, context: LambdaContext) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    aws.s3.delete_bucket(Bucket="mediahook-archive-test")
    batch = {"Records": [_record("m1", json.dumps(_workflow("t-x"))), _record("m2", json.dumps(_workflow("t-y")))]}
    with pytest.raises(BatchProcessingError):  # every record failed: the invocation fails, nothing is deleted
        handler.queue(batch, context)
    assert aws.messages() == []
