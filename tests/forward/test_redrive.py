"""``forward redrive`` run again after it failed half way (the forwarding queue took a dead letter, the
dead-letter queue did not let it go): the second run must not queue a second copy."""

from __future__ import annotations

import contextlib
import time
from typing import Any

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
    dead = Queued(destination="app", event_id="e-1", product="vod", event_type="NewFileUpload", subject="f-1",
                  queued_at=time.time() - 600, body="{}", archive_bucket="b", archive_key="k").dead(
        Failure("rejected", 400, "no", 1, time.time() - 60))
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
