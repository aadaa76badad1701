"""Local fakes of Tencent's VOD and MPS APIs, speaking the real wire protocol.

VOD: PullEvents/ConfirmEvents (pull mode), DescribeTaskDetail and DescribeMediaInfos (verification);
MPS (``FakeMpsApi``): DescribeTaskDetail; CME (``FakeCmeApi``): DescribeTaskDetail, DescribeMaterials,
DescribeProjects, DescribeClass, on one platform. Seed them with ``add_task``, ``add_media``...

It listens on 127.0.0.1, verifies the TC3-HMAC-SHA256 ``Authorization`` header of every request
(recomputed here from the documented algorithm, not with the SDK), and behaves as the API docs say:
at most 16 events per PullEvents, a 30 s confirm window after which unconfirmed events are pulled
again, ConfirmEvents with at most 16 handles, "no event" (an error response) when the queue is empty.
The clock is injectable (``advance``) so the 30 s window can be crossed without sleeping, ``latency``
adds a delay to every call (benchmarks), and ``calls`` logs every request for assertions.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http import DROP, LocalHttpFake

SERVICE, VERSION = "vod", "2018-07-17"
MAX_EVENTS, MAX_HANDLES, CONFIRM_WINDOW = 16, 16, 30.0
NO_EVENT_CODE = "ResourceNotFound"


@dataclass
class Call:
    at: float
    action: str
    params: dict[str, Any]
    handles: list[str] = field(default_factory=list)
    error: str | None = None


class FakeVodApi(LocalHttpFake):
    """State of the fake: pending events, in-flight handles, tasks and media, the call log."""

    service, version = SERVICE, VERSION

    def __init__(self, secret_id: str = "AKIDfake", secret_key: str = "fake-secret-key",
                 confirm_window: float = CONFIRM_WINDOW, latency: float = 0.0, long_poll: float = 0.0) -> None:
        self.secret_id, self.secret_key = secret_id, secret_key
        self.tasks: dict[tuple[int | None, str], dict[str, Any]] = {}  # (SubAppId, TaskId) -> the answer
        self.media: dict[int | None, set[str]] = {}  # SubAppId -> the FileIds that exist
        self.confirm_window, self.latency, self.long_poll = confirm_window, latency, long_poll
        self.pending: list[dict[str, Any]] = []
        self.in_flight: dict[str, tuple[dict[str, Any], float]] = {}
        self.calls: list[Call] = []
        self.confirmed: list[dict[str, Any]] = []
        self.on_confirm: Callable[[list[dict[str, Any]]], None] | None = None
        self.fail_next: dict[str, str] = {}  # action -> error code (or "DROP") for its next call
        self._offset = 0.0
        self._lock = threading.RLock()
        self._handles = itertools.count(1)

    # ---- test controls
    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def enqueue(self, *events: dict[str, Any]) -> None:
        with self._lock:
            self.pending.extend(events)

    def add_task(self, answer: dict[str, Any], sub_app_id: int | None = None, task_id: str | None = None) -> None:
        """What DescribeTaskDetail answers for the task (``answer``: TaskType, Status, the task's field)."""
        task_id = task_id or next(v for v in answer.values() if isinstance(v, dict) and "TaskId" in v)["TaskId"]
        with self._lock:
            self.tasks[(sub_app_id, str(task_id))] = answer

    def add_media(self, *file_ids: str, sub_app_id: int | None = None) -> None:
        with self._lock:
            self.media.setdefault(sub_app_id, set()).update(file_ids)

    def delete_media(self, *file_ids: str, sub_app_id: int | None = None) -> None:
        with self._lock:
            self.media.setdefault(sub_app_id, set()).difference_update(file_ids)

    def remaining(self) -> int:
        with self._lock:
            return len(self.pending) + len(self.in_flight)

    @property
    def url(self) -> str:
        return self.base_url

    def respond(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        return self.handle(headers, body)

    # ---- protocol
    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if self.latency:
            time.sleep(self.latency)
        lowered = {k.lower(): v for k, v in headers.items()}
        action = lowered.get("x-tc-action", "")
        request_id = str(uuid.uuid4())
        problem = self.check_signature(lowered, body)
        if problem is not None:
            return self._error(action, {}, "AuthFailure.SignatureFailure", problem, request_id)
        params = json.loads(body or b"{}")
        if lowered.get("x-tc-version") != self.version:
            return self._error(action, params, "InvalidParameter.Version", "unsupported version", request_id)
        forced = self.fail_next.pop(action, None)
        if forced == "DROP":
            with self._lock:
                self.calls.append(Call(self.now(), action, params, error="DROP"))
            return DROP, {}
        if forced:
            return self._error(action, params, forced, "injected failure", request_id)
        if action == "PullEvents" and self.service == "vod":
            return self._pull(params, request_id)
        if action == "ConfirmEvents" and self.service == "vod":
            return self._confirm(params, request_id)
        if action == "DescribeTaskDetail":
            return self._task(params, request_id)
        if action == "DescribeMediaInfos" and self.service == "vod":
            return self._media(params, request_id)
        if self.service == "cme" and action in ("DescribeMaterials", "DescribeProjects", "DescribeClass"):
            return self._cme(action, params, request_id)
        return self._error(action, params, "InvalidAction", f"unknown action {action}", request_id)

    def check_signature(self, headers: dict[str, str], body: bytes) -> str | None:
        """Recompute TC3-HMAC-SHA256 from the request as Tencent's server does; None when valid."""
        auth = headers.get("authorization", "")
        if not auth.startswith("TC3-HMAC-SHA256 "):
            return "missing or non-TC3 Authorization header"
        fields = dict(part.strip().split("=", 1) for part in auth[len("TC3-HMAC-SHA256 "):].split(","))
        credential = fields.get("Credential", "").split("/")
        if len(credential) != 4 or credential[0] != self.secret_id or credential[2:] != [self.service, "tc3_request"]:
            return "bad credential scope"
        timestamp = int(headers.get("x-tc-timestamp", "0"))
        if abs(self.now() - timestamp) > 300:
            return "request timestamp too far from server time"
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        if credential[1] != date:
            return "credential date does not match X-TC-Timestamp"
        signed_headers = fields.get("SignedHeaders", "")
        canonical_headers = "".join(f"{name}:{headers.get(name, '').strip().lower() if name == 'content-type' else headers.get(name, '').strip()}\n"
                                    for name in signed_headers.split(";"))
        canonical_request = "\n".join(["POST", "/", "", canonical_headers, signed_headers,
                                       hashlib.sha256(body).hexdigest()])
        scope = f"{date}/{self.service}/tc3_request"
        string_to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                                    hashlib.sha256(canonical_request.encode()).hexdigest()])

        def sign(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        k_signing = sign(sign(sign(("TC3" + self.secret_key).encode(), date), self.service), "tc3_request")
        expected = hmac.new(k_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return "signature mismatch"
        return None

    def _error(self, action: str, params: dict[str, Any], code: str, message: str,
               request_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(self.now(), action, params, error=code))
        return 200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}

    def _requeue_expired(self) -> None:
        now = self.now()
        for handle, (event, deadline) in list(self.in_flight.items()):
            if deadline <= now:
                del self.in_flight[handle]
                self.pending.append(event)

    def _pull(self, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        deadline = time.monotonic() + self.long_poll
        while True:
            with self._lock:
                self._requeue_expired()
                batch, self.pending = self.pending[:MAX_EVENTS], self.pending[MAX_EVENTS:]
                if batch:
                    out = []
                    for event in batch:
                        handle = f"handle-{next(self._handles)}"
                        self.in_flight[handle] = (event, self.now() + self.confirm_window)
                        out.append({"EventHandle": handle, **event})
                    self.calls.append(Call(self.now(), "PullEvents", params, [e["EventHandle"] for e in out]))
                    return 200, {"Response": {"EventSet": out, "RequestId": request_id}}
            if time.monotonic() >= deadline:
                return self._error("PullEvents", params, NO_EVENT_CODE, "no event", request_id)
            time.sleep(0.05)

    def _confirm(self, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        handles = params.get("EventHandles") or []
        if not isinstance(handles, list) or not handles or len(handles) > MAX_HANDLES:
            return self._error("ConfirmEvents", params, "InvalidParameterValue.EventHandles",
                               "EventHandles must hold 1 to 16 handles", request_id)
        with self._lock:
            now = self.now()
            stale = [h for h in handles if h not in self.in_flight or self.in_flight[h][1] <= now]
            if stale:  # past the 30 s window (or never issued): a parameter error, nothing confirmed
                return self._error("ConfirmEvents", params, "InvalidParameter",
                                   f"event handles expired or unknown: {len(stale)}", request_id)
            events = [self.in_flight.pop(h)[0] for h in handles]
            self.calls.append(Call(now, "ConfirmEvents", params, list(handles)))
        if self.on_confirm is not None:
            self.on_confirm(events)
        with self._lock:
            self.confirmed.extend(events)
        return 200, {"Response": {"RequestId": request_id}}

    def _task(self, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            answer = self.tasks.get((params.get("SubAppId"), str(params.get("TaskId"))))
            self.calls.append(Call(self.now(), "DescribeTaskDetail", params, error=None if answer else "not found"))
        if answer is None:
            return 200, {"Response": {"Error": {"Code": "InvalidParameterValue.TaskId", "Message": "task not exist"},
                                      "RequestId": request_id}}
        return 200, {"Response": {**answer, "RequestId": request_id}}

    def _cme(self, action: str, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError("CME actions: FakeCmeApi")

    def _media(self, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        file_ids = [str(f) for f in params.get("FileIds") or []]
        with self._lock:
            existing = self.media.get(params.get("SubAppId"), set())
            self.calls.append(Call(self.now(), "DescribeMediaInfos", params))
        found = [f for f in file_ids if f in existing]
        return 200, {"Response": {
            "MediaInfoSet": [{"FileId": f, "BasicInfo": {"Name": f"media {f}", "Status": "Normal"}} for f in found],
            "NotExistFileIdSet": [f for f in file_ids if f not in existing], "RequestId": request_id}}


class FakeMpsApi(FakeVodApi):
    """The MPS API: DescribeTaskDetail (and the same TC3 verification, for service mps)."""

    service, version = "mps", "2019-06-12"


class FakeCmeApi(FakeVodApi):
    """The CME API on one platform: every call must name it (``Platform``)."""

    service, version = "cme", "2019-10-29"

    def __init__(self, platform: str = "mediahook-platform", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.platform = platform
        self.materials: set[str] = set()
        self.projects: set[str] = set()
        self.classes: dict[tuple[str, str], set[str]] = {}  # (owner type, owner id) -> class paths

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        params = json.loads(body or b"{}")
        if self.check_signature({k.lower(): v for k, v in headers.items()}, body) is None \
                and params.get("Platform") != self.platform:
            return self._error(headers.get("X-TC-Action", ""), params, "InvalidParameterValue.Platform",
                               "unknown platform", str(uuid.uuid4()))
        return super().handle(headers, body)

    def _cme(self, action: str, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(self.now(), action, params))
            if action == "DescribeMaterials":
                found = [m for m in params.get("MaterialIds") or [] if m in self.materials]
                answer: dict[str, Any] = {"MaterialInfoSet": [{"BasicInfo": {"MaterialId": m}} for m in found]}
            elif action == "DescribeProjects":
                found = [p for p in params.get("ProjectIds") or [] if p in self.projects]
                answer = {"TotalCount": len(found), "ProjectInfoSet": [{"ProjectId": p} for p in found]}
            else:
                owner = params.get("Owner") or {}
                paths = self.classes.get((owner.get("Type", ""), owner.get("Id", "")), set())
                answer = {"ClassInfoSet": [{"Owner": owner, "ClassPath": p} for p in sorted(paths)]}
        return 200, {"Response": {**answer, "RequestId": request_id}}
