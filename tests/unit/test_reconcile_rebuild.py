"""The task-type -> EventType table follows Tencent's SDK, and a rebuilt event is the event the push carries.

The table (lib/reconcile/rebuild.py) is derived here from the installed SDKs, as routing.CONFIRM is in
test_schema_drift.py: a DescribeTaskDetail field's doc string names its TaskType ("仅当 TaskType 为 X"),
and the field's struct class is the class of the EventType's payload in EventContent. Bumping the SDK
in requirements-dev.txt is how a new task type shows up here.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import warnings
from typing import Any

import pytest

from lib.intake import event_id_of, payload_of, read_event
from lib.reconcile.rebuild import (
    TASK_EVENTS,
    TASK_TYPE_ALIASES,
    TaskEvent,
    Unmappable,
    task_document,
    task_event,
    upload_event,
)
from lib.routing import CONFIRM, TABLE
from tests.conftest import EVENTS, SAMPLES


def _sdk(product: str) -> Any:
    if product == "vod":
        from tencentcloud.vod.v20180717 import models
    elif product == "mps":
        from tencentcloud.mps.v20190612 import models
    else:
        from tencentcloud.cme.v20191029 import models
    return models


def _struct_classes(model: Any) -> dict[str, str]:
    """field -> struct class, read off the SDK model's ``_deserialize`` (the classes it instantiates)."""
    source = inspect.getsource(model._deserialize)
    return dict(re.findall(r'params\.get\("(\w+)"\) is not None:\s*\n\s*self\._\w+ = (\w+)\(\)', source))


def _field_docs(model: Any) -> dict[str, str]:
    doc = inspect.getsource(model.__init__)
    return dict(re.findall(r":param _(\w+): (.*?)\n\s*:type", doc, re.S))


def _documented_task_type(doc: str) -> str | None:
    found = re.search(r"仅当\s*TaskType\s*为\s*([A-Za-z0-9_]+)", doc)
    return found.group(1) if found else None


def _content_model(product: str) -> Any:
    models = _sdk(product)
    return models.ParseNotificationResponse if product == "mps" else models.EventContent


def _derived(product: str) -> dict[tuple[str, str], TaskEvent]:
    answer = _sdk(product).DescribeTaskDetailResponse
    payload_struct = _struct_classes(_content_model(product))
    event_of_struct: dict[str, str] = {}
    for route in (r for r in TABLE if r.product == product):
        struct = next((payload_struct[k] for k in route.payload_keys if k in payload_struct), None)
        if struct is not None:
            event_of_struct.setdefault(struct, route.event_type)
    docs = _field_docs(answer)
    expected = {}
    for field, struct in _struct_classes(answer).items():
        task_type = _documented_task_type(docs.get(field, ""))
        if task_type and struct in event_of_struct:
            expected[(product, task_type)] = TaskEvent(field, event_of_struct[struct])
    return expected


@pytest.mark.parametrize("product", ["vod", "mps"])
def test_the_task_table_follows_the_sdk(product: str) -> None:
    table = {k: v for k, v in TASK_EVENTS.items() if k[0] == product}
    assert table == _derived(product)
    assert len(table) >= (30 if product == "vod" else 4)


@pytest.mark.parametrize("key", sorted(TASK_EVENTS))
def test_every_table_entry_is_a_routed_confirmable_type(key: tuple[str, str]) -> None:
    product, _ = key
    entry = TASK_EVENTS[key]
    assert any(r.product == product and r.event_type == entry.event_type for r in TABLE)
    if product != "cme":  # the confirmation reads the same field of the same answer
        assert CONFIRM[(product, entry.event_type)] == f"task:{entry.field}"


def test_the_cme_export_is_the_answer_flattened() -> None:
    """VideoExportCompletedEvent is TaskId plus the answer's own fields, Output being VideoEditProjectOutput."""
    models = _sdk("cme")
    event_fields = _field_docs(models.VideoExportCompletedEvent)
    answer_fields = _field_docs(models.DescribeTaskDetailResponse)
    assert set(event_fields) - {"TaskId", "Output"} <= set(answer_fields)
    assert _struct_classes(models.VideoExportCompletedEvent)["Output"] == \
        _struct_classes(models.DescribeTaskDetailResponse)["VideoEditProjectOutput"]
    assert _documented_task_type(answer_fields["VideoEditProjectOutput"]) == "VIDEO_EDIT_PROJECT_EXPORT"


def test_every_alias_is_a_name_the_sdk_gives_and_points_at_a_derived_struct() -> None:
    models = _sdk("vod")
    listed = _field_docs(models.TaskSimpleInfo)["TaskType"] + _field_docs(models.DescribeTaskDetailResponse)["TaskType"]
    answer_structs = _struct_classes(models.DescribeTaskDetailResponse)
    payload_structs = _struct_classes(models.EventContent)
    for (product, task_type), entry in TASK_TYPE_ALIASES.items():
        assert product == "vod"
        assert re.search(rf"\b{task_type}：", listed), task_type
        route = next(r for r in TABLE if r.product == "vod" and r.event_type == entry.event_type)
        assert answer_structs[entry.field] == payload_structs[route.payload]


# --------------------------------------------------------------------------- rebuilding


def _document(path: Any) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return json.loads(data["body"]) if "body" in data else data


def _push_samples() -> list[tuple[str, str, str]]:
    """(product, sample file, TaskType) for every events/ sample of a task type the table maps."""
    found = []
    for (product, task_type), entry in TASK_EVENTS.items():
        path = EVENTS / product / f"{entry.event_type}.json"
        if path.exists() and product != "cme":
            found.append((product, str(path.relative_to(EVENTS)), task_type))
    return found


@pytest.mark.parametrize(("product", "sample", "task_type"), _push_samples())
def test_a_pushed_event_is_rebuilt_from_the_sdk_answer_that_holds_its_struct(
        product: str, sample: str, task_type: str) -> None:
    """The answer DescribeTaskDetail gives is built with the SDK's own classes from the pushed event's
    struct; the event rebuilt from it is the pushed event: same document, same event_id, same summary."""
    document = _document(EVENTS / sample)
    entry = TASK_EVENTS[(product, task_type)]
    route = next(r for r in TABLE if r.product == product and r.event_type == entry.event_type)
    _, struct = payload_of(document, route)
    pushed = {"EventType": document["EventType"], route.payload: struct}  # the payload key of today
    models = _sdk(product)
    content = _content_model(product)()
    with warnings.catch_warnings():  # older samples hold fields the SDK no longer models: it drops them
        warnings.simplefilter("ignore")
        content._deserialize(pushed)
    answer_model = models.DescribeTaskDetailResponse()
    answer_model.TaskType, answer_model.Status = task_type, "FINISH"
    setattr(answer_model, entry.field, getattr(content, route.payload))
    answer = json.loads(answer_model.to_json_string())
    assert answer[entry.field] is not None

    rebuilt = task_event(product, None, answer)  # the answer's own TaskType decides

    genuine = read_event(pushed, pinned=product)
    assert rebuilt.event_type == genuine.event_type == entry.event_type and rebuilt.known
    assert rebuilt.document[route.payload] == answer[entry.field]  # the struct, as Tencent answered it
    assert (rebuilt.summary.task_id, rebuilt.summary.status, rebuilt.summary.succeeded) == \
        (genuine.summary.task_id, genuine.summary.status, genuine.summary.succeeded)
    assert set(rebuilt.summary.file_ids) <= set(genuine.summary.file_ids)


def test_the_answer_tencent_sends_rebuilds_the_very_event_id_of_the_push() -> None:
    """An answer that holds the pushed struct as Tencent sends it (no nulls added): the same event_id,
    so a late push with the same bytes is a duplicate of the recovered event."""
    pushed = _document(SAMPLES / "vod_ProcedureStateChanged.json")
    answer = {"TaskType": "Procedure", "Status": "FINISH", "CreateTime": "2019-01-09T16:36:22Z",
              "ProcedureTask": copy.deepcopy(pushed["ProcedureStateChangeEvent"]), "RequestId": "r-1"}
    rebuilt = task_event("vod", "Procedure", answer)
    assert rebuilt.event_id == event_id_of(pushed)
    assert rebuilt.document == pushed


def test_an_mps_workflow_keeps_its_session_beside_the_payload() -> None:
    pushed = _document(EVENTS / "mps" / "WorkflowTask.json")
    answer = {"TaskType": "WorkflowTask", "Status": "FINISH", "WorkflowTask": pushed["WorkflowTaskEvent"],
              "SessionId": "s-1", "SessionContext": "ctx", "TasksPriority": 0}
    document = task_document("mps", "WorkflowTask", answer)
    assert document == {"EventType": "WorkflowTask", "WorkflowTaskEvent": pushed["WorkflowTaskEvent"],
                        "SessionId": "s-1", "SessionContext": "ctx"}


def test_a_cme_export_is_rebuilt_from_the_flat_answer() -> None:
    pushed = _document(EVENTS / "cme" / "Task.VideoExportCompleted.json")
    task = pushed["VideoExportCompletedEvent"]
    answer = {"Status": task["Status"], "Progress": 100, "ErrCode": task["ErrCode"], "ErrMsg": task["ErrMsg"],
              "TaskType": "VIDEO_EDIT_PROJECT_EXPORT", "VideoEditProjectOutput": task["Output"],
              "CreateTime": "2020-08-11T10:00:00Z"}
    rebuilt = task_event("cme", "VIDEO_EDIT_PROJECT_EXPORT", answer, task_id=task["TaskId"])
    genuine = read_event(pushed, pinned="cme")
    assert rebuilt.document["VideoExportCompletedEvent"] == task
    assert rebuilt.summary == genuine.summary  # TaskId, status, outputs: what the notification says


@pytest.mark.parametrize(("task_type", "answer"), [
    ("LiveStreamProcessTask", {"TaskType": "LiveStreamProcessTask", "Status": "FINISH"}),  # no event of its own
    ("WorkflowTask", {"TaskType": "WorkflowTask", "Status": "FINISH", "WorkflowTask": None}),  # struct missing
])
def test_what_cannot_be_mapped_is_refused_never_guessed(task_type: str, answer: dict[str, Any]) -> None:
    with pytest.raises(Unmappable):
        task_document("mps", task_type, answer)


def test_an_alias_routes_only_to_a_struct_the_answer_holds() -> None:
    pushed = _document(SAMPLES / "vod_WechatPublishComplete.json")
    struct = pushed.get("WechatPublishCompleteEvent") or pushed["WechatPublishComplete"]
    rebuilt = task_event("vod", "WechatDistribute", {"Status": "FINISH", "WechatPublishTask": struct})
    assert rebuilt.event_type == "WechatPublishComplete"
    with pytest.raises(Unmappable):
        task_document("vod", "MPSWorkflowTask", {"Status": "FINISH", "WechatPublishTask": struct})


def test_an_upload_is_rebuilt_from_the_files_media_info() -> None:
    pushed = _document(SAMPLES / "vod_NewFileUpload.json")["FileUploadEvent"]
    media = {"FileId": pushed["FileId"], "BasicInfo": pushed["MediaBasicInfo"],
             "MetaData": {"Size": 1024, "Duration": 60.0}}
    rebuilt = upload_event(media)
    assert rebuilt.event_type == "NewFileUpload" and rebuilt.summary.file_ids == (pushed["FileId"],)
    assert rebuilt.document["FileUploadEvent"] == {"FileId": pushed["FileId"], "MediaBasicInfo": pushed["MediaBasicInfo"],
                                                   "MetaData": media["MetaData"]}
    assert rebuilt.summary.subject == pushed["FileId"]
    with pytest.raises(Unmappable):
        upload_event({"BasicInfo": {}})
