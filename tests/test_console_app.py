"""The console's pages driven as ASGI over a fake archive (no AWS, no browser): what a page says when the archive
holds bytes under an event's key that are not a readable event."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

import pytest

from lib.console.app import create_app
from lib.console.reads import Connection
from lib.console.security import Sessions
from tests.test_console_security import PORT, call

KEY = f"vod/NewFileUpload/2026/12/03/{'ab' * 32}.json"
BROKEN = b'{"EventType": "NewFileUpload", "FileUploadEvent": '  # cut short


class Archive:
    """An S3 client holding one object."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        assert Key == KEY
        return {"Body": io.BytesIO(self.body), "Metadata": {}}


def _console(monkeypatch: pytest.MonkeyPatch, body: bytes) -> tuple[Any, str]:
    """The console over an archive holding ``body`` under KEY, and the Cookie header of its opened session."""
    archive = Archive(body)
    monkeypatch.setattr(Connection, "client", lambda self, service: archive)
    sessions = Sessions(port=PORT)
    app = create_app(Connection(bucket="archive"), sessions)
    status, headers, _ = call(app, query=urlencode({"token": sessions.token}))
    assert status == 303
    return app, headers["set-cookie"].split(";")[0]


def test_an_unreadable_archived_body_is_said_and_still_downloadable(monkeypatch: pytest.MonkeyPatch) -> None:
    app, cookie = _console(monkeypatch, BROKEN)
    status, _, page = call(app, path="/event", query=urlencode({"key": KEY}), headers={"Cookie": cookie})
    assert status == 500
    assert b"is not a readable vod event" in page and b'id="download"' in page  # not a bare Internal Server Error
    status, headers, body = call(app, path="/event/body", query=urlencode({"key": KEY}), headers={"Cookie": cookie})
    assert status == 200 and body == BROKEN  # byte for byte, as archived
    assert headers["content-disposition"] == f'attachment; filename="{KEY.rsplit("/", 1)[1]}"'
