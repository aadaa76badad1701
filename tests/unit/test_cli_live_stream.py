"""The command line knows MPS live-stream notifications (``NotificationType``): ``mediahook send`` posts a bare
one to ``/callback/mps`` signed as MPS signs (``Sign = md5(Timestamp + NotifyKey)``), and ``mediahook schema``
types it by ``NotificationType``, the field that names it, not by ``EventType``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import lib.cli
from lib.auth import Secrets, Verifier
from lib.routing import TABLE
from tests.aws_server import ROOT
from tests.fakes.http import LocalHttpFake

NOTIFY_KEY = "live-test-notify-key"
LIVE_TYPES = sorted(route.event_type for route in TABLE if route.type_key == "NotificationType")
BARE_LIVE_SAMPLES = [ROOT / "tests/samples/mps_AiReviewResult.json",
                     *sorted((ROOT / "tests/samples/constructed").glob("mps_*Result.json")),
                     ROOT / "tests/samples/constructed/mps_ProcessEof.json"]


class _SigningCallback(LocalHttpFake):
    """A stand-in callback that answers as the real one would: 401 unless the MPS signature holds, 400 unless the
    body is read as one event of the product its path pins; each request's path and verdict is kept."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def respond(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        from lib.errors import DeliveryError, Unauthenticated
        from lib.intake import parse_delivery

        product = path.split("?")[0].rsplit("/", 1)[-1]
        try:
            Verifier(Secrets(mps_notify_keys=(NOTIFY_KEY,))).verify(product, [json.loads(body)], None, time.time())
            parse_delivery(body, pinned=product)
            status = 200
        except Unauthenticated:
            status = 401
        except DeliveryError:
            status = 400
        self.seen.append((path, status))
        return status, {}


@pytest.fixture
def callback() -> Iterator[_SigningCallback]:
    fake = _SigningCallback().start()
    try:
        yield fake
    finally:
        fake.stop()


def test_the_samples_cover_every_live_stream_type() -> None:
    types = {json.loads(path.read_text(encoding="utf-8"))["NotificationType"] for path in BARE_LIVE_SAMPLES}
    assert types == set(LIVE_TYPES)


def test_send_posts_a_live_stream_notification_to_mps_signed_as_mps_signs(
        callback: _SigningCallback, capsys: pytest.CaptureFixture[str]) -> None:
    code = lib.cli.main(["send", *map(str, BARE_LIVE_SAMPLES), "--url", f"{callback.base_url}/callback",
                         "--notify-key", NOTIFY_KEY])
    out = capsys.readouterr().out
    assert code == 0, out
    assert callback.seen == [("/callback/mps", 200)] * len(BARE_LIVE_SAMPLES)


def test_a_live_stream_notification_is_not_signed_with_a_vod_key(callback: _SigningCallback,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = lib.cli.main(["send", str(BARE_LIVE_SAMPLES[0]), "--url", f"{callback.base_url}/callback",
                         "--sign-key", "a-vod-key"])
    capsys.readouterr()
    assert code == 1 and callback.seen == [("/callback/mps", 401)]


def test_schema_types_a_live_stream_notification_by_notification_type(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lib.cli.main(["schema", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    for path in BARE_LIVE_SAMPLES:
        sample = json.loads(path.read_text(encoding="utf-8"))
        schema = json.loads((tmp_path / f"mps.{sample['NotificationType']}.schema.json").read_text(encoding="utf-8"))
        assert schema["required"] == ["NotificationType"] and "EventType" not in schema["properties"]
        jsonschema.validate(sample, schema)  # Tencent's own shape is what the schema describes
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**sample, "TaskId": 7}, schema)  # its top level is typed too
    compose = json.loads((tmp_path / "vod.ComposeMediaComplete.schema.json").read_text(encoding="utf-8"))
    assert compose["required"] == ["EventType"]
