"""The notification mediahook publishes for every event: one CloudEvents 1.0 document, this model.

The publisher builds it with these classes (lib/publish.py), ``asyncapi.json`` describes it from their
JSON Schema (scripts/asyncapi.py), and consumers parse it with them::

    from lib.notification import Notification
    note = Notification.model_validate_json(sqs_record["body"])   # SNS raw delivery, or
    note = Notification.model_validate(eventbridge_event["detail"])
    if note.data.succeeded is False: ...

Fields that do not apply are null (lists: empty). Unknown fields are ignored, so a consumer keeps
working when a later version adds one (additions are listed in the changelog, docs/changelog.md).
"""

# No `from __future__ import annotations` here: pydantic would evaluate every annotation string again
# when it creates the classes at import, about a third of their cold-start cost (docs/performance.md).

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Product = Literal["vod", "cme", "mps"]
Delivery = Literal["push", "pull", "queue", "reconcile"]
# What the event did to its subject's latest state, as the ledger decided it (lib/ledger.py).
StateChange = Literal["advanced", "repeated", "stale"]
Source = Literal["tencentcloud/vod", "tencentcloud/cme", "tencentcloud/mps"]


class ArchivedAt(BaseModel):
    """Where the event's own bytes are: the claim check for anything the notification leaves out."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str


class NotificationData(BaseModel):
    """The CloudEvent's ``data``: what happened, read off the event by the routing table."""

    model_config = ConfigDict(frozen=True)

    product: Product
    event_type: str = Field(description=(
        "Tencent's EventType, e.g. ProcedureStateChanged, Material.Imported (an MPS live-stream notification's "
        "NotificationType, e.g. ProcessEof)"))
    event_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the event's canonical JSON")
    file_id: str | None = None
    file_ids: list[str] = []
    material_id: str | None = None
    material_ids: list[str] = []
    project_id: str | None = None
    task_id: str | None = None
    status: str | None = Field(default=None, description="Tencent's status as sent: FINISH, PROCESSING, ...")
    succeeded: bool | None = Field(default=None, description=(
        "false on any non-zero error code, ErrCodeExt or failed sub-task anywhere in the payload (a result "
        "list's item, a single-object result, a ScheduleTask activity, a batch sub-task, a v2.0 status), whatever "
        "the status; true on success; null only when the event reports no outcome and no error"))
    error_code: int | None = None
    error_message: str | None = None
    urls: list[str] = Field(default=[], description="every http(s) output, cover or image URL (at most 200)")
    archive: ArchivedAt
    delivery: Delivery
    received_at: str = Field(description="UTC receipt time, RFC 3339 with milliseconds")
    known_type: bool = Field(default=True, description="false: an EventType mediahook has no route for")
    legacy: bool = Field(default=False, description="true: the pre-2019 VOD v2.0 callback format")
    synthetic: bool = Field(default=False, description="true: a smoke check's event (mediahook smoke)")
    verified: bool = Field(default=False, description=(
        "true: confirmed with Tencent's API before publishing (VERIFY_EVENTS); false: no check ran"))
    state_change: StateChange | None = Field(default=None, description=(
        "what the event did to its subject's latest state (LEDGER_TABLE): advanced (moved it forward; a "
        "resource's first event included), repeated (the same rank as the latest state: a re-sent event), stale "
        "(behind it: PROCESSING after FINISH, anything but a deletion after the deletion); null without a ledger. "
        "Nothing is dropped for being stale or repeated: filter on it"))
    recovered: bool = Field(default=False, description=(
        "true: rebuilt from Tencent's API by reconciliation (delivery reconcile), not delivered by Tencent"))


class Notification(BaseModel):
    """A CloudEvents 1.0 structured-mode event (https://cloudevents.io)."""

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="the event_id: the same event always has the same id; dedupe on it")
    source: Source
    type: str = Field(pattern=r"^tencentcloud\.(vod|cme|mps)\..+$",
                      description="tencentcloud.{product}.{EventType}")
    subject: str | None = Field(default=None, description="the primary resource id (FileId, TaskId, ...)")
    time: str = Field(description="UTC receipt time, RFC 3339")
    datacontenttype: Literal["application/json"] = "application/json"
    data: NotificationData
