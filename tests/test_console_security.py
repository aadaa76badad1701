"""The console's guard (lib/console/security.py) driven directly as ASGI: the one-time token, the session
cookie named after the port, the Host check, the CSRF token in a form or a header, Origin and Referer, the
size of a form, and the headers every answer carries. The browser tests check the same from a real browser."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from lib.console.security import MAX_FORM_BYTES, Guard, Sessions

PORT = 45678
HOST = f"127.0.0.1:{PORT}"


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo what reached the application: the method, and the body it could read."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["method"].encode() + b" " + body})


def call(guard: Guard, method: str = "GET", path: str = "/", query: str = "", headers: dict[str, str] | None = None,
         body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request through the guard: (status, headers, body)."""
    sent: list[dict[str, Any]] = []
    chunks = [body[i:i + 4096] for i in range(0, len(body), 4096)] or [b""]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
             "headers": [(k.lower().encode(), v.encode()) for k, v in {"Host": HOST, **(headers or {})}.items()]}
    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]},
            b"".join(m.get("body", b"") for m in sent[1:]))


def opened() -> tuple[Guard, Sessions, str]:
    """A guard whose session was opened by its token; the Cookie header of that session."""
    sessions = Sessions(port=PORT)
    guard = Guard(_app, sessions)
    status, headers, _ = call(guard, query=urlencode({"token": sessions.token, "page": "2"}), path="/events")
    assert status == 303 and headers["location"] == "/events?page=2"  # the token dropped, the rest kept
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"mediahook_console_{PORT}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return guard, sessions, cookie.split(";")[0]


def test_the_token_opens_one_session_once() -> None:
    guard, sessions, cookie = opened()
    assert call(guard, headers={"Cookie": cookie})[0] == 200
    assert call(guard, query=urlencode({"token": sessions.token}))[0] == 403  # used up
    assert call(guard, query=urlencode({"token": sessions.token}), headers={"Cookie": cookie})[0] == 303  # its own
    assert call(guard, query="token=guess")[0] == 403
    assert call(guard)[0] == 403  # no cookie


def test_the_token_redirect_stays_on_this_console() -> None:
    """The redirect that drops the token names a path of this console, never another site (``//host``)."""
    for path, expected in (("//evil.example/x", "/evil.example/x"), ("/\\evil.example/", "/%5Cevil.example/"),
                           ("/resource/a b/é", "/resource/a%20b/%C3%A9")):
        sessions = Sessions(port=PORT)
        status, headers, _ = call(Guard(_app, sessions), path=path, query=urlencode({"token": sessions.token}))
        assert status == 303 and headers["location"] == expected, path


def test_a_session_is_this_consoles_only() -> None:
    _, _, cookie = opened()
    other = Guard(_app, Sessions(port=PORT))  # another console (restarted, or another stage's)
    assert call(other, headers={"Cookie": cookie})[0] == 403
    assert call(other, headers={"Cookie": cookie.replace(f"_{PORT}=", "_1=")})[0] == 403


def test_only_its_own_host_names_are_answered() -> None:
    guard, _, cookie = opened()
    assert call(guard, headers={"Cookie": cookie, "Host": f"localhost:{PORT}"})[0] == 200
    for host in ("evil.example", f"evil.example:{PORT}", "127.0.0.1", f"127.0.0.1:{PORT + 1}", ""):
        assert call(guard, headers={"Cookie": cookie, "Host": host})[0] == 400, host


def test_a_state_changing_request_needs_the_csrf_token_and_its_own_origin() -> None:
    guard, sessions, cookie = opened()
    (csrf,) = sessions.csrf.values()
    form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    good = urlencode({"key": "k", "csrf_token": csrf}).encode()
    status, _, body = call(guard, "POST", headers={**form, "Origin": f"http://{HOST}"}, body=good)
    assert status == 200 and body == b"POST " + good  # the application reads the whole body again
    assert call(guard, "POST", headers={**form, "Referer": f"http://{HOST}/replay?x=1"}, body=good)[0] == 200
    assert call(guard, "POST", headers={"Cookie": cookie, "Origin": f"http://{HOST}", "X-CSRF-Token": csrf})[0] == 200
    assert call(guard, "POST", headers={**form, "Origin": f"http://{HOST}"}, body=b"key=k")[0] == 403
    assert call(guard, "POST", headers={**form, "Origin": f"http://{HOST}"},
                body=urlencode({"csrf_token": "forged"}).encode())[0] == 403
    assert call(guard, "POST", headers={**form, "Origin": "http://evil.example"}, body=good)[0] == 403
    assert call(guard, "POST", headers={**form, "Referer": "http://evil.example/"}, body=good)[0] == 403
    assert call(guard, "POST", headers=form, body=good)[0] == 403  # neither Origin nor Referer
    assert call(guard, "POST", headers={**form, "Origin": f"http://{HOST}", "Content-Type": "text/plain"},
                body=good)[0] == 403  # the token is read from a form only
    assert call(guard, "DELETE", headers={"Origin": f"http://{HOST}", "X-CSRF-Token": csrf})[0] == 403  # no cookie
    big = good + b"&pad=" + b"x" * MAX_FORM_BYTES
    assert call(guard, "POST", headers={**form, "Origin": f"http://{HOST}"}, body=big)[0] == 413


def test_every_answer_forbids_loading_from_elsewhere_and_framing() -> None:
    guard, _, cookie = opened()
    for status, headers, _ in (call(guard, headers={"Cookie": cookie}), call(guard), call(guard, headers={"Host": "x"})):
        assert "default-src 'self'" in headers["content-security-policy"], status
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"


def test_a_websocket_is_closed_before_the_application_sees_it() -> None:
    """The guard's checks are for HTTP: any other connection is refused outright, not passed on unchecked."""
    guard, _, cookie = opened()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/", "query_string": b"",
             "headers": [(b"host", b"evil.example"), (b"cookie", cookie.encode())]}
    asyncio.run(guard(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]  # _app (which answers HTTP) never ran
