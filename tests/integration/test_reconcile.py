"""handler.reconcile against the local Tencent fakes (TC3 verified, real SDK client) and moto behind the pipeline.

Every test runs the real entry point: listings paged and filtered by the fakes as the API reference says,
the ledger and the idempotency table in moto, notifications read off the SNS-subscribed queue.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest

import handler
from lib.intake import event_id_of, read_event
from lib.reconcile.run import ReconcileFailed
from lib.settings import ConfigError, get_settings
from tests.conftest import SAMPLES, Aws, LambdaContext, http_event, load_event, publish_fails_for, response_json
from tests.fakes.vod_api import FakeCmeApi, FakeMpsApi, FakeVodApi, iso

SUB_APP = 1500000001
PROCEDURE = json.loads((SAMPLES / "vod_ProcedureStateChanged.json").read_text(encoding="utf-8"))
WORKFLOW = json.loads(load_event("mps/WorkflowTask.json")["body"])
EXPORT = json.loads(load_event("cme/Task.VideoExportCompleted.json")["body"])


@dataclass
class Tencent:
    vod: FakeVodApi
    mps: FakeMpsApi
    cme: FakeCmeApi


@pytest.fixture
def tencent(aws: Aws, idempotency_table: str, ledger_table: str,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Tencent]:
    fakes = Tencent(FakeVodApi().start(), FakeMpsApi().start(), FakeCmeApi().start())
    for name, value in {"VOD_API_ENDPOINT": fakes.vod.url, "MPS_API_ENDPOINT": fakes.mps.url,
                        "CME_API_ENDPOINT": fakes.cme.url, "CME_PLATFORM": fakes.cme.platform,
                        "TENCENTCLOUD_SECRET_ID": fakes.vod.secret_id, "TENCENTCLOUD_SECRET_KEY": fakes.vod.secret_key,
                        "VOD_SUB_APP_IDS": str(SUB_APP), "RECONCILE_PRODUCTS": "vod"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield fakes
    for fake in (fakes.vod, fakes.mps, fakes.cme):
        fake.stop()


def _procedure(task_id: str, *, finished_ago: float | None = 600.0, status: str = "FINISH") -> dict[str, Any]:
    """DescribeTaskDetail's answer for a Procedure task (its struct is what the push carries)."""
    task = copy.deepcopy(PROCEDURE["ProcedureStateChangeEvent"])
    task["TaskId"], task["Status"] = task_id, status
    now = time.time()
    started = now - max(3000.0, (finished_ago or 0.0) + 600)
    answer = {"TaskType": "Procedure", "Status": status, "CreateTime": iso(started),
              "BeginProcessTime": iso(started + 100), "ProcedureTask": task}
    answer["FinishTime"] = iso(now - finished_ago) if finished_ago is not None else "0000-00-00T00:00:00Z"
    return answer


def _push(context: LambdaContext, document: dict[str, Any], product: str = "vod") -> dict[str, Any]:
    response = handler.callback(http_event(json.dumps(document, ensure_ascii=False), path=f"/callback/{product}"),
                                context)
    assert response["statusCode"] == 200, response["body"]
    return response_json(response)


def _event(answer: dict[str, Any]) -> dict[str, Any]:
    return {"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": copy.deepcopy(answer["ProcedureTask"])}


def _reconcile(context: LambdaContext | None = None) -> dict[str, Any]:
    return handler.reconcile({}, context or LambdaContext(function_name="mediahook-test-reconcile"))


def _emf(out: str, metric: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if f'"{metric}"' in line]


def test_a_task_never_pushed_is_recovered_once(aws: Aws, tencent: Tencent, capsys: pytest.CaptureFixture[str]) -> None:
    answer = _procedure("1500000001-Procedure-never-pushed-t0")
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)

    summary = _reconcile()

    assert summary["recovered"] == 1 and summary["listed"] == 1 and summary["failed"] == 0, summary
    (message,) = aws.messages()
    data = message["cloudevent"]["data"]
    assert data["recovered"] is True and data["delivery"] == "reconcile" and data["state_change"] == "advanced"
    assert data["task_id"] == "1500000001-Procedure-never-pushed-t0" and data["status"] == "FINISH"
    assert message["attributes"]["recovered"] == "true"
    key = data["archive"]["key"]
    assert key.startswith("vod/ProcedureStateChanged/")
    assert aws.head(key)["Metadata"]["delivery"] == "reconcile"
    assert json.loads(aws.objects()[key]) == _event(answer)  # the event the push would have carried
    out = capsys.readouterr().out
    (recovered,) = _emf(out, "RecoveredEvents")
    assert recovered["product"] == "vod" and recovered["event_type"] == "ProcedureStateChanged"
    assert {line["outcome"]: line["ReconcileTasks"] for line in _emf(out, "ReconcileTasks")} == {
        "listed": [1.0], "seen": [0.0], "recovered": [1.0], "failed": [0.0], "skipped": [0.0], "unmapped": [0.0]}
    calls = [c for c in tencent.vod.calls if c.action == "DescribeTasks"]
    assert calls[0].params["Status"] == "FINISH" and calls[0].params["SubAppId"] == SUB_APP
    assert set(calls[0].params["FinishTime"]) == {"After", "Before"} and calls[0].params["Limit"] == 100

    again = _reconcile()  # the ledger holds its final state now

    assert again["recovered"] == 0 and again["seen"] == 1
    assert len(aws.messages()) == 1
    assert len([c for c in tencent.vod.calls if c.action == "DescribeTaskDetail"]) == 1  # not even asked again


def test_a_processing_only_task_is_completed(aws: Aws, tencent: Tencent, context: LambdaContext) -> None:
    answer = _procedure("1500000001-Procedure-processing-t0")
    processing = _event(answer)
    processing["ProcedureStateChangeEvent"]["Status"] = "PROCESSING"
    processing["ProcedureStateChangeEvent"]["MediaProcessResultSet"] = []
    _push(context, processing)
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)

    summary = _reconcile()

    assert summary["recovered"] == 1, summary
    pushed, recovered = aws.messages()
    assert pushed["cloudevent"]["data"]["recovered"] is False and pushed["attributes"]["recovered"] == "false"
    assert recovered["cloudevent"]["data"]["status"] == "FINISH"
    assert recovered["cloudevent"]["data"]["state_change"] == "advanced"  # PROCESSING -> FINISH


def test_a_pushed_task_is_left_alone(aws: Aws, tencent: Tencent, context: LambdaContext) -> None:
    answer = _procedure("1500000001-Procedure-pushed-t0")
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)
    _push(context, _event(answer))

    summary = _reconcile()

    assert (summary["listed"], summary["seen"], summary["recovered"]) == (1, 1, 0)
    assert len(aws.messages()) == 1
    assert [c for c in tencent.vod.calls if c.action == "DescribeTaskDetail"] == []


def test_a_task_inside_the_grace_period_waits(aws: Aws, tencent: Tencent, monkeypatch: pytest.MonkeyPatch) -> None:
    tencent.vod.add_task(_procedure("1500000001-Procedure-just-finished-t0", finished_ago=60), sub_app_id=SUB_APP)

    assert _reconcile()["listed"] == 0  # finished a minute ago: the push still has its 5 minutes
    assert aws.messages() == []

    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "30")
    assert _reconcile()["recovered"] == 1


def test_a_task_older_than_the_lookback_is_not_listed(aws: Aws, tencent: Tencent,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """VOD answers DescribeTasks for 72 hours; the run asks for the lookback's window only."""
    tencent.vod.add_task(_procedure("1500000001-Procedure-two-hours-ago-t0", finished_ago=7200), sub_app_id=SUB_APP)
    assert _reconcile()["listed"] == 0
    monkeypatch.setenv("RECONCILE_LOOKBACK_SECONDS", str(3 * 3600))
    assert _reconcile()["recovered"] == 1


def test_a_task_still_processing_at_tencent_is_never_recovered_early(aws: Aws, tencent: Tencent) -> None:
    """Listed as finished (a lagging index) while DescribeTaskDetail still says PROCESSING: it waits."""
    answer = _procedure("1500000001-Procedure-still-running-t0")
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)
    detail = copy.deepcopy(answer)
    detail["Status"] = "PROCESSING"
    real_task = tencent.vod._task

    def processing(params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        return 200, {"Response": {**detail, "RequestId": request_id}}

    tencent.vod._task = processing  # type: ignore[method-assign]
    summary = _reconcile()
    assert (summary["recovered"], summary["skipped"]) == (0, 1)
    assert aws.messages() == []
    tencent.vod._task = real_task  # type: ignore[method-assign]
    assert _reconcile()["recovered"] == 1


def test_a_late_genuine_push_is_repeated_and_the_same_bytes_a_duplicate(aws: Aws, tencent: Tencent,
                                                                        context: LambdaContext) -> None:
    answer = _procedure("1500000001-Procedure-late-push-t0")
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)
    assert _reconcile()["recovered"] == 1
    (recovered,) = aws.messages()

    same = _push(context, _event(answer))  # byte for byte the recovered event: the same event_id
    assert same["results"][0]["duplicate"] is True
    assert same["results"][0]["event_id"] == recovered["cloudevent"]["id"]
    assert len(aws.messages()) == 1  # nothing published again

    genuine = _event(answer)
    genuine["FileUploadEvent"] = None  # Tencent's push with other bytes (older pushes list null payloads)
    late = _push(context, genuine)
    assert late["results"][0]["duplicate"] is False
    _, pushed = aws.messages()
    assert pushed["cloudevent"]["data"]["state_change"] == "repeated"
    assert pushed["cloudevent"]["data"]["recovered"] is False and pushed["attributes"]["state_change"] == "repeated"


@pytest.mark.parametrize("failure", ["AuthFailure.SecretIdNotFound", "RequestLimitExceeded", "DROP"])
def test_tencent_down_fails_the_run_after_what_it_could_do(aws: Aws, tencent: Tencent,
                                                           monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    """VOD cannot be read (refused, throttled or unreachable on every try); MPS still is, then the run raises."""
    monkeypatch.setenv("RECONCILE_PRODUCTS", "vod,mps")
    tencent.mps.add_task({"TaskType": "WorkflowTask", "Status": "FINISH", "CreateTime": iso(time.time() - 900),
                          "FinishTime": iso(time.time() - 600), "WorkflowTask": WORKFLOW["WorkflowTaskEvent"]})
    tencent.vod.add_task(_procedure("1500000001-Procedure-while-down-t0"), sub_app_id=SUB_APP)
    real_handle = tencent.vod.handle

    def down(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        tencent.vod.fail_next["DescribeEventConfig"] = failure  # every retry fails too
        return real_handle(headers, body)

    tencent.vod.handle = down  # type: ignore[method-assign]

    with pytest.raises(ReconcileFailed, match="vod:1500000001") as raised:
        _reconcile()

    assert raised.value.summary.recovered == 1  # MPS's task, done before the run failed
    (message,) = aws.messages()
    assert message["cloudevent"]["type"] == "tencentcloud.mps.WorkflowTask"
    tencent.vod.handle = real_handle  # type: ignore[method-assign]
    assert _reconcile()["recovered"] == 1  # Tencent is back: the next run catches up


def test_a_transient_failure_is_retried_within_the_run(aws: Aws, tencent: Tencent) -> None:
    tencent.vod.add_task(_procedure("1500000001-Procedure-throttled-t0"), sub_app_id=SUB_APP)
    tencent.vod.fail_next["DescribeTasks"] = "RequestLimitExceeded"
    assert _reconcile()["recovered"] == 1


def test_wrong_credentials_fail_the_run(aws: Aws, tencent: Tencent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "not-the-key")
    with pytest.raises(ReconcileFailed, match="AuthFailure"):
        _reconcile()


def test_an_aws_failure_leaves_the_task_for_the_next_run(aws: Aws, tencent: Tencent) -> None:
    tencent.vod.add_task(_procedure("1500000001-Procedure-aws-down-t0"), sub_app_id=SUB_APP)
    with publish_fails_for("aws-down"):
        summary = _reconcile()  # does not raise: Tencent was read; the task is simply not done
    assert (summary["failed"], summary["recovered"]) == (1, 0)
    assert aws.messages() == []
    assert _reconcile()["recovered"] == 1
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["state_change"] == "advanced"


@contextmanager
def archive_down() -> Iterator[None]:
    """S3 refuses every write (the outage a push can be lost to)."""
    from botocore.exceptions import ClientError

    from lib import aws as aws_clients

    make_client = aws_clients.client
    s3 = make_client("s3")
    broken = mock.Mock(wraps=s3)
    broken.put_object.side_effect = ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}},
                                                "PutObject")
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: broken if n == "s3" else make_client(n)):
        yield


def _failed_push(context: LambdaContext, document: dict[str, Any]) -> None:
    response = handler.callback(http_event(json.dumps(document), path="/callback/vod"), context)
    assert response["statusCode"] == 503  # VOD does not retry a normal callback: this push is lost


def test_a_push_lost_to_an_archive_outage_is_recovered(aws: Aws, tencent: Tencent, context: LambdaContext) -> None:
    """The ledger recorded the push beside the failed archive write; its idempotency record says it never
    went through, and no archived copy exists: the event is rebuilt from Tencent and published."""
    answer = _procedure("1500000001-Procedure-s3-outage-t0")
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)
    with archive_down():
        _failed_push(context, _event(answer))
    assert aws.messages() == []

    summary = _reconcile()

    assert summary["recovered"] == 1, summary
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["recovered"] is True
    assert message["cloudevent"]["data"]["state_change"] == "advanced"  # the same bytes: the same event
    assert _reconcile()["seen"] == 1


def test_a_lost_push_with_other_bytes_than_the_rebuilt_event_is_recovered_advanced(aws: Aws, tencent: Tencent,
                                                                                   context: LambdaContext) -> None:
    """The push held the ledger's state but reached nobody; the rebuilt event (other bytes: another event_id)
    takes that state over: ``advanced``, not ``repeated``, and the next run does not ask Tencent again."""
    answer = _procedure("1500000001-Procedure-s3-outage-t9")
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)
    pushed = _event(answer)
    pushed["ProcedureStateChangeEvent"]["SessionContext"] = "from-the-push"
    with archive_down():
        _failed_push(context, pushed)

    assert _reconcile()["recovered"] == 1
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["state_change"] == "advanced"
    assert message["cloudevent"]["id"] != read_event(pushed, pinned="vod").event_id
    details = len([c for c in tencent.vod.calls if c.action == "DescribeTaskDetail"])
    assert _reconcile()["seen"] == 1
    assert len([c for c in tencent.vod.calls if c.action == "DescribeTaskDetail"]) == details


def test_a_push_that_failed_to_publish_is_published_from_its_archive(aws: Aws, tencent: Tencent,
                                                                     context: LambdaContext) -> None:
    answer = _procedure("1500000001-Procedure-sns-outage-t0")
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)
    pushed = _event(answer)
    pushed["FileUploadEvent"] = None  # other bytes than the rebuilt event: its own event_id
    with publish_fails_for("sns-outage"):
        _failed_push(context, pushed)

    summary = _reconcile()

    assert summary["recovered"] == 1, summary
    (message,) = aws.messages()
    assert message["cloudevent"]["id"] == event_id_of(pushed)  # the very event that was pushed
    assert message["cloudevent"]["data"]["state_change"] == "advanced"
    assert [c for c in tencent.vod.calls if c.action == "DescribeTaskDetail"] == []  # the archive was enough


def test_a_push_mode_upload_is_recovered_where_uploads_are_pushed(aws: Aws, tencent: Tencent) -> None:
    tencent.vod.add_media("5285890784273533167", sub_app_id=SUB_APP, created=time.time() - 900)
    assert _reconcile()["recovered"] == 0  # the account does not send NewFileUpload: nothing was missed
    assert [c for c in tencent.vod.calls if c.action == "SearchMedia"] == []

    tencent.vod.event_config(SUB_APP, uploads=True)
    summary = _reconcile()

    assert summary["recovered"] == 1, summary
    (message,) = aws.messages()
    assert message["cloudevent"]["type"] == "tencentcloud.vod.NewFileUpload"
    assert message["cloudevent"]["data"]["file_id"] == "5285890784273533167"
    assert message["cloudevent"]["data"]["recovered"] is True
    (search,) = [c for c in tencent.vod.calls if c.action == "SearchMedia"]
    assert search.params["SubAppId"] == SUB_APP and set(search.params["CreateTime"]) == {"After", "Before"}
    assert _reconcile()["seen"] == 1  # the ledger has its NewFileUpload now


def test_an_upload_push_that_failed_to_publish_is_published_from_its_archive(aws: Aws, tencent: Tencent,
                                                                            context: LambdaContext) -> None:
    upload = json.loads((SAMPLES / "vod_NewFileUpload.json").read_text(encoding="utf-8"))
    file_id = upload["FileUploadEvent"]["FileId"]
    tencent.vod.event_config(SUB_APP, uploads=True)
    tencent.vod.add_media(file_id, sub_app_id=SUB_APP, created=time.time() - 900)
    with publish_fails_for(file_id):
        _failed_push(context, upload)

    summary = _reconcile()

    assert (summary["recovered"], summary["seen"]) == (1, 0), summary
    (message,) = aws.messages()
    assert message["cloudevent"]["id"] == event_id_of(upload)
    assert [c for c in tencent.vod.calls if c.action == "DescribeMediaInfos"] == []
    assert _reconcile()["seen"] == 1


def test_a_pull_mode_account_is_metered_not_reconciled(aws: Aws, tencent: Tencent,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    tencent.vod.event_config(SUB_APP, mode="PULL", uploads=True)
    tencent.vod.enqueue(*[copy.deepcopy(PROCEDURE) for _ in range(3)])
    tencent.vod.add_task(_procedure("1500000001-Procedure-waits-at-tencent-t0"), sub_app_id=SUB_APP)

    summary = _reconcile()

    assert summary["pull_backlog"] == 3 and summary["listed"] == 0
    (backlog,) = _emf(capsys.readouterr().out, "PullBacklog")
    assert backlog["PullBacklog"] == [3.0]
    assert {c.action for c in tencent.vod.calls} == {"DescribeEventConfig", "DescribeEventsState"}


def test_every_page_is_read(aws: Aws, tencent: Tencent, monkeypatch: pytest.MonkeyPatch) -> None:
    """VOD: 130 tasks, two ScrollToken pages; CME: 23 exports, two Offset pages of 20 (its most)."""
    monkeypatch.setenv("RECONCILE_PRODUCTS", "vod,cme")
    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "0")  # CME's grace counts from the first run that saw it final
    for i in range(130):
        tencent.vod.add_task(_procedure(f"1500000001-Procedure-page{i:03d}-t0"), sub_app_id=SUB_APP)
    for i in range(23):
        task = copy.deepcopy(EXPORT["VideoExportCompletedEvent"])
        tencent.cme.add_task({"TaskType": "VIDEO_EDIT_PROJECT_EXPORT", "Status": "SUCCESS", "Progress": 100,
                              "ErrCode": 0, "ErrMsg": "", "CreateTime": iso(time.time() - 600 - i),
                              "VideoEditProjectOutput": task["Output"]}, task_id=f"cme-export-{i:03d}")

    summary = _reconcile()

    assert (summary["listed"], summary["recovered"]) == (153, 153), summary
    vod_pages = [c for c in tencent.vod.calls if c.action == "DescribeTasks"]
    assert len(vod_pages) == 2 and "ScrollToken" in vod_pages[1].params
    cme_pages = [c for c in tencent.cme.calls if c.action == "DescribeTasks"]
    assert [c.params["Offset"] for c in cme_pages] == [0, 20] and all(c.params["Limit"] == 20 for c in cme_pages)
    assert all(c.params["Platform"] == tencent.cme.platform for c in tencent.cme.calls)
    types = {m["cloudevent"]["type"] for m in aws.messages()}
    assert types == {"tencentcloud.vod.ProcedureStateChanged", "tencentcloud.cme.Task.VideoExportCompleted"}


class Clock(LambdaContext):
    """A Lambda context whose remaining time falls by ``step`` ms each time it is read."""

    def __init__(self, start: int, step: int) -> None:
        super().__init__(function_name="mediahook-test-reconcile")
        self.left, self.step = start, step

    def get_remaining_time_in_millis(self) -> int:
        self.left -= self.step
        return self.left


def test_the_reserve_time_is_honoured_and_the_next_run_covers_the_rest(aws: Aws, tencent: Tencent) -> None:
    for i in range(6):
        tencent.vod.add_task(_procedure(f"1500000001-Procedure-reserve{i}-t0"), sub_app_id=SUB_APP)

    summary = _reconcile(Clock(start=15_000 + 5 * 1000, step=1000))  # RECONCILE_RESERVE_MS: 15000

    assert summary["complete"] is False
    assert 0 < summary["recovered"] < 6 and summary["skipped"] >= 1
    rest = _reconcile()
    assert rest["complete"] is True and rest["recovered"] == 6 - summary["recovered"]
    assert rest["seen"] == summary["recovered"]


def test_mps_and_cme_tasks_are_recovered(aws: Aws, tencent: Tencent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_PRODUCTS", "mps,cme")
    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "0")  # CME's grace counts from the first run that saw it final
    now = time.time()
    tencent.mps.add_task({"TaskType": "WorkflowTask", "Status": "FINISH", "CreateTime": iso(now - 900),
                          "FinishTime": iso(now - 600), "SessionContext": "ctx-1",
                          "WorkflowTask": WORKFLOW["WorkflowTaskEvent"]})
    tencent.mps.add_task({"TaskType": "LiveStreamProcessTask", "Status": "FINISH", "CreateTime": iso(now - 900),
                          "FinishTime": iso(now - 600), "LiveStreamProcessTask": {"TaskId": "live-1"}},
                         task_id="live-1")
    export = EXPORT["VideoExportCompletedEvent"]
    tencent.cme.add_task({"TaskType": "VIDEO_EDIT_PROJECT_EXPORT", "Status": export["Status"], "ErrCode": 0,
                          "ErrMsg": export["ErrMsg"], "CreateTime": iso(now - 600),
                          "VideoEditProjectOutput": export["Output"]}, task_id=export["TaskId"])

    summary = _reconcile()

    assert (summary["recovered"], summary["unmapped"]) == (2, 1), summary  # a live task has no event
    by_type = {m["cloudevent"]["type"]: m["cloudevent"] for m in aws.messages()}
    assert by_type["tencentcloud.mps.WorkflowTask"]["data"]["task_id"] == WORKFLOW["WorkflowTaskEvent"]["TaskId"]
    assert by_type["tencentcloud.cme.Task.VideoExportCompleted"]["data"]["task_id"] == export["TaskId"]
    key = by_type["tencentcloud.cme.Task.VideoExportCompleted"]["data"]["archive"]["key"]
    assert json.loads(aws.objects()[key])["VideoExportCompletedEvent"] == export
    (mps_list,) = [c for c in tencent.mps.calls if c.action == "DescribeTasks"]
    assert mps_list.params["Status"] == "FINISH" and {"StartTime", "EndTime"} <= set(mps_list.params)
    again = _reconcile()
    assert (again["recovered"], again["seen"], again["unmapped"]) == (0, 2, 1)


def test_an_unmapped_task_type_is_counted_and_logged(aws: Aws, tencent: Tencent,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    now = time.time()
    tencent.vod.add_task({"TaskType": "ImportMediaKnowledge", "Status": "FINISH", "CreateTime": iso(now - 900),
                          "FinishTime": iso(now - 600), "ImportMediaKnowledge": {"TaskId": "knowledge-1"}},
                         sub_app_id=SUB_APP, task_id="knowledge-1")
    summary = _reconcile()
    assert (summary["unmapped"], summary["skipped"], summary["recovered"]) == (1, 0, 0)  # counted once
    assert any("not mapped" in str(getattr(r, "reason", "")) for r in caplog.records)
    assert [c for c in tencent.vod.calls if c.action == "DescribeTaskDetail"] == []  # never guessed


def test_without_a_ledger_table_reconcile_refuses_to_start(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_TABLE", raising=False)
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="LEDGER_TABLE"):
        _reconcile()


def test_cme_without_a_platform_refuses_to_start(aws: Aws, ledger_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_PRODUCTS", "cme")
    monkeypatch.delenv("CME_PLATFORM", raising=False)
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="CME_PLATFORM"):
        _reconcile()


def test_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.reconcile.run import ReconcileSettings

    config = ReconcileSettings.from_env({"RECONCILE_PRODUCTS": "VOD, mps", "VOD_SUB_APP_IDS": "1,2"})
    assert config.reconcile_products == ("vod", "mps") and config.vod_sub_app_ids == (1, 2)
    assert (config.reconcile_lookback_seconds, config.reconcile_grace_seconds, config.reconcile_reserve_ms) == \
        (3600, 300, 15000)
    with pytest.raises(ConfigError, match="RECONCILE_PRODUCTS"):
        ReconcileSettings.from_env({"RECONCILE_PRODUCTS": "vod,live"})
    with pytest.raises(ConfigError, match="RECONCILE_GRACE_SECONDS"):
        ReconcileSettings.from_env({"RECONCILE_GRACE_SECONDS": "3600", "RECONCILE_LOOKBACK_SECONDS": "600"})
    with pytest.raises(ConfigError, match="MPS_API_ENDPOINT"):
        ReconcileSettings.from_env({"MPS_API_ENDPOINT": "mps.example"})


def _export(task_id: str, created_ago: float) -> dict[str, Any]:
    export = EXPORT["VideoExportCompletedEvent"]
    return {"TaskType": "VIDEO_EDIT_PROJECT_EXPORT", "Status": "SUCCESS", "Progress": 100, "ErrCode": 0,
            "ErrMsg": export["ErrMsg"], "CreateTime": iso(time.time() - created_ago),
            "VideoEditProjectOutput": export["Output"]}


def test_a_cme_export_gets_the_grace_from_the_run_that_first_saw_it_final(
        aws: Aws, tencent: Tencent, monkeypatch: pytest.MonkeyPatch) -> None:
    """CME gives no finish time (TaskBaseInfo and DescribeTaskDetail have CreateTime only): an export created
    10 minutes ago may have finished a second ago. The first run that sees it final only marks it; a run
    at least the grace later recovers it, if its push has still not arrived."""
    from lib.reconcile import run as reconcile_run

    monkeypatch.setenv("RECONCILE_PRODUCTS", "cme")
    tencent.cme.add_task(_export("cme-export-just-finished", created_ago=600), task_id="cme-export-just-finished")
    tencent.cme.add_task(_export("cme-export-long-running", created_ago=60), task_id="cme-export-long-running")

    first = _reconcile()
    assert (first["listed"], first["recovered"], first["skipped"]) == (2, 0, 2), first
    assert aws.messages() == []
    assert [c for c in tencent.cme.calls if c.action == "DescribeTaskDetail"] == []
    assert _reconcile()["recovered"] == 0  # still inside the grace since it was first seen final

    later = time.time() + 301
    monkeypatch.setattr(reconcile_run, "clock", lambda: datetime.fromtimestamp(later, UTC))
    summary = _reconcile()

    assert summary["recovered"] == 2, summary
    assert {m["cloudevent"]["data"]["task_id"] for m in aws.messages()} == {
        "cme-export-just-finished", "cme-export-long-running"}


def test_only_uploaded_files_are_recovered_as_new_file_upload(aws: Aws, tencent: Tencent) -> None:
    """A processing output (VideoProcessing) or a live recording never had a NewFileUpload to miss."""
    tencent.vod.event_config(SUB_APP, uploads=True)
    tencent.vod.add_media("5285890784273530001", sub_app_id=SUB_APP, created=time.time() - 900)
    tencent.vod.add_media("5285890784273530002", sub_app_id=SUB_APP, created=time.time() - 900,
                          source="VideoProcessing")
    tencent.vod.add_media("5285890784273530003", sub_app_id=SUB_APP, created=time.time() - 900, source="Record")

    summary = _reconcile()

    assert (summary["listed"], summary["recovered"]) == (1, 1), summary
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["file_id"] == "5285890784273530001"
    (search,) = [c for c in tencent.vod.calls if c.action == "SearchMedia"]
    assert search.params["SourceTypes"] == ["Upload"]


def test_a_file_another_vod_event_announced_is_not_recovered_as_an_upload(aws: Aws, tencent: Tencent,
                                                                         context: LambdaContext) -> None:
    """A pulled file is announced by PullComplete, not NewFileUpload: the ledger naming it is enough."""
    pulled = json.loads((SAMPLES / "vod_PullComplete.json").read_text(encoding="utf-8"))
    file_id = pulled["PullCompleteEvent"]["FileId"]
    _push(context, pulled)
    tencent.vod.event_config(SUB_APP, uploads=True)
    tencent.vod.add_media(file_id, sub_app_id=SUB_APP, created=time.time() - 900)

    summary = _reconcile()

    assert (summary["listed"], summary["seen"], summary["recovered"]) == (1, 1, 0), summary
    assert len(aws.messages()) == 1  # the PullComplete push only


def test_a_procedure_that_notifies_nothing_is_not_recovered(aws: Aws, tencent: Tencent) -> None:
    """TasksNotifyMode None: Tencent sends no event for the task flow, so nothing was missed."""
    answer = _procedure("1500000001-Procedure-notify-none-t0")
    answer["ProcedureTask"]["TasksNotifyMode"] = "None"
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)

    summary = _reconcile()

    assert (summary["listed"], summary["recovered"], summary["skipped"]) == (1, 0, 1), summary
    assert aws.messages() == []


def test_a_corrupt_archived_copy_is_rebuilt_and_the_run_goes_on(aws: Aws, tencent: Tencent,
                                                                context: LambdaContext) -> None:
    """An event in the ledger, never published, whose archived body no longer parses: rebuilt from Tencent."""
    answer = _procedure("1500000001-Procedure-corrupt-archive-t0")
    other = _procedure("1500000001-Procedure-after-corrupt-t0")
    tencent.vod.add_task(answer, sub_app_id=SUB_APP)
    tencent.vod.add_task(other, sub_app_id=SUB_APP)
    pushed = _event(answer)
    pushed["FileUploadEvent"] = None
    with publish_fails_for("corrupt-archive"):
        _failed_push(context, pushed)
    (key,) = aws.objects()
    aws.s3.put_object(Bucket=get_settings().archive_bucket, Key=key, Body=b"{not json")

    summary = _reconcile()

    assert summary["recovered"] == 2 and summary["errors"] == [], summary
    assert {m["cloudevent"]["data"]["task_id"] for m in aws.messages()} == {
        "1500000001-Procedure-corrupt-archive-t0", "1500000001-Procedure-after-corrupt-t0"}


def test_a_task_tencent_cannot_describe_does_not_stop_the_others(aws: Aws, tencent: Tencent) -> None:
    """One DescribeTaskDetail refused: the other tasks of the scope are still recovered, then the run fails."""
    # the refused one is listed first (created earlier)
    tencent.vod.add_task(_procedure("1500000001-Procedure-detail-refused-t0", finished_ago=2500), sub_app_id=SUB_APP)
    tencent.vod.add_task(_procedure("1500000001-Procedure-detail-fine-t0"), sub_app_id=SUB_APP)
    real_task = tencent.vod._task

    def refuse_one(params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        if params.get("TaskId") == "1500000001-Procedure-detail-refused-t0":
            return 200, {"Response": {"Error": {"Code": "InternalError", "Message": "down"}, "RequestId": request_id}}
        return real_task(params, request_id)

    tencent.vod._task = refuse_one  # type: ignore[method-assign]
    with pytest.raises(ReconcileFailed, match="DescribeTaskDetail") as raised:
        _reconcile()

    assert raised.value.summary.recovered == 1 and raised.value.summary.listed == 2
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["task_id"] == "1500000001-Procedure-detail-fine-t0"
