"""Issue #23 end to end (moto): what used to be refused or misread reaches the notification truthfully.

A live-stream notification (on /callback/mps, on /callback, on the SQS queue path), a single-object sub-task
failure, a ScheduleTask activity failure and a legacy v2.0 nested failure: each archived as sent and published
with the right type, ids and ``succeeded``; a live task's ProcessEof ends it in the ledger, under its TaskId.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import handler
from lib import pipeline
from lib.ledger import Ledger, ledger_for
from lib.settings import get_settings
from tests.conftest import SAMPLES, Aws, LambdaContext, http_event, response_json
from tests.integration.test_queue import _record

LIVE_TASK = "2459149217-procedure-live-issue23t0"


def _sample(name: str) -> dict[str, Any]:
    path = SAMPLES / name if (SAMPLES / name).exists() else SAMPLES / "constructed" / name
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _post(context: LambdaContext, document: dict[str, Any], path: str) -> dict[str, Any]:
    body = json.dumps(document, ensure_ascii=False)
    response = handler.callback(http_event(body, path=path), context)
    assert response["statusCode"] == 200, response["body"]
    (result,) = response_json(response)["results"]
    return dict(result)


def _published(aws: Aws, event_id: str) -> dict[str, Any]:
    (data,) = [m["cloudevent"]["data"] for m in aws.messages() if m["cloudevent"]["id"] == event_id]
    return dict(data)


def _ledger() -> Ledger:
    found = ledger_for(get_settings())
    assert found is not None
    return found


def _live(notification_type: str, **payload: Any) -> dict[str, Any]:
    document = _sample(f"mps_{notification_type}.json")
    document["TaskId"] = LIVE_TASK
    document.update(payload)
    return document


@pytest.mark.parametrize("path", ["/callback/mps", "/callback"])
def test_a_live_stream_notification_is_archived_and_published(aws: Aws, context: LambdaContext, path: str) -> None:
    document = _live("AiReviewResult")
    result = _post(context, document, path)
    assert (result["product"], result["event_type"]) == ("mps", "AiReviewResult")
    (key, stored), = aws.objects().items()
    assert key.startswith("mps/AiReviewResult/") and json.loads(stored) == document
    data = _published(aws, result["event_id"])
    assert (data["task_id"], data["succeeded"]) == (LIVE_TASK, None)


def test_a_live_stream_notification_on_the_queue_is_read(aws: Aws, context: LambdaContext) -> None:
    body = json.dumps(_live("ProcessEof", ProcessEofInfo={"ErrCode": 30010, "Message": "stream interrupted"}))
    assert handler.queue({"Records": [_record("m1", body)]}, context) == {"batchItemFailures": []}
    (message,) = aws.messages()
    data = message["cloudevent"]["data"]
    assert (data["event_type"], data["task_id"], data["succeeded"], data["error_code"]) == (
        "ProcessEof", LIVE_TASK, False, 30010)


def test_process_eof_ends_the_live_task_in_the_ledger(aws: Aws, ledger_table: str, context: LambdaContext) -> None:
    first = _post(context, _live("AiRecognitionResult"), "/callback/mps")
    state = _ledger().latest("mps", LIVE_TASK)
    assert state is not None and (state.event_type, state.final) == ("AiRecognitionResult", False)
    end = _post(context, _live("ProcessEof"), "/callback/mps")
    state = _ledger().latest("mps", LIVE_TASK)
    assert state is not None and (state.event_type, state.final, state.event_id) == ("ProcessEof", True,
                                                                                    end["event_id"])
    assert {e.event_id for e in _ledger().entries(LIVE_TASK)} == {first["event_id"], end["event_id"]}
    assert _published(aws, end["event_id"])["succeeded"] is True



def test_a_live_result_after_process_eof_is_stale_and_the_task_stays_ended(aws: Aws, ledger_table: str,
                                                                           context: LambdaContext) -> None:
    """ProcessEof ends the live task: a result that arrives after it (delivered late, out of order) is recorded
    and published, but as ``stale``, and the task's latest state stays ProcessEof, ended; its retry too."""
    end = _post(context, _live("ProcessEof"), "/callback/mps")
    late = _live("AiReviewResult")
    results = [_post(context, late, "/callback/mps") for _ in range(2)]  # the late result, then its retry
    published = [m["cloudevent"]["data"] for m in aws.messages() if m["cloudevent"]["id"] == results[0]["event_id"]]
    assert [data["state_change"] for data in published] == ["stale", "stale"]  # published, and said so
    state = _ledger().latest("mps", LIVE_TASK)
    assert state is not None and (state.event_type, state.final, state.event_id) == ("ProcessEof", True,
                                                                                    end["event_id"])
    entries = {e.event_id: e.state_change for e in _ledger().entries(LIVE_TASK)}
    assert entries == {end["event_id"]: "advanced", results[0]["event_id"]: "stale"}

def test_a_single_object_sub_task_failure_is_published_false(aws: Aws, context: LambdaContext) -> None:
    document = _sample("mps_WorkflowTask.json")
    task = document["WorkflowTaskEvent"]
    task.update(ErrCode=0, Status="FINISH", Message="", MediaProcessResultSet=[])
    task["AiDubbingTaskResult"] = {"Status": "FAIL", "ErrCode": 30010, "ErrCodeExt": "InternalError",
                                   "Message": "dubbing failed"}
    data = _published(aws, _post(context, document, "/callback/mps")["event_id"])
    assert (data["event_type"], data["task_id"]) == ("WorkflowTask", task["TaskId"])
    assert (data["succeeded"], data["error_code"], data["error_message"]) == (False, 30010, "dubbing failed")


def test_a_schedule_task_activity_failure_is_published_false(aws: Aws, context: LambdaContext) -> None:
    document = _sample("mps_ScheduleTask.json")
    task = document["ScheduleTaskEvent"]
    task.update(ErrCode=0, Status="FINISH", Message="")
    task["ActivityResultSet"] = [{"ActivityType": "Transcode", "ActivityResItem": {
        "TranscodeTask": {"Status": "FAIL", "ErrCode": 70000, "Message": "transcode failed"}}}]
    data = _published(aws, _post(context, document, "/callback/mps")["event_id"])
    assert (data["event_type"], data["task_id"]) == ("ScheduleTask", task["TaskId"])
    assert (data["succeeded"], data["error_code"]) == (False, 70000)


def test_a_legacy_v2_nested_failure_is_published_false(aws: Aws, context: LambdaContext) -> None:
    document = _sample("vod_legacy-v2_ClipComplete.json")
    document["data"]["fileInfo"].update(status=20010, message="clip failed")
    data = _published(aws, _post(context, document, "/callback/vod")["event_id"])
    assert (data["event_type"], data["legacy"], data["task_id"]) == ("ClipComplete", True,
                                                                     "clipVideo-0a78cf44c4285026a4c")
    assert set(data["file_ids"]) == {"14508071098244929440", "16092504232103571364"}
    assert (data["succeeded"], data["error_code"], data["error_message"]) == (False, 20010, "clip failed")


def test_a_published_variant_is_archived_as_sent_counted_and_logged_once(
        aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Tencent's old page: EventType NewFileUpload with its body in PullCompleteEvent (a PullEvents item)."""
    (item,) = _sample("vod_PullComplete.old-doc-bug-EventType-NewFileUpload.pullevents.json")["Response"]["EventSet"]
    counted: list[tuple[str, dict[str, str]]] = []
    real_count = pipeline.count
    monkeypatch.setattr(pipeline, "count", lambda name, *a, **dims: (counted.append((name, dims)),
                                                                     real_count(name, *a, **dims))[1])
    with caplog.at_level(logging.INFO):
        result = _post(context, item, "/callback/vod")
    (stored,) = aws.objects().values()
    assert json.loads(stored) == item
    data = _published(aws, result["event_id"])
    assert (data["event_type"], data["task_id"]) == ("NewFileUpload", item["PullCompleteEvent"]["TaskId"])
    assert data["file_ids"] == [item["PullCompleteEvent"]["FileId"]]
    logged = [r for r in caplog.records if r.getMessage() == "published variant read by what it carries"]
    assert len(logged) == 1 and getattr(logged[0], "variant", None) == "payload-key"
    assert [dims for name, dims in counted if name == "PublishedVariant"] == [{"product": "vod",
                                                                             "variant": "payload-key"}]
