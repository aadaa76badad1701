"""The events table under moto: signed deliveries through the pipeline, Firehose's objects, then the local
engine's answers compared with what was sent; a row written once; a failed row write; named queries."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError

import handler
from lib import aws as aws_clients
from lib.cli.common import callback_url, load_sample, sign_body
from lib.query import QueryFailed, named_query, run_query
from lib.settings import get_settings
from tests.conftest import (
    BUCKET,
    EVENTS,
    REGION,
    Aws,
    LambdaContext,
    http_event,
    publish_fails_for,
    response_json,
)

STREAM = "mediahook-events-table-test"
TABLE_PREFIX = "tables/events/"
VOD_KEY, MPS_KEY, TOKEN = "query-vod-key", "query-mps-key", "query-token"


@pytest.fixture
def table(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """The delivery stream into the archive bucket (as serverless.yml's), the function's settings pointing
    at it, and signatures required (VOD and MPS keys, a CME token)."""
    firehose = boto3.client("firehose", region_name=REGION)
    firehose.create_delivery_stream(
        DeliveryStreamName=STREAM, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": f"{TABLE_PREFIX}dt=!{{timestamp:yyyy-MM-dd}}/", "CompressionFormat": "GZIP",
            "ErrorOutputPrefix": "tables/errors/"})
    for name, value in {"EVENTS_STREAM_NAME": STREAM, "AUTH_MODE": "required", "VOD_SIGN_KEYS": VOD_KEY,
                        "MPS_NOTIFY_KEYS": MPS_KEY, "CALLBACK_TOKENS": TOKEN,
                        "EVENTS_TABLE_PREFIX": TABLE_PREFIX}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return aws


def deliver(path: str, context: LambdaContext) -> dict[str, Any]:
    """Post one sample of events/ signed as Tencent signs it (what Tencent does not sign, CME and the legacy
    format: with the URL token); the response's result."""
    sample = load_sample(EVENTS / path)
    body = sign_body(sample.body, sample.product, vod_key=VOD_KEY, mps_key=MPS_KEY)
    url = callback_url("https://x/callback", sample.product, TOKEN if body == sample.body else None)
    route, _, query = url.partition("https://x")[2].partition("?")
    response = handler.callback(http_event(body, path=route, query=query), context)
    assert response["statusCode"] == 200, response["body"]
    return response_json(response)["results"][0]  # type: ignore[no-any-return]


def all_samples() -> list[str]:
    return sorted(str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.json"))


def test_after_a_batch_of_signed_deliveries_the_local_engine_answers_what_was_sent(
        table: Aws, context: LambdaContext) -> None:
    results = [deliver(path, context) for path in all_samples()]
    deliver("vod/NewFileUpload.json", context)  # a re-sent copy: a duplicate, no second row
    # An event is its product and event_id (one sample is sent to VOD and to MPS: two events); its first
    # notification is the one its row describes (the re-sent copy is published again, not added again).
    sent: dict[tuple[str, str], dict[str, Any]] = {}
    for note in table.messages():
        sent.setdefault((note["cloudevent"]["data"]["product"], note["cloudevent"]["id"]), note["cloudevent"])
    assert set(sent) == {(r["product"], r["event_id"]) for r in results}

    rows = run_query("SELECT * FROM events ORDER BY product, event_id").rows
    assert [(r["product"], r["event_id"]) for r in rows] == sorted(sent)
    for row in rows:
        event = sent[row["product"], row["event_id"]]
        data = event["data"]
        assert (row["product"], row["event_type"], row["task_id"], row["status"], row["succeeded"],
                row["error_code"], row["error_message"], row["file_ids"], row["archive_key"], row["delivery"],
                row["recovered"]) == (
            data["product"], data["event_type"], data["task_id"], data["status"], data["succeeded"],
            data["error_code"], data["error_message"], data["file_ids"], data["archive"]["key"], "push", False)
        assert row["subject"] == event["subject"]
        received = datetime.fromisoformat(data["received_at"].replace("Z", "+00:00")).replace(tzinfo=None)
        assert row["received_at"] == received and row["dt"] == received.date()
        archived = table.s3.get_object(Bucket=BUCKET, Key=row["archive_key"])["Body"].read()
        assert json.loads(row["payload"]) == json.loads(archived)

    by_type = Counter((n["data"]["product"], n["data"]["event_type"]) for n in sent.values())
    counts = run_query(named_query("counts", by="product,event_type", since="1d")).rows
    assert {(c["product"], c["event_type"]): c["events"] for c in counts} == dict(by_type)
    failures = run_query(named_query("failures", since="7d")).rows
    assert sorted((f["product"], f["event_id"]) for f in failures) == sorted(
        key for key, n in sent.items() if n["data"]["succeeded"] is False)
    assert failures, "the samples hold failed tasks: the failures query must find them"


def test_rows_reach_the_table_prefix_through_the_delivery_stream_as_ndjson(table: Aws, context: LambdaContext) -> None:
    for path in ("vod/NewFileUpload.json", "vod/ProcedureStateChanged.json"):
        deliver(path, context)
    keys = [k for k in table.objects() if k.startswith(TABLE_PREFIX)]
    assert keys and all(k.startswith(f"{TABLE_PREFIX}dt=") for k in keys)
    lines = b"".join(v for k, v in table.objects().items() if k in keys).splitlines()
    assert sorted(json.loads(line)["event_type"] for line in lines) == ["NewFileUpload", "ProcedureStateChanged"]


def test_a_failed_row_write_is_counted_and_does_not_fail_the_delivery(
        table: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch) -> None:
    make_client = aws_clients.client
    broken = mock.Mock()
    broken.put_record.side_effect = ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": "x"}},
                                                "PutRecord")
    monkeypatch.setattr(aws_clients, "client", lambda name: broken if name == "firehose" else make_client(name))
    counted: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr("lib.pipeline.count", lambda name, amount=1, **dims: counted.append((name, dims)))

    result = deliver("vod/NewFileUpload.json", context)

    assert table.head(result["archive_key"])  # archived, published, acknowledged
    assert len(table.messages()) == 1
    assert ("TableRowsFailed", {"product": "vod"}) in counted
    assert run_query("SELECT count(*) AS n FROM events").rows == [{"n": 0}]


def test_no_stream_configured_writes_no_row(table: Aws, context: LambdaContext,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTS_STREAM_NAME")
    get_settings.cache_clear()
    deliver("vod/NewFileUpload.json", context)
    assert not [k for k in table.objects() if k.startswith(TABLE_PREFIX)]
    assert run_query("SELECT * FROM events").rows == []


def test_a_repeated_row_is_one_row_in_the_events_view(table: Aws, context: LambdaContext) -> None:
    deliver("vod/NewFileUpload.json", context)
    (key,) = [k for k in table.objects() if k.startswith(TABLE_PREFIX)]
    copy = table.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    table.s3.put_object(Bucket=BUCKET, Key=f"{TABLE_PREFIX}dt=x/redelivered", Body=copy)  # at least once
    assert run_query("SELECT count(*) AS n FROM events_rows").rows == [{"n": 2}]
    assert run_query("SELECT count(*) AS n FROM events").rows == [{"n": 1}]


def test_json_extract_reads_the_payload(table: Aws, context: LambdaContext) -> None:
    deliver("vod/NewFileUpload.json", context)
    document = json.loads(load_sample(EVENTS / "vod/NewFileUpload.json").body)
    rows = run_query("SELECT json_extract_scalar(payload, '$.FileUploadEvent.FileId') AS file_id FROM events").rows
    assert rows == [{"file_id": document["FileUploadEvent"]["FileId"]}]


def test_stuck_finds_the_tasks_whose_latest_event_is_still_processing(
        table: Aws, context: LambdaContext) -> None:
    def task(task_id: str, status: str) -> None:
        body = json.dumps({"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {
            "TaskId": task_id, "Status": status, "ErrCode": 0, "Message": "", "FileId": "5285890784246869930"}})
        signed = sign_body(body, "vod", vod_key=VOD_KEY)
        assert handler.callback(http_event(signed, path="/callback/vod"), context)["statusCode"] == 200

    task("t-done", "PROCESSING")
    task("t-done", "FINISH")
    task("t-stuck", "PROCESSING")
    later = datetime.now(UTC) + timedelta(hours=2)
    stuck = run_query(named_query("stuck", older_than="1h", now=later)).rows
    assert [(r["task_id"], r["status"]) for r in stuck] == [("t-stuck", "PROCESSING")]
    assert run_query(named_query("stuck", older_than="3h", now=later)).rows == []


def test_sql_the_engine_rejects_is_a_query_failed_with_its_message(table: Aws) -> None:
    with pytest.raises(QueryFailed, match="no_such_column"):
        run_query("SELECT no_such_column FROM events")


def _rows(aws: Aws) -> list[dict[str, Any]]:
    return [json.loads(line) for key, data in aws.objects().items() if key.startswith(TABLE_PREFIX)
            for line in data.splitlines()]


def test_with_idempotency_a_delivery_retried_after_a_failed_notification_has_one_row(
        table: Aws, idempotency_table: str, context: LambdaContext) -> None:
    sample = load_sample(EVENTS / "vod/NewFileUpload.json")
    body = sign_body(sample.body, "vod", vod_key=VOD_KEY)
    marker = json.loads(sample.body)["FileUploadEvent"]["FileId"]
    with publish_fails_for(marker):
        failed = handler.callback(http_event(body, path="/callback/vod"), context)
    assert failed["statusCode"] == 503
    assert _rows(table) == []  # not accepted: no row
    assert handler.callback(http_event(body, path="/callback/vod"), context)["statusCode"] == 200  # Tencent retries
    assert handler.callback(http_event(body, path="/callback/vod"), context)["statusCode"] == 200  # a duplicate
    assert [r["event_type"] for r in _rows(table)] == ["NewFileUpload"]


def test_without_idempotency_a_retry_after_a_failed_notification_leaves_the_row_to_backfill(
        table: Aws, context: LambdaContext, capsys: pytest.CaptureFixture[str]) -> None:
    from lib.cli import main

    sample = load_sample(EVENTS / "vod/NewFileUpload.json")
    body = sign_body(sample.body, "vod", vod_key=VOD_KEY)
    with publish_fails_for(json.loads(sample.body)["FileUploadEvent"]["FileId"]):
        assert handler.callback(http_event(body, path="/callback/vod"), context)["statusCode"] == 503
    assert handler.callback(http_event(body, path="/callback/vod"), context)["statusCode"] == 200
    assert _rows(table) == []  # the archive write of the retry found its object: no witness of a first time
    assert main(["query", "backfill", "--from", datetime.now(UTC).date().isoformat()]) == 0
    assert "1 written" in capsys.readouterr().out
    assert [r["event_type"] for r in run_query("SELECT event_type FROM events").rows] == ["NewFileUpload"]
