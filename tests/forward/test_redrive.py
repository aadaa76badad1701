"""The dead-letter queue as the operator sees it: ``forward redrive`` run again after it failed half way
(the forwarding queue took a dead letter, the dead-letter queue did not let it go) queues no second copy;
``forward status`` counts, and ``redrive`` reaches, a group's dead letters past the first ten SQS FIFO shows."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from typing import Any

import pytest

from lib.cli import main as cli
from lib.forward import queues
from lib.forward.message import Failure, Queued
from tests.forward.conftest import Forwarding


class _DeleteFailsOnce:
    """An SQS client whose first DeleteMessage fails, as a crash between the send and the delete would."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.failed = False
        self.kept: list[str] = []  # the receipt handles of the dead letters left behind

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def delete_message(self, **kwargs: Any) -> Any:
        if not self.failed:
            self.failed = True
            self.kept.append(kwargs["ReceiptHandle"])
            raise ConnectionError("lost on the way")
        return self._sqs.delete_message(**kwargs)


def test_a_redrive_run_again_after_a_crash_queues_no_second_copy(forwarding: Forwarding) -> None:
    dead = _dead(1)
    forwarding.sqs.send_message(QueueUrl=forwarding.dead_letter_queue_url, MessageBody=dead.to_json(),
                                MessageGroupId=dead.group_id, MessageDeduplicationId="d-1")
    crashing = _DeleteFailsOnce(forwarding.sqs)
    with contextlib.suppress(ConnectionError):
        queues.redrive(crashing, forwarding.dead_letter_queue_url, forwarding.queue_url, "app")
    [handle] = crashing.kept  # the operator runs it again once the scan's visibility timeout has passed
    forwarding.sqs.change_message_visibility(QueueUrl=forwarding.dead_letter_queue_url, ReceiptHandle=handle,
                                             VisibilityTimeout=0)
    assert queues.redrive(forwarding.sqs, forwarding.dead_letter_queue_url, forwarding.queue_url, "app") == 1
    assert [m["event_id"] for m in forwarding.waiting()] == ["e-1"]
    assert forwarding.waiting(dead=True) == []


def _dead(n: int, subject: str = "f-1") -> Queued:
    """The n-th dead letter of one resource for destination ``app``."""
    return Queued(destination="app", event_id=f"e-{n}", product="vod", event_type="NewFileUpload", subject=subject,
                  queued_at=time.time() - 600 + n, body="{}", archive_bucket="b", archive_key="k").dead(
        Failure("rejected", 400, "no", 1, time.time() - 60 + n))


def test_status_and_redrive_see_every_dead_letter_of_a_long_group(forwarding: Forwarding,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # SQS FIFO returns none of a group's messages while some of the group are in flight: the scan sees the first
    # ten, but the count is the dead-letter queue's own, and redrive (which deletes as it goes) reaches them all
    for n in range(25):
        dead = _dead(n)
        forwarding.sqs.send_message(QueueUrl=forwarding.dead_letter_queue_url, MessageBody=dead.to_json(),
                                    MessageGroupId=dead.group_id, MessageDeduplicationId=f"d-{n}")
    [app] = queues.status(forwarding.sqs, None, forwarding.prefix)
    assert (app.name, app.dead_lettered, app.waiting) == ("app", 25, 0)
    assert app.dead_letters.last_reason == "rejected" and app.dead_letters.oldest_age_seconds is not None
    assert app.dead_letters.oldest_age_seconds >= 599  # e-0's, the first of the group
    assert cli(["forward", "status"]) == 0
    assert [line.split()[:4] for line in capsys.readouterr().out.splitlines() if line.startswith("app")] == [
        ["app", "0", "0", "25"]]
    assert queues.redrive(forwarding.sqs, forwarding.dead_letter_queue_url, forwarding.queue_url, "app") == 25
    assert _drain(forwarding.sqs, forwarding.queue_url) == [f"e-{n}" for n in range(25)]  # in order


def _drain(sqs: Any, queue_url: str) -> list[str]:
    """Every message's event id, in the order SQS hands them out, deleting each (a FIFO group's next messages
    come only once the first are deleted)."""
    ids = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            ids.append(json.loads(message["Body"])["event_id"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return ids


def test_a_scan_ends_when_the_messages_it_saw_come_round_again(forwarding: Forwarding) -> None:
    # a scan longer than its visibility timeout (a large dead-letter queue) sees its first messages again:
    # it must end there, not count them twice or go round for ever
    for n in range(3):
        dead = _dead(n, subject=f"f-{n}")
        forwarding.sqs.send_message(QueueUrl=forwarding.dead_letter_queue_url, MessageBody=dead.to_json(),
                                    MessageGroupId=dead.group_id, MessageDeduplicationId=f"d-{n}")
    seen = list(itertools.islice(queues.scan(forwarding.sqs, forwarding.dead_letter_queue_url, visibility=0), 50))
    assert sorted(queued.event_id for queued, _, _ in seen if queued) == ["e-0", "e-1", "e-2"]
