"""The transport's bounds: an endpoint that answers slowly, a byte at a time, is cut at the destination's
timeout (a whole attempt, not each read), so the delivery function's time guard holds."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from lib.forward import transport


def _read_request(peer: socket.socket) -> None:
    """The whole request (headers, then Content-Length bytes): closing on unread bytes would reset it."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += peer.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += peer.recv(65536)


@contextmanager
def dripping_endpoint(pause: float, lines: int) -> Iterator[str]:
    """Answers every request with a status line, then one header line every ``pause`` seconds."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                peer, _ = server.accept()
            except TimeoutError:
                continue
            with peer:
                try:
                    _read_request(peer)
                    peer.sendall(b"HTTP/1.1 200 OK\r\n")
                    for n in range(lines):
                        if stop.wait(pause):
                            return
                        peer.sendall(f"X-Drip-{n}: x\r\n".encode())
                    peer.sendall(b"Content-Length: 0\r\n\r\n")
                except OSError:
                    continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_an_answer_dripping_past_the_timeout_is_a_timeout() -> None:
    # each read comes well within the timeout, the whole answer (40 x 0.1 s) does not
    with dripping_endpoint(pause=0.1, lines=40) as url:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            transport.post(url, b"{}", {}, timeout=1.0, allow_loopback=True)
        assert time.monotonic() - started < 2.0


def test_an_answer_within_the_timeout_is_read() -> None:
    with dripping_endpoint(pause=0.01, lines=3) as url:
        answer = transport.post(url, b"{}", {}, timeout=2.0, allow_loopback=True)
    assert answer.status == 200
