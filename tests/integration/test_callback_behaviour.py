"""Batches, legacy and unknown types, extra topics, gateway flavours and Tencent's payload quirks."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import handler
from lib.settings import get_settings
from tests.conftest import SAMPLES, Aws, LambdaContext, http_event, load_event, response_json


def _post(context: LambdaContext, body: str | bytes, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = handler.callback(http_event(body, **kwargs), context)
    return response["statusCode"], response_json(response)


def test_pullevents_batch_envelope_archives_each_event(aws: Aws, context: LambdaContext) -> None:
    body = (SAMPLES / "vod_PullEvents.api-doc-example.json").read_text(encoding="utf-8")
    status, result = _post(context, body)
    assert status == 200
    types = [r["event_type"] for r in result["results"]]
    assert types == ["ProcedureStateChanged", "NewFileUpload", "ProcedureStateChanged", "EditMediaComplete"]
    objects = aws.objects()
    assert len(objects) == 4
    events = json.loads(body)["Response"]["EventSet"]
    for event, entry in zip(events, result["results"], strict=True):
        (stored,) = [v for k, v in objects.items() if k.endswith(f"/{entry['event_id']}.json")]
        assert json.loads(stored) == event  # each event archived whole, EventHandle included
    assert sorted(m["cloudevent"]["id"] for m in aws.messages()) == sorted(r["event_id"] for r in result["results"])


def test_vts_style_batch_without_response_wrapper(aws: Aws, context: LambdaContext) -> None:
    workflow = json.loads((SAMPLES / "mps_WorkflowTask.json").read_text(encoding="utf-8"))
    status, result = _post(context, json.dumps({"EventSet": [workflow]}))
    assert status == 200 and result["results"][0]["product"] == "mps"


def test_empty_batch_is_acknowledged_with_no_results(aws: Aws, context: LambdaContext) -> None:
    status, result = _post(context, '{"Response": {"EventSet": null, "RequestId": "x"}}')
    assert (status, result) == (200, {"ok": True, "results": []})
    assert aws.objects() == {}


def test_legacy_v2_format_is_archived_and_published_with_a_marker(aws: Aws, context: LambdaContext) -> None:
    response = handler.callback(load_event("vod/legacy-v2/NewFileUpload.json"), context)
    assert response["statusCode"] == 200
    (key,) = aws.objects()
    assert key.startswith("vod/NewFileUpload/")
    assert aws.head(key)["Metadata"]["format"] == "legacy-v2"
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["legacy"] is True
    assert message["attributes"]["format"] == "legacy-v2"
    assert message["cloudevent"]["data"]["file_id"] == "5285890784273533167"


def test_unknown_event_type_is_archived_under_unknown_and_acknowledged(
        aws: Aws, context: LambdaContext, capsys: pytest.CaptureFixture[str]) -> None:
    status, result = _post(context, '{"EventType": "BrandNewThingComplete", "BrandNewThingCompleteEvent": {"A": 1}}')
    assert status == 200 and result["results"][0]["product"] == "vod"
    (key,) = aws.objects()
    assert key.startswith("vod/_unknown/BrandNewThingComplete/")
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["known_type"] is False
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any("UnknownEventType" in m and m.get("product") == "vod" for m in metrics)


def test_unknown_dotted_type_is_cme_and_unknown_camelcase_can_be_pinned_to_mps(aws: Aws, context: LambdaContext) -> None:
    assert _post(context, '{"EventType": "Team.Created"}')[1]["results"][0]["product"] == "cme"
    assert _post(context, '{"EventType": "LiveRecordResult"}', path="/callback/mps")[1]["results"][0]["product"] == "mps"
    keys = sorted(aws.objects())
    assert keys[0].startswith("cme/_unknown/Team.Created/") and keys[1].startswith("mps/_unknown/LiveRecordResult/")


def test_procedure_state_changed_pinned_to_mps_is_the_vts_name(aws: Aws, context: LambdaContext) -> None:
    response = handler.callback(load_event("mps/ProcedureStateChanged.json"), context)
    assert response_json(response)["results"][0]["product"] == "mps"
    assert next(iter(aws.objects())).startswith("mps/ProcedureStateChanged/")


def test_routes_send_matching_types_to_extra_topics(aws: Aws, context: LambdaContext,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    extra = aws.sns.create_topic(Name="procedures")["TopicArn"]
    url = aws.sqs.create_queue(QueueName="procedures")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.sns.subscribe(TopicArn=extra, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("ROUTES", f"vod.Procedure*={extra}; cme.Material.*=arn:aws:sns:us-east-1:123456789012:nope")
    get_settings.cache_clear()

    handler.callback(load_event("vod/ProcedureStateChanged.json"), context)
    handler.callback(load_event("vod/NewFileUpload.json"), context)

    assert len(aws.messages()) == 2  # the default topic gets both
    routed = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(json.loads(m["Body"])["Message"])["data"]["event_type"] for m in routed] == [
        "ProcedureStateChanged"]


def test_rest_api_v1_event(aws: Aws, context: LambdaContext) -> None:
    body = load_event("vod/NewFileUpload.json")["body"]
    event = {"resource": "/callback/{product}", "path": "/callback/vod", "httpMethod": "POST",
             "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {},
             "queryStringParameters": None, "pathParameters": {"product": "vod"},
             "requestContext": {"resourcePath": "/callback/{product}", "httpMethod": "POST", "stage": "prod",
                                "requestId": "r", "identity": {"sourceIp": "127.0.0.1"}},
             "body": base64.b64encode(body.encode()).decode(), "isBase64Encoded": True}
    response = handler.callback(event, context)
    assert response["statusCode"] == 200
    assert next(iter(aws.objects().values())) == body.encode()


def test_lambda_function_url_event(aws: Aws, context: LambdaContext) -> None:
    event = http_event(load_event("cme/Material.Imported.json")["body"], path="/callback")
    event["requestContext"]["domainName"] = "abcdefg.lambda-url.us-east-1.on.aws"
    response = handler.callback(event, context)
    assert response["statusCode"] == 200
    assert response_json(response)["results"][0]["product"] == "cme"


@pytest.mark.parametrize("sample", [
    "vod_EditMediaComplete.old-doc-key-EditMediaComplete.json",  # old payload key EditMediaComplete
    "vod_WechatPublishComplete.json",  # old key WechatPublishComplete
    "vod_ProcedureStateChanged.real-capture-php-comment.json",  # nulls, 0000-00-00 dates, escaped slashes
    "vod_FileDeleted.old-doc-bug-EventType-NewFileUpload.json",  # EventType disagrees with the payload key
    "cme_Class.Created.ParseEvent-response.json",  # not an event: the ParseEvent API response
])
def test_quirky_published_payloads_are_accepted(aws: Aws, context: LambdaContext, sample: str) -> None:
    body = (SAMPLES / sample).read_text(encoding="utf-8")
    if "ParseEvent-response" in sample:
        body = json.dumps(json.loads(body)["Response"]["EventContent"], ensure_ascii=False)
    status, result = _post(context, body)
    assert status == 200, result
    assert len(aws.objects()) == 1 and len(aws.messages()) == 1


def test_old_payload_key_is_read_for_the_summary(aws: Aws, context: LambdaContext) -> None:
    body = (SAMPLES / "vod_EditMediaComplete.old-doc-key-EditMediaComplete.json").read_text(encoding="utf-8")
    _post(context, body)
    data = aws.messages()[0]["cloudevent"]["data"]
    assert data["task_id"] and data["task_id"] == json.loads(body)["EditMediaComplete"]["TaskId"]


def test_routing_is_by_event_type_the_ids_by_the_one_filled_key(aws: Aws, context: LambdaContext) -> None:
    """Tencent's published old-doc bug: EventType NewFileUpload, FileUploadEvent missing, the body in
    FileDeleteEvent. Routed and archived as sent, under its EventType; its ids read from the filled key."""
    body = (SAMPLES / "vod_FileDeleted.old-doc-bug-EventType-NewFileUpload.json").read_text(encoding="utf-8")
    status, result = _post(context, body)
    assert status == 200
    assert result["results"][0]["event_type"] == "NewFileUpload"
    (key, stored), = aws.objects().items()
    assert key.startswith("vod/NewFileUpload/") and stored == body.encode()
    data = aws.messages()[0]["cloudevent"]["data"]
    assert data["file_ids"] == json.loads(body)["FileDeleteEvent"]["FileIdSet"]


def test_signature_fields_and_big_numbers_survive(aws: Aws, context: LambdaContext) -> None:
    body = '{"EventType":"ComposeMediaComplete","Sign":"x","T":1,"ComposeMediaCompleteEvent":{"TaskId":"t","Output":{"FileId":52854854879852714901234}}}'
    status, _ = _post(context, body)
    assert status == 200
    assert next(iter(aws.objects().values())) == body.encode()
    assert aws.messages()[0]["cloudevent"]["data"]["file_id"] == "52854854879852714901234"


def test_an_error_code_beyond_64_bits_is_published_whole(aws: Aws, context: LambdaContext) -> None:
    body = '{"EventType":"PullComplete","PullCompleteEvent":{"TaskId":"t","ErrCode":123456789012345678901234567}}'
    status, _ = _post(context, body)
    assert status == 200
    data = aws.messages()[0]["cloudevent"]["data"]
    assert (data["error_code"], data["succeeded"]) == (123456789012345678901234567, False)


def test_a_trailing_slash_is_the_same_route(aws: Aws, context: LambdaContext) -> None:
    body = load_event("vod/NewFileUpload.json")["body"]
    response = handler.callback(http_event(body, path="/callback/vod/", query="token=local-demo-token"), context)
    assert response["statusCode"] == 200, response["body"]
    assert response_json(response)["results"][0]["product"] == "vod"


def test_rest_api_answers_carry_single_and_multi_value_headers(aws: Aws, context: LambdaContext) -> None:
    event = {"resource": "/callback", "path": "/callback", "httpMethod": "GET", "headers": None,
             "multiValueHeaders": None, "queryStringParameters": None, "pathParameters": None,
             "requestContext": {"resourcePath": "/callback", "httpMethod": "GET", "stage": "prod"},
             "body": None, "isBase64Encoded": False}
    response = handler.callback(event, context)
    assert response["statusCode"] == 405
    assert response["headers"] == {"Allow": "POST", "Content-Type": "application/json"}
    assert response["multiValueHeaders"] == {"Allow": ["POST"], "Content-Type": ["application/json"]}


def test_a_named_http_api_stage_is_not_part_of_the_route(aws: Aws, context: LambdaContext) -> None:
    body = load_event("cme/Material.Imported.json")["body"]
    event = http_event(body, path="/prod/callback/cme", query="token=local-demo-token")
    event["requestContext"]["stage"] = "prod"
    response = handler.callback(event, context)
    assert response["statusCode"] == 200, response["body"]


def test_a_batch_is_processed_in_delivery_order_with_repeats_done_once(aws: Aws, context: LambdaContext) -> None:
    first = json.loads(load_event("vod/NewFileUpload.json")["body"])
    second = json.loads(load_event("vod/FileDeleted.json")["body"])
    body = json.dumps({"EventSet": [first, second, first]}, ensure_ascii=False)
    response = handler.callback(http_event(body, path="/callback/vod"), context)
    assert response["statusCode"] == 200, response["body"]
    results = response_json(response)["results"]
    assert [r["event_type"] for r in results] == ["NewFileUpload", "FileDeleted", "NewFileUpload"]
    assert [r["duplicate"] for r in results] == [False, False, True]
    published = [m["cloudevent"]["data"]["event_type"] for m in aws.messages()]
    assert published == ["NewFileUpload", "FileDeleted"]  # in the order Tencent sent them
