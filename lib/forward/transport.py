"""One POST to a destination: to the address the SSRF guard checked, no redirects, a bounded read.

The standard library's ``http.client`` (nothing to add to the package): it follows no redirect by itself,
and a 3xx is the answer like any other. TLS is verified against the URL's host name (SNI and certificate),
though the socket goes to the checked address.

The destination's timeout bounds the whole attempt, not each read: a socket timeout alone would let an
endpoint that sends a byte every few seconds hold the attempt for minutes, past the invocation's end (the
delivery function's time guard counts on one attempt lasting at most the timeout). At the deadline the
socket is shut down and the attempt is a ``TimeoutError``.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from lib.forward.ssrf import resolve

MAX_RESPONSE_BYTES = 4096  # what is read of an answer: the dead letter's excerpt, never a whole page
_TLS = ssl.create_default_context()


@dataclass(frozen=True)
class Answer:
    status: int
    retry_after: str | None
    excerpt: str


class _Deadline:
    """Shuts a connection's socket down when the attempt's time is up (from a timer thread), so a read
    blocked on a slow endpoint returns at once."""

    def __init__(self) -> None:
        self.passed = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socket = sock
            if self.passed.is_set():
                self._shut()

    def expire(self) -> None:
        with self._lock:
            self.passed.set()
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            # the plain socket's shutdown, also for TLS: the SSL object stays with the reading thread
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to ``address``, verifying the certificate for ``host``."""

    def __init__(self, host: str, address: str, port: int, timeout: float, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=timeout, context=_TLS)
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port or 443), self.timeout)
        self._deadline.watch(raw)
        self.sock = _TLS.wrap_socket(raw, server_hostname=self.host)
        self._deadline.watch(self.sock)


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP (loopback only, local runs) to ``address``."""

    def __init__(self, host: str, address: str, port: int, timeout: float, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port or 80), self.timeout)
        self._deadline.watch(self.sock)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_loopback: bool) -> Answer:
    """POST ``body``; raises ``RefusedDestination`` (the guard), ``TimeoutError`` (no answer within ``timeout``
    seconds, the whole attempt) or ``OSError`` (no answer: both retried). The answer's body is read up to
    ``MAX_RESPONSE_BYTES`` only, and only until the deadline."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = resolve(host, port, allow_loopback)
    connection_class = _PinnedHTTPS if https else _PinnedHTTP
    deadline = _Deadline()
    connection = connection_class(host, address, port, timeout, deadline)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timer = threading.Timer(timeout, deadline.expire)
    timer.daemon = True
    timer.start()
    try:
        connection.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": "mediahook-forward/1", **headers})
        response = connection.getresponse()
        if deadline.passed.is_set():  # the headers were cut short (http.client takes the end for their end)
            raise TimeoutError(f"no answer within {timeout} s")
        try:
            excerpt = response.read(MAX_RESPONSE_BYTES)
        except (http.client.HTTPException, OSError):  # the status is in: the excerpt is what came in time
            excerpt = b""
        return Answer(response.status, response.getheader("Retry-After"), excerpt.decode("utf-8", "replace"))
    except TimeoutError:
        raise
    except (http.client.HTTPException, OSError) as exc:
        if deadline.passed.is_set():
            raise TimeoutError(f"no answer within {timeout} s") from exc
        if isinstance(exc, http.client.HTTPException | ssl.SSLError):
            raise OSError(f"{type(exc).__name__}: {exc}") from exc
        raise
    finally:
        timer.cancel()
        connection.close()
