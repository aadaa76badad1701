"""A receiver on 127.0.0.1 (port 0) for the forwarding tests: answers as a script says, records what it got."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering (longer than the destination's timeout: a timeout)


@dataclass
class Endpoint:
    """``script(n, request)`` decides the answer to the n-th request (1-based). ``accepted`` holds the requests
    answered 2xx, in the order they were answered; ``requests`` every one."""

    script: Callable[[int, Request], Reply]
    url: str = ""
    requests: list[tuple[Request, Reply]] = field(default_factory=list)
    accepted: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def serving(script: Callable[[int, Request], Reply], path: str = "/hook") -> Iterator[Endpoint]:
    endpoint = Endpoint(script)

    class Handle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = Request(body, {k.lower(): v for k, v in self.headers.items()})
            with endpoint.lock:
                reply = endpoint.script(len(endpoint.requests) + 1, request)
                endpoint.requests.append((request, reply))
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                return  # the client gave up (a timeout): not accepted
            if 200 <= reply.status < 300 and not reply.delay:
                with endpoint.lock:
                    endpoint.accepted.append(request)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
