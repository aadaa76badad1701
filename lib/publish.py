"""Notifications: one CloudEvents 1.0 (structured JSON) message per event on SNS."""

from __future__ import annotations

import json
from typing import Any

import orjson

from lib.archive import ArchivedObject
from lib.intake import InboundEvent

SPEC_VERSION = "1.0"


def cloud_event(event: InboundEvent, archived: ArchivedObject, delivery: str, received_at: str) -> dict[str, Any]:
    """The contract's CloudEvent for ``event``; fields that do not apply are null (lists: [])."""
    s = event.summary
    data: dict[str, Any] = {
        "product": event.product,
        "event_type": event.event_type,
        "event_id": event.event_id,
        "file_id": s.file_ids[0] if s.file_ids else None,
        "file_ids": list(s.file_ids),
        "material_id": s.material_ids[0] if s.material_ids else None,
        "material_ids": list(s.material_ids),
        "project_id": s.project_id,
        "task_id": s.task_id,
        "status": s.status,
        "succeeded": s.succeeded,
        "error_code": s.error_code,
        "error_message": s.error_message,
        "urls": list(s.urls),
        "archive": {"bucket": archived.bucket, "key": archived.key},
        "delivery": delivery,
        "received_at": received_at,
        "known_type": event.known,
        "legacy": event.legacy,
        "synthetic": event.synthetic,
    }
    return {
        "specversion": SPEC_VERSION,
        "id": event.event_id,
        "source": event.source,
        "type": f"tencentcloud.{event.product}.{event.event_type}",
        "subject": s.subject,
        "time": received_at,
        "datacontenttype": "application/json",
        "data": data,
    }


def message_attributes(event: InboundEvent) -> dict[str, dict[str, str]]:
    """SNS attributes for subscription filter policies (String values; unknown ones left out)."""
    attrs = {"product": event.product, "event_type": event.event_type}
    if event.summary.status is not None:
        attrs["status"] = event.summary.status
    if event.summary.succeeded is not None:
        attrs["succeeded"] = "true" if event.summary.succeeded else "false"
    if event.legacy:
        attrs["format"] = "legacy-v2"
    if event.synthetic:
        attrs["synthetic"] = "true"
    return {name: {"DataType": "String", "StringValue": value} for name, value in attrs.items()}


def publish_event(sns: Any, topic_arns: list[str], message: dict[str, Any],
                  attributes: dict[str, dict[str, str]]) -> list[str]:
    """Publish to every topic; return the SNS message ids. Errors propagate (nothing is acked)."""
    try:
        body = orjson.dumps(message).decode("utf-8")  # compact UTF-8 JSON, five times faster than json
    except TypeError:  # an error code beyond 64 bits (any JSON integer can be one)
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return [
        sns.publish(TopicArn=arn, Message=body, MessageAttributes=attributes)["MessageId"]
        for arn in topic_arns
    ]
