"""VERIFY_EVENTS: push events confirmed with Tencent's VOD and MPS APIs (local fakes that verify TC3)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import handler
from lib import verify
from lib.cli import sign_body
from lib.settings import get_settings
from tests.conftest import ROOT, Aws, LambdaContext, http_event, load_event, response_json
from tests.fakes.vod_api import FakeCmeApi, FakeMpsApi, FakeVodApi

VOD_KEY = "verifykey"
PROCEDURE = json.loads(load_event("vod/ProcedureStateChanged.json")["body"])
WORKFLOW = json.loads(load_event("mps/WorkflowTask.json")["body"])
UPLOAD = json.loads(load_event("vod/NewFileUpload.json")["body"])
DELETED = json.loads(load_event("vod/FileDeleted.json")["body"])


@pytest.fixture
def tencent(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeVodApi, FakeMpsApi]]:
    vod, mps = FakeVodApi().start(), FakeMpsApi().start()
    for name, value in {"VERIFY_EVENTS": "vod.*; mps.WorkflowTask", "VOD_API_ENDPOINT": vod.url,
                        "MPS_API_ENDPOINT": mps.url, "TENCENTCLOUD_SECRET_ID": vod.secret_id,
                        "TENCENTCLOUD_SECRET_KEY": vod.secret_key, "VERIFY_RETRY_SECONDS": "0,0",
                        "AUTH_MODE": "required", "VOD_SIGN_KEYS": VOD_KEY, "CALLBACK_TOKENS": "t0ken"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    verify.default_verifier.cache_clear()
    yield vod, mps
    verify.default_verifier.cache_clear()
    vod.stop()
    mps.stop()


def _procedure_task(event: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    task = copy.deepcopy(event["ProcedureStateChangeEvent"])
    return {"TaskType": "Procedure", "Status": status or task["Status"], "ProcedureTask": task}


def _post(context: LambdaContext, body: str, product: str = "vod", query: str = "") -> tuple[int, dict[str, Any],
                                                                                            dict[str, Any]]:
    if product != "vod":  # MPS by URL here without a NotifyKey: the token authenticates it
        query = "&".join(q for q in (query, "token=t0ken") if q)
    response = handler.callback(http_event(body, path=f"/callback/{product}", query=query), context)
    return response["statusCode"], response_json(response), response["headers"]


def _signed(event: dict[str, Any]) -> str:
    return sign_body(json.dumps(event, ensure_ascii=False), "vod", vod_key=VOD_KEY)


def _archived(aws: Aws, prefix: str) -> dict[str, bytes]:
    return {k: v for k, v in aws.objects().items() if k.startswith(prefix)}


def test_a_genuine_event_is_confirmed_and_published_as_verified(aws: Aws, context: LambdaContext,
                                                                tencent: tuple[FakeVodApi, FakeMpsApi]) -> None:
    vod, _ = tencent
    vod.add_task(_procedure_task(PROCEDURE))
    status, body, _ = _post(context, _signed(PROCEDURE))
    assert status == 200, body
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["verified"] is True and message["attributes"]["verified"] == "true"
    (call,) = [c for c in vod.calls if c.action == "DescribeTaskDetail"]
    assert call.params == {"TaskId": PROCEDURE["ProcedureStateChangeEvent"]["TaskId"]}  # TC3 checked by the fake


@pytest.mark.parametrize("forgery", ["output_url", "error_code", "task_id"])
def test_a_forged_body_under_a_captured_signature_is_rejected_and_kept(
        aws: Aws, context: LambdaContext, tencent: tuple[FakeVodApi, FakeMpsApi],
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, forgery: str) -> None:
    vod, _ = tencent
    vod.add_task(_procedure_task(PROCEDURE))
    captured = json.loads(_signed(PROCEDURE))  # a genuine delivery's Sign and T, e.g. read off the archive
    forged = copy.deepcopy(captured)
    task = forged["ProcedureStateChangeEvent"]
    if forgery == "output_url":
        task["MediaProcessResultSet"][0]["TranscodeTask"]["Output"]["Url"] = "https://attacker.example/x.mp4"
    elif forgery == "error_code":
        task["ErrCode"], task["Message"] = 10000, "forged failure"
    else:
        task["TaskId"] = "1256768367-Procedure-forged000000000000000t0"
    body = json.dumps(forged, ensure_ascii=False)  # the same Sign and T: the signature still checks out

    status, answer, _ = _post(context, body)

    assert status == 401 and answer["error"]["code"] == "not_confirmed"
    assert answer["error"]["message"] == "the event is not confirmed by Tencent's API"  # no hint for a forger
    assert aws.messages() == []  # nothing published
    assert _archived(aws, "vod/ProcedureStateChanged/") == {}  # nothing archived as genuine
    ((key, kept),) = _archived(aws, "vod/_rejected/").items()
    assert kept == body.encode()  # the forged delivery, byte for byte: evidence
    assert aws.head(key)["Metadata"]["reason"]
    assert any(r.levelname == "WARNING" and "event not confirmed by Tencent" in r.getMessage() for r in caplog.records)
    assert '"NotConfirmed":[1.0]' in capsys.readouterr().out  # the metric


def test_an_unknown_task_is_rejected_after_the_bounded_retries(aws: Aws, context: LambdaContext,
                                                               tencent: tuple[FakeVodApi, FakeMpsApi]) -> None:
    vod, _ = tencent
    status, answer, _ = _post(context, _signed(PROCEDURE))
    assert status == 401 and answer["error"]["code"] == "not_confirmed"
    assert len([c for c in vod.calls if c.action == "DescribeTaskDetail"]) == 3  # the first ask and two more


def test_a_task_that_moved_on_still_confirms_the_earlier_state(aws: Aws, context: LambdaContext,
                                                               tencent: tuple[FakeVodApi, FakeMpsApi]) -> None:
    vod, _ = tencent
    vod.add_task(_procedure_task(PROCEDURE, status="FINISH"))
    earlier = copy.deepcopy(PROCEDURE)
    earlier["ProcedureStateChangeEvent"]["Status"] = "PROCESSING"
    earlier["ProcedureStateChangeEvent"]["MediaProcessResultSet"] = []  # no outputs yet
    assert _post(context, _signed(earlier))[0] == 200


def test_an_event_ahead_of_the_task_is_not_confirmed(aws: Aws, context: LambdaContext,
                                                     tencent: tuple[FakeVodApi, FakeMpsApi]) -> None:
    vod, _ = tencent
    vod.add_task(_procedure_task(PROCEDURE, status="PROCESSING"))
    assert _post(context, _signed(PROCEDURE))[0] == 401  # the event says FINISH


@pytest.mark.parametrize("failure", ["InternalError", "RequestLimitExceeded", "DROP"])
def test_tencent_down_is_a_503_and_a_later_retry_completes(aws: Aws, context: LambdaContext,
                                                           tencent: tuple[FakeVodApi, FakeMpsApi],
                                                           failure: str) -> None:
    vod, _ = tencent
    vod.add_task(_procedure_task(PROCEDURE))
    vod.fail_next["DescribeTaskDetail"] = failure
    body = _signed(PROCEDURE)
    status, answer, headers = _post(context, body)
    assert status == 503 and answer["error"]["code"] == "verification_unavailable"
    assert headers["Retry-After"] == "5"
    assert aws.objects() == {} and aws.messages() == []  # never a silent pass
    assert _post(context, body)[0] == 200  # Tencent retries the delivery
    assert len(aws.messages()) == 1


def test_types_outside_the_patterns_are_untouched(aws: Aws, context: LambdaContext,
                                                  tencent: tuple[FakeVodApi, FakeMpsApi],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    vod, _ = tencent
    monkeypatch.setenv("VERIFY_EVENTS", "vod.Procedure*")
    get_settings.cache_clear()
    assert _post(context, _signed(UPLOAD))[0] == 200
    assert vod.calls == []
    assert aws.messages()[0]["cloudevent"]["data"]["verified"] is False


def test_file_events_are_confirmed_with_describe_media_infos(aws: Aws, context: LambdaContext,
                                                             tencent: tuple[FakeVodApi, FakeMpsApi]) -> None:
    vod, _ = tencent
    file_id = UPLOAD["FileUploadEvent"]["FileId"]
    assert _post(context, _signed(UPLOAD))[0] == 401  # no such file
    vod.add_media(file_id)
    assert _post(context, _signed(UPLOAD))[0] == 200
    deleted = DELETED["FileDeleteEvent"]["FileIdSet"]
    vod.add_media(*deleted)
    assert _post(context, _signed(DELETED))[0] == 401  # the files still exist
    vod.delete_media(*deleted)
    assert _post(context, _signed(DELETED))[0] == 200


def test_the_sub_application_comes_from_the_url_or_the_configured_list(
        aws: Aws, context: LambdaContext, tencent: tuple[FakeVodApi, FakeMpsApi],
        monkeypatch: pytest.MonkeyPatch) -> None:
    vod, _ = tencent
    vod.add_task(_procedure_task(PROCEDURE), sub_app_id=1500000002)
    assert _post(context, _signed(PROCEDURE), query="subAppId=1500000002")[0] == 200
    assert [c.params.get("SubAppId") for c in vod.calls] == [1500000002]
    vod.calls.clear()
    monkeypatch.setenv("VOD_SUB_APP_IDS", "1500000001,1500000002")
    verify.default_verifier.cache_clear()
    again = copy.deepcopy(PROCEDURE)
    again["ProcedureStateChangeEvent"]["Message"] = "a retried copy"  # another event_id, the same task
    assert _post(context, _signed(again))[0] == 200
    assert [c.params.get("SubAppId") for c in vod.calls] == [1500000001, 1500000002]


def test_an_mps_workflow_is_confirmed_with_mps_describe_task_detail(aws: Aws, context: LambdaContext,
                                                                    tencent: tuple[FakeVodApi, FakeMpsApi]) -> None:
    _, mps = tencent
    task = copy.deepcopy(WORKFLOW["WorkflowTaskEvent"])
    mps.add_task({"TaskType": "WorkflowTask", "Status": task["Status"], "WorkflowTask": task})
    status, body, _ = _post(context, json.dumps(WORKFLOW, ensure_ascii=False), product="mps")
    assert status == 200, body
    assert [c.action for c in mps.calls] == ["DescribeTaskDetail"]


def test_a_task_tencent_shows_a_moment_later_is_confirmed(tencent: tuple[FakeVodApi, FakeMpsApi]) -> None:
    from lib.intake import parse_delivery

    vod, _ = tencent
    (event,) = parse_delivery(json.dumps(PROCEDURE).encode(), pinned="vod")
    verifier = verify.Verifier(verify.VerifySettings.from_env(
        {"VOD_API_ENDPOINT": vod.url, "TENCENTCLOUD_SECRET_ID": vod.secret_id,
         "TENCENTCLOUD_SECRET_KEY": vod.secret_key, "VERIFY_RETRY_SECONDS": "0.5"}),
        sleep=lambda seconds: vod.add_task(_procedure_task(PROCEDURE)))  # indexed while we wait
    verifier.confirm(event)
    assert len([c for c in vod.calls if c.action == "DescribeTaskDetail"]) == 2


def test_without_verify_events_the_tencent_sdk_is_never_imported() -> None:
    code = """
import json, sys
sys.path.insert(0, ".")
import handler
from tests.conftest import http_event, load_event, LambdaContext
from unittest import mock
from lib import aws
with mock.patch.object(aws, "client"):
    handler.callback(load_event("vod/NewFileUpload.json"), LambdaContext())
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("tencentcloud", "lib.verify", "lib.tencent")))))
"""
    env = {"ARCHIVE_BUCKET": "verify-bucket", "EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
           "AUTH_MODE": "off", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


# --------------------------------------------------------------------------- CME

EXPORT = json.loads(load_event("cme/Task.VideoExportCompleted.json")["body"])


@pytest.fixture
def cme(tencent: tuple[FakeVodApi, FakeMpsApi], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCmeApi]:
    fake = FakeCmeApi().start()
    monkeypatch.setenv("VERIFY_EVENTS", "cme.*")
    monkeypatch.setenv("CME_PLATFORM", fake.platform)
    monkeypatch.setenv("CME_API_ENDPOINT", fake.url)
    get_settings.cache_clear()
    verify.default_verifier.cache_clear()
    yield fake
    fake.stop()


def _cme(context: LambdaContext, event: dict[str, Any]) -> int:
    return _post(context, json.dumps(event, ensure_ascii=False), product="cme")[0]


def test_a_cme_export_is_confirmed_and_a_forged_output_is_not(aws: Aws, context: LambdaContext,
                                                              cme: FakeCmeApi) -> None:
    task = EXPORT["VideoExportCompletedEvent"]
    cme.add_task({"TaskType": "VIDEO_EDIT_PROJECT_EXPORT", "Status": "SUCCESS", "ErrCode": 0, "ErrMsg": "SUCCESS",
                  "VideoEditProjectOutput": copy.deepcopy(task["Output"])}, task_id=task["TaskId"])
    assert _cme(context, EXPORT) == 200
    assert all(c.params["Platform"] == cme.platform for c in cme.calls)
    forged = copy.deepcopy(EXPORT)
    forged["VideoExportCompletedEvent"]["Output"]["URL"] = "https://attacker.example/export.mp4"
    assert _cme(context, forged) == 401
    assert len(_archived(aws, "cme/_rejected/")) == 1


def test_cme_materials_projects_and_classes_are_asked_about(aws: Aws, context: LambdaContext,
                                                            cme: FakeCmeApi) -> None:
    imported = json.loads(load_event("cme/Material.Imported.json")["body"])
    assert _cme(context, imported) == 401  # no such materials
    cme.materials.update(imported["MaterialImportedEvent"]["MediaInfoSet"])
    assert _cme(context, imported) == 200
    deleted = {"EventType": "Material.Deleted", "MaterialDeletedEvent": {"MaterialIdSet": ["9dd28590d08987ujd795d"]}}
    assert _cme(context, deleted) == 401  # it still exists
    cme.materials.discard("9dd28590d08987ujd795d")
    assert _cme(context, deleted) == 200
    project = json.loads(load_event("cme/Project.StreamConnect.StatusChanged.json")["body"])
    assert _cme(context, project) == 401
    cme.projects.add(project["ProjectStreamConnectStatusChangedEvent"]["ProjectId"])
    assert _cme(context, project) == 200
    created = {"EventType": "Class.Created", "ClassCreatedEvent": {"Owner": {"Type": "PERSON", "Id": "u1"},
                                                                   "ClassPath": "/媒体/新"}}
    assert _cme(context, created) == 401
    cme.classes[("PERSON", "u1")] = {"/媒体/新"}
    assert _cme(context, created) == 200
    assert {c.action for c in cme.calls} == {"DescribeMaterials", "DescribeProjects", "DescribeClass"}


def test_cme_verification_without_a_platform_is_a_start_up_error() -> None:
    from lib.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match="CME_PLATFORM"):
        Settings.from_env({"ARCHIVE_BUCKET": "verify-bucket", "EVENTS_TOPIC_ARN": "arn:aws:sns:x",
                           "VERIFY_EVENTS": "cme.Material.*"})


def test_a_sub_app_id_that_is_not_a_number_is_not_confirmed(aws: Aws, context: LambdaContext,
                                                             tencent: tuple[FakeVodApi, FakeMpsApi]) -> None:
    vod, _ = tencent
    vod.add_task(_procedure_task(PROCEDURE))
    assert _post(context, _signed(PROCEDURE), query="subAppId=abc")[0] == 401
    assert [c for c in vod.calls if c.action == "DescribeTaskDetail"] == []  # not even asked
    assert aws.messages() == []
