"""A local fake of a TDMQ-CMQ queue's HTTP API (legacy v2: form POST to /v2/index.php), on 127.0.0.1.

It checks the HmacSHA256 ``Signature`` of every request (recomputed here from the documented rule), and
behaves as documented: BatchReceiveMessage returns at most 16 visible messages, each with a new
receiptHandle and an incremented dequeueCount, and hides them for ``visibility`` seconds; code 7000 when
there is none; BatchDeleteMessage accepts only a message's latest handle before it becomes visible again.
The clock is injectable (``advance``); ``deleted`` and ``on_delete`` let tests assert what was deleted when.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.http import LocalHttpFake


@dataclass
class Message:
    msg_id: str
    body: str
    visible_at: float = 0.0
    handle: str = ""
    dequeue_count: int = 0


class FakeCmq(LocalHttpFake):
    def __init__(self, secret_id: str = "AKIDcmqfake", secret_key: str = "cmq-fake-key", queue: str = "mps-notify",
                 visibility: float = 30.0) -> None:
        self.secret_id, self.secret_key, self.queue, self.visibility = secret_id, secret_key, queue, visibility
        self.messages: dict[str, Message] = {}
        self.deleted: list[Message] = []
        self.on_delete: Callable[[list[Message]], None] | None = None
        self.calls: list[tuple[str, int]] = []  # (action, code)
        self._offset = 0.0
        self._lock = threading.RLock()
        self._ids = itertools.count(1)

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def send(self, *bodies: str) -> None:
        with self._lock:
            for body in bodies:
                msg_id = f"msg-{next(self._ids)}"
                self.messages[msg_id] = Message(msg_id, body)

    def remaining(self) -> int:
        with self._lock:
            return len(self.messages)

    @property
    def endpoint(self) -> str:
        return self.base_url

    def respond(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        host = {k.lower(): v for k, v in headers.items()}.get("host", "")
        return 200, self.handle(path, host, form)

    def _answer(self, action: str, code: int, message: str = "", **extra: Any) -> dict[str, Any]:
        self.calls.append((action, code))
        return {"code": code, "message": message, "requestId": f"req-{next(self._ids)}", **extra}

    def handle(self, path: str, host: str, form: dict[str, str]) -> dict[str, Any]:
        action = form.get("Action", "")
        if path != "/v2/index.php":
            return self._answer(action, 4000, "bad path")
        signature = form.pop("Signature", "")
        query = "&".join(f"{name.replace('_', '.')}={form[name]}" for name in sorted(form))
        expected = base64.b64encode(hmac.new(self.secret_key.encode(), f"POST{host}{path}?{query}".encode(),
                                             hashlib.sha256).digest()).decode()
        if form.get("SecretId") != self.secret_id or not hmac.compare_digest(signature, expected):
            return self._answer(action, 4100, "authentication failed")
        if abs(self.now() - int(form.get("Timestamp", "0"))) > 300:
            return self._answer(action, 4100, "timestamp out of range")
        if form.get("queueName") != self.queue:
            return self._answer(action, 4440, "queue does not exist")
        with self._lock:
            if action == "BatchReceiveMessage":
                return self._receive(int(form.get("numOfMsg", "1")))
            if action == "BatchDeleteMessage":
                return self._delete([form[k] for k in sorted(form) if k.startswith("receiptHandle.")])
        return self._answer(action, 4000, "unknown action")

    def _receive(self, count: int) -> dict[str, Any]:
        if not 1 <= count <= 16:
            return self._answer("BatchReceiveMessage", 4000, "numOfMsg must be 1 to 16")
        now = self.now()
        visible = [m for m in self.messages.values() if m.visible_at <= now][:count]
        if not visible:
            return self._answer("BatchReceiveMessage", 7000, "no message")
        out = []
        for message in visible:
            message.dequeue_count += 1
            message.handle = f"rh-{message.msg_id}-{message.dequeue_count}"
            message.visible_at = now + self.visibility
            out.append({"msgBody": message.body, "msgId": message.msg_id, "receiptHandle": message.handle,
                        "enqueueTime": int(now), "nextVisibleTime": int(message.visible_at),
                        "firstDequeueTime": int(now), "dequeueCount": message.dequeue_count})
        return self._answer("BatchReceiveMessage", 0, "", msgInfoList=out)

    def _delete(self, handles: list[str]) -> dict[str, Any]:
        now = self.now()
        by_handle = {m.handle: m for m in self.messages.values()}
        stale = [h for h in handles if h not in by_handle or by_handle[h].visible_at <= now]
        if not handles or stale:
            return self._answer("BatchDeleteMessage", 4430, "receipt handle is invalid")
        deleted = [self.messages.pop(by_handle[h].msg_id) for h in handles]
        if self.on_delete is not None:
            self.on_delete(deleted)
        self.deleted.extend(deleted)
        return self._answer("BatchDeleteMessage", 0)
