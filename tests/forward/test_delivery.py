"""The delivery function's answers to what an endpoint does, and the queueing step's place in the callback."""

from __future__ import annotations

import json
import time
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

import handler
from lib import aws as aws_clients
from lib.auth import Secrets, Verifier
from lib.cli import main as cli
from lib.forward import names, order, queues
from scripts.sqs_event_source import drain
from tests.conftest import BUCKET, Aws, LambdaContext, http_event, response_json
from tests.forward.conftest import Forwarding, new_webhook_secret
from tests.forward.endpoint import Reply, Request, serving

UPLOAD = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "5285890784246869930",
                                                             "MediaBasicInfo": {"Name": "动物世界"}}}


def _post(document: dict[str, Any], product: str = "vod", context: Any = None) -> dict[str, Any]:
    return handler.callback(http_event(json.dumps(document, ensure_ascii=False), path=f"/callback/{product}"),
                            context or LambdaContext())


def _deliver_all(forwarding: Forwarding, timeout: float = 10) -> None:
    def empty() -> bool:
        return queues.counts(forwarding.sqs, forwarding.queue_url) == queues.QueueCounts(0, 0)

    assert drain(forwarding.sqs, forwarding.queue_url, handler.forward, until=empty, timeout=timeout)


def test_a_redirect_is_not_followed_and_a_long_answer_is_read_in_part(aws: Aws, forwarding: Forwarding) -> None:
    followed: list[str] = []

    def script(_: int, request: Request) -> Reply:
        followed.append(request.headers.get("webhook-id", ""))
        return Reply(302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"x" * 100_000)

    with serving(script) as endpoint:
        forwarding.configure({"name": "app", "url": endpoint.url, "secret_param": forwarding.secret(
            new_webhook_secret())})
        assert _post(UPLOAD)["statusCode"] == 200
        _deliver_all(forwarding)
    assert len(followed) == 1
    [dead] = forwarding.waiting(dead=True)
    assert dead["failure"]["status"] == 302 and dead["failure"]["reason"] == "rejected"
    assert len(dead["failure"]["response_excerpt"]) <= 4096


def test_loopback_outside_local_mode_is_refused_and_dead_lettered(aws: Aws, forwarding: Forwarding,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(lambda n, r: Reply(200)) as endpoint:
        monkeypatch.setenv("FORWARD_ALLOW_LOOPBACK", "false")
        forwarding.configure({"name": "app", "url": endpoint.url, "secret_param": forwarding.secret(
            new_webhook_secret())})
        assert _post(UPLOAD)["statusCode"] == 200
        _deliver_all(forwarding)
    assert endpoint.requests == []
    [dead] = forwarding.waiting(dead=True)
    assert dead["failure"]["reason"] == "refused" and "loopback" in dead["failure"]["response_excerpt"]


def test_past_the_max_age_a_retried_message_is_dead_lettered_with_the_last_answer(
        aws: Aws, forwarding: Forwarding) -> None:
    with serving(lambda n, r: Reply(503, body=b"down for maintenance")) as endpoint:
        forwarding.configure({"name": "app", "url": endpoint.url, "max_age_seconds": 60,
                              "secret_param": forwarding.secret(new_webhook_secret())})
        assert _post(UPLOAD)["statusCode"] == 200
        later = time.time() + 59  # the next wait would take it past its max age
        with mock.patch("lib.forward.delivery.time.time", return_value=later):
            _deliver_all(forwarding)
    assert len(endpoint.requests) == 1
    [dead] = forwarding.waiting(dead=True)
    assert dead["failure"] | {"dead_at": 0} == {"reason": "expired", "status": 503, "attempts": 1, "dead_at": 0,
                                                "response_excerpt": "down for maintenance"}


def test_tencent_format_reaches_a_handler_that_verifies_tencent_signatures(
        aws: Aws, forwarding: Forwarding, capsys: pytest.CaptureFixture[str]) -> None:
    bodies: list[bytes] = []

    def tencent_handler(_: int, request: Request) -> Reply:
        document = json.loads(request.body)
        try:
            Verifier(Secrets(vod_sign_keys=("their-vod-key",))).check_signature("vod", [document], time.time())
        except Exception:
            return Reply(403)
        bodies.append(request.body)
        return Reply(200)

    with serving(tencent_handler) as endpoint:
        secret_param = forwarding.secret("vod=their-vod-key,mps=their-mps-key")
        forwarding.configure({"name": "legacy-app", "url": endpoint.url, "format": "tencent",
                              "secret_param": secret_param})
        original = json.dumps(UPLOAD, ensure_ascii=False, indent=2)
        response = handler.callback(http_event(original, path="/callback/vod"), LambdaContext())
        assert response["statusCode"] == 200
        _deliver_all(forwarding)
    [body] = bodies
    assert body.decode().startswith(original[:-2])  # Tencent's bytes, then the signature fields
    assert "their-vod-key" not in capsys.readouterr().out  # no secret in any log line


def test_queueing_fails_then_nothing_is_acknowledged(aws: Aws, forwarding: Forwarding) -> None:
    forwarding.configure({"name": "app", "url": "https://hooks.example.com/x", "secret_param": "/unused"})
    make_client = aws_clients.client
    sqs = make_client("sqs")
    broken = mock.Mock(wraps=sqs)
    broken.send_message_batch.side_effect = ClientError({"Error": {"Code": "InternalError", "Message": "no"}},
                                                        "SendMessageBatch")
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: broken if n == "sqs" else make_client(n)):
        response = _post(UPLOAD)
    assert response["statusCode"] == 503
    assert "forwarding" in response_json(response)["error"]["message"]
    assert forwarding.waiting() == []
    assert _post(UPLOAD)["statusCode"] == 200  # Tencent's retry: archived once, queued this time
    assert len(forwarding.waiting()) == 1
    assert len([k for k in aws.objects() if k.startswith("vod/")]) == 1
    assert aws.s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1


def test_filters_pick_destinations_and_copies_are_queued_once(aws: Aws, forwarding: Forwarding) -> None:
    forwarding.configure(
        {"name": "uploads", "url": "https://a.example/x", "secret_param": "/p",
         "filter": {"products": ["vod"], "event_types": ["NewFileUpload"]}},
        {"name": "failures", "url": "https://b.example/x", "secret_param": "/p", "filter": {"succeeded": False}},
        {"name": "everything", "url": "https://c.example/x", "secret_param": "/p", "format": "tencent"})
    assert _post(UPLOAD)["statusCode"] == 200
    assert _post(UPLOAD)["statusCode"] == 200  # the same event again: SQS drops the copy (deduplication id)
    queued = forwarding.waiting()
    assert sorted(m["destination"] for m in queued) == ["everything", "uploads"]
    by_name = {m["destination"]: m for m in queued}
    assert by_name["uploads"]["_group"] == "uploads/5285890784246869930"
    assert json.loads(by_name["uploads"]["body"])["type"] == "tencentcloud.vod.NewFileUpload"
    assert json.loads(by_name["everything"]["body"]) == UPLOAD
    assert "secret" not in json.dumps(queued).replace("secret_param", "")


def _forget_sequences(forwarding: Forwarding, destination: str) -> None:
    """Make the dead letters of ``destination`` look queued before messages carried sequences."""
    dead = names.dead_letter_queue_url(forwarding.prefix, destination)
    messages = forwarding.sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                              AttributeNames=["MessageGroupId"])["Messages"]
    for message in messages:
        body = json.loads(message["Body"]) | {"sequences": None}
        forwarding.sqs.send_message(QueueUrl=dead, MessageBody=json.dumps(body), MessageDeduplicationId="old-"
                                    + message["MessageId"], MessageGroupId=message["Attributes"]["MessageGroupId"])
        forwarding.sqs.delete_message(QueueUrl=dead, ReceiptHandle=message["ReceiptHandle"])


def test_a_redriven_message_without_a_sequence_whose_resource_moved_on_is_not_sent(
        aws: Aws, ledger_table: str, forwarding: Forwarding, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A dead letter queued before messages carried sequences has no watermark to claim: the ledger's latest
    state decides (lib/forward/order.py ``moved_on``). With a sequence, tests/forward/test_order.py."""
    def task(status: str) -> dict[str, Any]:
        return {"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {
            "TaskId": "1250000002-Procedure-r", "Status": status, "ErrCode": 0, "FileId": "1"}}

    read_latest = mock.Mock(wraps=order.moved_on)
    monkeypatch.setattr(order, "moved_on", read_latest)
    refuse = {"on": True}
    with serving(lambda n, r: Reply(400) if refuse["on"] and b"PROCESSING" in r.body else Reply(200)) as endpoint:
        forwarding.configure({"name": "app", "url": endpoint.url, "secret_param": forwarding.secret(
            new_webhook_secret())})
        assert _post(task("PROCESSING"))["statusCode"] == 200
        _deliver_all(forwarding)
        assert _post(task("FINISH"))["statusCode"] == 200
        _deliver_all(forwarding)
        _forget_sequences(forwarding, "app")
        refuse["on"] = False
        assert cli(["forward", "redrive", "--destination", "app"]) == 0
        _deliver_all(forwarding)
    statuses = [(json.loads(r.body)["data"]["status"], reply.status) for r, reply in endpoint.requests]
    assert statuses == [("PROCESSING", 400), ("FINISH", 200)]  # never PROCESSING after FINISH
    assert read_latest.call_count == 1  # the sequence-less dead letter, and only it, read the ledger
    assert forwarding.waiting(dead=True) == []
    assert "ForwardSuperseded" in capsys.readouterr().out


def test_the_cli_says_what_is_missing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FORWARD_QUEUE_URL_PREFIX", raising=False)
    assert cli(["forward", "status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("FORWARD_QUEUE_URL_PREFIX is not set: give --queue-url-prefix or set "
                                     "FORWARD_QUEUE_URL_PREFIX (the stack's ForwardQueueUrlPrefix output)") in err


def test_redrive_without_a_destination_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORWARD_QUEUE_URL_PREFIX", "https://sqs.us-east-1.amazonaws.com/123456789012/mediahook-ci-forward-")
    assert cli(["forward", "redrive"]) == 2
    assert "redrive needs --destination NAME" in capsys.readouterr().err


def test_a_message_whose_timeout_does_not_fit_goes_back_untried(aws: Aws, forwarding: Forwarding) -> None:
    from scripts.sqs_event_source import lambda_event, queue_arn

    with serving(lambda n, r: Reply(200)) as endpoint:
        forwarding.configure({"name": "app", "url": endpoint.url, "secret_param": forwarding.secret(
            new_webhook_secret())})
        assert _post(UPLOAD)["statusCode"] == 200
        messages = forwarding.sqs.receive_message(QueueUrl=forwarding.queue_url, AttributeNames=["All"])["Messages"]
        short = LambdaContext(remaining_ms=9_000)  # less than the 10 s timeout and the margin
        answer = handler.forward(lambda_event(messages, queue_arn(forwarding.sqs, forwarding.queue_url)), short)
        assert answer["batchItemFailures"] == [{"itemIdentifier": messages[0]["MessageId"]}]
        assert endpoint.requests == []
        _deliver_all(forwarding)  # given back at once, delivered by the next invocation
    assert len(endpoint.accepted) == 1


def test_an_unreadable_message_is_not_retried_in_a_loop(aws: Aws, forwarding: Forwarding) -> None:
    from scripts.sqs_event_source import lambda_event, queue_arn

    forwarding.configure({"name": "app", "url": "https://a.example/x", "secret_param": "/p"})
    forwarding.sqs.send_message(QueueUrl=forwarding.queue_url, MessageBody="not a queued notification",
                                MessageGroupId="app/x", MessageDeduplicationId="poison")
    messages = forwarding.sqs.receive_message(QueueUrl=forwarding.queue_url, AttributeNames=["All"])["Messages"]
    answer = handler.forward(lambda_event(messages, queue_arn(forwarding.sqs, forwarding.queue_url)), LambdaContext())
    assert answer["batchItemFailures"] == [{"itemIdentifier": messages[0]["MessageId"]}]
    # not handed back at once: it keeps the queue's visibility timeout (then the redrive policy's DLQ)
    assert forwarding.sqs.receive_message(QueueUrl=forwarding.queue_url).get("Messages") is None


def test_status_counts_an_unreadable_dead_letter_and_redrive_leaves_it(
        forwarding: Forwarding, capsys: pytest.CaptureFixture[str]) -> None:
    forwarding.sqs.send_message(QueueUrl=forwarding.dead_letter_queue_url, MessageBody="garbage",
                                MessageGroupId="app/x", MessageDeduplicationId="garbage")
    assert cli(["forward", "status", "--json"]) == 0
    [status] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"destinations"' in line]
    assert status["destinations"]["app"]["dead_lettered"] == 1
    assert status["destinations"]["app"]["dead_letters"]["unreadable"] == 1
    assert cli(["forward", "redrive", "--destination", "app"]) == 0
    assert queues.counts(forwarding.sqs, forwarding.dead_letter_queue_url).waiting == 1


def test_a_rate_limit_wait_that_does_not_fit_sends_the_message_back_untried(
        aws: Aws, forwarding: Forwarding, monkeypatch: pytest.MonkeyPatch) -> None:
    # a wait for the rate limit counts against the invocation's time like the attempt itself: slept past the
    # function's timeout, it would hand back the batch's delivered messages too
    from scripts.sqs_event_source import lambda_event, queue_arn

    monkeypatch.setenv("FORWARD_CONCURRENCY", "2")
    with serving(lambda n, r: Reply(200)) as endpoint:
        forwarding.configure({"name": "paced", "url": endpoint.url, "timeout_seconds": 1, "rate_limit": 1,
                              "secret_param": forwarding.secret(new_webhook_secret())})  # 2 s between requests
        for file_id in ("1", "2"):
            assert _post({"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": file_id}})["statusCode"] == 200
        messages = forwarding.sqs.receive_message(QueueUrl=forwarding.queue_url, MaxNumberOfMessages=10,
                                                  AttributeNames=["All"])["Messages"]
        assert len(messages) == 2
        context = LambdaContext(remaining_ms=7_000)  # the attempt's 1 s and the 5 s margin, and 1 s to spare
        started = time.monotonic()
        answer = handler.forward(lambda_event(messages, queue_arn(forwarding.sqs, forwarding.queue_url)), context)
        assert time.monotonic() - started < 1.5  # not the 2 s the rate limit asks
        assert answer["batchItemFailures"] == [{"itemIdentifier": messages[1]["MessageId"]}]
        assert len(endpoint.requests) == 1


def test_a_large_notification_for_several_destinations_is_queued_within_sqs_limits(
        aws: Aws, forwarding: Forwarding) -> None:
    # ~120 KB of Tencent's JSON, each quote escaped twice over in the queued message (about 240 KB): five
    # tencent destinations make one SendMessageBatch of 1.2 MB, over SQS's limit: a 503 at every retry
    big = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "9", "MediaBasicInfo": {"Name": '"' * 60_000}}}
    forwarding.configure(*({"name": f"app{n}", "url": "https://hooks.example.com/x", "format": "tencent",
                            "secret_param": "/unused"} for n in range(5)))
    assert _post(big)["statusCode"] == 200
    queued = forwarding.waiting()
    assert sorted(m["destination"] for m in queued) == [f"app{n}" for n in range(5)]
    assert all(len(json.dumps(m, ensure_ascii=False).encode()) <= 256 * 1024 for m in queued)


def test_a_tencent_body_too_large_for_its_message_is_delivered_from_the_archive(
        aws: Aws, forwarding: Forwarding) -> None:
    # ~200 KB of JSON, ~400 KB once escaped into the queued message: queued without it, read back at delivery
    big = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "9", "MediaBasicInfo": {"Name": '"' * 100_000}}}
    original = json.dumps(big)
    with serving(lambda n, r: Reply(200)) as endpoint:
        forwarding.configure({"name": "app", "url": endpoint.url, "format": "tencent",
                              "secret_param": forwarding.secret("some-vod-key")})
        assert _post(big)["statusCode"] == 200
        [queued] = forwarding.waiting()
        assert queued["body"] is None
        _deliver_all(forwarding)
    [request] = endpoint.accepted
    assert request.body.decode().startswith(original[:-2])


def test_a_callback_retried_after_a_newer_state_was_queued_does_not_queue_the_older_one(
        aws: Aws, ledger_table: str, forwarding: Forwarding) -> None:
    # A's queueing fails (503), B (newer) is queued, then Tencent retries A: A must not follow B to the destination
    def task(status: str) -> dict[str, Any]:
        return {"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {
            "TaskId": "1250000002-Procedure-retry", "Status": status, "ErrCode": 0, "FileId": "1"}}

    forwarding.configure({"name": "app", "url": "https://hooks.example.com/x", "secret_param": "/unused"})
    make_client = aws_clients.client
    broken = mock.Mock(wraps=make_client("sqs"))
    broken.send_message_batch.side_effect = ClientError({"Error": {"Code": "InternalError", "Message": "no"}},
                                                        "SendMessageBatch")
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: broken if n == "sqs" else make_client(n)):
        assert _post(task("PROCESSING"))["statusCode"] == 503
    assert _post(task("FINISH"))["statusCode"] == 200
    assert _post(task("PROCESSING"))["statusCode"] == 200  # the retry
    statuses = [json.loads(m["body"])["data"]["status"] for m in forwarding.waiting()]
    assert statuses == ["FINISH"]
