"""Order per resource and destination, kept by the ledger's sequence and the delivery watermark (lib/forward/order.py):
the race of two callbacks whose sends finish in the other order than the ledger decided them, the watermark letting a
message's own retry through, destinations that take stale events, no ledger, a DynamoDB failure on the claim, and a
redriven dead letter."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

import handler
from lib import aws as aws_clients
from lib.cli import main as cli
from lib.errors import StorageUnavailable
from lib.forward import enqueue, order, retry
from lib.forward.message import Queued
from scripts.sqs_event_source import poll_once, queue_arn
from tests.conftest import EVENTS, Aws
from tests.forward.conftest import Forwarding, new_webhook_secret
from tests.forward.endpoint import Endpoint, Reply, serving
from tests.forward.test_delivery import _deliver_all, _post

TASK = "1250000003-Procedure-order"


def _task(status: str) -> dict[str, Any]:
    return {"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {
        "TaskId": TASK, "Status": status, "ErrCode": 0, "FileId": "1"}}


def _statuses(endpoint: Endpoint, accepted: bool = True) -> list[str]:
    requests = endpoint.accepted if accepted else [r for r, _ in endpoint.requests]
    return [json.loads(r.body)["data"]["status"] for r in requests]


def _configure(forwarding: Forwarding, endpoint: Endpoint, **extra: Any) -> None:
    forwarding.configure({"name": "app", "url": endpoint.url, "secret_param": forwarding.secret(new_webhook_secret()),
                          **extra})


@contextmanager
def _sends_finish_in_the_other_order() -> Iterator[threading.Event]:
    """The race of two sandboxes: the first event's SendMessageBatch (PROCESSING) waits until the second's
    (FINISH) is done, so the later decision reaches the queue first. Yields the event set once the first send
    waits (the ledger has decided it by then: queueing follows the decision)."""
    original = enqueue.send
    first_waiting, second_sent = threading.Event(), threading.Event()

    def send(*args: Any, **kwargs: Any) -> None:
        queued: list[Queued] = next(a for a in (*args, *kwargs.values()) if isinstance(a, list))
        if any("PROCESSING" in (q.body or "") for q in queued):
            first_waiting.set()
            assert second_sent.wait(10)
            original(*args, **kwargs)
            return
        original(*args, **kwargs)
        second_sent.set()

    with mock.patch.object(enqueue, "send", send):
        yield first_waiting


def _race() -> None:
    """PROCESSING decided before FINISH, FINISH queued before PROCESSING."""
    with _sends_finish_in_the_other_order() as first_waiting, ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, _task("PROCESSING"))
        assert first_waiting.wait(10)
        assert _post(_task("FINISH"))["statusCode"] == 200
        assert first.result(timeout=20)["statusCode"] == 200


def _watermarks(aws: Aws, table: str) -> list[dict[str, Any]]:
    items = aws_clients.client("dynamodb").scan(TableName=table)["Items"]
    return [i for i in items if i["pk"]["S"].startswith("delivered#")]


def test_a_newer_state_queued_first_is_never_followed_by_the_older_one(
        aws: Aws, ledger_table: str, forwarding: Forwarding, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        _race()
        queued = [(json.loads(m["body"])["data"]["status"], m["sequences"][TASK]) for m in forwarding.waiting()]
        # the race happened: the queue's order is not the ledger's
        [(first_status, finish), (second_status, processing)] = queued
        assert (first_status, second_status) == ("FINISH", "PROCESSING") and finish == processing + 1
        _deliver_all(forwarding)
    assert _statuses(endpoint, accepted=False) == ["FINISH"]  # PROCESSING never sent after it
    assert "ForwardSuperseded" in capsys.readouterr().out
    assert "superseded by a newer state" in caplog.text
    [watermark] = _watermarks(aws, ledger_table)
    assert watermark["pk"]["S"] == f"delivered#app#vod#{TASK}" and watermark["seq"] == {"N": str(finish)}


def test_in_the_decided_order_both_are_delivered_in_order(aws: Aws, ledger_table: str, forwarding: Forwarding,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        assert _post(_task("PROCESSING"))["statusCode"] == 200
        assert _post(_task("FINISH"))["statusCode"] == 200
        _deliver_all(forwarding)
    assert _statuses(endpoint) == ["PROCESSING", "FINISH"]
    assert "ForwardSuperseded" not in capsys.readouterr().out


def _copy(document: dict[str, Any]) -> dict[str, Any]:
    """The same state sent again with other bytes (another event_id): the ledger calls it ``repeated``."""
    return {**document, "MediahookResentCopy": "1"}


def test_a_repeated_copy_is_delivered_in_its_place_but_never_after_a_newer_state(
        aws: Aws, ledger_table: str, forwarding: Forwarding) -> None:
    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        for document in (_task("PROCESSING"), _copy(_task("PROCESSING")), _task("FINISH")):
            assert _post(document)["statusCode"] == 200
        _deliver_all(forwarding)
        assert _statuses(endpoint) == ["PROCESSING", "PROCESSING", "FINISH"]  # a copy of the state it repeats
    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        other = {**_task("PROCESSING"), "ProcedureStateChangeEvent": {
            **_task("PROCESSING")["ProcedureStateChangeEvent"], "TaskId": TASK + "-2"}}
        finish = {**other, "ProcedureStateChangeEvent": {**other["ProcedureStateChangeEvent"], "Status": "FINISH"}}
        assert _post(other)["statusCode"] == 200
        _deliver_all(forwarding)
        # the copy is decided (repeated) before FINISH, but FINISH reaches the queue first
        with _sends_finish_in_the_other_order() as first_waiting, ThreadPoolExecutor(1) as pool:
            copy = pool.submit(_post, _copy(other))
            assert first_waiting.wait(10)
            assert _post(finish)["statusCode"] == 200
            assert copy.result(timeout=20)["statusCode"] == 200
        _deliver_all(forwarding)
    assert _statuses(endpoint, accepted=False) == ["PROCESSING", "FINISH"]  # the copy never came after FINISH


def test_a_claimed_message_that_failed_passes_its_own_watermark_on_the_retry(
        aws: Aws, ledger_table: str, forwarding: Forwarding, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "BASE_DELAY", 1)
    with serving(lambda n, r: Reply(503) if n == 1 else Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        assert _post(_task("PROCESSING"))["statusCode"] == 200
        assert _post(_task("FINISH"))["statusCode"] == 200
        _deliver_all(forwarding, timeout=30)
    assert [(json.loads(r.body)["data"]["status"], reply.status) for r, reply in endpoint.requests] == [
        ("PROCESSING", 503), ("PROCESSING", 200), ("FINISH", 200)]


def test_a_destination_that_takes_stale_events_gets_both_and_claims_nothing(
        aws: Aws, ledger_table: str, forwarding: Forwarding) -> None:
    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint, filter={"stale": True})
        _race()
        _deliver_all(forwarding)
    assert _statuses(endpoint) == ["FINISH", "PROCESSING"]  # as queued: it asked for every event as it comes
    assert _watermarks(aws, ledger_table) == []


def test_without_a_ledger_nothing_is_numbered_or_claimed(aws: Aws, forwarding: Forwarding,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    claimed = mock.Mock(side_effect=AssertionError("no ledger: nothing to claim"))
    monkeypatch.setattr("lib.ledger.Ledger.claim_delivery", claimed)
    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        _race()
        assert [m["sequences"] for m in forwarding.waiting()] == [None, None]
        _deliver_all(forwarding)
    assert _statuses(endpoint) == ["FINISH", "PROCESSING"]  # the order they were queued in: no guarantee
    claimed.assert_not_called()


def test_a_dynamodb_failure_on_the_claim_hands_the_message_back(
        aws: Aws, ledger_table: str, forwarding: Forwarding, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(retry, "BASE_DELAY", 1)
    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        assert _post(_task("PROCESSING"))["statusCode"] == 200
        make_client = aws_clients.client
        broken = mock.Mock(wraps=make_client("dynamodb"))
        broken.update_item.side_effect = ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}},
                                                     "UpdateItem")
        with mock.patch.object(aws_clients, "client",
                               side_effect=lambda n: broken if n == "dynamodb" else make_client(n)):
            assert poll_once(forwarding.sqs, forwarding.queue_url, queue_arn(forwarding.sqs, forwarding.queue_url),
                             handler.forward) == 1
        assert endpoint.requests == []  # not sent without its claim
        assert '"Failures"' in capsys.readouterr().out and "delivery watermark not written" in caplog.text
        _deliver_all(forwarding, timeout=30)  # given back, not lost
    assert _statuses(endpoint) == ["PROCESSING"]
    assert forwarding.waiting(dead=True) == []


def test_a_redriven_dead_letter_is_dropped_once_a_newer_state_was_sent(
        aws: Aws, ledger_table: str, forwarding: Forwarding, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # the message has a sequence: the watermark decides, the ledger's latest state is not read
    monkeypatch.setattr(order, "moved_on", mock.Mock(side_effect=AssertionError("a sequence: the watermark")))
    refuse = {"on": True}
    with serving(lambda n, r: Reply(400) if refuse["on"] and b"PROCESSING" in r.body else Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        assert _post(_task("PROCESSING"))["statusCode"] == 200
        _deliver_all(forwarding)
        assert _post(_task("FINISH"))["statusCode"] == 200
        _deliver_all(forwarding)
        refuse["on"] = False
        assert cli(["forward", "redrive", "--destination", "app"]) == 0
        _deliver_all(forwarding)
    assert [(json.loads(r.body)["data"]["status"], reply.status) for r, reply in endpoint.requests] == [
        ("PROCESSING", 400), ("FINISH", 200)]
    assert forwarding.waiting(dead=True) == []
    assert "ForwardSuperseded" in capsys.readouterr().out


def test_a_redriven_dead_letter_is_delivered_when_nothing_newer_was_sent(
        aws: Aws, ledger_table: str, forwarding: Forwarding) -> None:
    refuse = {"on": True}
    with serving(lambda n, r: Reply(400) if refuse["on"] else Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        assert _post(_task("PROCESSING"))["statusCode"] == 200
        _deliver_all(forwarding)
        refuse["on"] = False
        assert cli(["forward", "redrive", "--destination", "app"]) == 0
        _deliver_all(forwarding)
    assert [(json.loads(r.body)["data"]["status"], reply.status) for r, reply in endpoint.requests] == [
        ("PROCESSING", 400), ("PROCESSING", 200)]
    assert forwarding.waiting(dead=True) == []


def _event_types(endpoint: Endpoint) -> list[tuple[str, str | None]]:
    return [(json.loads(r.body)["data"]["event_type"], json.loads(r.body).get("subject"))
            for r, _ in endpoint.requests]


def _switcher(status: str, n: int) -> dict[str, Any]:
    document = json.loads(json.loads((EVENTS / "cme" / "Project.Switcher.StatusChanged.json").read_text())["body"])
    document["ProjectSwitcherStatusChangedEvent"]["Status"] = status
    document["Seq"] = n
    return document


def test_a_retried_change_is_never_delivered_after_the_newer_change(aws: Aws, ledger_table: str,
                                                                     forwarding: Forwarding) -> None:
    started, stopped = _switcher("Started", 0), _switcher("Stopped", 1)
    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        # the first attempt is recorded, then its queueing fails: 503, Tencent retries it later
        with mock.patch.object(enqueue, "send", side_effect=StorageUnavailable("queue down")):
            assert _post(started, "cme")["statusCode"] == 503
        assert _post(stopped, "cme")["statusCode"] == 200
        assert _post(started, "cme")["statusCode"] == 200  # the retry, the same bytes
        _deliver_all(forwarding)
    assert _statuses(endpoint, accepted=False) == ["Stopped"]  # never Started after Stopped


def test_a_resent_earlier_fact_is_never_delivered_after_a_later_fact(aws: Aws, ledger_table: str,
                                                                     forwarding: Forwarding) -> None:
    file_id = "5285890784246800051"
    upload = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": file_id, "MediaBasicInfo": {"Name": "a"}}}
    persisted = {"EventType": "PersistenceComplete", "PersistenceCompleteEvent": {"FileId": file_id}}
    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        for document in (upload, persisted, _copy(upload)):
            assert _post(document)["statusCode"] == 200
        _deliver_all(forwarding)
    assert _event_types(endpoint) == [("NewFileUpload", file_id), ("PersistenceComplete", file_id)]


def test_a_deletion_of_two_files_is_never_followed_by_an_older_fact_of_the_second(
        aws: Aws, ledger_table: str, forwarding: Forwarding, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = "5285890784246800061", "5285890784246800062"
    persisted = {"EventType": "PersistenceComplete", "PersistenceCompleteEvent": {"FileId": two}}
    deletion = {"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": [one, two]}}
    original = enqueue.send
    fact_waiting, deletion_sent = threading.Event(), threading.Event()

    def send(*args: Any, **kwargs: Any) -> None:
        """The fact of the second file, decided before the deletion, reaches its queue after it."""
        queued: list[Queued] = next(a for a in (*args, *kwargs.values()) if isinstance(a, list))
        if any(q.event_type == "PersistenceComplete" for q in queued):
            fact_waiting.set()
            assert deletion_sent.wait(10)
            original(*args, **kwargs)
            return
        original(*args, **kwargs)
        deletion_sent.set()

    with serving(lambda n, r: Reply(200)) as endpoint:
        _configure(forwarding, endpoint)
        with mock.patch.object(enqueue, "send", send), ThreadPoolExecutor(1) as pool:
            fact = pool.submit(_post, persisted)
            assert fact_waiting.wait(10)
            assert _post(deletion)["statusCode"] == 200
            assert fact.result(timeout=20)["statusCode"] == 200
        _deliver_all(forwarding)
    assert _event_types(endpoint) == [("FileDeleted", one)]  # the fact of the second file never after it
    assert "ForwardSuperseded" in capsys.readouterr().out
