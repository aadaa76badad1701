"""A repeated delivery changes nothing twice: powertools idempotency on DynamoDB (moto), keyed by product + event_id."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

import handler
from lib import api
from lib import aws as aws_clients
from tests.conftest import Aws, LambdaContext, http_event, load_event, response_json


def _event(n: int) -> bytes:
    return json.dumps({"EventType": "ProcedureStateChanged",
                       "ProcedureStateChangeEvent": {"TaskId": f"1250000000-Procedure-{n:04d}t0", "Status": "FINISH",
                                                     "ErrCode": 0, "FileId": str(5285890784246869930 + n)}}).encode()


def test_a_repeated_delivery_is_a_duplicate_with_no_second_effect(aws: Aws, idempotency_table: str,
                                                                  context: LambdaContext) -> None:
    event = load_event("vod/ProcedureStateChanged.json")
    first = response_json(handler.callback(event, context))["results"][0]
    second = handler.callback(event, context)
    assert second["statusCode"] == 200
    again = response_json(second)["results"][0]
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert again["event_id"] == first["event_id"]
    assert len(aws.objects()) == 1 and len(aws.messages()) == 1


def test_a_pulled_copy_of_a_pushed_event_is_a_duplicate(aws: Aws, idempotency_table: str,
                                                        context: LambdaContext) -> None:
    pushed = json.loads(load_event("vod/NewFileUpload.json")["body"])
    pulled = {"Response": {"EventSet": [{**pushed, "EventHandle": "handle-1"}], "RequestId": "r"}}
    handler.callback(http_event(json.dumps(pushed)), context)
    result = response_json(handler.callback(http_event(json.dumps(pulled)), context))["results"][0]
    assert result["duplicate"] is True
    assert len(aws.objects()) == 1 and len(aws.messages()) == 1


def test_one_body_sent_as_vod_and_as_mps_is_two_events(aws: Aws, idempotency_table: str,
                                                       context: LambdaContext) -> None:
    """CloudEvents: an event is its source and id together. A VTS payload both products send has one
    event_id, and is still one VOD event and one MPS event: each archived under its own product."""
    body = load_event("vod/ProcedureStateChanged.json")["body"]
    vod = response_json(handler.callback(http_event(body, path="/callback/vod"), context))["results"][0]
    mps = response_json(handler.callback(http_event(body, path="/callback/mps"), context))["results"][0]
    assert vod["event_id"] == mps["event_id"]
    assert (vod["duplicate"], mps["duplicate"]) == (False, False)
    assert vod["archive_key"].startswith("vod/") and mps["archive_key"].startswith("mps/")
    assert set(aws.objects()) == {vod["archive_key"], mps["archive_key"]}
    assert sorted(m["cloudevent"]["source"] for m in aws.messages()) == ["tencentcloud/mps",
                                                                            "tencentcloud/vod"]
    again = response_json(handler.callback(http_event(body, path="/callback/mps"), context))["results"][0]
    assert again["duplicate"] is True and again["archive_key"] == mps["archive_key"]  # its own record
    assert len(aws.messages()) == 2


def test_one_delivery_holding_a_vod_and_an_mps_copy_processes_both(aws: Aws, idempotency_table: str) -> None:
    from lib.intake import read_events, split_delivery
    from lib.pipeline import process_all
    from lib.settings import get_settings

    body = load_event("vod/ProcedureStateChanged.json")["body"].encode()
    vod = read_events(split_delivery(body, pinned="vod", max_bytes=1 << 20), pinned="vod")
    mps = read_events(split_delivery(body, pinned="mps", max_bytes=1 << 20), pinned="mps")
    outcomes = process_all([*vod, *mps, *vod], delivery="push", settings=get_settings())
    assert [(o.product, o.duplicate) for o in outcomes] == [("vod", False), ("mps", False), ("vod", True)]
    assert len(aws.objects()) == 2 and len(aws.messages()) == 2


def test_fifty_events_three_times_from_concurrent_threads(aws: Aws, idempotency_table: str,
                                                         context: LambdaContext) -> None:
    from lib import dedup

    dedup.register_context(context)  # as handler.callback does: in-flight records expire with the invocation
    deliveries = [_event(n) for n in range(50) for _ in range(3)]
    statuses: list[int] = []
    lock = threading.Lock()

    def deliver(body: bytes) -> None:
        for _ in range(50):  # a sender retries on 503 (in_progress) until acknowledged
            status, _ = api.receive(body)
            with lock:
                statuses.append(status)
            if status == 200:
                return
            threading.Event().wait(0.05)
        raise AssertionError("never acknowledged")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(deliver, deliveries))

    print(f"\n150 deliveries of 50 events: {statuses.count(200)} acknowledged, "
          f"{statuses.count(503)} told to retry while in flight")
    assert set(statuses) <= {200, 503}
    assert len(aws.objects()) == 50
    messages = aws.messages()
    assert len(messages) == 50
    assert len({m["cloudevent"]["id"] for m in messages}) == 50


def test_publish_failing_once_then_succeeding(aws: Aws, idempotency_table: str, context: LambdaContext) -> None:
    real_sns = aws_clients.client("sns")
    make_client = aws_clients.client
    calls = {"n": 0}

    def flaky_publish(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "Publish")
        return real_sns.publish(**kwargs)

    flaky = mock.Mock(wraps=real_sns)
    flaky.publish.side_effect = flaky_publish
    event = load_event("vod/NewFileUpload.json")
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: flaky if n == "sns" else make_client(n)):
        failed = handler.callback(event, context)
        assert failed["statusCode"] == 503
        # The idempotency record is not left claiming success (nor stuck in progress).
        assert aws_clients.client("dynamodb").scan(TableName=idempotency_table)["Items"] == []
        retried = handler.callback(event, context)
    assert retried["statusCode"] == 200
    assert response_json(retried)["results"][0]["duplicate"] is False
    assert len(aws.objects()) == 1 and len(aws.messages()) == 1


def test_a_copy_arriving_while_the_first_is_in_flight_is_told_to_retry(aws: Aws, idempotency_table: str) -> None:
    real_sns = aws_clients.client("sns")
    make_client = aws_clients.client
    entered, release = threading.Event(), threading.Event()

    def slow_publish(**kwargs: Any) -> Any:
        entered.set()
        release.wait(10)
        return real_sns.publish(**kwargs)

    slow = mock.Mock(wraps=real_sns)
    slow.publish.side_effect = slow_publish
    body = _event(1)
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: slow if n == "sns" else make_client(n)), \
            ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(api.receive, body)
        assert entered.wait(10)
        status, error = api.receive(body)
        release.set()
        assert first.result()[0] == 200
    assert (status, error["error"]["code"]) == (503, "in_progress")
    assert len(aws.objects()) == 1 and len(aws.messages()) == 1


def test_dedup_store_failure_is_503_and_nothing_is_written(aws: Aws, idempotency_table: str,
                                                          context: LambdaContext) -> None:
    make_client = aws_clients.client
    broken = mock.Mock(wraps=make_client("dynamodb"))
    broken.put_item.side_effect = ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")
    from lib import dedup

    dedup.reset()
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: broken if n == "dynamodb" else make_client(n)):
        response = handler.callback(load_event("vod/NewFileUpload.json"), context)
    assert response["statusCode"] == 503
    assert response_json(response)["error"]["code"] == "storage_unavailable"
    assert aws.objects() == {} and aws.messages() == []


def test_without_a_table_the_archive_still_keeps_one_object_per_event(aws: Aws, context: LambdaContext,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDEMPOTENCY_TABLE", raising=False)
    event = load_event("vod/NewFileUpload.json")
    for _ in range(3):
        assert handler.callback(event, context)["statusCode"] == 200
    assert len(aws.objects()) == 1  # the conditional write: never a second object, never an overwrite
    assert len(aws.messages()) == 3  # but notifications are at-least-once without the table (README)
