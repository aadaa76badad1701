"""MPS through TDMQ-CMQ: handler.cmq against a local fake of the CMQ HTTP API (signed requests verified)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from unittest import mock

import pytest

import handler
from lib.intake import event_id_of
from tests.conftest import Aws, LambdaContext, load_event, publish_fails_for
from tests.fakes.cmq_api import FakeCmq


@pytest.fixture
def fake_cmq(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCmq]:
    fake = FakeCmq().start()
    for name, value in {"CMQ_ENDPOINT": fake.endpoint, "CMQ_QUEUE_NAME": fake.queue, "CMQ_REGION": "gz",
                        "CMQ_POLLING_WAIT_SECONDS": "0", "TENCENTCLOUD_SECRET_ID": fake.secret_id,
                        "TENCENTCLOUD_SECRET_KEY": fake.secret_key, "CMQ_MAX_ATTEMPTS": "3"}.items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.stop()


def _notifications(n: int) -> list[str]:
    template = json.loads(load_event("mps/WorkflowTask.json")["body"])
    out = []
    for i in range(n):
        event = copy.deepcopy(template)
        event["WorkflowTaskEvent"]["TaskId"] = f"1500000001-WorkflowTask-cmq{i:04d}t0"
        out.append(json.dumps(event, ensure_ascii=False))
    return out


def _archived(aws: Aws) -> set[str]:
    return {k.rsplit("/", 1)[1].removesuffix(".json") for k in aws.objects()}


def test_drain_with_duplicates_deletes_only_what_is_archived(aws: Aws, idempotency_table: str, fake_cmq: FakeCmq,
                                                             context: LambdaContext,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bodies = _notifications(40)
    fake_cmq.send(*bodies, *bodies[:8])  # 8 duplicates
    violations: list[str] = []
    fake_cmq.on_delete = lambda messages: violations.extend(
        m.msg_id for m in messages if event_id_of(json.loads(m.body)) not in _archived(aws))
    summary = handler.cmq({}, context)
    assert (summary["received"], summary["deleted"], summary["duplicates"], summary["left"]) == (48, 48, 8, 0)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CmqMessages"' in line]
    assert {line["outcome"]: line["CmqMessages"][0] for line in emf} == {k: float(v) for k, v in summary.items()}
    assert violations == [] and fake_cmq.remaining() == 0
    assert len(aws.objects()) == 40
    messages = aws.messages()
    assert len(messages) == 40 and {m["cloudevent"]["data"]["delivery"] for m in messages} == {"queue"}
    assert all(k.startswith("mps/WorkflowTask/") for k in aws.objects())


def test_wrapped_message_bodies(aws: Aws, fake_cmq: FakeCmq, context: LambdaContext) -> None:
    body = _notifications(1)[0]
    fake_cmq.send(json.dumps({"msgBody": body}))
    assert handler.cmq({}, context)["deleted"] == 1
    assert next(iter(aws.objects().values())) == body.encode()


class Crash(BaseException):
    pass


def test_crash_before_delete_redelivers_without_a_second_effect(aws: Aws, idempotency_table: str,
                                                                fake_cmq: FakeCmq, context: LambdaContext) -> None:
    from lib import cmq

    fake_cmq.send(*_notifications(10))
    with mock.patch.object(cmq.CmqClient, "delete", side_effect=Crash), pytest.raises(Crash):
        handler.cmq({}, context)
    assert len(aws.objects()) == 10 and fake_cmq.deleted == []
    fake_cmq.advance(31)  # the visibility timeout passes: CMQ shows the messages again
    summary = handler.cmq({}, context)
    assert (summary["deleted"], summary["duplicates"]) == (10, 10)
    assert len(aws.objects()) == 10 and len(aws.messages()) == 10 and fake_cmq.remaining() == 0


def test_poison_message_is_dead_lettered_after_n_receives(aws: Aws, fake_cmq: FakeCmq,
                                                          context: LambdaContext) -> None:
    bodies = _notifications(5)
    poison = json.loads(bodies[2])["WorkflowTaskEvent"]["TaskId"]
    fake_cmq.send(*bodies)
    runs = []
    with publish_fails_for(poison):
        for _ in range(3):
            runs.append(handler.cmq({}, context))
            fake_cmq.advance(31)
    assert runs[0]["deleted"] == 4 and runs[0]["left"] == 1  # the rest went through at once
    assert runs[2]["dead"] == 1 and fake_cmq.remaining() == 0
    (dead,) = [json.loads(v) for k, v in aws.objects().items() if k.startswith("mps/_dead/")]
    assert dead["attempts"] == 3 and dead["event"]["WorkflowTaskEvent"]["TaskId"] == poison


def test_wrong_key_fails_loudly_and_deletes_nothing(aws: Aws, fake_cmq: FakeCmq, context: LambdaContext,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.cmq import CmqError

    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "not-the-key")
    fake_cmq.send(*_notifications(2))
    with pytest.raises(CmqError) as caught:
        handler.cmq({}, context)
    assert caught.value.code == 4100 and fake_cmq.remaining() == 2 and aws.objects() == {}


def test_empty_queue_is_not_a_failure(aws: Aws, fake_cmq: FakeCmq, context: LambdaContext) -> None:
    assert handler.cmq({}, context)["received"] == 0
    assert fake_cmq.calls == [("BatchReceiveMessage", 7000)]
