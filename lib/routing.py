"""Where each event goes and what is said about it.

``TABLE`` is the one place that knows Tencent's EventTypes: for each ``(product, EventType)`` the
payload key (and its historic aliases), the pydantic model, and the paths from which the
notification's summary is read. Paths are dotted attribute names on the validated model; ``[]``
marks a list (every element is visited). Unknown EventTypes of a known product are not an error:
they are archived under ``{product}/_unknown/`` and acknowledged, because Tencent adds types faster
than anyone deploys. MPS live-stream notifications name their type in ``NotificationType`` (``type_key``).

``succeeded`` is the truth of the whole task (``summarize``): the top level's status and error codes, then
every sub-result the SDK declares for the type (``lib/subresults.py``, generated from the SDK's structs by
``scripts/drift.py``), so that a failed part fails the whole.
"""

from __future__ import annotations

import fnmatch
import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from lib import models as m
from lib.subresults import SUBRESULTS

Product = Literal["vod", "cme", "mps"]
PRODUCTS: tuple[Product, ...] = ("vod", "cme", "mps")

# How an EventType moves its subject's latest state (the ledger, lib/ledger.py): the ``order`` column.
#   status  ranked by its status: WAITING (1) < PROCESSING (2, also an unknown status) < a final status (3:
#           FINISH, SUCCESS, FAIL, ABORTED, ...); no status is a first event (1)
#   end     a status-less task result: its arrival ends the task (3, final)
#   fact    a status-less step that ends nothing (an upload, an import, a creation): the rank of a first event (1);
#           each fact type advances its subject once (the ledger keeps the types it has had)
#   change  not monotonic (a project or cast started, stopped, started again; a move, an edit): the payload carries
#           no event time to order it by, so it is always ``advanced``, unless its subject has ended (a final
#           rank: a live task after its ProcessEof) or been deleted
#   delete  a deletion: outranks every other state of the subjects it deletes (9, final)
Order = Literal["status", "end", "fact", "change", "delete"]


@dataclass(frozen=True)
class Route:
    """How one EventType is validated and summarised."""

    product: Product
    event_type: str
    payload: str  # the payload key Tencent documents today
    model: type[BaseModel]
    aliases: tuple[str, ...] = ()  # older names of the payload key, accepted on input
    subject: str | None = "TaskId"  # path of the primary resource id
    task: str | None = "TaskId"
    files: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    project: str | None = None
    status: str | None = "Status"
    error_code: str | None = "ErrCode"
    error_message: str | None = "Message"
    error_ext: str | None = "ErrCodeExt"
    outcome: bool = True  # whether the event reports success/failure at all
    order: Order = "status"  # how it moves its subject's latest state (above)
    type_key: str = "EventType"  # the field naming the type: MPS live-stream notifications say NotificationType

    @property
    def payload_keys(self) -> tuple[str, ...]:
        return (self.payload, *self.aliases)


def _task(product: Product, event_type: str, payload: str, model: type[BaseModel], **kw: Any) -> Route:
    if kw.get("status", "Status") is None:
        kw.setdefault("order", "end")  # a 2017-era task result: no status, its arrival is the end
    return Route(product, event_type, payload, model, **kw)


def _live(notification_type: str, payload: str, model: type[BaseModel], **kw: Any) -> Route:
    """An MPS live-stream processing notification (ParseLiveStreamProcessNotification): the type is in
    ``NotificationType``, the live task's ``TaskId`` at the top level (``^``: read from the event, not the payload).
    A result neither starts nor ends the task (a live task sends many): order ``change``."""
    kw.setdefault("order", "change")
    kw.setdefault("status", None)
    kw.setdefault("error_code", None)
    kw.setdefault("error_message", None)
    return Route("mps", notification_type, payload, model, subject="^TaskId", task="^TaskId", error_ext=None,
                 type_key="NotificationType", **kw)


def _fact(product: Product, event_type: str, payload: str, model: type[BaseModel], **kw: Any) -> Route:
    """An event that states a fact (uploaded, moved, started) rather than a task outcome."""
    kw.setdefault("task", None)
    kw.setdefault("subject", None)
    kw.setdefault("order", "fact")
    return Route(product, event_type, payload, model, status=kw.pop("status", None), error_code=None,
                 error_message=None, error_ext=None, outcome=False, **kw)


_FID, _OUT, _IN, _AIGC = ("FileId",), ("Output.FileId",), ("Input.FileId",), ("Output.FileInfos[].FileId",)

TABLE: tuple[Route, ...] = (
    # ---- VOD: product 266 --------------------------------------------------------------------
    _fact("vod", "NewFileUpload", "FileUploadEvent", m.FileUploadTask, subject="FileId", files=_FID, task="ProcedureTaskId"),
    _task("vod", "ProcedureStateChanged", "ProcedureStateChangeEvent", m.ProcedureTask, files=_FID),
    _fact("vod", "FileDeleted", "FileDeleteEvent", m.FileDeleteTask, subject="FileIdSet[]", files=("FileIdSet[]",), order="delete"),
    _task("vod", "PullComplete", "PullCompleteEvent", m.PullUploadTask, files=_FID),
    _task("vod", "EditMediaComplete", "EditMediaCompleteEvent", m.EditMediaTask, aliases=("EditMediaComplete",), files=_OUT),
    _task("vod", "SplitMediaComplete", "SplitMediaCompleteEvent", m.SplitMediaTask, files=("FileInfoSet[].Output.FileId",)),
    _task("vod", "ComposeMediaComplete", "ComposeMediaCompleteEvent", m.ComposeMediaTask, files=_OUT),
    _task("vod", "ClipComplete", "ClipCompleteEvent", m.ClipTask2017, files=("FileInfo.FileId", "SrcFileId"), status=None, error_code="FileInfo.ErrCode", error_message="FileInfo.Message", error_ext=None),
    _task("vod", "TranscodeComplete", "TranscodeCompleteEvent", m.TranscodeTask2017, files=_FID, status=None, error_ext=None),
    _task("vod", "CreateImageSpriteComplete", "CreateImageSpriteCompleteEvent", m.CreateImageSpriteTask2017, files=_FID, status=None, error_ext=None),
    _task("vod", "ConcatComplete", "ConcatCompleteEvent", m.ConcatTask2017, files=("FileInfoSet[].FileId",), status=None, error_code="FileInfoSet[].ErrCode", error_message="FileInfoSet[].Message", error_ext=None),
    _task("vod", "CreateSnapshotByTimeOffsetComplete", "SnapshotByTimeOffsetCompleteEvent", m.SnapshotByTimeOffsetTask2017, files=_FID, status=None, error_code=None, error_message=None, error_ext=None, outcome=False),
    _task("vod", "WechatPublishComplete", "WechatPublishCompleteEvent", m.WechatPublishTask, aliases=("WechatPublishComplete",), files=_FID),
    _task("vod", "WechatMiniProgramPublishComplete", "WechatMiniProgramPublishCompleteEvent", m.WechatMiniProgramPublishTask, aliases=("WechatMiniProgramPublishEvent",), files=_FID),
    _task("vod", "RemoveWatermark", "RemoveWatermarkCompleteEvent", m.OutputTask, files=_OUT),
    _fact("vod", "RestoreMediaComplete", "RestoreMediaCompleteEvent", m.RestoreMediaTask, subject="FileId", files=_FID),
    _task("vod", "RebuildMediaComplete", "RebuildMediaCompleteEvent", m.OutputTask, files=_OUT),
    _task("vod", "ExtractTraceWatermarkComplete", "ExtractTraceWatermarkCompleteEvent", m.InputTask, files=_IN),
    _task("vod", "ExtractCopyRightWatermarkComplete", "ExtractCopyRightWatermarkCompleteEvent", m.InputTask, files=_IN),
    _task("vod", "ReviewAudioVideoComplete", "ReviewAudioVideoCompleteEvent", m.InputTask, files=_IN),
    _task("vod", "ReduceMediaBitrateComplete", "ReduceMediaBitrateCompleteEvent", m.ReduceMediaBitrateTask, files=_FID),
    _task("vod", "DescribeFileAttributesComplete", "DescribeFileAttributesCompleteEvent", m.DescribeFileAttributesTask, files=_FID),
    _task("vod", "QualityInspectComplete", "QualityInspectCompleteEvent", m.InputTask, files=_IN),
    _task("vod", "QualityEnhanceComplete", "QualityEnhanceCompleteEvent", m.OutputTask, files=_OUT),
    _fact("vod", "MediaCastStatusChanged", "MediaCastStatusChangedEvent", m.MediaCastEvent, subject="CastId", status="Status", order="change"),
    _fact("vod", "PersistenceComplete", "PersistenceCompleteEvent", m.PersistenceCompleteTask, subject="FileId", files=_FID),
    _task("vod", "ComplexAdaptiveDynamicStreamingComplete", "ComplexAdaptiveDynamicStreamingCompleteEvent", m.ComplexAdaptiveDynamicStreamingTask),
    _task("vod", "ProcessMediaByMPSComplete", "ProcessMediaByMPSCompleteEvent", m.ProcessMediaByMPS),
    _task("vod", "AigcImageTaskComplete", "AigcImageCompleteEvent", m.AigcTask, files=_AIGC),
    _task("vod", "AigcVideoTaskComplete", "AigcVideoCompleteEvent", m.AigcTask, files=_AIGC),
    _task("vod", "ExtractBlindWatermarkComplete", "ExtractBlindWatermarkComplete", m.ExtractBlindWatermarkTask),
    _task("vod", "SceneAigcImageCompleteEvent", "SceneAigcImageCompleteEvent", m.AigcTask, files=_AIGC),
    _fact("vod", "ProcessImageAsyncCompleteEvent", "ProcessImageAsyncCompleteEvent", m.ProcessImageAsyncTask, order="end"),
    _task("vod", "CreateAigcAdvancedCustomElementCompleteEvent", "CreateAigcAdvancedCustomElementCompleteEvent", m.TaskFields),
    _task("vod", "CreateAigcCustomVoiceCompleteEvent", "CreateAigcCustomVoiceCompleteEvent", m.TaskFields),
    _task("vod", "DescribeAigcFaceInfoAsyncComplete", "DescribeAigcFaceInfoAsyncCompleteEvent", m.TaskFields),
    _task("vod", "AigcHunyuan3DTaskComplete", "AigcHunyuan3DCompleteEvent", m.AigcTask),  # newer than the catalog: SDK 3.1.194
    # ---- CME: product 1156 -------------------------------------------------------------------
    _fact("cme", "Storage.NewFileCreated", "StorageNewFileCreatedEvent", m.StorageNewFileCreatedEvent, subject="MaterialId", files=_FID, materials=("MaterialId",), task="TaskId"),
    _fact("cme", "Project.StreamConnect.StatusChanged", "ProjectStreamConnectStatusChangedEvent", m.ProjectStatusChangedEvent, subject="ProjectId", project="ProjectId", status="Status", order="change"),
    _fact("cme", "Project.Switcher.StatusChanged", "ProjectSwitcherStatusChangedEvent", m.ProjectStatusChangedEvent, subject="ProjectId", project="ProjectId", status="Status", order="change"),
    _fact("cme", "Project.MediaCast.StatusChanged", "ProjectMediaCastStatusChangedEvent", m.ProjectStatusChangedEvent, subject="ProjectId", project="ProjectId", status="Status", order="change"),
    _fact("cme", "Material.Imported", "MaterialImportedEvent", m.MaterialImportedEvent, subject="MediaInfoSet[].MaterialId", files=("MediaInfoSet[].FileId",), materials=("MediaInfoSet[].MaterialId",)),
    _fact("cme", "Material.Added", "MaterialAddedEvent", m.MaterialAddedEvent, subject="MaterialIdSet[]", materials=("MaterialIdSet[]",)),
    _fact("cme", "Material.Moved", "MaterialMovedEvent", m.MaterialMovedEvent, subject="MaterialIdSet[]", materials=("MaterialIdSet[]",), order="change"),
    _fact("cme", "Material.Modified", "MaterialModifiedEvent", m.MaterialModifiedEvent, subject="MaterialId", materials=("MaterialId",), order="change"),
    _fact("cme", "Material.Deleted", "MaterialDeletedEvent", m.MaterialDeletedEvent, subject="MaterialIdSet[]", materials=("MaterialIdSet[]",), order="delete"),
    _fact("cme", "Class.Created", "ClassCreatedEvent", m.ClassCreatedEvent, subject="ClassPath"),
    _fact("cme", "Class.Moved", "ClassMovedEvent", m.ClassMovedEvent, subject="DestinationClassPath", order="change"),
    _fact("cme", "Class.Deleted", "ClassDeletedEvent", m.ClassDeletedEvent, subject="ClassPathSet[]", order="delete"),
    _task("cme", "Task.VideoExportCompleted", "VideoExportCompletedEvent", m.VideoExportCompletedEvent, files=("Output.VodFileId",), materials=("Output.MaterialId",), error_message="ErrMsg", error_ext=None),
    # ---- MPS (formerly VTS): product 862 -----------------------------------------------------
    _task("mps", "WorkflowTask", "WorkflowTaskEvent", m.MpsWorkflowTask),
    _task("mps", "EditMediaTask", "EditMediaTaskEvent", m.MpsEditMediaTask),
    _task("mps", "ScheduleTask", "ScheduleTaskEvent", m.MpsScheduleTask),
    _task("mps", "BatchTask", "BatchTaskEvent", m.MpsBatchSubTaskResult),
    _task("mps", "ExtractBlindWatermark", "ExtractBlindWatermarkTask", m.ExtractBlindWatermarkTask),
    _task("mps", "ProcedureStateChanged", "ProcedureStateChangeEvent", m.ProcedureTask, files=_FID),  # the VTS-era name
    # ---- MPS live-stream processing: NotificationType, not EventType (ParseLiveStreamProcessNotification) -----
    _live("AiReviewResult", "AiReviewResultInfo", m.LiveStreamResultInfo),
    _live("AiRecognitionResult", "AiRecognitionResultInfo", m.LiveStreamResultInfo),
    _live("AiAnalysisResult", "AiAnalysisResultInfo", m.LiveStreamResultInfo),
    _live("AiQualityControlResult", "AiQualityControlResultInfo", m.LiveStreamResultInfo),
    _live("AiSmartSubtitleResult", "AiSmartSubtitleResultInfo", m.LiveStreamResultInfo),
    _live("LiveRecordResult", "LiveRecordResultInfo", m.LiveStreamRecordResultInfo),
    _live("ProcessEof", "ProcessEofInfo", m.LiveStreamProcessErrorInfo, error_code="ErrCode", error_message="Message",
          order="end"),  # the live task's end; a non-zero ErrCode is its failure
)

# The pre-2019 VOD callback format: one route for every eventType it carries.
LEGACY = Route("vod", "*", "data", m.LegacyData, task="vodTaskId", subject="vodTaskId",
               files=("fileId", "fileInfo[].fileId", "srcFileId"), status="status", error_code="errCode",
               error_message="message", error_ext=None, order="end")  # its status is a result code

ROUTES_BY_KEY: dict[tuple[str, str], Route] = {(r.product, r.event_type): r for r in TABLE}

# EventType names: ASCII words joined by dots, as every documented type is. Anything else is
# rejected before it can reach an S3 key or a log line.
EVENT_TYPE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,127}")


# How Tencent's own API confirms an event (lib/verify.py, VERIFY_EVENTS): "task:<Field>", DescribeTaskDetail
# by TaskId answers with the task in that field (the same struct as the event's payload, so the field is the
# event's kind); "media": DescribeMediaInfos finds the FileId; "deleted": it no longer finds the FileIds.
# A type absent here cannot be confirmed. tests/unit/test_schema_drift.py derives the task fields from the SDK.
CONFIRM: dict[tuple[str, str], str] = {
    ("vod", "ProcedureStateChanged"): "task:ProcedureTask",
    ("vod", "PullComplete"): "task:PullUploadTask",
    ("vod", "EditMediaComplete"): "task:EditMediaTask",
    ("vod", "SplitMediaComplete"): "task:SplitMediaTask",
    ("vod", "ComposeMediaComplete"): "task:ComposeMediaTask",
    ("vod", "ClipComplete"): "task:ClipTask",
    ("vod", "TranscodeComplete"): "task:TranscodeTask",
    ("vod", "CreateImageSpriteComplete"): "task:CreateImageSpriteTask",
    ("vod", "ConcatComplete"): "task:ConcatTask",
    ("vod", "CreateSnapshotByTimeOffsetComplete"): "task:SnapshotByTimeOffsetTask",
    ("vod", "WechatPublishComplete"): "task:WechatPublishTask",
    ("vod", "WechatMiniProgramPublishComplete"): "task:WechatMiniProgramPublishTask",
    ("vod", "RemoveWatermark"): "task:RemoveWatermarkTask",
    ("vod", "RebuildMediaComplete"): "task:RebuildMediaTask",
    ("vod", "ExtractTraceWatermarkComplete"): "task:ExtractTraceWatermarkTask",
    ("vod", "ExtractCopyRightWatermarkComplete"): "task:ExtractCopyRightWatermarkTask",
    ("vod", "ReviewAudioVideoComplete"): "task:ReviewAudioVideoTask",
    ("vod", "ReduceMediaBitrateComplete"): "task:ReduceMediaBitrateTask",
    ("vod", "DescribeFileAttributesComplete"): "task:DescribeFileAttributesTask",
    ("vod", "QualityInspectComplete"): "task:QualityInspectTask",
    ("vod", "QualityEnhanceComplete"): "task:QualityEnhanceTask",
    ("vod", "ComplexAdaptiveDynamicStreamingComplete"): "task:ComplexAdaptiveDynamicStreamingTask",
    ("vod", "ProcessMediaByMPSComplete"): "task:ProcessMediaByMPSTask",
    ("vod", "AigcImageTaskComplete"): "task:AigcImageTask",
    ("vod", "AigcVideoTaskComplete"): "task:AigcVideoTask",
    ("vod", "ExtractBlindWatermarkComplete"): "task:ExtractBlindWatermarkTask",
    ("vod", "SceneAigcImageCompleteEvent"): "task:SceneAigcImageTask",
    ("vod", "CreateAigcAdvancedCustomElementCompleteEvent"): "task:CreateAigcAdvancedCustomElementTask",
    ("vod", "CreateAigcCustomVoiceCompleteEvent"): "task:CreateAigcCustomVoiceTask",
    ("vod", "DescribeAigcFaceInfoAsyncComplete"): "task:DescribeAigcFaceInfoAsyncTask",
    ("vod", "AigcHunyuan3DTaskComplete"): "task:AigcHunyuan3DTask",
    ("mps", "WorkflowTask"): "task:WorkflowTask",
    ("mps", "EditMediaTask"): "task:EditMediaTask",
    ("mps", "ScheduleTask"): "task:ScheduleTask",
    ("mps", "ExtractBlindWatermark"): "task:ExtractBlindWatermarkTask",
    ("vod", "NewFileUpload"): "media",
    ("vod", "RestoreMediaComplete"): "media",
    ("vod", "PersistenceComplete"): "media",
    ("vod", "FileDeleted"): "deleted",
    # CME (every call takes the platform, CME_PLATFORM): DescribeTaskDetail; DescribeMaterials finds the
    # MaterialIds ("materials") or no longer does; DescribeProjects finds the ProjectId; DescribeClass lists
    # the owner's class paths.
    ("cme", "Task.VideoExportCompleted"): "cme:task",
    ("cme", "Storage.NewFileCreated"): "cme:materials",
    ("cme", "Material.Imported"): "cme:materials",
    ("cme", "Material.Added"): "cme:materials",
    ("cme", "Material.Moved"): "cme:materials",
    ("cme", "Material.Modified"): "cme:materials",
    ("cme", "Material.Deleted"): "cme:materials-deleted",
    ("cme", "Project.StreamConnect.StatusChanged"): "cme:project",
    ("cme", "Project.Switcher.StatusChanged"): "cme:project",
    ("cme", "Project.MediaCast.StatusChanged"): "cme:project",
    ("cme", "Class.Created"): "cme:class",
    ("cme", "Class.Moved"): "cme:class",
    ("cme", "Class.Deleted"): "cme:class-deleted",
}


def confirmable(product: str, event_type: str) -> bool:
    return (product, event_type) in CONFIRM


def candidate_products(event_type: str) -> tuple[Product, ...]:
    """The products an EventType can belong to, most likely first.

    CME names are dotted, VOD and MPS names CamelCase. ``ProcedureStateChanged`` is VOD's and also
    what VTS-era queues sent; an unknown CamelCase name is taken for VOD unless pinned to MPS.
    """
    if "." in event_type:
        return ("cme",)
    known = tuple(p for p in PRODUCTS if (p, event_type) in ROUTES_BY_KEY)
    return known or ("vod", "mps")


def find_route(product: Product, event_type: str) -> Route | None:
    return ROUTES_BY_KEY.get((product, event_type))


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class Summary:
    """What the notification says about one event (the ``data`` of the CloudEvent)."""

    subject: str | None = None
    file_ids: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()  # every primary id (a deletion or a move names several); subject is the first
    material_ids: tuple[str, ...] = ()
    project_id: str | None = None
    task_id: str | None = None
    status: str | None = None
    succeeded: bool | None = None
    error_code: int | None = None
    error_message: str | None = None
    urls: tuple[str, ...] = field(default=())


def _values(obj: Any, path: str) -> Iterator[Any]:
    """Every non-empty value at ``path`` (lists are walked at each step)."""
    current: list[Any] = [obj]
    for name in path.replace("[]", "").split("."):
        following: list[Any] = []
        for item in current:
            value = getattr(item, name, None) if isinstance(item, BaseModel) else (
                item.get(name) if isinstance(item, dict) else None)
            if isinstance(value, list):
                following.extend(value)
            elif value is not None:
                following.append(value)
        current = following
    return (v for v in current if v not in ("", None))


def _first(obj: Any, path: str | None) -> Any:
    return next(_values(obj, path), None) if path else None


def _all(obj: Any, paths: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(v) for p in paths for v in _values(obj, p)))


_PENDING = {"PROCESSING", "WAITING"}
_FAILED = {"FAIL", "FAILED", "ERROR"}
_DONE = {"FINISH", "SUCCESS"}

# The v2.0 format (no SDK describes it): a sub-result is any object, or item of a list, directly under ``data``
# that reports its own ``status``/``errCode`` (``fileInfo``, ``picInfo``, ``processTaskList``...).
_LEGACY_OUTCOME = ("status", "errCode")


def _is_failure(node: dict[str, Any], legacy: bool = False) -> bool:
    """Whether one (sub-)result reports a failure: a failed Status, a non-zero ErrCode (v2.0: a non-zero
    ``status`` result code too), a non-empty ErrCodeExt. Sub-results are not typed by the models: any field may
    hold any JSON value, so each is checked for its type."""
    if legacy:
        status, code = node.get("status"), node.get("errCode")
        if isinstance(status, str):
            return status.upper() in _FAILED or (status.strip().lstrip("-").isdigit() and int(status) != 0)
        return any(isinstance(v, int) and not isinstance(v, bool) and v != 0 for v in (status, code))
    code, status, ext = node.get("ErrCode"), node.get("Status"), node.get("ErrCodeExt")
    return ((isinstance(status, str) and status.upper() in _FAILED)
            or (isinstance(code, int) and not isinstance(code, bool) and code != 0)
            or (isinstance(ext, str) and ext not in ("", "SUCCESS")))


def _legacy_result_code(raw: Any) -> int | None:
    """The result code of a v2.0 event whose ``data`` has none: its sub-results' first ``status``/``errCode``."""
    if not isinstance(raw, dict):
        return None
    for value in raw.values():
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, dict):
                code = next((_as_int(item[k]) for k in _LEGACY_OUTCOME if k in item), None)
                if code is not None:
                    return code
    return None


def subresult_paths(route: Route) -> tuple[str, ...]:
    """Where the route's payload reports sub-results, as the SDK declares them (lib/subresults.py)."""
    return SUBRESULTS.get(f"{route.product}.{route.event_type}", ())


@functools.lru_cache(maxsize=256)
def _paths_by_first_field(paths: tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """The declared paths split once and grouped by their top-level field, in the table's order: a payload fills
    a few of the dozens of fields its struct declares, so only the filled ones are walked."""
    grouped: dict[str, list[tuple[str, ...]]] = {}
    for path in paths:
        first, *rest = path.replace("[]", "").split(".")
        grouped.setdefault(first, []).append(tuple(rest))
    return {first: tuple(rests) for first, rests in grouped.items()}


def _declared_subresults(route: Route, raw: dict[str, Any]) -> Iterator[Any]:
    """Every value at the route's declared sub-result paths (lists walked at each step), top-level order first."""
    grouped = _paths_by_first_field(subresult_paths(route))
    for first, rests in grouped.items():
        top = raw.get(first)
        if top in (None, "", []):
            continue
        for rest in rests:
            current: list[Any] = top if isinstance(top, list) else [top]
            for name in rest:
                current = _step(current, name)
            yield from current


def _step(items: list[Any], name: str) -> list[Any]:
    """The values of field ``name`` of each object in ``items``, a list's items spread."""
    found: list[Any] = []
    for item in items:
        value = item.get(name) if isinstance(item, dict) else None
        if isinstance(value, list):
            found.extend(value)
        elif value is not None:
            found.append(value)
    return found


def failed_subresult(route: Route, raw: Any) -> dict[str, Any] | None:
    """The first failed sub-result of a payload: at the paths the SDK declares for its type (a ``*ResultSet``
    item's ``*Task``, a single-object result, a ScheduleTask activity, a batch sub-task), then, for shapes no
    SDK declares (older payloads), any item of a top-level list and that item's objects."""
    if not isinstance(raw, dict):
        return None
    legacy = route is LEGACY
    if legacy:
        candidates: Iterable[Any] = (v for value in raw.values()
                                     for v in (value if isinstance(value, list) else (value,)))
    else:
        declared = _declared_subresults(route, raw)
        undeclared = (c for value in raw.values() if isinstance(value, list)
                      for item in value if isinstance(item, dict)
                      for c in (item, *(v for v in item.values() if isinstance(v, dict))))
        candidates = itertools.chain(declared, undeclared)
    for candidate in candidates:
        if isinstance(candidate, dict) and _is_failure(candidate, legacy):
            return candidate
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


_URL_KEY = re.compile(r"(?i)(url|urls|urlset|urllist)$")
_INPUT_KEY = re.compile(r"(?i)^(input|inputinfo|inputinfos|sourceinfo|.*input)$")
MAX_URLS = 200


@functools.lru_cache(maxsize=4096)
def _key_kind(key: str) -> int:
    """0: walk into it; 1: its strings are URLs; 2: an input subtree, skipped. Key names repeat a lot."""
    if _INPUT_KEY.match(key):
        return 2
    return 1 if _URL_KEY.search(key) else 0


def output_urls(raw: Any) -> tuple[str, ...]:
    """Every http(s) URL of an output, cover or image, skipping the subtrees that describe inputs."""
    found: dict[str, None] = {}
    stack: list[tuple[Any, bool]] = [(raw, False)]
    while stack and len(found) < MAX_URLS:
        node, key_is_url = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, (dict, list, str)):
                    kind = _key_kind(key)
                    if kind != 2:
                        stack.append((value, kind == 1))
        elif isinstance(node, list):
            stack.extend((value, key_is_url) for value in reversed(node) if isinstance(value, (dict, list, str)))
        elif key_is_url and node.startswith(("http://", "https://")):
            found[node] = None
    return tuple(found)


def summarize(route: Route, payload: BaseModel | None, raw: Any, text: bytes | None = None,
              document: dict[str, Any] | None = None) -> Summary:
    """Read the summary of one event from its validated payload (``None`` if it had none).

    A path starting with ``^`` is read from the event ``document`` itself (a live-stream notification's
    TaskId). ``text``, the event's JSON bytes, lets the URL walk be skipped when no URL can be in it."""
    if payload is None and document is None:
        return Summary()

    def first(path: str | None) -> Any:
        if path and path.startswith("^"):
            return _first(document, path[1:])
        return _first(payload, path)

    status = first(route.status)
    error_code = _as_int(first(route.error_code))
    if error_code is None and (isinstance(status, int) or route is LEGACY):
        # Legacy v2.0 (and 2017-era) payloads report the result code as "status"; v2.0's as a number or, as its
        # nested statuses (_is_failure), a numeric string.
        error_code = _as_int(status)
    error_message = first(route.error_message)
    error_ext = first(route.error_ext)
    succeeded: bool | None = None
    if route.outcome:
        failed = failed_subresult(route, raw)
        if failed is None and route is LEGACY and error_code is None:
            error_code = _legacy_result_code(raw)  # a v2.0 success given only per file (fileInfo, picInfo): 0
        if failed is not None and not error_code:
            # The top level says 0 (or nothing): the code and message published are the failed sub-task's.
            legacy = route is LEGACY
            code = failed.get("errCode") or failed.get("status") if legacy else failed.get("ErrCode")
            error_code = _as_int(code) or error_code
            error_message = (failed.get("message") if legacy else failed.get("Message") or failed.get("ErrMsg")
                             ) or error_message
        status_text = str(status).upper() if status is not None else None
        # Tencent: ErrCode 0 is success, anything else a failure. An error (or a failed sub-task) is a
        # failure whatever the status says, a WAITING or PROCESSING one included; only an event with no
        # error and no final state reports no outcome.
        if (status_text in _FAILED or (error_code not in (None, 0))
                or error_ext not in (None, "", "SUCCESS") or failed is not None):
            succeeded = False
        elif status_text in _PENDING:
            succeeded = None
        elif error_code is not None or status_text in _DONE or error_ext is not None:
            succeeded = True
    file_ids = _all(payload, route.files)
    material_ids = _all(payload, route.materials)
    project_id = _opt_str(first(route.project))
    task_id = _opt_str(first(route.task))
    # The subject is the route's primary id; when the event left it empty, the next best id.
    subject_path = route.subject or ""
    subjects = (_all(document, (subject_path[1:],)) if subject_path.startswith("^")
                else _all(payload, (subject_path,)) if subject_path else ())
    subject = subjects[0] if subjects else next(
        (v for v in (task_id, *file_ids, *material_ids, project_id) if v), None)
    return Summary(
        subject=subject,
        subjects=subjects or ((subject,) if subject else ()),
        file_ids=file_ids,
        material_ids=material_ids,
        project_id=project_id,
        task_id=task_id,
        status=_opt_str(status),
        succeeded=succeeded,
        error_code=error_code,
        error_message=_opt_str(error_message),
        urls=output_urls(raw) if text is None or b"http" in text else (),
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- ranks (the order column)

RANK_FIRST, RANK_PROCESSING, RANK_FINAL, RANK_DELETED = 1, 2, 3, 9
WAITING_STATUSES = frozenset({"WAITING"})
FINAL_STATUSES = frozenset({"FINISH", "FINISHED", "SUCCESS", "SUCCEED", "SUCCEEDED", "FAIL", "FAILED", "ERROR",
                            "ABORTED", "CANCELED", "CANCELLED"})
# Every task Status the outcome and rank rules give a meaning to (scripts/drift.py reports the others).
KNOWN_STATUSES = frozenset(_PENDING | _FAILED | _DONE | WAITING_STATUSES | FINAL_STATUSES)


@dataclass(frozen=True)
class Position:
    """Where an event puts its subject: ``rank`` (compared by the ledger's conditional write) and whether the
    subject has reached its end."""

    rank: int
    final: bool


def position(order: Order, status: str | None) -> Position:
    """The rank of an event of this ``order`` with this status (the table above ``Order``)."""
    if order == "delete":
        return Position(RANK_DELETED, True)
    if order == "end":
        return Position(RANK_FINAL, True)
    if order in ("fact", "change") or status is None:
        return Position(RANK_FIRST, False)
    text = status.upper()
    if text in WAITING_STATUSES:
        return Position(RANK_FIRST, False)
    if text in FINAL_STATUSES:
        return Position(RANK_FINAL, True)
    return Position(RANK_PROCESSING, False)  # PROCESSING, and a status Tencent adds later: under way


# --------------------------------------------------------------------------- extra topics


@dataclass(frozen=True)
class TopicRule:
    """``ROUTES`` entry: events whose ``product.EventType`` matches ``pattern`` also go to ``topic_arn``."""

    pattern: str
    topic_arn: str

    def matches(self, product: str, event_type: str) -> bool:
        return fnmatch.fnmatchcase(f"{product}.{event_type}", self.pattern)


def parse_topic_rules(text: str) -> tuple[TopicRule, ...]:
    """Parse ``ROUTES``: ``pattern=arn`` pairs separated by ``;`` or newlines.

    Example: ``vod.Procedure*=arn:aws:sns:...:procedures; cme.Material.*=arn:aws:sns:...:media``.
    """
    rules = []
    for entry in re.split(r"[;\n]", text):
        entry = entry.strip()
        if not entry:
            continue
        pattern, sep, arn = (part.strip() for part in entry.partition("="))
        if not sep or not pattern or not arn.startswith("arn:"):
            raise ValueError(f"entry {entry!r} is not 'product.EventTypePattern=arn:aws:sns:...'")
        if pattern.split(".", 1)[0] not in (*PRODUCTS, "*"):
            raise ValueError(f"pattern {pattern!r} must start with vod., cme., mps. or *")
        rules.append(TopicRule(pattern, arn))
    return tuple(rules)


def parse_verify_patterns(text: str) -> tuple[str, ...]:
    """Parse ``VERIFY_EVENTS``: ``product.EventType`` globs separated by ``;``, ``,`` or newlines, like
    ``ROUTES``' patterns (``vod.*; mps.WorkflowTask``). Each must match a type Tencent's API can confirm;
    naming an unconfirmable type exactly is an error, never a silent pass (a glob confirms what it can)."""
    patterns = tuple(p.strip() for p in re.split(r"[;,\n]", text) if p.strip())
    for pattern in patterns:
        if pattern.split(".", 1)[0] not in (*PRODUCTS, "*"):
            raise ValueError(f"pattern {pattern!r} must start with vod., cme., mps. or *")
        matched = [r for r in TABLE if fnmatch.fnmatchcase(f"{r.product}.{r.event_type}", pattern)]
        if not any(confirmable(r.product, r.event_type) for r in matched):
            names = ", ".join(f"{r.product}.{r.event_type}" for r in matched) or "no known EventType"
            raise ValueError(f"pattern {pattern!r} matches {names}, which Tencent's API cannot confirm "
                             "(docs/security.md: Verifying events with Tencent lists the types that can)")
    return patterns


def verify_matches(patterns: tuple[str, ...], product: str, event_type: str) -> bool:
    """Whether an event of this type is to be confirmed: a pattern matches it and it can be."""
    name = f"{product}.{event_type}"
    return confirmable(product, event_type) and any(fnmatch.fnmatchcase(name, p) for p in patterns)
