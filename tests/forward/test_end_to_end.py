"""Forwarding end to end under moto, with the delivery function run as Lambda's SQS event source runs it, against a
flaky endpoint on 127.0.0.1: 503s, a 429 with Retry-After, a timeout and a 400. Every event arrives, verified by
the standardwebhooks library, each resource's events in the ledger's order; the 400 is dead-lettered, then
delivered by `mediahook forward redrive` once the endpoint is fixed; nothing is lost and nothing stale is sent."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest
from standardwebhooks import Webhook

import handler
from lib.cli import main as cli
from lib.forward import queues, retry
from scripts.sqs_event_source import drain
from tests.conftest import Aws, LambdaContext, http_event, response_json
from tests.forward.conftest import Forwarding, new_webhook_secret
from tests.forward.endpoint import Reply, Request, serving


def _task(task: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"EventType": "ProcedureStateChanged", **extra,
            "ProcedureStateChangeEvent": {"TaskId": task, "Status": status, "ErrCode": 0, "FileId": "5285890784246869930"}}


def _workflow(task: str) -> dict[str, Any]:
    return {"EventType": "WorkflowTask", "WorkflowTaskEvent": {"TaskId": task, "Status": "FINISH", "ErrCode": 0,
                                                               "Message": ""}}


def _post(document: dict[str, Any], product: str, context: LambdaContext) -> str:
    response = handler.callback(http_event(json.dumps(document), path=f"/callback/{product}"), context)
    assert response["statusCode"] == 200, response["body"]
    return str(response_json(response)["results"][0]["event_id"])


def test_flaky_endpoint_gets_everything_in_order_and_the_400_after_redrive(
        aws: Aws, ledger_table: str, forwarding: Forwarding, context: LambdaContext,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(retry, "BASE_DELAY", 1)  # waits of a second: the test's time, not the policy's shape
    secret = new_webhook_secret()
    broken = {"poison": True}
    others = iter(range(1, 10**6))  # the n-th request for an event other than the poison

    def script(_: int, request: Request) -> Reply:
        if b"poison" in request.body and broken["poison"]:
            return Reply(400, body=b'{"error": "unknown task poison"}')
        n = next(others)
        if n <= 2:
            return Reply(503, body=b"busy")
        if n == 3:
            return Reply(429, {"Retry-After": "1"}, b"slow down")
        if n == 4:
            return Reply(200, delay=1.5)  # longer than the destination's timeout
        return Reply(200)

    with serving(script) as endpoint:
        forwarding.configure({"name": "local", "url": endpoint.url, "secret_param": forwarding.secret(secret),
                              "timeout_seconds": 0.5})
        posted = [  # (subject, status) in the order the ledger decides them
            ("1250000001-Procedure-a", "PROCESSING", _post(_task("1250000001-Procedure-a", "PROCESSING"), "vod", context)),
            ("1250000001-Procedure-b", "PROCESSING", _post(_task("1250000001-Procedure-b", "PROCESSING"), "vod", context)),
            ("1250000001-Procedure-a", "FINISH", _post(_task("1250000001-Procedure-a", "FINISH"), "vod", context)),
            ("1250000001-Procedure-b", "FINISH", _post(_task("1250000001-Procedure-b", "FINISH"), "vod", context)),
            ("poison", "FINISH", _post(_workflow("1250000001-WorkflowTask-poison"), "mps", context)),
        ]
        stale = _post(_task("1250000001-Procedure-a", "PROCESSING", Message="late copy"), "vod", context)
        assert len(forwarding.waiting()) == 5  # the stale one was not queued

        def accepted_ids() -> set[str]:
            return {json.loads(r.body)["id"] for r in endpoint.accepted}

        def settled() -> bool:
            return len(accepted_ids()) == 4 and queues.counts(forwarding.sqs, forwarding.dead_letter_queue_url).waiting == 1

        assert drain(forwarding.sqs, forwarding.queue_url, handler.forward, until=settled, timeout=60)
        statuses = [reply.status for _, reply in endpoint.requests]
        assert {503, 429, 400} <= set(statuses) and any(reply.delay for _, reply in endpoint.requests)

        [dead] = forwarding.waiting(dead=True)
        assert dead["failure"]["reason"] == "rejected" and dead["failure"]["status"] == 400
        assert "unknown task poison" in dead["failure"]["response_excerpt"]
        assert cli(["forward", "status", "--json"]) == 0
        # (the delivery function's metric lines share stdout under test: the command's is the one with its keys)
        [status] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"destinations"' in line]
        local = status["destinations"]["local"]
        assert (local["dead_lettered"], local["waiting"], local["in_flight"]) == (1, 0, 0)
        assert (local["dead_letters"]["last_reason"], local["dead_letters"]["last_status"]) == ("rejected", 400)

        broken["poison"] = False  # the endpoint is fixed
        assert cli(["forward", "redrive", "--destination", "local"]) == 0
        assert "1 dead letters of local sent back" in capsys.readouterr().out
        assert drain(forwarding.sqs, forwarding.queue_url, handler.forward, until=lambda: len(accepted_ids()) == 5,
                     timeout=30)

    # Nothing lost, nothing stale, each accepted request signed as Standard Webhooks signs.
    assert accepted_ids() == {event_id for _, _, event_id in posted}
    assert stale not in {json.loads(r.body)["id"] for r, _ in endpoint.requests}
    verifier = Webhook(secret)
    for request in endpoint.accepted:
        cloud_event = verifier.verify(request.body, request.headers)
        assert request.headers["webhook-id"] == cloud_event["id"]
    # Each resource in order, over every request the endpoint got (retries, the timed-out one, the redriven one)
    # in the order it got them: repeats of one event follow each other, never an older event after a newer one.
    order: dict[str, list[str]] = defaultdict(list)
    for request, _ in endpoint.requests:
        cloud_event = json.loads(request.body)
        data = cloud_event["data"]
        subject = "poison" if "poison" in (data["task_id"] or "") else cloud_event["subject"]
        if order[subject][-1:] != [data["event_id"]]:
            order[subject].append(data["event_id"])
    for subject in {s for s, _, _ in posted}:
        assert order[subject] == [e for s, _, e in posted if s == subject], subject
    assert queues.counts(forwarding.sqs, forwarding.queue_url) == queues.QueueCounts(0, 0)
    assert queues.counts(forwarding.sqs, forwarding.dead_letter_queue_url).waiting == 0
