"""Configuration fails loudly by name; the routing table only reads fields the models declare."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from lib.routing import LEGACY, TABLE, Route, parse_topic_rules
from lib.settings import ConfigError, Settings

BASE = {"ARCHIVE_BUCKET": "bucket", "EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t"}


@pytest.mark.parametrize(("env", "name"), [
    ({"EVENTS_TOPIC_ARN": BASE["EVENTS_TOPIC_ARN"]}, "ARCHIVE_BUCKET"),
    ({"ARCHIVE_BUCKET": "bucket"}, "EVENTS_TOPIC_ARN"),
    ({**BASE, "EVENTS_TOPIC_ARN": "not-an-arn"}, "EVENTS_TOPIC_ARN"),
    ({**BASE, "MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES"),
    ({**BASE, "MAX_BODY_BYTES": "0"}, "MAX_BODY_BYTES"),
    ({**BASE, "AUTH_MODE": "sometimes"}, "AUTH_MODE"),
    ({**BASE, "ROUTES": "vod.*"}, "ROUTES"),
    ({**BASE, "ROUTES": "live.*=arn:aws:sns:us-east-1:1:t"}, "ROUTES"),
    ({**BASE, "LEDGER_RETENTION_DAYS": "a week"}, "LEDGER_RETENTION_DAYS"),
    ({**BASE, "LEDGER_RETENTION_DAYS": "0"}, "LEDGER_RETENTION_DAYS"),
    ({**BASE, "LEDGER_RETENTION_DAYS": "36501"}, "LEDGER_RETENTION_DAYS"),
])
def test_bad_configuration_names_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_defaults_and_lists() -> None:
    s = Settings.from_env({**BASE, "VOD_SIGN_KEYS": " a, b ,", "ROUTES": "vod.Procedure*=arn:x:1;\ncme.*=arn:x:2"})
    assert (s.auth_mode, s.max_body_bytes, s.archive_prefix, s.idempotency_table) == ("required", 1_048_576, "", None)
    assert s.vod_sign_keys == ("a", "b")
    assert [(r.pattern, r.topic_arn) for r in s.routes] == [("vod.Procedure*", "arn:x:1"), ("cme.*", "arn:x:2")]


def test_topic_rule_globs() -> None:
    (rule,) = parse_topic_rules("cme.Material.*=arn:aws:sns:us-east-1:1:m")
    assert rule.matches("cme", "Material.Moved") and not rule.matches("cme", "Class.Moved")
    assert not rule.matches("vod", "Material.Moved")


def _field_type(model: type[BaseModel], name: str) -> Any:
    field = model.model_fields.get(name)
    assert field is not None, f"{model.__name__} declares no field {name!r}"
    return field.annotation


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes (or plain types) an annotation can hold: Optional, unions and lists opened."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    if origin is list:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def _check_path(model: type[BaseModel], path: str) -> None:
    current: list[Any] = [model]
    for name in path.replace("[]", "").split("."):
        models = [c for c in current if isinstance(c, type) and issubclass(c, BaseModel)]
        assert models, f"{path}: {name!r} is below a field that is not a model"
        current = [t for m in models for t in _unwrap(_field_type(m, name))]


@pytest.mark.parametrize("route", [*TABLE, LEGACY], ids=lambda r: f"{r.product}.{r.event_type}")
def test_every_summary_path_is_a_declared_field(route: Route) -> None:
    paths = [route.subject, route.task, route.project, route.status, route.error_code, route.error_message,
             route.error_ext, *route.files, *route.materials]
    for path in filter(None, paths):
        if not path.startswith("^"):  # "^": a field of the event itself (a live-stream TaskId), not of the payload
            _check_path(route.model, path)


def test_routes_are_unique_and_payload_keys_do_not_collide_within_a_product() -> None:
    keys = [(r.product, r.event_type) for r in TABLE]
    assert len(keys) == len(set(keys))
    for product in ("vod", "cme", "mps"):
        payloads = [k for r in TABLE if r.product == product and r.event_type != "ProcedureStateChanged"
                    for k in r.payload_keys]
        assert len(payloads) == len(set(payloads)), product


def test_events_folder_is_in_sync_with_the_samples() -> None:
    from scripts.build_events import planned, render

    for target, (product, sample) in planned().items():
        assert target.exists(), f"{target} missing: run python scripts/build_events.py"
        assert target.read_text(encoding="utf-8") == render(product, sample), f"{target} is stale"


def test_untyped_sub_task_fields_of_any_type_do_not_break_the_summary() -> None:
    """Found by the property tests: a sub-task Status that is a list raised TypeError (a 500)."""
    from lib.intake import parse_delivery

    body = json.dumps({"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {
        "TaskId": "t", "Status": "FINISH", "MediaProcessResultSet": [
            {"Type": "Transcode", "TranscodeTask": {"Status": ["FAIL"], "ErrCode": True}},
            {"Type": "Snapshot", "SnapshotTask": {"Status": "FAIL", "ErrCode": {"x": 1}, "Message": ["m"]}}]}})
    (event,) = parse_delivery(body.encode())
    assert event.summary.succeeded is False
    assert event.summary.error_message == "['m']"


@pytest.mark.parametrize(("env", "name"), [
    ({"VOD_SUB_APP_IDS": "1500000001,abc"}, "VOD_SUB_APP_IDS"),
    ({"VOD_API_ENDPOINT": "vod.tencentcloudapi.com"}, "VOD_API_ENDPOINT"),
    ({"PULL_WORKERS": "0"}, "PULL_WORKERS"),
])
def test_pull_settings_name_the_variable(env: dict[str, str], name: str) -> None:
    from lib.pull import PullSettings

    with pytest.raises(ConfigError, match=name):
        PullSettings.from_env(env)
    assert PullSettings.from_env({"VOD_SUB_APP_IDS": " 1, 2 ,"}).vod_sub_app_ids == (1, 2)


@pytest.mark.parametrize(("env", "name"), [
    ({"CMQ_QUEUE_NAME": "q", "CMQ_REGION": "gz"}, "CMQ_ENDPOINT"),
    ({"CMQ_ENDPOINT": "ftp://x", "CMQ_QUEUE_NAME": "q", "CMQ_REGION": "gz"}, "CMQ_ENDPOINT"),
    ({"CMQ_ENDPOINT": "https://x", "CMQ_QUEUE_NAME": "q", "CMQ_REGION": "gz", "CMQ_POLLING_WAIT_SECONDS": "31"},
     "CMQ_POLLING_WAIT_SECONDS"),
])
def test_cmq_settings_name_the_variable(env: dict[str, str], name: str) -> None:
    from lib.cmq import CmqSettings

    with pytest.raises(ConfigError, match=name):
        CmqSettings.from_env(env)


def test_missing_tencent_credentials_name_the_variables() -> None:
    from lib.pull import PullSettings

    with pytest.raises(ConfigError, match="TENCENTCLOUD_SECRET_ID"):
        PullSettings.from_env({}).tencent_credentials(0)


def test_archive_prefix_is_read_verbatim_and_other_values_stripped() -> None:
    s = Settings.from_env({**BASE, "ARCHIVE_PREFIX": " tenant-a/", "IDEMPOTENCY_TABLE": "  ", "AUTH_MODE": " off "})
    assert (s.archive_prefix, s.idempotency_table, s.auth_mode) == (" tenant-a/", None, "off")
