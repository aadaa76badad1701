"""The event a push would have carried, rebuilt from Tencent's own answer about a task or a file.

Tencent pushes a task's outcome as ``{"EventType": T, "<payload key>": <struct>}``, and the struct it
pushes is the very struct ``DescribeTaskDetail`` answers with (the SDK's models share the class: VOD's
``EventContent.ProcedureStateChangeEvent`` and ``DescribeTaskDetailResponse.ProcedureTask`` are both a
``ProcedureTask``). So a missed event is rebuilt, not invented: the EventType of the task's type, its
payload key as routing.TABLE names it, the answer's struct as the payload. It then goes through
``read_event`` like any delivery (the same models validate it) and its ``event_id`` is the contract's
hash of the rebuilt document.

``TASK_EVENTS`` says, per product and task type (``TaskType`` as ``DescribeTasks`` and ``DescribeTaskDetail``
name it), which field of the ``DescribeTaskDetail`` answer holds the struct and which EventType carries it.
tests/unit/test_reconcile_rebuild.py derives it from the installed SDK (the field's doc string names its
TaskType; the field's struct class is the EventType's payload class), as routing.CONFIRM is derived.
A task type absent here is not guessed: the run counts and logs it (``unmapped``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib.intake import InboundEvent, read_event
from lib.routing import Product, find_route


@dataclass(frozen=True)
class TaskEvent:
    """Where a task type's struct is in the DescribeTaskDetail answer, and the EventType that pushes it."""

    field: str
    event_type: str


def _vod(field: str, event_type: str) -> TaskEvent:
    return TaskEvent(field, event_type)


TASK_EVENTS: dict[tuple[Product, str], TaskEvent] = {
    # ---- VOD: the TaskType each DescribeTaskDetail field's doc names ("仅当 TaskType 为 X")
    ("vod", "Procedure"): _vod("ProcedureTask", "ProcedureStateChanged"),
    ("vod", "EditMedia"): _vod("EditMediaTask", "EditMediaComplete"),
    ("vod", "SplitMedia"): _vod("SplitMediaTask", "SplitMediaComplete"),
    ("vod", "ComposeMedia"): _vod("ComposeMediaTask", "ComposeMediaComplete"),
    ("vod", "WechatPublish"): _vod("WechatPublishTask", "WechatPublishComplete"),
    ("vod", "WechatMiniProgramPublish"): _vod("WechatMiniProgramPublishTask", "WechatMiniProgramPublishComplete"),
    ("vod", "PullUpload"): _vod("PullUploadTask", "PullComplete"),
    ("vod", "Transcode"): _vod("TranscodeTask", "TranscodeComplete"),
    ("vod", "Concat"): _vod("ConcatTask", "ConcatComplete"),
    ("vod", "Clip"): _vod("ClipTask", "ClipComplete"),
    ("vod", "ImageSprite"): _vod("CreateImageSpriteTask", "CreateImageSpriteComplete"),
    ("vod", "SnapshotByTimeOffset"): _vod("SnapshotByTimeOffsetTask", "CreateSnapshotByTimeOffsetComplete"),
    ("vod", "RemoveWatermark"): _vod("RemoveWatermarkTask", "RemoveWatermark"),
    ("vod", "RebuildMedia"): _vod("RebuildMediaTask", "RebuildMediaComplete"),
    ("vod", "ExtractTraceWatermark"): _vod("ExtractTraceWatermarkTask", "ExtractTraceWatermarkComplete"),
    ("vod", "ExtractCopyRightWatermark"): _vod("ExtractCopyRightWatermarkTask", "ExtractCopyRightWatermarkComplete"),
    ("vod", "ReviewAudioVideo"): _vod("ReviewAudioVideoTask", "ReviewAudioVideoComplete"),
    ("vod", "DescribeFileAttributes"): _vod("DescribeFileAttributesTask", "DescribeFileAttributesComplete"),
    ("vod", "QualityInspect"): _vod("QualityInspectTask", "QualityInspectComplete"),
    ("vod", "QualityEnhance"): _vod("QualityEnhanceTask", "QualityEnhanceComplete"),
    ("vod", "ComplexAdaptiveDynamicStreaming"): _vod("ComplexAdaptiveDynamicStreamingTask",
                                                     "ComplexAdaptiveDynamicStreamingComplete"),
    ("vod", "ProcessMediaByMPS"): _vod("ProcessMediaByMPSTask", "ProcessMediaByMPSComplete"),
    ("vod", "AigcImageTask"): _vod("AigcImageTask", "AigcImageTaskComplete"),
    ("vod", "AigcVideoTask"): _vod("AigcVideoTask", "AigcVideoTaskComplete"),
    ("vod", "SceneAigcImageTask"): _vod("SceneAigcImageTask", "SceneAigcImageCompleteEvent"),
    ("vod", "ExtractBlindWatermark"): _vod("ExtractBlindWatermarkTask", "ExtractBlindWatermarkComplete"),
    ("vod", "CreateAigcAdvancedCustomElement"): _vod("CreateAigcAdvancedCustomElementTask",
                                                     "CreateAigcAdvancedCustomElementCompleteEvent"),
    ("vod", "CreateAigcCustomVoice"): _vod("CreateAigcCustomVoiceTask", "CreateAigcCustomVoiceCompleteEvent"),
    ("vod", "DescribeAigcFaceInfoAsync"): _vod("DescribeAigcFaceInfoAsyncTask", "DescribeAigcFaceInfoAsyncComplete"),
    ("vod", "AigcHunyuan3DTask"): _vod("AigcHunyuan3DTask", "AigcHunyuan3DTaskComplete"),
    # ---- MPS
    ("mps", "WorkflowTask"): TaskEvent("WorkflowTask", "WorkflowTask"),
    ("mps", "EditMediaTask"): TaskEvent("EditMediaTask", "EditMediaTask"),
    ("mps", "ScheduleTask"): TaskEvent("ScheduleTask", "ScheduleTask"),
    ("mps", "ExtractBlindWatermark"): TaskEvent("ExtractBlindWatermarkTask", "ExtractBlindWatermark"),
    # ---- CME: the answer is flat (Status, ErrCode, ErrMsg, VideoEditProjectOutput); see build_task_event
    ("cme", "VIDEO_EDIT_PROJECT_EXPORT"): TaskEvent("VideoEditProjectOutput", "Task.VideoExportCompleted"),
}

# Other names the SDK's own doc strings give the same task types: DescribeTaskDetail's TaskType list
# (RemoveWatermarkTask, DescribeFileAttributesTask) and DescribeTasks' (WechatDistribute, ImageSprites,
# ReduceMediaBitrate, whose detail field documents no TaskType, and MPSWorkflowTask, "MPS 视频处理任务").
# An alias only routes to its field: the answer must hold the struct there, or the task stays unmapped.
TASK_TYPE_ALIASES: dict[tuple[Product, str], TaskEvent] = {
    ("vod", "RemoveWatermarkTask"): TASK_EVENTS[("vod", "RemoveWatermark")],
    ("vod", "DescribeFileAttributesTask"): TASK_EVENTS[("vod", "DescribeFileAttributes")],
    ("vod", "WechatDistribute"): TASK_EVENTS[("vod", "WechatPublish")],
    ("vod", "ImageSprites"): TASK_EVENTS[("vod", "ImageSprite")],
    ("vod", "ReduceMediaBitrate"): _vod("ReduceMediaBitrateTask", "ReduceMediaBitrateComplete"),
    ("vod", "MPSWorkflowTask"): TASK_EVENTS[("vod", "ProcessMediaByMPS")],
}

# Task states after which Tencent sends the task's final event; anything else is not recovered (yet).
FINAL_TASK_STATUSES = frozenset({"FINISH", "SUCCESS", "FAIL", "FAILED", "ABORTED"})


class Unmappable(Exception):
    """Tencent's answer holds no struct mediahook can rebuild an event from (the message says why)."""


def task_event_for(product: Product, task_type: str | None) -> TaskEvent | None:
    """The table's entry for a task type (an alias included), or None: the type is not mapped."""
    if not task_type:
        return None
    return TASK_EVENTS.get((product, task_type)) or TASK_TYPE_ALIASES.get((product, task_type))


def _payload_key(product: Product, event_type: str) -> str:
    route = find_route(product, event_type)
    if route is None:  # the table names only routed EventTypes (a unit test walks it)
        raise Unmappable(f"{product}.{event_type} has no route")
    return route.payload


def task_document(product: Product, task_type: str | None, answer: dict[str, Any],
                  task_id: str | None = None) -> dict[str, Any]:
    """The event document the push would have carried for this ``DescribeTaskDetail`` answer.

    ``task_type`` is the listing's (DescribeTasks); the answer's own ``TaskType`` is tried first."""
    kind = task_event_for(product, answer.get("TaskType")) or task_event_for(product, task_type)
    if kind is None:
        raise Unmappable(f"task type {answer.get('TaskType') or task_type!r} of {product} is not mapped")
    payload = _cme_export(answer, task_id) if product == "cme" else answer.get(kind.field)
    if not isinstance(payload, dict):
        raise Unmappable(f"the answer holds no {kind.field} for task type {answer.get('TaskType') or task_type!r}")
    document: dict[str, Any] = {"EventType": kind.event_type, _payload_key(product, kind.event_type): payload}
    if product == "mps":  # MPS carries the task's SessionId/SessionContext beside the payload (ParseNotification)
        for name in ("SessionId", "SessionContext"):
            if answer.get(name):
                document[name] = answer[name]
    return document


def _cme_export(answer: dict[str, Any], task_id: str | None) -> dict[str, Any]:
    """CME's VideoExportCompletedEvent: TaskId, Status, ErrCode, ErrMsg and Output, which is the answer's
    VideoEditProjectOutput (the same VideoEditProjectOutput class in the SDK)."""
    if not task_id:
        raise Unmappable("a CME export is rebuilt with its TaskId")
    payload: dict[str, Any] = {"TaskId": task_id}
    for name in ("Status", "ErrCode", "ErrMsg"):
        if answer.get(name) is not None:
            payload[name] = answer[name]
    if answer.get("VideoEditProjectOutput") is not None:
        payload["Output"] = answer["VideoEditProjectOutput"]
    return payload


def task_event(product: Product, task_type: str | None, answer: dict[str, Any],
               task_id: str | None = None) -> InboundEvent:
    """The rebuilt task event, validated as a delivery is (``InvalidEvent`` if Tencent's answer does not fit)."""
    return read_event(task_document(product, task_type, answer, task_id), pinned=product)


def upload_document(media: dict[str, Any]) -> dict[str, Any]:
    """The ``NewFileUpload`` event of a file, from its ``DescribeMediaInfos`` (or ``SearchMedia``) entry:
    FileUploadEvent is FileId, MediaBasicInfo (the entry's BasicInfo) and MetaData. The task ids the
    push may add (ProcedureTaskId, ReviewAudioVideoTaskId) are not in the file's info and are left out."""
    file_id = media.get("FileId")
    if not file_id:
        raise Unmappable("the media entry has no FileId")
    payload: dict[str, Any] = {"FileId": str(file_id)}
    if isinstance(media.get("BasicInfo"), dict):
        payload["MediaBasicInfo"] = media["BasicInfo"]
    if isinstance(media.get("MetaData"), dict):
        payload["MetaData"] = media["MetaData"]
    return {"EventType": "NewFileUpload", _payload_key("vod", "NewFileUpload"): payload}


def upload_event(media: dict[str, Any]) -> InboundEvent:
    return read_event(upload_document(media), pinned="vod")
