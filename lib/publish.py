"""Notifications: one CloudEvent per event (lib/notification.py), sent to every configured target.

The targets share one small interface, ``NotificationTarget``: SNS here (the events topic plus the
``ROUTES`` topics, with message attributes for filter policies) and EventBridge (lib/eventbridge.py).
The notification's JSON is written once and every target sends those same bytes, so an EventBridge
rule's ``detail`` is exactly the message an SNS subscriber receives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lib.archive import ArchivedObject
from lib.intake import InboundEvent
from lib.notification import Delivery, Notification, StateChange
from lib.routing import TopicRule


@dataclass(frozen=True)
class Outgoing:
    """One event's notification, ready for any target."""

    event: InboundEvent
    notification: Notification
    body: str  # the notification's compact JSON, as every target sends it
    attributes: dict[str, dict[str, str]]  # SNS message attributes (filter policies)


class TargetUnavailable(Exception):
    """A target did not take the notification (AWS SDK errors are the other kind ``send`` raises)."""


class NotificationTarget(Protocol):
    """Somewhere notifications go. ``send`` returns once the target has the notification, or raises."""

    stage: str  # names the target in the Failures metric and in error messages

    def send(self, outgoing: Outgoing) -> None: ...


def cloud_event(event: InboundEvent, archived: ArchivedObject, delivery: Delivery, received_at: str,
                state_change: StateChange | None = None) -> Notification:
    """The contract's CloudEvent for ``event``, validated by the model it is published as (a few
    microseconds in pydantic-core: what goes out is always what the schema says)."""
    s = event.summary
    return Notification.model_validate({
        "id": event.event_id,
        "source": event.source,
        "type": f"tencentcloud.{event.product}.{event.event_type}",
        "subject": s.subject,
        "time": received_at,
        "data": {
            "product": event.product, "event_type": event.event_type, "event_id": event.event_id,
            "file_id": s.file_ids[0] if s.file_ids else None, "file_ids": s.file_ids,
            "material_id": s.material_ids[0] if s.material_ids else None, "material_ids": s.material_ids,
            "project_id": s.project_id, "task_id": s.task_id, "status": s.status, "succeeded": s.succeeded,
            "error_code": s.error_code, "error_message": s.error_message, "urls": s.urls,
            "archive": {"bucket": archived.bucket, "key": archived.key}, "delivery": delivery,
            "received_at": received_at, "known_type": event.known, "legacy": event.legacy,
            "synthetic": event.synthetic, "verified": event.verified, "state_change": state_change,
            "recovered": delivery == "reconcile",
        },
    })


def message_attributes(event: InboundEvent, delivery: Delivery = "push",
                       state_change: StateChange | None = None) -> dict[str, dict[str, str]]:
    """SNS attributes for subscription filter policies (String values; unknown ones left out). At most 9 of
    SNS's 10."""
    attrs = {"product": event.product, "event_type": event.event_type}
    if event.summary.status is not None:
        attrs["status"] = event.summary.status
    if event.summary.succeeded is not None:
        attrs["succeeded"] = "true" if event.summary.succeeded else "false"
    if event.legacy:
        attrs["format"] = "legacy-v2"
    if event.synthetic:
        attrs["synthetic"] = "true"
    attrs["verified"] = "true" if event.verified else "false"
    if state_change is not None:
        attrs["state_change"] = state_change
    attrs["recovered"] = "true" if delivery == "reconcile" else "false"
    return {name: {"DataType": "String", "StringValue": value} for name, value in attrs.items()}


def to_json(notification: Notification) -> str:
    """Compact UTF-8 JSON in the model's field order (pydantic-core's serializer; big integers exact)."""
    return notification.model_dump_json()


def outgoing(event: InboundEvent, archived: ArchivedObject, delivery: Delivery, received_at: str,
             state_change: StateChange | None = None) -> Outgoing:
    notification = cloud_event(event, archived, delivery, received_at, state_change)
    return Outgoing(event, notification, to_json(notification), message_attributes(event, delivery, state_change))


class SnsTarget:
    """The events topic (when configured) and every ``ROUTES`` topic whose pattern matches the event."""

    stage = "publish"

    def __init__(self, topic_arn: str | None, routes: tuple[TopicRule, ...], client: Callable[[], Any]) -> None:
        self.topic_arn, self.routes, self.client = topic_arn, routes, client

    def topics(self, event: InboundEvent) -> list[str]:
        arns = [self.topic_arn] if self.topic_arn else []
        arns += [r.topic_arn for r in self.routes if r.matches(event.product, event.event_type)]
        return list(dict.fromkeys(arns))

    def send(self, outgoing: Outgoing) -> None:
        sns = self.client()
        for arn in self.topics(outgoing.event):
            sns.publish(TopicArn=arn, Message=outgoing.body, MessageAttributes=outgoing.attributes)
