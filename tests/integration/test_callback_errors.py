"""Bad input gets a clear 4xx and writes nothing; an AWS fault gets a 5xx and loses nothing."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

import handler
from lib import aws as aws_clients
from tests.conftest import Aws, LambdaContext, http_event, load_event, response_json

GOOD = json.dumps({"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "5285890784273533167"}})


def _assert_nothing_written(aws: Aws) -> None:
    assert aws.objects() == {}
    assert aws.messages() == []


def _call(event: dict[str, Any], context: LambdaContext) -> tuple[int, dict[str, Any]]:
    response = handler.callback(event, context)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], response_json(response)


CASES = [
    # (id, event kwargs, status, code, pointer or None)
    ("invalid-json", {"body": "{not json"}, 400, "invalid_json", None),
    ("empty-body", {"body": ""}, 400, "invalid_json", None),
    ("nan", {"body": '{"EventType": "NewFileUpload", "X": NaN}'}, 400, "invalid_json", None),
    ("overflowing-float", {"body": '{"EventType": "NewFileUpload", "X": [-1e400]}'}, 400, "invalid_json", None),
    ("invalid-utf8", {"body": b"{\"EventType\": \"\xff\"}", "base64_body": True}, 400, "invalid_json", None),
    ("lone-surrogate", {"body": '{"EventType": "NewFileUpload", "X": "\\ud800"}'}, 400, "invalid_event", ""),
    ("batch-lone-surrogate", {"body": '{"EventSet": [' + GOOD + ', {"EventType": "FileDeleted", "X": ["\\udfff"]}]}'},
     400, "invalid_event", "/EventSet/1"),
    ("bad-base64", {"body": "", "base64_body": False, "raw": "%%%"}, 400, "invalid_json", None),
    ("array", {"body": "[1, 2]"}, 400, "invalid_event", ""),
    ("string", {"body": '"NewFileUpload"'}, 400, "invalid_event", ""),
    ("no-event-type", {"body": '{"FileUploadEvent": {}}'}, 400, "invalid_event", "/EventType"),
    ("event-type-number", {"body": '{"EventType": 7}'}, 400, "invalid_event", "/EventType"),
    ("event-type-path", {"body": '{"EventType": "../../etc"}'}, 400, "invalid_event", "/EventType"),
    ("payload-wrong-type", {"body": '{"EventType": "NewFileUpload", "FileUploadEvent": "x"}'}, 400,
     "invalid_event", "/FileUploadEvent"),
    ("nested-wrong-type", {"body": '{"EventType": "PullComplete", "PullCompleteEvent": {"ErrCode": "boom"}}'},
     400, "invalid_event", "/PullCompleteEvent/ErrCode"),
    ("list-wrong-type", {"body": '{"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": "1"}}'},
     400, "invalid_event", "/FileDeleteEvent/FileIdSet"),
    ("batch-not-list", {"body": '{"Response": {"EventSet": 5}}'}, 400, "invalid_event", "/Response/EventSet"),
    ("batch-item-not-object", {"body": '{"EventSet": [' + GOOD + ', 3]}'}, 400, "invalid_event", "/EventSet/1"),
    ("batch-item-invalid", {"body": '{"Response": {"EventSet": [' + GOOD + ', {"EventType": 1}]}}'}, 400,
     "invalid_event", "/Response/EventSet/1/EventType"),
    ("product-mismatch", {"body": GOOD, "path": "/callback/cme"}, 400, "product_mismatch", "/EventType"),
    ("cme-to-vod", {"body": '{"EventType": "Class.Created"}', "path": "/callback/vod"}, 400,
     "product_mismatch", "/EventType"),
    ("mps-only-type-to-vod", {"body": '{"EventType": "WorkflowTask"}', "path": "/callback/vod"}, 400,
     "product_mismatch", "/EventType"),
    ("unknown-product", {"body": GOOD, "path": "/callback/live"}, 400, "unknown_product", None),
    ("get", {"body": GOOD, "method": "GET"}, 405, "method_not_allowed", None),
    ("put-pinned", {"body": GOOD, "method": "PUT", "path": "/callback/vod"}, 405, "method_not_allowed", None),
    ("trace", {"body": GOOD, "method": "TRACE"}, 405, "method_not_allowed", None),  # found by schemathesis
]


@pytest.mark.parametrize(("kwargs", "status", "code", "pointer"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_and_nothing_is_written(aws: Aws, context: LambdaContext, kwargs: dict[str, Any],
                                                       status: int, code: str, pointer: str | None) -> None:
    kwargs = dict(kwargs)
    raw = kwargs.pop("raw", None)
    event = http_event(**kwargs)
    if raw is not None:
        event["body"], event["isBase64Encoded"] = raw, True

    got_status, body = _call(event, context)

    assert (got_status, body["ok"], body["error"]["code"]) == (status, False, code)
    assert body["error"]["message"]
    if pointer is not None:
        assert pointer in [d["pointer"] for d in body["error"]["details"]]
    _assert_nothing_written(aws)


def test_body_over_the_limit_gets_413(aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.settings import get_settings

    monkeypatch.setenv("MAX_BODY_BYTES", "100")
    get_settings.cache_clear()
    big = json.dumps({"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "1" * 200}})
    status, body = _call(http_event(big), context)
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    _assert_nothing_written(aws)


def test_unknown_path_is_404_in_the_error_shape(aws: Aws, context: LambdaContext) -> None:
    status, body = _call(http_event(GOOD, path="/other"), context)
    assert (status, body["ok"], body["error"]["code"]) == (404, False, "not_found")


def test_a_batch_with_one_bad_event_writes_nothing(aws: Aws, context: LambdaContext) -> None:
    body = json.dumps({"Response": {"EventSet": [json.loads(GOOD), {"EventType": "PullComplete",
                                                                     "PullCompleteEvent": {"Progress": "x"}}]}})
    status, _ = _call(http_event(body), context)
    assert status == 400
    _assert_nothing_written(aws)


def _failing(service: str, operation: str, error: Exception) -> Any:
    """Patch ``lib.aws.client`` so that ``service``'s ``operation`` raises ``error``; the rest is moto."""
    make_client = aws_clients.client
    broken = mock.Mock(wraps=make_client(service))
    setattr(broken, operation, mock.Mock(side_effect=error))
    return mock.patch.object(aws_clients, "client",
                             side_effect=lambda name: broken if name == service else make_client(name))


def _client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                       operation)


@pytest.mark.parametrize("error", [_client_error("InternalError", "PutObject"),
                                   EndpointConnectionError(endpoint_url="http://127.0.0.1:1")],
                         ids=["s3-500", "s3-unreachable"])
def test_archive_failure_is_503_and_nothing_is_published(aws: Aws, context: LambdaContext, error: Exception) -> None:
    with _failing("s3", "put_object", error):
        status, body = _call(http_event(GOOD), context)
    assert (status, body["error"]["code"]) == (503, "storage_unavailable")
    _assert_nothing_written(aws)


def test_publish_failure_is_503_and_the_archive_keeps_the_event(aws: Aws, context: LambdaContext) -> None:
    with _failing("sns", "publish", _client_error("InternalError", "Publish")):
        response = handler.callback(http_event(GOOD), context)
    assert response["statusCode"] == 503
    assert response["headers"].get("Retry-After") == "5"
    assert response_json(response)["error"]["code"] == "storage_unavailable"
    assert len(aws.objects()) == 1  # archived: the retry will find it and publish
    assert aws.messages() == []

    # The sender retries: the same object (never overwritten), now published once.
    retry = handler.callback(http_event(GOOD), context)
    assert retry["statusCode"] == 200
    assert len(aws.objects()) == 1
    assert len(aws.messages()) == 1


def test_no_notification_ever_names_an_object_that_is_not_archived(aws: Aws, context: LambdaContext) -> None:
    for name in ("vod/NewFileUpload.json", "vod/ProcedureStateChanged.json", "cme/Material.Imported.json"):
        handler.callback(load_event(name), context)
    archived = aws.objects()
    for message in aws.messages():
        assert message["cloudevent"]["data"]["archive"]["key"] in archived
