"""Every sample in events/ through handler.callback under moto: archived byte for byte, published once."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

import handler
from tests.conftest import EVENTS, Aws, LambdaContext, all_event_files, response_json

# Expected summaries of the published (real) samples, read off the payloads by hand.
# (subject, file_id, task_id, status, succeeded)
EXPECTED: dict[str, tuple[str | None, str | None, str | None, str | None, bool | None]] = {
    "vod/NewFileUpload.json": ("5285890784273533167", "5285890784273533167", None, None, None),
    "vod/ProcedureStateChanged.json": ("1256768367-Procedure-475b72xxxcb177t1", "5285890784246869930",
                                       "1256768367-Procedure-475b72xxxcb177t1", "FINISH", True),
    "vod/FileDeleted.json": ("24961954183381008", "24961954183381008", None, None, None),
    "vod/PullComplete.json": ("125676836723-Pull-f5ac8127b3b6b85cdc13f237c6005d8", "14508071098244959037",
                              "125676836723-Pull-f5ac8127b3b6b85cdc13f237c6005d8", "FINISH", True),
    "vod/EditMediaComplete.json": ("1256768367-EditMedia-f5ac8127b3b6b85cdc13f237c6005d8", "24961954183923290",
                                   "1256768367-EditMedia-f5ac8127b3b6b85cdc13f237c6005d8", "FINISH", True),
    # FileId is a JSON number above 2**53 in this published sample: it must survive as its exact digits.
    "vod/ComposeMediaComplete.json": ("1256768367-ComposeMedia-f5ac8127b3b6b85cdc13f237c6005d8",
                                      "5285485487985271490",
                                      "1256768367-ComposeMedia-f5ac8127b3b6b85cdc13f237c6005d8", "FINISH", True),
    "vod/ClipComplete.json": ("clipVideo-0a78cf44c4285026a4c", "14508071098244929440",
                              "clipVideo-0a78cf44c4285026a4c", None, True),
    "vod/TranscodeComplete.json": ("Transcode-f5ac8127b3b6b85cdc13f237c6005d8", "24961954183923290",
                                   "Transcode-f5ac8127b3b6b85cdc13f237c6005d8", None, True),
    "vod/WechatPublishComplete.json": ("Wechat-f5ac8127b3b6b85cdc13f237c6005d8", "24961954183381008",
                                       "Wechat-f5ac8127b3b6b85cdc13f237c6005d8", "FINISH", True),
    "vod/RestoreMediaComplete.json": ("24961954183381008", "24961954183381008", None, None, None),
    "vod/ReviewAudioVideoComplete.json": ("125xxxx-ReviewAudioVideo-07edbc78ba20563cdf2362cffbf4aa0ct",
                                          "387702130626135215",
                                          "125xxxx-ReviewAudioVideo-07edbc78ba20563cdf2362cffbf4aa0ct", "FINISH", True),
    # One AnimatedGraphics sub-task of this published MPS sample failed with 30010.
    "mps/WorkflowTask.json": ("245****654-WorkflowTask-f46dac7fe2436c47******d71946986t0", None,
                              "245****654-WorkflowTask-f46dac7fe2436c47******d71946986t0", "FINISH", False),
    "cme/Storage.NewFileCreated.json": ("60a75c1c30fcbe0001cc09d5", "5285890818667693851", None, None, None),
    "cme/Project.StreamConnect.StatusChanged.json": ("5285890818667693851", None, None, "Working", None),
    # The published Class.Created example carries its payload under MaterialImportedEvent (a doc bug):
    # routing follows EventType, so it is accepted with no ids rather than misread as an import.
    "cme/Class.Created.json": (None, None, None, None, None),
    "vod/legacy-v2/NewFileUpload.json": ("5285890784273533167", "5285890784273533167", None, None, None),
    "vod/legacy-v2/TranscodeComplete.json": ("Transcode-1edb7eb88a599d05abe451cfc541cfbd", "14508071098244931831",
                                             "Transcode-1edb7eb88a599d05abe451cfc541cfbd", "0", True),
}

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _rel(path: Path) -> str:
    return path.relative_to(EVENTS).as_posix()


@pytest.mark.parametrize("path", all_event_files(), ids=_rel)
def test_sample_is_archived_and_published_once(aws: Aws, context: LambdaContext, path: Path) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))
    body = event["body"].encode("utf-8")

    response = handler.callback(event, context)

    assert response["statusCode"] == 200, response["body"]
    assert response["headers"]["Content-Type"] == "application/json"
    result = response_json(response)
    assert result["ok"] is True and len(result["results"]) == 1
    entry = result["results"][0]
    assert entry["duplicate"] is False
    assert entry["product"] == event["pathParameters"]["product"]

    objects = aws.objects()
    assert len(objects) == 1
    (key, stored), = objects.items()
    assert stored == body
    event_id = entry["event_id"]
    assert re.fullmatch(r"[0-9a-f]{64}", event_id)
    assert key.startswith(f"{entry['product']}/{entry['event_type']}/") and key.endswith(f"/{event_id}.json")
    meta = aws.head(key)["Metadata"]
    assert meta["delivery"] == "push" and meta["product"] == entry["product"]
    assert meta["event-type"] == entry["event_type"] and TIMESTAMP.match(meta["received-at"])

    messages = aws.messages()
    assert len(messages) == 1
    ce = messages[0]["cloudevent"]
    assert ce["specversion"] == "1.0"
    assert ce["id"] == event_id
    assert ce["source"] == f"tencentcloud/{entry['product']}"
    assert ce["type"] == f"tencentcloud.{entry['product']}.{entry['event_type']}"
    assert ce["datacontenttype"] == "application/json"
    assert TIMESTAMP.match(ce["time"])
    data = ce["data"]
    assert data["event_id"] == event_id and data["product"] == entry["product"]
    assert data["archive"] == {"bucket": "mediahook-archive-test", "key": key}
    assert data["delivery"] == "push" and data["received_at"] == ce["time"] == meta["received-at"]
    for name in ("file_ids", "material_ids", "urls"):
        assert isinstance(data[name], list)
    assert data["file_id"] == (data["file_ids"][0] if data["file_ids"] else None)
    assert all(u.startswith(("http://", "https://")) for u in data["urls"])
    attributes = messages[0]["attributes"]
    assert attributes["product"] == entry["product"] and attributes["event_type"] == entry["event_type"]
    if data["succeeded"] is not None:
        assert attributes["succeeded"] == str(data["succeeded"]).lower()
    else:
        assert "succeeded" not in attributes

    expected = EXPECTED.get(_rel(path))
    if expected is not None:
        subject, file_id, task_id, status, succeeded = expected
        assert (ce["subject"], data["file_id"], data["task_id"], data["status"], data["succeeded"]) == (
            subject, file_id, task_id, status, succeeded)


def test_every_routed_type_has_a_sample() -> None:
    from lib.routing import TABLE

    files = {_rel(p) for p in all_event_files()}
    missing = [f"{r.product}/{r.event_type}.json" for r in TABLE if f"{r.product}/{r.event_type}.json" not in files]
    assert missing == []


def test_event_id_is_sha256_of_canonical_json_without_delivery_fields(aws: Aws, context: LambdaContext) -> None:
    document = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "1", "MediaBasicInfo": {"Name": "动物"}},
                "Sign": "abc", "T": 1, "EventHandle": "h"}
    from tests.conftest import http_event

    response = handler.callback(http_event(json.dumps(document)), context)
    logical = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "1", "MediaBasicInfo": {"Name": "动物"}}}
    canonical = json.dumps(logical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert response_json(response)["results"][0]["event_id"] == hashlib.sha256(canonical).hexdigest()
