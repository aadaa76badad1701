"""A forged or expired delivery changes nothing; secrets never reach a log line."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

import handler
from lib import api
from lib.settings import get_settings
from tests.conftest import Aws, LambdaContext, http_event, load_event, response_json

VOD_KEY = "vodCallbackKey1"
MPS_KEY = "mpsNotifyKey1"
TOKEN = "s3cr3t-callback-token-value"


@pytest.fixture
def signed(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    monkeypatch.setenv("AUTH_MODE", "required")
    monkeypatch.setenv("VOD_SIGN_KEYS", f"oldKey0, {VOD_KEY}")
    monkeypatch.setenv("MPS_NOTIFY_KEYS", MPS_KEY)
    monkeypatch.setenv("CALLBACK_TOKENS", TOKEN)
    get_settings.cache_clear()
    return aws


def _vod_body(t: int, key: str = VOD_KEY) -> str:
    document = json.loads(load_event("vod/NewFileUpload.json")["body"])
    document["T"] = t
    document["Sign"] = hashlib.md5(f"{key}{t}".encode()).hexdigest()
    return json.dumps(document, ensure_ascii=False)


def _status(context: LambdaContext, body: str, **kwargs: object) -> tuple[int, dict[str, object]]:
    response = handler.callback(http_event(body, **kwargs), context)  # type: ignore[arg-type]
    return response["statusCode"], response_json(response)


def test_signed_vod_delivery_is_accepted(signed: Aws, context: LambdaContext) -> None:
    status, _ = _status(context, _vod_body(int(time.time()) + 600))
    assert status == 200
    assert len(signed.objects()) == 1 and len(signed.messages()) == 1


def test_signed_mps_delivery_is_accepted(signed: Aws, context: LambdaContext) -> None:
    document = json.loads(load_event("mps/WorkflowTask.json")["body"])
    ts = int(time.time()) + 600
    document |= {"Timestamp": ts, "Sign": hashlib.md5(f"{ts}{MPS_KEY}".encode()).hexdigest()}
    status, _ = _status(context, json.dumps(document), path="/callback/mps")
    assert status == 200


@pytest.mark.parametrize(("body_of", "reason"), [
    (lambda: _vod_body(int(time.time()) + 600, key="attackerKey"), "bad_signature"),
    (lambda: _vod_body(int(time.time()) - 3600), "expired"),
    (lambda: load_event("vod/NewFileUpload.json")["body"], "missing_signature"),
], ids=["forged", "expired", "unsigned"])
def test_forged_expired_or_unsigned_is_401_and_writes_nothing(
        signed: Aws, context: LambdaContext, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
        body_of: object, reason: str) -> None:
    status, body = _status(context, body_of())  # type: ignore[operator]
    assert status == 401
    assert body["error"] == {"code": "unauthenticated",
                             "message": "the delivery is not signed with a configured key or token", "details": []}
    assert signed.objects() == {} and signed.messages() == []
    out = capfd.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert any("Rejections" in m and m.get("reason") == reason for m in metrics)
    assert VOD_KEY not in out + caplog.text


def test_cme_needs_the_token(signed: Aws, context: LambdaContext) -> None:
    body = load_event("cme/Material.Imported.json")["body"]
    assert _status(context, body)[0] == 401
    assert _status(context, body, query="token=wrong")[0] == 401
    assert _status(context, body, query=f"token={TOKEN}")[0] == 200


def test_a_bad_signature_is_refused_before_the_body_is_judged(signed: Aws, context: LambdaContext) -> None:
    body = json.dumps({"EventType": "PullComplete", "PullCompleteEvent": {"ErrCode": "not a number"}})
    assert _status(context, body)[0] == 401


def test_token_never_appears_in_logs(signed: Aws, context: LambdaContext, capfd: pytest.CaptureFixture[str],
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    body = load_event("cme/Material.Imported.json")["body"]
    _status(context, body, query=f"token={TOKEN}")
    _status(context, body, query="token=wrong-token-value")
    out = capfd.readouterr()
    logged = out.out + out.err + caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert caplog.records  # the deliveries were logged...
    assert TOKEN not in logged  # ...without the token
    assert "wrong-token-value" not in logged


def test_required_mode_with_nothing_configured_refuses_and_warns_once(
        aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AUTH_MODE", "required")
    monkeypatch.setattr(api, "_warned_unconfigured", False)
    get_settings.cache_clear()
    body = load_event("vod/NewFileUpload.json")["body"]
    assert _status(context, body)[0] == 401
    assert _status(context, body)[0] == 401
    warnings = [r for r in caplog.records if "no key or token is configured" in r.getMessage()]
    assert len(warnings) == 1
    assert aws.objects() == {}


def test_rotated_key_from_ssm_takes_effect_without_a_deploy(aws: Aws, context: LambdaContext,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/mediahook/test/vod-keys", Value="firstKey", Type="SecureString")
    monkeypatch.setenv("AUTH_MODE", "required")
    monkeypatch.setenv("VOD_SIGN_KEYS_PARAM", "/mediahook/test/vod-keys")
    monkeypatch.setenv("SECRETS_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    t = int(time.time()) + 600
    assert _status(context, _vod_body(t, key="firstKey"))[0] == 200
    ssm.put_parameter(Name="/mediahook/test/vod-keys", Value="secondKey", Type="SecureString", Overwrite=True)
    assert _status(context, _vod_body(t + 1, key="firstKey"))[0] == 401
    assert _status(context, _vod_body(t + 2, key="secondKey"))[0] == 200


def test_signature_on_the_batch_envelope_covers_its_events(signed: Aws, context: LambdaContext) -> None:
    workflow = json.loads(load_event("mps/WorkflowTask.json")["body"])
    ts = int(time.time()) + 600
    batch = {"EventSet": [workflow], "Timestamp": ts, "Sign": hashlib.md5(f"{ts}{MPS_KEY}".encode()).hexdigest()}
    assert _status(context, json.dumps(batch), path="/callback/mps")[0] == 200


def test_the_sample_events_carry_the_local_stage_token(signed: Aws, context: LambdaContext,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_TOKENS", "local-demo-token")
    get_settings.cache_clear()
    assert handler.callback(load_event("cme/Class.Created.json"), context)["statusCode"] == 200


def test_bodies_are_not_logged_at_info(signed: Aws, context: LambdaContext, capfd: pytest.CaptureFixture[str],
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    marker = "do-not-log-this-payload-7f3a"
    document = json.loads(load_event("cme/Material.Imported.json")["body"])
    document["MaterialImportedEvent"]["ClassPath"] = marker
    assert _status(context, json.dumps(document), query=f"token={TOKEN}")[0] == 200
    bad = json.dumps({"EventType": "PullComplete", "PullCompleteEvent": {"ErrCode": marker}})
    assert _status(context, bad, query=f"token={TOKEN}")[0] == 400
    out = capfd.readouterr()
    assert caplog.records
    assert marker not in out.out + out.err + caplog.text
