"""Write ``asyncapi.json``: the notifications mediahook sends, described with AsyncAPI 3.0.

Three channels: the SNS events topic (with the message attributes that subscription filter policies
match), the EventBridge bus (the entry's source and detail-type, the CloudEvent as ``detail``) and a
forwarding destination, the user's own HTTP endpoint (the CloudEvent signed as Standard Webhooks signs). The
message's schema is generated from the pydantic model in lib/notification.py, the one the publisher
builds. ``python scripts/asyncapi.py``; a test keeps the file in sync and validates it with the AsyncAPI
project's own parser (@asyncapi/parser).
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET = ROOT / "asyncapi.json"

ATTRIBUTES = {
    "type": "object",
    "description": "SNS message attributes (String), for subscription filter policies. Absent when unknown.",
    "properties": {
        "product": {"type": "string", "enum": ["vod", "cme", "mps"]},
        "event_type": {"type": "string", "description": "Tencent's EventType (a live-stream NotificationType)"},
        "status": {"type": "string", "description": "Tencent's status, where the event has one"},
        "succeeded": {"type": "string", "enum": ["true", "false"],
                      "description": "present only where the event reports an outcome (data.succeeded)"},
        "format": {"type": "string", "enum": ["legacy-v2"], "description": "the pre-2019 VOD v2.0 format"},
        "verified": {"type": "string", "enum": ["true", "false"],
                     "description": "true: confirmed with Tencent's API before publishing (VERIFY_EVENTS)"},
        "synthetic": {"type": "string", "enum": ["true"],
                      "description": "a smoke check's event; filter with {\"synthetic\": [{\"exists\": false}]}"},
        "state_change": {"type": "string", "enum": ["advanced", "repeated", "stale"],
                         "description": "data.state_change, with a ledger (LEDGER_TABLE); filter with "
                                        "{\"state_change\": [\"advanced\"]} to see each subject move forward only"},
        "recovered": {"type": "string", "enum": ["true", "false"],
                      "description": "data.recovered: true for an event rebuilt by reconciliation"},
    },
    "required": ["product", "event_type", "verified", "recovered"],
}


WEBHOOK_HEADERS = {
    "type": "object",
    "description": "Standard Webhooks headers (lib/forward/signing.py): verify with the standardwebhooks "
                   "libraries and the destination's whsec_ secret; dedupe on webhook-id.",
    "properties": {
        "webhook-id": {"type": "string", "description": "the CloudEvent's id: the same on every attempt"},
        "webhook-timestamp": {"type": "string", "pattern": "^[0-9]+$",
                              "description": "seconds since the epoch, when the attempt was signed"},
        "webhook-signature": {"type": "string", "pattern": "^v1,[A-Za-z0-9+/]+={0,2}$",
                              "description": "v1,base64(HMAC-SHA256(key, id.timestamp.body))"},
    },
    "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
}


def _schemas() -> dict[str, Any]:
    from lib.notification import Notification

    schema = Notification.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {"Notification": schema, **definitions}


def build() -> dict[str, Any]:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    cloud_event = {"$ref": "#/components/schemas/Notification"}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "mediahook notifications",
            "version": version,
            "description": "One CloudEvents 1.0 notification per Tencent Cloud media event (VOD, CME, MPS), sent "
                           "after the event is archived in S3. The same JSON goes to the SNS topic and, where "
                           "configured, as the detail of an EventBridge event and to each forwarding destination. "
                           "Dedupe on the CloudEvent id.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "sns": {"host": "sns.{region}.amazonaws.com", "protocol": "sns",
                    "description": "Amazon SNS: the events topic (EVENTS_TOPIC_ARN) and the ROUTES topics",
                    "variables": {"region": {"default": "us-east-1"}}},
            "eventbridge": {"host": "events.{region}.amazonaws.com", "protocol": "https",
                            "description": "Amazon EventBridge: the bus EVENT_BUS_NAME names (PutEvents)",
                            "variables": {"region": {"default": "us-east-1"}}},
            "destination": {"host": "{host}", "protocol": "https",
                            "description": "A forwarding destination: the user's endpoint (forwardDestinations)",
                            "variables": {"host": {"description": "the destination URL's host"}}},
        },
        "channels": {
            "eventsTopic": {
                "address": "mediahook-{stage}-events",
                "title": "The events topic",
                "description": "Every notification, as the SNS message body (raw message delivery gives the "
                               "CloudEvent itself), with message attributes for filter policies.",
                "servers": [{"$ref": "#/servers/sns"}],
                "parameters": {"stage": {"description": "the deployment's stage"}},
                "messages": {"notification": {"$ref": "#/components/messages/TopicNotification"}},
            },
            "eventBus": {
                "address": "{bus}",
                "title": "The event bus",
                "description": "Every notification as an EventBridge event: source = the CloudEvent's source, "
                               "detail-type = its type, detail = the whole CloudEvent. Rules match "
                               "detail.data.succeeded, detail.data.event_type, ...",
                "servers": [{"$ref": "#/servers/eventbridge"}],
                "parameters": {"bus": {"description": "EVENT_BUS_NAME: mediahook-{stage} with eventBus=create"}},
                "messages": {"event": {"$ref": "#/components/messages/BusEvent"}},
            },
            "destination": {
                "address": "{path}",
                "title": "A forwarding destination",
                "description": "Each notification a destination's filter matches, POSTed to its URL by the forward "
                               "function (docs/forwarding.md): at least once, in order per resource, never an older "
                               "state after a newer one; 2xx acknowledges. Format cloudevents (this message); "
                               "format tencent posts Tencent's own body re-signed with the destination's key instead.",
                "servers": [{"$ref": "#/servers/destination"}],
                "parameters": {"path": {"description": "the destination URL's path"}},
                "messages": {"delivery": {"$ref": "#/components/messages/ForwardedNotification"}},
            },
        },
        "operations": {
            "publishNotification": {
                "action": "send", "channel": {"$ref": "#/channels/eventsTopic"},
                "summary": "Publish one notification per archived event",
                "messages": [{"$ref": "#/channels/eventsTopic/messages/notification"}],
            },
            "putEvent": {
                "action": "send", "channel": {"$ref": "#/channels/eventBus"},
                "summary": "Put one event per archived event on the bus (PutEvents, up to 10 per call)",
                "messages": [{"$ref": "#/channels/eventBus/messages/event"}],
            },
            "forwardNotification": {
                "action": "send", "channel": {"$ref": "#/channels/destination"},
                "summary": "POST one notification to a destination (retried with backoff, then dead-lettered)",
                "messages": [{"$ref": "#/channels/destination/messages/delivery"}],
            },
        },
        "components": {
            "messages": {
                "TopicNotification": {
                    "name": "notification", "title": "A CloudEvent on SNS", "contentType": "application/json",
                    "headers": ATTRIBUTES, "payload": cloud_event,
                },
                "ForwardedNotification": {
                    "name": "delivery", "title": "A CloudEvent POSTed to a destination, signed",
                    "contentType": "application/json", "headers": WEBHOOK_HEADERS, "payload": cloud_event,
                },
                "BusEvent": {
                    "name": "event", "title": "A CloudEvent as an EventBridge event", "contentType": "application/json",
                    "payload": {
                        "type": "object", "required": ["source", "detail-type", "detail"],
                        "properties": {
                            "source": {"type": "string", "enum": ["tencentcloud/vod", "tencentcloud/cme",
                                                                  "tencentcloud/mps"]},
                            "detail-type": {"type": "string", "description": "tencentcloud.{product}.{EventType}"},
                            "time": {"type": "string", "format": "date-time"},
                            "detail": cloud_event,
                        },
                    },
                },
            },
            "schemas": _schemas(),
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
