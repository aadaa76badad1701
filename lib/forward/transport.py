"""One POST to a destination: to the address the SSRF guard checked, no redirects, a bounded read.

The standard library's ``http.client`` (nothing to add to the package): it follows no redirect by itself,
and a 3xx is the answer like any other. TLS is verified against the URL's host name (SNI and certificate),
though the socket goes to the checked address.
"""

from __future__ import annotations

import http.client
import socket
import ssl
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


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to ``address``, verifying the certificate for ``host``."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=_TLS)
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port or 443), self.timeout)
        self.sock = _TLS.wrap_socket(raw, server_hostname=self.host)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port or 80), self.timeout)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_loopback: bool) -> Answer:
    """POST ``body``; raises ``RefusedDestination`` (the guard), ``TimeoutError`` or ``OSError`` (no answer:
    both retried). The answer's body is read up to ``MAX_RESPONSE_BYTES`` only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = resolve(host, port, allow_loopback)
    connection_class = _PinnedHTTPS if https else _PinnedHTTP
    connection = connection_class(host, address, port, timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": "mediahook-forward/1", **headers})
        response = connection.getresponse()
        excerpt = response.read(MAX_RESPONSE_BYTES)
        return Answer(response.status, response.getheader("Retry-After"), excerpt.decode("utf-8", "replace"))
    except (http.client.HTTPException, ssl.SSLError) as exc:
        raise OSError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
