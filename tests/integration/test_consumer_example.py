"""The README's consumer (examples/consumer.py) against moto: a filtered subscription, parse, dedupe."""

from __future__ import annotations

import importlib
import json
import logging
from typing import Any

import boto3
import pytest

import handler
from tests.conftest import REGION, Aws, LambdaContext, load_event


def _failed(task: str, code: int = 40000) -> str:
    event = json.loads(load_event("vod/ProcedureStateChanged.json")["body"])
    event["ProcedureStateChangeEvent"].update(TaskId=task, ErrCode=code, Message="failed" if code else "SUCCESS",
                                              MediaProcessResultSet=[])
    return json.dumps(event)


def _post(body: str, product: str, context: LambdaContext) -> None:
    event = load_event(f"{product}/ProcedureStateChanged.json" if product == "vod" else "mps/WorkflowTask.json")
    response = handler.callback({**event, "body": body}, context)
    assert response["statusCode"] == 200, response["body"]


def _sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                         "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
                         "awsRegion": REGION} for m in messages]}


def _consumer_on(monkeypatch: pytest.MonkeyPatch, table: str) -> Any:
    """examples/consumer.py, loaded afresh on its own (new) idempotency table, as the README deploys it."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    monkeypatch.setenv("CONSUMER_TABLE", table)
    # Its powertools Logger configures the process-wide logger "mediahook-consumer" once, its handler writing to the
    # sys.stdout of that moment, and keeps it through a reload: imported first by another test (test_ledger reads
    # ADVANCED_ONLY), it would write into that test's capture, not this one's. Dropped, the reload configures it anew.
    logging.Logger.manager.loggerDict.pop("mediahook-consumer", None)
    return importlib.reload(importlib.import_module("examples.consumer"))


def test_the_consumer_gets_only_failed_vod_events_and_handles_each_once(
        aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    consumer = _consumer_on(monkeypatch, "consumer-dedup")
    queue = aws.sqs.create_queue(QueueName="failed-vod")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.sns.subscribe(TopicArn=aws.topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps(consumer.FILTER_POLICY)})

    _post(_failed("1256768367-Procedure-broken"), "vod", context)
    _post(_failed("1256768367-Procedure-broken"), "vod", context)  # Tencent retried: published again, same id
    _post(_failed("1256768367-Procedure-fine", code=0), "vod", context)  # succeeded: filtered out
    _post(load_event("mps/WorkflowTask.json")["body"], "mps", context)  # failed, but MPS: filtered out

    messages = aws.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 2 and len({json.loads(m["Body"])["id"] for m in messages}) == 1
    capsys.readouterr()
    result = consumer.handler(_sqs_event(messages, queue_arn), context)
    assert result == {"batchItemFailures": []}
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "VOD task failed" in line]
    assert [(line["task_id"], line["error_code"]) for line in logged] == [("1256768367-Procedure-broken", 40000)]


def test_the_consumer_dedupes_on_source_and_id_together(aws: Aws, context: LambdaContext,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """One payload sent by VOD and by MPS has one id and is two events: the consumer handles each once."""
    consumer = _consumer_on(monkeypatch, "consumer-dedup-2")
    consumer.config.register_lambda_context(context)
    body = _failed("1256768367-Procedure-both")
    for product in ("vod", "mps"):
        event = load_event("vod/ProcedureStateChanged.json")
        response = handler.callback({**event, "body": body, "rawPath": f"/callback/{product}"}, context)
        assert response["statusCode"] == 200, response["body"]
    cloud_events = [m["cloudevent"] for m in aws.messages()]
    assert sorted(e["source"] for e in cloud_events) == ["tencentcloud/mps", "tencentcloud/vod"]
    assert len({e["id"] for e in cloud_events}) == 1
    handled: list[str] = []
    monkeypatch.setattr(consumer.logger, "warning", lambda message, **kwargs: handled.append(message))
    for cloud_event in [*cloud_events, *cloud_events]:  # each delivered twice
        consumer.handle(cloud_event=cloud_event)
    assert handled == ["VOD task failed", "VOD task failed"]  # two events, each handled once
