"""One queue and one dead-letter queue per destination: each destination's notifications go to its own queue,
its dead letters to its own dead-letter queue; `forward status` reports each destination's figures and
`forward redrive` moves one destination's dead letters only."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

import handler
from lib import aws as aws_clients
from lib.cli import main as cli
from lib.forward import names, queues
from scripts.sqs_event_source import drain
from tests.conftest import Aws, LambdaContext, http_event
from tests.forward.conftest import Forwarding, new_webhook_secret
from tests.forward.endpoint import Reply, serving

UPLOAD = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "5285890784246869930"}}


def _post(document: dict[str, Any]) -> dict[str, Any]:
    return handler.callback(http_event(json.dumps(document), path="/callback/vod"), LambdaContext())


def _upload(file_id: str) -> dict[str, Any]:
    return {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": file_id}}


def _status(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert cli(["forward", "status", "--json", *args]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if '"destinations"' in line]
    destinations: dict[str, Any] = json.loads(line)["destinations"]
    return destinations


def test_each_destination_has_its_own_queue(aws: Aws, forwarding: Forwarding) -> None:
    forwarding.configure({"name": "app", "url": "https://a.example/x", "secret_param": "/p"},
                         {"name": "audit_log", "url": "https://b.example/x", "secret_param": "/p", "format": "tencent"})
    assert _post(UPLOAD)["statusCode"] == 200
    [to_app] = forwarding.waiting(destination="app")
    [to_audit] = forwarding.waiting(destination="audit_log")
    assert (to_app["destination"], to_app["format"]) == ("app", "cloudevents")
    assert (to_audit["destination"], to_audit["format"]) == ("audit_log", "tencent")
    assert forwarding.queue_url == names.queue_url(forwarding.prefix, "app")  # the one place URLs are made
    assert forwarding.queue_url.endswith("-app.fifo")


def test_one_destinations_queue_refusing_is_a_503_and_nothing_is_acknowledged(aws: Aws,
                                                                               forwarding: Forwarding) -> None:
    forwarding.configure({"name": "app", "url": "https://a.example/x", "secret_param": "/p"},
                         {"name": "other", "url": "https://b.example/x", "secret_param": "/p"})
    make_client = aws_clients.client
    sqs = make_client("sqs")
    broken = mock.Mock(wraps=sqs)
    other = names.queue_url(forwarding.prefix, "other")

    def send_message_batch(**kwargs: Any) -> Any:
        if kwargs["QueueUrl"] == other:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessageBatch")
        return sqs.send_message_batch(**kwargs)

    broken.send_message_batch.side_effect = send_message_batch
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: broken if n == "sqs" else make_client(n)):
        assert _post(UPLOAD)["statusCode"] == 503
    assert forwarding.waiting(destination="other") == []
    assert _post(UPLOAD)["statusCode"] == 200  # Tencent's retry: both queued now; app's copy dropped as a copy
    assert len(forwarding.waiting(destination="app")) == 1 and len(forwarding.waiting(destination="other")) == 1


def test_status_and_redrive_per_destination(aws: Aws, forwarding: Forwarding,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with serving(lambda n, r: Reply(200)) as healthy, serving(lambda n, r: Reply(404, body=b"no such route")) as down:
        forwarding.configure(
            {"name": "healthy", "url": healthy.url, "secret_param": forwarding.secret(new_webhook_secret())},
            {"name": "down", "url": down.url, "secret_param": forwarding.secret(new_webhook_secret())})
        for n in range(3):
            assert _post(_upload(f"52858907842468699{n}"))["statusCode"] == 200
        waiting = _status(capsys)
        assert {name: (d["waiting"], d["in_flight"], d["dead_lettered"]) for name, d in waiting.items()} == {
            "healthy": (3, 0, 0), "down": (3, 0, 0)}
        assert waiting["down"]["oldest_age_seconds"] is None  # moto: CloudWatch has no datapoint

        for name in ("healthy", "down"):
            url = names.queue_url(forwarding.prefix, name)
            assert drain(forwarding.sqs, url, handler.forward, timeout=20,
                         until=lambda url=url: queues.counts(forwarding.sqs, url) == queues.QueueCounts(0, 0))
        assert len(healthy.accepted) == 3
        found = _status(capsys)
        assert (found["healthy"]["waiting"], found["healthy"]["dead_lettered"]) == (0, 0)
        assert (found["down"]["waiting"], found["down"]["dead_lettered"]) == (0, 3)
        assert found["down"]["dead_letters"]["last_reason"] == "rejected"
        assert found["down"]["dead_letters"]["last_status"] == 404

        capsys.readouterr()
        assert cli(["forward", "status"]) == 0
        table = capsys.readouterr().out
        assert [line.split()[:4] for line in table.splitlines() if line.startswith(("healthy", "down"))] == [
            ["down", "0", "0", "3"], ["healthy", "0", "0", "0"]]
        assert "rejected (status 404)" in table and "CloudWatch has no ApproximateAgeOfOldestMessage" in table

        assert cli(["forward", "redrive", "--destination", "healthy"]) == 0  # nothing of the other one moves
        assert _status(capsys)["down"]["dead_lettered"] == 3
        assert cli(["forward", "redrive", "--destination", "down"]) == 0
        assert "3 dead letters of down sent back" in capsys.readouterr().out
        after = _status(capsys)
        assert (after["down"]["waiting"], after["down"]["dead_lettered"]) == (3, 0)
        assert (after["healthy"]["waiting"], after["healthy"]["dead_lettered"]) == (0, 0)


def test_a_removed_destinations_retained_queues_still_show(aws: Aws, forwarding: Forwarding,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    forwarding.queues("gone")  # its queues were kept (DeletionPolicy Retain) when it left the list
    forwarding.configure({"name": "app", "url": "https://a.example/x", "secret_param": "/p"})
    assert set(_status(capsys)) == {"app", "gone"}


def test_redrive_of_a_destination_without_queues_says_so(forwarding: Forwarding,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["forward", "redrive", "--destination", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no forwarding queues for destination nosuch" in err


def test_status_without_queues(forwarding: Forwarding, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["forward", "status"]) == 0
    assert "no forwarding queues under" in capsys.readouterr().out


def test_each_destination_paces_with_its_own_concurrency(aws: Aws, forwarding: Forwarding,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.forward import delivery

    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(delivery, "pace", lambda d, concurrency, budget=None: seen.append((d.name, concurrency)) or True)
    monkeypatch.setenv("FORWARD_CONCURRENCY", "3")
    with serving(lambda n, r: Reply(200)) as endpoint:
        forwarding.configure(
            {"name": "own", "url": endpoint.url, "concurrency": 7, "secret_param": forwarding.secret(new_webhook_secret())},
            {"name": "stage", "url": endpoint.url, "secret_param": forwarding.secret(new_webhook_secret())})
        assert _post(UPLOAD)["statusCode"] == 200
        for name in ("own", "stage"):
            url = names.queue_url(forwarding.prefix, name)
            assert drain(forwarding.sqs, url, handler.forward, timeout=10,
                         until=lambda url=url: queues.counts(forwarding.sqs, url) == queues.QueueCounts(0, 0))
    assert sorted(seen) == [("own", 7), ("stage", 3)]


def test_status_says_why_the_oldest_age_is_unknown(aws: Aws, forwarding: Forwarding,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    forwarding.configure({"name": "app", "url": "http://127.0.0.1:9/hook",
                          "secret_param": forwarding.secret(new_webhook_secret())})
    assert _post(UPLOAD)["statusCode"] == 200
    capsys.readouterr()
    assert cli(["forward", "status"]) == 0
    out = capsys.readouterr().out
    assert f"oldest age -: {queues.NO_DATAPOINT}" in out  # moto: CloudWatch has no datapoint
    # credentials without cloudwatch:GetMetricStatistics: the counts still, and why the age is missing
    make_client = aws_clients.client
    denied = mock.Mock()
    denied.get_metric_statistics.side_effect = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "GetMetricStatistics")
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: denied if n == "cloudwatch" else make_client(n)):
        assert cli(["forward", "status"]) == 0
        out = capsys.readouterr().out
        assert f"oldest age -: {queues.NO_PERMISSION}" in out and queues.NO_DATAPOINT not in out
        assert out.splitlines()[1].split()[:4] == ["app", "1", "0", "0"]
        found = _status(capsys)
    assert found["app"]["waiting"] == 1 and found["app"]["oldest_age_unknown"] == queues.NO_PERMISSION
    assert denied.get_metric_statistics.call_count == 2  # once per status run: not asked again once refused


def test_a_queue_url_given_for_the_prefix_is_refused_in_one_line(forwarding: Forwarding,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # the old single queue's URL (or any one queue's): not a prefix, and it would list no queues, silently
    one_queue = names.queue_url(forwarding.prefix, "app")
    for action in (["status"], ["redrive", "--destination", "app"]):
        capsys.readouterr()
        assert cli(["forward", *action, "--queue-url-prefix", one_queue]) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("mediahook forward: FORWARD_QUEUE_URL_PREFIX: the URL prefix of the forwarding queues")
        assert "ForwardQueueUrlPrefix" in line
