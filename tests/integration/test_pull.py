"""VOD pull mode: the real Tencent SDK client against a local fake of the VOD API, moto behind the pipeline."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

import handler
from lib import pull as vod_pull
from lib.settings import get_settings
from tests.conftest import SAMPLES, Aws, LambdaContext, publish_fails_for
from tests.fakes.vod_api import FakeVodApi


@pytest.fixture
def fake_vod(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVodApi]:
    fake = FakeVodApi().start()
    monkeypatch.setenv("VOD_API_ENDPOINT", fake.url)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", fake.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", fake.secret_key)
    monkeypatch.setenv("VOD_SUB_APP_IDS", "1500000001")
    # In-process moto is CPU-bound under the GIL: more threads only stretch each batch towards the 30 s
    # window on a busy 2-core machine. Throughput is measured in benchmarks/, not here.
    monkeypatch.setenv("PULL_WORKERS", "2")
    monkeypatch.setenv("PULL_CONCURRENCY", "8")
    yield fake
    fake.stop()


def _events(n: int, duplicate_share: float = 0.0, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` pullable VOD events; ``duplicate_share`` of them are copies of earlier ones (same event_id)."""
    template = json.loads((SAMPLES / "vod_ProcedureStateChanged.json").read_text(encoding="utf-8"))
    distinct = n - int(n * duplicate_share)
    events = []
    for i in range(distinct):
        event = copy.deepcopy(template)
        event["ProcedureStateChangeEvent"]["TaskId"] = f"1500000001-Procedure-{i:06d}t0"
        events.append(event)
    rng = random.Random(seed)
    events += [copy.deepcopy(rng.choice(events[:distinct])) for _ in range(n - distinct)]
    rng.shuffle(events)
    return events


def _run(context: LambdaContext) -> dict[str, Any]:
    return handler.pull({}, context)


def _archive_guard(aws: Aws) -> Any:
    """Fail loudly if the fake is ever asked to confirm an event whose archive object does not exist."""
    violations: list[str] = []

    def check(events: list[dict[str, Any]]) -> None:
        archived = b"\n".join(aws.objects().values())  # what S3 holds at the moment of the confirm
        for event in events:
            task_id = event["ProcedureStateChangeEvent"]["TaskId"]
            if task_id.encode() not in archived:
                violations.append(task_id)

    return check, violations


def test_drain_500_events_with_10_percent_duplicates(aws: Aws, idempotency_table: str, fake_vod: FakeVodApi,
                                                      context: LambdaContext, capsys: pytest.CaptureFixture[str]) -> None:
    fake_vod.enqueue(*_events(500, duplicate_share=0.10))
    summary = _run(context)
    # The run's summary is also a metric (the dashboard's pull widget), one EMF line per outcome.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"PullEvents"' in line]
    assert {line["outcome"]: line["PullEvents"] for line in emf} == {
        k: [float(v)] for k, v in summary.items() if isinstance(v, int)}
    assert all(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "outcome"]] for line in emf)

    print(f"\npull summary: {summary}")
    assert summary["pulled"] == 500 and summary["confirmed"] == 500
    assert summary["duplicates"] == 50 and summary["left"] == 0 and summary["dead"] == 0
    assert fake_vod.remaining() == 0
    assert len(fake_vod.confirmed) == 500
    assert len(aws.objects()) == 450
    messages = aws.messages()
    assert len(messages) == 450 and len({m["cloudevent"]["id"] for m in messages}) == 450
    assert all(m["cloudevent"]["data"]["delivery"] == "pull" for m in messages)
    pulls = [c for c in fake_vod.calls if c.action == "PullEvents" and not c.error]
    confirms = [c for c in fake_vod.calls if c.action == "ConfirmEvents"]
    assert all(len(c.handles) <= 16 for c in pulls + confirms)
    assert all(c.params.get("SubAppId") == 1500000001 for c in fake_vod.calls)
    assert fake_vod.calls[-1].error == "ResourceNotFound"  # drained until "no event"


def test_nothing_is_confirmed_before_it_is_archived(aws: Aws, idempotency_table: str, fake_vod: FakeVodApi,
                                                    context: LambdaContext) -> None:
    fake_vod.enqueue(*_events(40))
    check, violations = _archive_guard(aws)
    fake_vod.on_confirm = check
    _run(context)
    assert len(fake_vod.confirmed) == 40
    assert violations == []


class Crash(BaseException):
    """The process dies: not an Exception, nothing in the code catches it."""


def test_crash_after_archiving_before_confirming(aws: Aws, idempotency_table: str, fake_vod: FakeVodApi,
                                                 context: LambdaContext) -> None:
    fake_vod.enqueue(*_events(20))
    real_call = None

    def dying_call(self: Any, action: str, params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if action == "ConfirmEvents":
            raise Crash
        return real_call(self, action, params, *args, **kwargs)  # type: ignore[misc]

    from tencentcloud.common.common_client import CommonClient

    real_call = CommonClient.call_json
    with mock.patch.object(CommonClient, "call_json", dying_call), pytest.raises(Crash):
        _run(context)
    pulled = sum(len(c.handles) for c in fake_vod.calls if c.action == "PullEvents" and not c.error)
    assert pulled > 0
    assert len(aws.objects()) == pulled  # every pulled event was archived and published...
    assert len(aws.messages()) == pulled
    assert fake_vod.confirmed == []  # ...and none confirmed

    fake_vod.advance(31)  # past the confirm window: VOD hands the events out again
    check, violations = _archive_guard(aws)
    fake_vod.on_confirm = check
    summary = _run(context)

    assert summary["duplicates"] == pulled and summary["confirmed"] == 20
    assert len(aws.objects()) == 20 and len(aws.messages()) == 20  # no second object or message
    assert fake_vod.remaining() == 0 and violations == []


def test_a_poison_event_is_dead_lettered_after_n_tries_without_holding_back_its_batch(
        aws: Aws, idempotency_table: str, fake_vod: FakeVodApi, context: LambdaContext,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULL_MAX_ATTEMPTS", "3")
    events = _events(10)
    poison_task = events[3]["ProcedureStateChangeEvent"]["TaskId"]
    fake_vod.enqueue(*events)
    runs = []
    with publish_fails_for(poison_task):
        for _ in range(3):
            runs.append(_run(context))
            fake_vod.advance(31)

    assert runs[0]["confirmed"] == 9 and runs[0]["left"] == 1  # the rest of the batch went through at once
    assert (runs[1]["confirmed"], runs[2]["confirmed"], runs[2]["dead"]) == (0, 1, 1)
    dead = {k: v for k, v in aws.objects().items() if k.startswith("vod/_dead/")}
    (record,) = [json.loads(v) for v in dead.values()]
    assert record["attempts"] == 3 and record["error"]["code"] == "storage_unavailable"
    assert record["event"]["ProcedureStateChangeEvent"]["TaskId"] == poison_task
    assert fake_vod.remaining() == 0
    assert len(aws.messages()) == 9


def test_an_invalid_event_is_dead_lettered_at_once(aws: Aws, fake_vod: FakeVodApi, context: LambdaContext) -> None:
    fake_vod.enqueue({"EventType": "PullComplete", "PullCompleteEvent": {"ErrCode": "not a number"}}, *_events(2))
    summary = _run(context)
    assert (summary["dead"], summary["confirmed"]) == (1, 3)
    assert len([k for k in aws.objects() if k.startswith("vod/_dead/")]) == 1


def test_an_event_with_a_lone_surrogate_is_dead_lettered_as_valid_json(aws: Aws, fake_vod: FakeVodApi,
                                                                        context: LambdaContext) -> None:
    fake_vod.enqueue({"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": ["\ud800"]}}, *_events(1))
    summary = _run(context)
    assert (summary["dead"], summary["confirmed"]) == (1, 2)
    (body,) = [v for k, v in aws.objects().items() if k.startswith("vod/_dead/")]
    record = json.loads(body)
    assert record["error"]["code"] == "invalid_event"
    assert record["event"]["FileDeleteEvent"]["FileIdSet"] == ["\ud800"]


def test_confirm_window_passed_leaves_the_events_to_come_back(aws: Aws, fake_vod: FakeVodApi,
                                                              context: LambdaContext) -> None:
    fake_vod.enqueue(*_events(3))
    clock = {"now": 0.0}
    real_process = vod_pull.process

    def slow_process(*args: Any, **kwargs: Any) -> Any:
        clock["now"] += 28  # each event takes "28 s": the 30 s window (less the margin) is gone
        return real_process(*args, **kwargs)

    settings = get_settings()
    pull_settings = vod_pull.PullSettings.from_env({"VOD_API_ENDPOINT": fake_vod.url, "PULL_CONCURRENCY": "1",
                                                    "TENCENTCLOUD_SECRET_ID": fake_vod.secret_id,
                                                    "TENCENTCLOUD_SECRET_KEY": fake_vod.secret_key})
    puller = vod_pull.Puller(settings, pull_settings, vod_pull.make_client(pull_settings),
                             remaining_ms=lambda: 60_000 if clock["now"] < 60 else 0, clock=lambda: clock["now"])
    with mock.patch.object(vod_pull, "process", slow_process):
        summary = puller.run()
    assert summary.confirmed == 0 and summary.left == 3
    assert not [c for c in fake_vod.calls if c.action == "ConfirmEvents"]


def test_wrong_credentials_fail_the_run_loudly(aws: Aws, fake_vod: FakeVodApi, context: LambdaContext,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "not-the-key")
    fake_vod.enqueue(*_events(1))
    with pytest.raises(TencentCloudSDKException) as caught:
        _run(context)
    assert caught.value.get_code() == "AuthFailure.SignatureFailure"
    assert aws.objects() == {}


def test_empty_queue_and_time_budget(aws: Aws, fake_vod: FakeVodApi, context: LambdaContext) -> None:
    assert _run(context)["pulled"] == 0  # "no event" is empty, not a failure
    fake_vod.enqueue(*_events(5))
    context.remaining_ms = 1_000  # below the reserve: no round is started
    assert _run(context)["pulled"] == 0
    assert fake_vod.remaining() == 5


def test_sts_session_token_is_sent(aws: Aws, fake_vod: FakeVodApi, context: LambdaContext,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SESSION_TOKEN", "sts-token-value")
    seen: list[str] = []
    real_handle = fake_vod.handle

    def spy(headers: dict[str, str], body: bytes) -> Any:
        seen.append({k.lower(): v for k, v in headers.items()}.get("x-tc-token", ""))
        return real_handle(headers, body)

    fake_vod.handle = spy  # type: ignore[method-assign]
    _run(context)
    assert seen and set(seen) == {"sts-token-value"}


def test_tencent_credentials_never_reach_the_logs(aws: Aws, fake_vod: FakeVodApi, context: LambdaContext,
                                                  caplog: pytest.LogCaptureFixture,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level("DEBUG")
    fake_vod.enqueue(*_events(3))
    fake_vod.fail_next["ConfirmEvents"] = "InternalError"  # a failure path logs too
    _run(context)
    out = capfd.readouterr()
    logged = out.out + out.err + caplog.text
    assert caplog.records and fake_vod.secret_key not in logged
