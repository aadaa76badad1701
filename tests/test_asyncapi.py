"""asyncapi.json: in sync with the notification model, valid for the AsyncAPI parser, true to what is sent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import handler
from lib.notification import Notification
from lib.publish import to_json
from tests.conftest import ROOT, Aws, LambdaContext, all_event_files

VALIDATOR = ROOT / "scripts" / "validate_asyncapi.js"


def _validate(path: Path) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(["node", str(VALIDATOR), str(path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    return result.returncode, json.loads(result.stdout)


def test_asyncapi_json_is_in_sync_with_the_model() -> None:
    from scripts.asyncapi import TARGET, render

    assert TARGET.read_text(encoding="utf-8") == render(), "asyncapi.json is stale: run python scripts/asyncapi.py"


def test_the_asyncapi_parser_accepts_it_and_sees_both_channels() -> None:
    code, report = _validate(ROOT / "asyncapi.json")
    assert code == 0, report
    assert report["errors"] == [] and report["warnings"] == []
    assert report["channels"] == ["eventsTopic", "eventBus", "destination"]
    assert report["operations"] == ["send publishNotification", "send putEvent", "send forwardNotification"]


def test_the_parser_refuses_a_broken_document(tmp_path: Path) -> None:
    document = json.loads((ROOT / "asyncapi.json").read_text())
    document["channels"]["eventsTopic"]["messages"]["notification"]["$ref"] = "#/components/messages/Nowhere"
    (tmp_path / "broken.json").write_text(json.dumps(document))
    code, report = _validate(tmp_path / "broken.json")
    assert code == 1 and report["errors"]


def test_every_sample_notification_matches_the_schema_and_the_model(aws: Aws, context: LambdaContext) -> None:
    document = json.loads((ROOT / "asyncapi.json").read_text())
    schema = {**document["components"]["schemas"]["Notification"], "components": document["components"]}
    attributes = document["components"]["messages"]["TopicNotification"]["headers"]
    for path in all_event_files():
        assert handler.callback(json.loads(path.read_text(encoding="utf-8")), context)["statusCode"] == 200
    messages = aws.messages()
    assert len(messages) >= 60
    for message in messages:
        body = message["cloudevent"]
        jsonschema.validate(body, schema)
        jsonschema.validate(message["attributes"], attributes)
        parsed = Notification.model_validate(body)  # what a consumer does
        assert json.loads(to_json(parsed)) == body  # and what the publisher built, field for field


@pytest.mark.parametrize("bad", [{"data": {"event_id": "not-a-sha"}}, {"source": "tencentcloud/other"},
                                 {"type": "vod.NewFileUpload"}])
def test_the_model_refuses_what_mediahook_never_sends(bad: dict[str, Any]) -> None:
    good = {"specversion": "1.0", "id": "a" * 64, "source": "tencentcloud/vod", "type": "tencentcloud.vod.X",
            "time": "2026-11-23T00:00:00.000Z", "data": {
                "product": "vod", "event_type": "X", "event_id": "a" * 64,
                "archive": {"bucket": "b", "key": "k"}, "delivery": "push", "received_at": "2026-11-23T00:00:00.000Z"}}
    Notification.model_validate(good)
    broken = {**good, **{k: v for k, v in bad.items() if k != "data"}}
    if "data" in bad:
        broken["data"] = {**good["data"], **bad["data"]}
    with pytest.raises(ValueError, match="validation error"):
        Notification.model_validate(broken)


def test_the_forwarded_headers_are_what_a_destination_receives() -> None:
    from lib.forward.signing import standard_webhook_headers

    document = json.loads((ROOT / "asyncapi.json").read_text())
    headers = document["components"]["messages"]["ForwardedNotification"]["headers"]
    sent = standard_webhook_headers("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", "a" * 64, 1764720000, "{}")
    jsonschema.validate(sent, headers)
    assert set(sent) == set(headers["properties"]) == set(headers["required"])

