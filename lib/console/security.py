"""What keeps a console on 127.0.0.1 from being used by anything but the operator's own browser tab.

A page elsewhere on the web can make the browser send requests to ``http://127.0.0.1:PORT`` (a cross-site
form post) or, through DNS rebinding, read from it under its own host name. So, in this order, for every
request:

1. the ``Host`` header must name this console (``127.0.0.1:PORT`` or ``localhost:PORT``): a rebound name is
   refused (400);
2. the request must carry the session cookie. The session is opened once, by the one-time token the console
   printed (``/?token=...``, as Jupyter does): the token sets an HttpOnly, SameSite=Strict cookie and the
   browser is redirected to the same page without it, so the token leaves neither the address bar nor the
   history, and cannot be used a second time (403 otherwise);
3. a state-changing request (anything but GET and HEAD) must carry the session's CSRF token, in the form
   field ``csrf_token`` or the ``X-CSRF-Token`` header (htmx sends it), and come from this console's own
   origin (``Origin``, or ``Referer`` when a browser sends no ``Origin``) (403 otherwise).

Every answer carries a Content-Security-Policy that allows nothing but this console itself: no page may load
anything from the internet.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# Cookies do not keep ports apart: two consoles on 127.0.0.1 (two stages) each name theirs after its port.
COOKIE = "mediahook_console_{port}"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
MAX_FORM_BYTES = 64 * 1024  # a replay form holds a few filters: anything larger is not ours
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                 b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


@dataclass
class Sessions:
    """The one-time token and the sessions it opened (normally one: the operator's browser)."""

    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: dict[str, str] = field(default_factory=dict)  # session id -> its CSRF token
    used: bool = False

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})

    @property
    def cookie(self) -> str:
        return COOKIE.format(port=self.port)

    @property
    def url(self) -> str:
        """What the console prints: the address with the one-time token."""
        return f"http://127.0.0.1:{self.port}/?{urlencode({'token': self.token})}"

    def open(self, offered: str) -> str | None:
        """A new session id if ``offered`` is the unused token, else None."""
        if self.used or not secrets.compare_digest(offered.encode(), self.token.encode()):
            return None
        self.used = True
        session = secrets.token_urlsafe(32)
        self.csrf[session] = secrets.token_urlsafe(32)
        return session

    def csrf_of(self, session: str | None) -> str | None:
        return self.csrf.get(session) if session else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:  # a malformed Cookie header is no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


async def _refuse(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware applying the checks above before the application sees a request."""

    def __init__(self, app: App, sessions: Sessions) -> None:
        self.app, self.sessions = app, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket: the console has none, and nothing unchecked reaches it
            await send({"type": "websocket.close", "code": 1008})
            return
        host = _header(scope, b"host") or ""
        if host not in self.sessions.hosts:
            await _refuse(send, 400, f"refused: this console answers only to {sorted(self.sessions.hosts)[0]}, "
                                     "not to the host this request names")
            return
        session = _cookie(scope, self.sessions.cookie)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query and scope["method"] in SAFE_METHODS:
            if session is not None and self.sessions.csrf_of(session) is not None:  # opened again, same browser
                await self._redirect_with_cookie(scope, send, session)
                return
            opened = self.sessions.open(query["token"][0])
            if opened is None:
                await _refuse(send, 403, "refused: this token is not valid or was used already; restart "
                                         "`mediahook console` and open the URL it prints")
                return
            await self._redirect_with_cookie(scope, send, opened)
            return
        csrf = self.sessions.csrf_of(session)
        if csrf is None:
            await _refuse(send, 403, "refused: no console session; open the URL `mediahook console` printed "
                                     "(with its token)")
            return
        scope.setdefault("state", {})["csrf_token"] = csrf
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, self._headers_added(send))
            return
        if not self._same_origin(scope, host):
            await _refuse(send, 403, "refused: a state-changing request from another origin")
            return
        body, receive = await self._buffer(receive)
        if body is None:
            await _refuse(send, 413, "refused: a request body larger than a console form")
            return
        offered = _header(scope, CSRF_HEADER.encode()) or self._form_token(scope, body)
        if not offered or not secrets.compare_digest(offered.encode(), csrf.encode()):
            await _refuse(send, 403, "refused: the request does not carry this session's CSRF token")
            return
        await self.app(scope, receive, self._headers_added(send))

    @staticmethod
    def _same_origin(scope: Scope, host: str) -> bool:
        own = f"http://{host}"
        origin = _header(scope, b"origin")
        if origin is not None:
            return origin == own
        referer = _header(scope, b"referer")
        if referer is None:
            return False
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}" == own

    @staticmethod
    def _form_token(scope: Scope, body: bytes) -> str | None:
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return None
        values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
        return values[0] if values else None

    @staticmethod
    async def _buffer(receive: Receive) -> tuple[bytes | None, Receive]:
        """Read the whole body (to find the form's token), then hand it to the application again."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                return None, receive
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return body, replay

    @staticmethod
    def _headers_added(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        return wrapped

    async def _redirect_with_cookie(self, scope: Scope, send: Send, session: str) -> None:
        query = [(k, v) for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()
                 if k != "token"]
        # The same page on this console: the path percent-encoded (a header is ASCII) and rooted once, so that
        # ``//host/`` or ``/\\host/`` cannot make the Location another site's.
        path = "/" + quote(scope.get("path", "/"), safe="/:@!$&'()*+,;=-._~").lstrip("/")
        target = path + (("?" + urlencode(query, doseq=True)) if query else "")
        cookie = f"{self.sessions.cookie}={session}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", target.encode()), (b"set-cookie", cookie.encode()),
                                (b"content-length", b"0"), *HEADERS]})
        await send({"type": "http.response.body", "body": b""})
