"""Every notification Tencent's media services send is read, and its outcome told truthfully (issue #23).

MPS live-stream processing notifications (``NotificationType``), legacy v2.0 nested statuses and ids, and the
variants Tencent has published (a v2.0 envelope with current-format fields, a payload under another type's key).
Payloads: Tencent's published examples in tests/samples (SOURCES.md) and structs built from the SDK.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from lib.api import authenticate
from lib.errors import InvalidEvent, ProductMismatch, Unauthenticated
from lib.intake import parse_delivery, products_for, split_delivery
from lib.routing import TABLE, find_route, position
from lib.settings import Settings
from scripts.drift import ENVELOPES, NOT_PAYLOADS, documented_values, models, struct_fields

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
LIVE_TYPES = ("AiReviewResult", "AiRecognitionResult", "AiAnalysisResult", "AiQualityControlResult",
              "AiSmartSubtitleResult", "LiveRecordResult", "ProcessEof")


def _sample(name: str) -> dict[str, Any]:
    path = SAMPLES / name if (SAMPLES / name).exists() else SAMPLES / "constructed" / name
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _one(document: dict[str, Any], pinned: str | None = None) -> Any:
    (event,) = parse_delivery(json.dumps(document).encode(), pinned=pinned)
    return event


# --------------------------------------------------------------------------- MPS live-stream processing


def test_every_notification_type_the_sdk_documents_is_routed() -> None:
    envelope = getattr(models("mps"), ENVELOPES[("mps", "NotificationType")])
    documented = documented_values(envelope, "NotificationType")
    routed = {r.event_type for r in TABLE if r.type_key == "NotificationType"}
    assert documented == routed == set(LIVE_TYPES)


@pytest.mark.parametrize("notification_type", LIVE_TYPES)
@pytest.mark.parametrize("pinned", [None, "mps"], ids=["/callback", "/callback/mps"])
def test_a_live_stream_notification_is_read_as_mps_under_its_task(notification_type: str, pinned: str | None) -> None:
    document = _sample(f"mps_{notification_type}.json")
    event = _one(document, pinned)
    assert (event.product, event.event_type, event.known) == ("mps", notification_type, True)
    assert event.summary.task_id == event.summary.subject == document["TaskId"]
    route = find_route("mps", notification_type)
    assert route is not None
    assert position(route.order, event.summary.status).final is (notification_type == "ProcessEof")


def test_the_published_live_review_result_reports_no_outcome() -> None:
    event = _one(_sample("mps_AiReviewResult.json"))
    assert event.summary.task_id == "2459149217-procedure-live-xxx51da009t0"
    assert event.summary.succeeded is None  # a review result is not the end of the task, nor a failure


@pytest.mark.parametrize(("code", "succeeded"), [(0, True), (30010, False)])
def test_process_eof_with_a_non_zero_error_code_is_a_failure(code: int, succeeded: bool) -> None:
    document = _sample("mps_ProcessEof.json")
    document["ProcessEofInfo"] = {"ErrCode": code, "Message": "" if code == 0 else "stream interrupted"}
    event = _one(document, "mps")
    assert event.summary.succeeded is succeeded
    assert event.summary.error_code == code


def test_a_live_stream_notification_posted_to_vod_is_refused() -> None:
    with pytest.raises(ProductMismatch):
        _one(_sample("mps_ProcessEof.json"), "vod")


def test_a_live_stream_notification_is_authenticated_as_mps_signs() -> None:
    """Sign = MD5(Timestamp + NotifyKey), found without a product in the URL (/callback)."""
    settings = Settings.model_validate({"archive_bucket": "bucket", "events_topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
                                        "auth_mode": "required",
                                        "mps_notify_keys": ("mpsKey",), "vod_sign_keys": ("vodKey",)})
    expiry = int(time.time()) + 600
    signed = _sample("mps_ProcessEof.json") | {"Timestamp": expiry,
                                              "Sign": hashlib.md5(f"{expiry}mpsKey".encode()).hexdigest()}
    authenticate(split_delivery(json.dumps(signed).encode()), pinned=None, query={}, headers={}, settings=settings)
    forged = signed | {"Sign": hashlib.md5(f"vodKey{expiry}".encode()).hexdigest()}  # VOD's scheme: refused
    with pytest.raises(Unauthenticated):
        authenticate(split_delivery(json.dumps(forged).encode()), pinned=None, query={}, headers={},
                     settings=settings)


# --------------------------------------------------------------------------- single-object and activity failures


def test_a_single_object_sub_task_failure_is_published_as_a_failure() -> None:
    document = _sample("mps_WorkflowTask.json")
    task = document["WorkflowTaskEvent"]
    task["ErrCode"], task["Status"] = 0, "FINISH"
    task["MediaProcessResultSet"] = []  # the published example's own transcode failure is another test's
    task["AiQualityControlTaskResult"] = {"Status": "FAIL", "ErrCode": 30010, "ErrCodeExt": "InternalError",
                                          "Message": "quality control failed", "Input": {}, "Output": None}
    event = _one(document, "mps")
    assert (event.summary.succeeded, event.summary.error_code) == (False, 30010)
    assert event.summary.error_message == "quality control failed"
    assert event.summary.task_id == task["TaskId"]


def test_a_schedule_task_activity_failure_is_published_as_a_failure() -> None:
    document = _sample("mps_ScheduleTask.json")
    task = document["ScheduleTaskEvent"]
    task.update(ErrCode=0, Status="FINISH", Message="")
    task["ActivityResultSet"] = [
        {"ActivityType": "Transcode", "ActivityResItem": {"TranscodeTask": {"Status": "SUCCESS", "ErrCode": 0}}},
        {"ActivityType": "AiQualityControl", "ActivityResItem": {"QualityControlTask": {
            "Status": "FAIL", "ErrCode": 40000, "ErrCodeExt": "InvalidParameter", "Message": "bad input"}}},
    ]
    event = _one(document, "mps")
    assert (event.summary.succeeded, event.summary.error_code, event.summary.error_message) == (False, 40000,
                                                                                               "bad input")


def test_the_top_level_error_code_wins_over_a_sub_task_s() -> None:
    document = _sample("mps_WorkflowTask.json")
    task = document["WorkflowTaskEvent"]
    task["ErrCode"], task["Message"] = 10001, "source error"
    task["AiDubbingTaskResult"] = {"Status": "FAIL", "ErrCode": 30010, "Message": "dubbing failed"}
    event = _one(document, "mps")
    assert (event.summary.succeeded, event.summary.error_code) == (False, 10001)


def test_published_successes_still_read_true() -> None:
    for name in ("vod_ProcedureStateChanged.json", "vod_ProcedureStateChanged.ai-analysis.json",
                 "vod_EditMediaComplete.json"):
        assert _one(_sample(name), "vod").summary.succeeded is True, name


def test_the_published_workflow_task_s_failed_transcode_is_its_outcome() -> None:
    """Tencent's published WorkflowTask says ErrCode 0 at the top and 30010 in its TranscodeTask."""
    event = _one(_sample("mps_WorkflowTask.json"), "mps")
    assert (event.summary.succeeded, event.summary.error_code) == (False, 30010)


# --------------------------------------------------------------------------- legacy v2.0


def test_a_v2_clip_failure_in_file_info_is_a_failure_with_its_code() -> None:
    document = _sample("vod_legacy-v2_ClipComplete.json")
    document["data"]["fileInfo"].update(status=20010, message="clip failed")
    event = _one(document)
    assert (event.legacy, event.summary.succeeded, event.summary.error_code) == (True, False, 20010)
    assert event.summary.error_message == "clip failed"
    assert event.summary.task_id == "clipVideo-0a78cf44c4285026a4c"
    assert set(event.summary.file_ids) == {"14508071098244929440", "16092504232103571364"}  # fileId, srcFileId


def test_a_v2_failure_in_one_item_of_a_file_info_list_is_a_failure() -> None:
    document = _sample("vod_legacy-v2_ConcatComplete.json")
    document["data"]["fileInfo"][1]["status"] = 1000
    event = _one(document)
    assert (event.summary.succeeded, event.summary.error_code) == (False, 1000)
    assert len(event.summary.file_ids) == 2


@pytest.mark.parametrize("where", ["data.status", "picInfo"])
def test_a_v2_snapshot_with_a_non_zero_status_is_a_failure(where: str) -> None:
    document = _sample("vod_legacy-v2_CreateSnapshotByTimeOffsetComplete.json")
    if where == "data.status":
        document["data"]["status"] = 4001
    else:
        document["data"]["picInfo"][1]["status"] = 4001
    event = _one(document)
    assert (event.summary.succeeded, event.summary.error_code) == (False, 4001)
    assert event.summary.file_ids == ("14508071098244929440",)


@pytest.mark.parametrize("status", [4001, "4001", -1, "-1"])
def test_a_v2_result_code_in_data_status_is_a_failure_whether_a_number_or_a_numeric_string(status: object) -> None:
    """The model takes ``status`` as a string or a number, and a nested ``fileInfo.status`` is read either way:
    so is ``data.status`` (a "4001" read as success with the files' code 0 before)."""
    document = _sample("vod_legacy-v2_ClipComplete.json")
    document["data"].update(status=status, message="clip failed")
    event = _one(document)
    assert (event.summary.succeeded, event.summary.error_code, event.summary.error_message) == (
        False, int(str(status)), "clip failed")

def test_v2_successes_read_true() -> None:
    for name in ("ClipComplete", "ConcatComplete", "TranscodeComplete", "PullComplete"):
        assert _one(_sample(f"vod_legacy-v2_{name}.json")).summary.succeeded is True, name


@pytest.mark.parametrize("event_type", ["DeleteFile", "PorncheckComplete"])
def test_v2_only_names_are_still_routed(event_type: str) -> None:
    document = {"version": "4.0", "eventType": event_type, "data": {"vodTaskId": "t-1", "fileId": "123",
                                                                    "status": 0, "message": ""}}
    event = _one(document)
    assert (event.known, event.legacy, event.summary.task_id, event.summary.file_ids) == (True, True, "t-1", ("123",))


# --------------------------------------------------------------------------- published variants


def test_a_v2_envelope_with_current_fields_is_read_by_them() -> None:
    current = _sample("vod_ProcedureStateChanged.json")["ProcedureStateChangeEvent"]
    current.update(ErrCode=0, Status="FINISH")
    current["MediaProcessResultSet"] = [{"Type": "Transcode", "TranscodeTask": {"Status": "FAIL", "ErrCode": 70000,
                                                                                "Message": "transcode failed"}}]
    document = {"version": "4.0", "eventType": "ProcedureStateChanged", "data": current}
    event = _one(document)
    assert (event.legacy, event.variant) == (True, "v2-current-fields")
    assert event.summary.task_id == current["TaskId"] and event.summary.file_ids == (current["FileId"],)
    assert (event.summary.succeeded, event.summary.error_code) == (False, 70000)


def test_a_payload_under_another_type_s_key_is_read_from_it() -> None:
    """The published old-doc bug: EventType NewFileUpload, the body in PullCompleteEvent."""
    (item,) = _sample("vod_PullComplete.old-doc-bug-EventType-NewFileUpload.pullevents.json")["Response"]["EventSet"]
    event = _one(item, "vod")
    pulled = item["PullCompleteEvent"]
    assert (event.event_type, event.variant) == ("NewFileUpload", "payload-key")
    assert event.summary.file_ids == (pulled["FileId"],)
    assert event.summary.task_id == pulled["TaskId"]
    assert event.summary.succeeded is (pulled.get("ErrCode", 0) == 0)


def test_a_named_key_that_is_filled_is_no_variant() -> None:
    event = _one(_sample("vod_NewFileUpload.json"), "vod")
    assert event.variant is None and event.summary.file_ids


def test_two_other_filled_keys_are_not_guessed_between() -> None:
    (item,) = _sample("vod_PullComplete.old-doc-bug-EventType-NewFileUpload.pullevents.json")["Response"]["EventSet"]
    document = copy.deepcopy(item)
    document["FileDeleteEvent"] = {"FileIdSet": ["999"]}
    event = _one(document, "vod")
    assert event.variant is None and event.summary.file_ids == ()


def test_cme_parse_event_defaults_are_not_a_filled_payload() -> None:
    """CME's ParseEvent echoes every key with empty-string defaults: those are not a payload to read."""
    event = _one(_sample("cme_Class.Created.ParseEvent-response.json")["Response"]["EventContent"]
                 if "Response" in _sample("cme_Class.Created.ParseEvent-response.json")
                 else _sample("cme_Class.Created.ParseEvent-response.json"), "cme")
    assert event.variant is None


def test_every_live_stream_payload_key_is_routed() -> None:
    envelope = getattr(models("mps"), ENVELOPES[("mps", "NotificationType")])
    keys = {k for r in TABLE if r.type_key == "NotificationType" for k in r.payload_keys}
    assert set(struct_fields(envelope)) - NOT_PAYLOADS == keys


def test_a_variant_that_does_not_fit_is_read_as_sent_not_refused() -> None:
    """Reading a variant is best effort: a filled other key that its model refuses leaves the event as before."""
    document = {"EventType": "NewFileUpload", "FileUploadEvent": None,
                "PullCompleteEvent": {"TaskId": "t-1", "ErrCode": "not a number"}}
    event = _one(document, "vod")
    assert (event.known, event.variant, event.summary.task_id) == (True, None, None)


def test_a_notification_type_tencent_adds_later_is_mps_unknown_not_vod() -> None:
    """A new NotificationType is still MPS's live-stream processing: archived under mps/_unknown/, signed as MPS."""
    document = {"NotificationType": "AiBrandNewResult", "TaskId": "live-t", "AiBrandNewResultInfo": {"X": 1}}
    event = _one(document)
    assert (event.product, event.event_type, event.known) == ("mps", "AiBrandNewResult", False)
    assert products_for(document) == ("mps",)
    assert products_for({"version": "4.0", "eventType": "ProcedureStateChanged", "data": {}}) == ("vod",)
    assert products_for({"EventType": "Material.Imported"}) == ("cme",)
    with pytest.raises(ProductMismatch):
        _one(document, "vod")


def test_an_event_type_named_like_a_notification_type_is_not_read_as_one() -> None:
    """``{"EventType": "ProcessEof"}`` is no live-stream notification: no route of that kind, archived unknown."""
    event = _one({"EventType": "ProcessEof", "ProcessEofInfo": {"ErrCode": 1}}, "mps")
    assert (event.known, event.summary.succeeded) == (False, None)


def test_a_live_stream_task_id_that_is_not_a_string_is_refused() -> None:
    document = _sample("mps_ProcessEof.json") | {"TaskId": {"not": "an id"}}
    with pytest.raises(InvalidEvent) as refused:
        _one(document, "mps")
    assert refused.value.details[0]["pointer"] == "/TaskId"
