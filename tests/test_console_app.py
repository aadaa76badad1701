"""The console's pages driven as ASGI over a fake archive and events table (no AWS, no browser):
how the event page says an outcome, what it says when the archive holds bytes under an event's key that are not a
readable event, and that a confirmed replay publishes only what its dry run showed."""

from __future__ import annotations

import io
import re
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


def test_the_event_page_says_succeeded_as_the_events_list_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """true/false, as the list, the table and the notification say it (not Python's True)."""
    from lib.cli.common import load_sample
    from tests.conftest import EVENTS

    app, cookie = _console(monkeypatch, load_sample(EVENTS / "vod" / "ClipComplete.json").body.encode())
    status, _, page = call(app, path="/event", query=urlencode({"key": KEY}), headers={"Cookie": cookie})
    assert status == 200 and b"<dt>succeeded</dt><dd>true</dd>" in page


def test_an_unreadable_archived_body_is_said_and_still_downloadable(monkeypatch: pytest.MonkeyPatch) -> None:
    app, cookie = _console(monkeypatch, BROKEN)
    status, _, page = call(app, path="/event", query=urlencode({"key": KEY}), headers={"Cookie": cookie})
    assert status == 500
    assert b"is not a readable vod event" in page and b'id="download"' in page  # not a bare Internal Server Error
    status, headers, body = call(app, path="/event/body", query=urlencode({"key": KEY}), headers={"Cookie": cookie})
    assert status == 200 and body == BROKEN  # byte for byte, as archived
    assert headers["content-disposition"] == f'attachment; filename="{KEY.rsplit("/", 1)[1]}"'


def test_a_confirmed_replay_publishes_only_what_its_dry_run_showed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the dry run and the confirmation the filter gains an event: nothing is published (409), and the
    page offers the dry run again; confirmed on the plan it shows, the replay goes ahead."""
    from lib.console import queries, replaying

    other = KEY.replace("ab", "cd")
    table = [[{"archive_key": KEY}]]  # what the events table answers, now
    published: list[list[str]] = []
    monkeypatch.setattr(queries, "run_sql", lambda sql, engine: table[0])
    monkeypatch.setattr(replaying, "run", lambda conn, plan: published.append(plan.keys) or replaying.Result(1, []))
    app, cookie = _console(monkeypatch, b"{}")
    csrf = next(iter(app.sessions.csrf.values()))

    def dry_run() -> str:
        status, _, page = call(app, path="/replay", query="product=vod", headers={"Cookie": cookie})
        assert status == 200
        (digest,) = re.findall(rb'name="plan" value="([0-9a-f]{64})"', page)
        return digest.decode()

    def confirm(digest: str) -> tuple[int, bytes]:
        form = urlencode({"csrf_token": csrf, "product": "vod", "plan": digest}).encode()
        status, _, page = call(app, "POST", path="/replay", body=form, headers={
            "Cookie": cookie, "Origin": f"http://127.0.0.1:{PORT}", "Content-Type": "application/x-www-form-urlencoded"})
        return status, page

    shown = dry_run()
    table[0] = [{"archive_key": KEY}, {"archive_key": other}]
    status, page = confirm(shown)
    assert status == 409 and b"changed since the dry run" in page and b'href="/replay?product=vod"' in page
    assert published == []
    status, page = confirm(dry_run())
    assert status == 200 and published == [[KEY, other]] and b'id="result"' in page
