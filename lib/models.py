"""Pydantic models of Tencent's event payloads (VOD, CME, MPS).

Only what mediahook reads is typed: ids, status, error codes, outputs and file metadata. Everything
else stays as received (``extra="allow"``), because the archive keeps the raw bytes anyway and
Tencent adds fields every few months. The quirks in Tencent's catalog shape the base config:

* ``FileId`` sometimes arrives as a JSON number above 2**53 -> ``coerce_numbers_to_str``;
* any field may be ``null`` -> every field is optional;
* dates such as ``"0000-00-00T00:00:00Z"`` -> dates are plain strings, never parsed.
"""

# No `from __future__ import annotations` here: pydantic would evaluate every annotation string again
# when it creates the classes at import, about a third of their cold-start cost (docs/performance.md).

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

# ``str | int`` where Tencent's own types disagree (RestoreMediaTask.Status is an int).
StrOrInt = str | int


class Payload(BaseModel):
    """Base for every Tencent struct: tolerant of nulls, numeric ids and unknown fields."""

    # defer_build: a model's validator is built on its first use, so a cold start builds only the
    # models of the event it serves, not all sixty.
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, populate_by_name=True, defer_build=True)


# --------------------------------------------------------------------------- shared structs


class MediaVideoStreamItem(Payload):
    Bitrate: int | None = None
    Height: int | None = None
    Width: int | None = None
    Codec: str | None = None
    Fps: int | None = None


class MediaAudioStreamItem(Payload):
    Bitrate: int | None = None
    SamplingRate: int | None = None
    Codec: str | None = None


class MediaMetaData(Payload):
    Size: int | None = None
    Container: str | None = None
    Bitrate: int | None = None
    Height: int | None = None
    Width: int | None = None
    Duration: float | None = None
    Rotate: int | None = None
    VideoStreamSet: list[MediaVideoStreamItem] | None = None
    AudioStreamSet: list[MediaAudioStreamItem] | None = None
    VideoDuration: float | None = None
    AudioDuration: float | None = None
    Md5: str | None = None


class BasicInfo(Payload):
    Name: str | None = None
    Description: str | None = None
    CreateTime: str | None = None
    UpdateTime: str | None = None
    ExpireTime: str | None = None
    ClassId: int | None = None
    ClassName: str | None = None
    ClassPath: str | None = None
    CoverUrl: str | None = None
    Type: str | None = None
    MediaUrl: str | None = None
    StorageRegion: str | None = None
    TagSet: list[str] | None = None
    Vid: str | None = None
    Status: str | None = None


class OutputFile(Payload):
    """The output file of an edit/compose/enhance task (``Output`` in many VOD structs)."""

    FileId: str | None = None
    FileType: str | None = None
    FileUrl: str | None = None
    MediaName: str | None = None


class InputFile(Payload):
    """The input of a task run on one VOD file (review, inspection, watermark extraction)."""

    FileId: str | None = None
    Definition: int | None = None


class OutputFiles(Payload):
    """Outputs of AIGC tasks: a list of generated files."""

    FileInfos: list[OutputFile] | None = None


class TaskFields(Payload):
    """The fields nearly every asynchronous task event shares."""

    TaskId: str | None = None
    Status: str | None = None
    ErrCode: int | None = None
    ErrCodeExt: str | None = None
    Message: str | None = None
    Progress: int | None = None
    SessionId: str | None = None
    SessionContext: str | None = None


# --------------------------------------------------------------------------- VOD payloads


class FileUploadTask(Payload):
    FileId: str | None = None
    MediaBasicInfo: BasicInfo | None = None
    ProcedureTaskId: str | None = None
    ReviewAudioVideoTaskId: str | None = None
    MetaData: MediaMetaData | None = None


class ProcedureTask(TaskFields):
    FileId: str | None = None
    FileName: str | None = None
    FileUrl: str | None = None
    MetaData: MediaMetaData | None = None
    MediaProcessResultSet: list[dict[str, object]] | None = None
    AiContentReviewResultSet: list[dict[str, object]] | None = None
    AiAnalysisResultSet: list[dict[str, object]] | None = None
    AiRecognitionResultSet: list[dict[str, object]] | None = None
    TasksPriority: int | None = None
    TasksNotifyMode: str | None = None
    Operator: str | None = None
    OperationType: str | None = None


class FileDeleteTask(Payload):
    FileIdSet: list[str] | None = None
    FileDeleteResultInfo: list[dict[str, object]] | None = None


class PullUploadTask(TaskFields):
    FileId: str | None = None
    FileUrl: str | None = None
    MediaBasicInfo: BasicInfo | None = None
    MetaData: MediaMetaData | None = None
    ProcedureTaskId: str | None = None
    ReviewAudioVideoTaskId: str | None = None


class EditMediaTask(TaskFields):
    Output: OutputFile | None = None
    MetaData: MediaMetaData | None = None
    ProcedureTaskId: str | None = None
    ReviewAudioVideoTaskId: str | None = None


class SplitMediaSegment(Payload):
    Output: OutputFile | None = None
    ProcedureTaskId: str | None = None
    ReviewAudioVideoTaskId: str | None = None


class SplitMediaTask(TaskFields):
    FileInfoSet: list[SplitMediaSegment] | None = None


class ComposeMediaTask(TaskFields):
    Output: OutputFile | None = None
    MetaData: MediaMetaData | None = None


class ClipFileInfo2017(Payload):
    ErrCode: int | None = None
    Message: str | None = None
    FileId: str | None = None
    FileUrl: str | None = None
    FileType: str | None = None


class ClipTask2017(Payload):
    TaskId: str | None = None
    SrcFileId: str | None = None
    FileInfo: ClipFileInfo2017 | None = None


class TranscodeTask2017(Payload):
    TaskId: str | None = None
    ErrCode: int | None = None
    Message: str | None = None
    FileId: str | None = None
    FileName: str | None = None
    Duration: float | None = None
    CoverUrl: str | None = None
    PlayInfoSet: list[dict[str, object]] | None = None


class CreateImageSpriteTask2017(Payload):
    TaskId: str | None = None
    ErrCode: int | None = None
    Message: str | None = None
    FileId: str | None = None
    Definition: int | None = None
    TotalCount: int | None = None
    ImageSpriteUrlSet: list[str] | None = None
    WebVttUrl: str | None = None


class ConcatTask2017(Payload):
    TaskId: str | None = None
    FileInfoSet: list[ClipFileInfo2017] | None = None


class SnapshotByTimeOffsetTask2017(Payload):
    TaskId: str | None = None
    FileId: str | None = None
    Definition: int | None = None
    SnapshotInfoSet: list[dict[str, object]] | None = None


class WechatPublishTask(TaskFields):
    FileId: str | None = None
    Definition: int | None = None
    SourceDefinition: int | None = None
    WechatStatus: str | None = None
    WechatVid: str | None = None
    WechatUrl: str | None = None


class WechatMiniProgramPublishTask(TaskFields):
    FileId: str | None = None
    SourceDefinition: int | None = None
    PublishResult: str | None = None


class OutputTask(TaskFields):
    """Tasks whose result is one new file under ``Output`` (watermark removal, remastering...)."""

    Output: OutputFile | None = None
    MetaData: MediaMetaData | None = None


class InputTask(TaskFields):
    """Tasks that examine one existing file named in ``Input`` (review, inspection, extraction)."""

    Input: InputFile | None = None
    MetaData: MediaMetaData | None = None


class RestoreMediaTask(Payload):
    FileId: str | None = None
    OriginalStorageClass: str | None = None
    TargetStorageClass: str | None = None
    RestoreTier: str | None = None
    RestoreDay: int | None = None
    Status: StrOrInt | None = None  # documented int (deprecated), unlike every other Status
    Message: str | None = None


class ReduceMediaBitrateTask(TaskFields):
    FileId: str | None = None
    FileName: str | None = None
    FileUrl: str | None = None
    MetaData: MediaMetaData | None = None
    MediaProcessResultSet: list[dict[str, object]] | None = None
    TasksNotifyMode: str | None = None


class DescribeFileAttributesTask(TaskFields):
    FileId: str | None = None


class MediaCastEvent(Payload):
    CastId: str | None = None
    Status: str | None = None


class PersistenceCompleteTask(Payload):
    FileId: str | None = None
    PersistenceSource: str | None = None


class ComplexAdaptiveDynamicStreamingTask(TaskFields):
    ComplexAdaptiveDynamicStreamingTaskResultSet: list[dict[str, object]] | None = None


class ProcessMediaByMPS(TaskFields):
    SubTaskSet: list[dict[str, object]] | None = None


class AigcTask(TaskFields):
    """AIGC image/video/scene tasks: generated files under ``Output.FileInfos``."""

    Output: OutputFiles | None = None


class ExtractBlindWatermarkTask(TaskFields):
    Type: str | None = None
    IsDetected: bool | None = None
    Result: str | None = None


class ProcessImageAsyncTask(Payload):
    """Documented only as the task's configuration; no ids or status are known."""


# --------------------------------------------------------------------------- CME payloads


class Entity(Payload):
    Type: str | None = None
    Id: str | None = None


class StorageNewFileCreatedEvent(Payload):
    FileId: str | None = None
    MaterialId: str | None = None
    Operator: str | None = None
    OperationType: str | None = None
    Owner: Entity | None = None
    ClassPath: str | None = None
    TaskId: str | None = None
    SourceContext: str | None = None


class ProjectStatusChangedEvent(Payload):
    """Stream-connect, switcher and media-cast projects all report ``ProjectId`` + ``Status``."""

    ProjectId: str | None = None
    Status: str | None = None


class ImportMediaInfo(Payload):
    FileId: str | None = None
    MaterialId: str | None = None


class MaterialImportedEvent(Payload):
    MediaInfoSet: list[ImportMediaInfo] | None = None
    Owner: Entity | None = None
    ClassPath: str | None = None

    @field_validator("MediaInfoSet", mode="before")
    @classmethod
    def _bare_material_ids(cls, value: Any) -> Any:
        """The published callback example lists bare MaterialIds where the SDK documents objects."""
        if isinstance(value, list):
            return [{"MaterialId": item} if isinstance(item, str) else item for item in value]
        return value


class MaterialAddedEvent(Payload):
    MaterialIdSet: list[str] | None = None
    Owner: Entity | None = None
    ClassPath: str | None = None


class MaterialMovedEvent(Payload):
    MaterialIdSet: list[str] | None = None
    SourceOwner: Entity | None = None
    SourceClassPath: str | None = None
    DestinationOwner: Entity | None = None
    DestinationClassPath: str | None = None


class MaterialModifiedEvent(Payload):
    MaterialId: str | None = None
    Name: str | None = None
    PresetTagIdSet: list[str] | None = None
    TagSet: list[str] | None = None


class MaterialDeletedEvent(Payload):
    MaterialIdSet: list[str] | None = None


class ClassCreatedEvent(Payload):
    Owner: Entity | None = None
    ClassPath: str | None = None


class ClassMovedEvent(Payload):
    SourceOwner: Entity | None = None
    SourceClassPathSet: list[str] | None = None
    DestinationOwner: Entity | None = None
    DestinationClassPath: str | None = None


class ClassDeletedEvent(Payload):
    Owner: Entity | None = None
    ClassPathSet: list[str] | None = None


class VideoEditProjectOutput(Payload):
    MaterialId: str | None = None
    VodFileId: str | None = None
    URL: str | None = None
    CoverURL: str | None = None
    MetaData: MediaMetaData | None = None


class VideoExportCompletedEvent(Payload):
    TaskId: str | None = None
    Status: str | None = None
    ErrCode: int | None = None
    ErrMsg: str | None = None  # CME says ErrMsg where VOD says Message
    Output: VideoEditProjectOutput | None = None


# --------------------------------------------------------------------------- MPS payloads


class MpsWorkflowTask(TaskFields):
    InputInfo: dict[str, object] | None = None
    MetaData: MediaMetaData | None = None
    MediaProcessResultSet: list[dict[str, object]] | None = None
    AiContentReviewResultSet: list[dict[str, object]] | None = None
    AiAnalysisResultSet: list[dict[str, object]] | None = None
    AiRecognitionResultSet: list[dict[str, object]] | None = None


class MpsEditMediaTask(TaskFields):
    Input: dict[str, object] | None = None
    Output: dict[str, object] | None = None


class MpsScheduleTask(TaskFields):
    InputInfo: dict[str, object] | None = None
    Activities: list[dict[str, object]] | None = None


class MpsBatchSubTaskResult(TaskFields):
    InputInfos: list[dict[str, object]] | None = None


# --------------------------------------------------------------------------- legacy VOD v2.0


class LegacyFileInfo(Payload):
    fileId: str | None = None
    fileUrl: str | None = None
    status: StrOrInt | None = None
    message: str | None = None


class LegacyData(Payload):
    """The ``data`` object of the pre-2019 callback format (``{"version": "4.0", ...}``)."""

    vodTaskId: str | None = None
    fileId: str | None = None
    srcFileId: str | None = None
    status: StrOrInt | None = None
    errCode: int | None = None
    message: str | None = None
    fileInfo: LegacyFileInfo | list[LegacyFileInfo] | None = None


# --------------------------------------------------------------------------- MPS live-stream processing


class LiveStreamNotification(Payload):
    """The top level of a live-stream notification: its ids sit beside the payload key, not inside it."""

    NotificationType: str | None = None
    TaskId: str | None = None
    SessionId: str | None = None
    SessionContext: str | None = None


class LiveStreamResultInfo(Payload):
    """A live-stream result (review, recognition, analysis, quality control, subtitles): its items stay as sent;
    the sub-results that report an outcome of their own are found by routing (lib/subresults.py)."""

    ResultSet: list[dict[str, object]] | None = None


class LiveStreamRecordResultInfo(Payload):
    RecordOver: int | None = None
    FileResults: list[dict[str, object]] | None = None


class LiveStreamProcessErrorInfo(Payload):
    """``ProcessEofInfo``: why the live task ended; a non-zero ``ErrCode`` is a failure."""

    ErrCode: int | None = None
    Message: str | None = None
