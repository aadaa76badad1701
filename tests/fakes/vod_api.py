"""Local fakes of Tencent's VOD, MPS and CME APIs, speaking the real wire protocol.

VOD: PullEvents/ConfirmEvents (pull mode), DescribeTaskDetail and DescribeMediaInfos (verification),
DescribeTasks, SearchMedia, DescribeEventConfig and DescribeEventsState (reconciliation);
MPS (``FakeMpsApi``): DescribeTaskDetail, DescribeTasks; CME (``FakeCmeApi``): DescribeTaskDetail,
DescribeTasks, DescribeMaterials, DescribeProjects, DescribeClass, on one platform. Seed them with
``add_task``, ``add_media``, ``event_config``...

The listings behave as the API reference (the SDK's models.py) says: VOD DescribeTasks holds the last
72 hours, filters by Status, CreateTime and FinishTime (``TimeRange`` After <= t < Before) and pages by
``ScrollToken`` (the next record's TaskId) with ``Limit`` <= 100; MPS DescribeTasks holds 7 days, filters by
Status and StartTime/EndTime (the creation time) and pages the same way; CME DescribeTasks filters by
StatusSet/TaskTypeSet and pages by Offset with ``Limit`` <= 20, newest first; SearchMedia filters by
CreateTime (both ends included) and SourceTypes (any of at most 10 SourceInfo.SourceType values) and
pages by Offset/Limit with Offset + Limit <= 5000.

It listens on 127.0.0.1, verifies the TC3-HMAC-SHA256 ``Authorization`` header of every request
(recomputed here from the documented algorithm, not with the SDK), and behaves as the API docs say:
at most 16 events per PullEvents, a 30 s confirm window after which unconfirmed events are pulled
again, ConfirmEvents with at most 16 handles, "no event" (an error response) when the queue is empty.
The clock is injectable (``advance``) so the 30 s window can be crossed without sleeping, ``latency``
adds a delay to every call (benchmarks), and ``calls`` logs every request for assertions.
"""

from __future__ import annotations

import copy
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
VOD_TASK_DAYS, MPS_TASK_DAYS = 3, 7  # how far back DescribeTasks answers
MAX_TASKS_PER_PAGE, MAX_CME_TASKS_PER_PAGE, MAX_SEARCH_RESULTS, MAX_MEDIA_INFOS = 100, 20, 5000, 20
MAX_SOURCE_TYPES = 10  # SearchMedia's SourceTypes: any of them matches, at most 10


def iso(moment: float) -> str:
    """Tencent's ISO 8601 UTC form: 2019-01-09T16:36:22Z."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(text: Any) -> float | None:
    if not isinstance(text, str) or not text or text.startswith("0000"):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _in_range(moment: float | None, bounds: Any, *, inclusive: bool = False) -> bool:
    """A TimeRange: After <= t < Before (SearchMedia's CreateTime: both ends included)."""
    if not isinstance(bounds, dict):
        return True
    after, before = _at(bounds.get("After")), _at(bounds.get("Before"))
    if moment is None:
        return after is None and before is None
    if after is not None and moment < after:
        return False
    return before is None or moment < before or (inclusive and moment == before)


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
        self.media_info: dict[tuple[int | None, str], dict[str, Any]] = {}  # a file's MediaInfo (add_media)
        self.event_configs: dict[int | None, dict[str, Any]] = {}  # SubAppId -> DescribeEventConfig's answer
        self.events_waiting: dict[int | None, int] = {}  # SubAppId -> CountOfEventsToPull (else the queue)
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

    def add_media(self, *file_ids: str, sub_app_id: int | None = None, created: float | None = None,
                  name: str = "upload.mp4", source: str = "Upload") -> None:
        """Files that exist; each gets the MediaInfo DescribeMediaInfos and SearchMedia answer with
        (``created``: its CreateTime, the fake's now by default; ``source``: its SourceInfo.SourceType,
        Record, Upload, VideoProcessing, TrtcRecord, WebPageRecord or Unknown as MediaSourceData documents)."""
        moment = self.now() if created is None else created
        with self._lock:
            self.media.setdefault(sub_app_id, set()).update(file_ids)
            for file_id in file_ids:
                self.media_info.setdefault((sub_app_id, file_id), {
                    "FileId": file_id,
                    "BasicInfo": {"Name": name, "Description": "", "CreateTime": iso(moment), "UpdateTime": iso(moment),
                                  "ExpireTime": "9999-12-31T23:59:59Z", "ClassId": 0, "ClassName": "其他",
                                  "ClassPath": "其他", "CoverUrl": "", "Type": "mp4",
                                  "MediaUrl": f"https://1256768367.vod2.myqcloud.com/{file_id}/{name}",
                                  "TagSet": [], "StorageRegion": "ap-guangzhou",
                                  "SourceInfo": {"SourceType": source, "SourceContext": ""}, "Vid": file_id},
                    "MetaData": {"Size": 1048576, "Container": "mov,mp4,m4a,3gp,3g2,mj2", "Bitrate": 2681468,
                                 "Height": 720, "Width": 1280, "Duration": 11.26, "Rotate": 0,
                                 "VideoStreamSet": [], "AudioStreamSet": [], "VideoDuration": 11.26,
                                 "AudioDuration": 11.26}})

    def event_config(self, sub_app_id: int | None = None, *, mode: str = "PUSH", uploads: bool = False,
                     deletions: bool = False, persistence: bool = False, url: str = "") -> None:
        """What DescribeEventConfig answers for the application (PUSH, no optional events by default)."""
        on = {True: "ON", False: "OFF"}
        with self._lock:
            self.event_configs[sub_app_id] = {
                "Mode": mode, "NotificationUrl": url, "UploadMediaCompleteEventSwitch": on[uploads],
                "DeleteMediaCompleteEventSwitch": on[deletions], "PersistenceCompleteEventSwitch": on[persistence]}

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
        if action == "DescribeTasks":
            return self._list_tasks(params, request_id)
        if self.service == "vod" and action in ("SearchMedia", "DescribeEventConfig", "DescribeEventsState"):
            return {"SearchMedia": self._search_media, "DescribeEventConfig": self._describe_event_config,
                    "DescribeEventsState": self._events_state}[action](params, request_id)
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
        if len(file_ids) > MAX_MEDIA_INFOS:
            return self._error("DescribeMediaInfos", params, "InvalidParameterValue.FileIds",
                               f"at most {MAX_MEDIA_INFOS} FileIds", request_id)
        sub_app = params.get("SubAppId")
        with self._lock:
            existing = self.media.get(sub_app, set())
            self.calls.append(Call(self.now(), "DescribeMediaInfos", params))
            found = [self.media_info.get((sub_app, f)) or {"FileId": f, "BasicInfo": {"Name": f"media {f}"}}
                     for f in file_ids if f in existing]
        return 200, {"Response": {"MediaInfoSet": copy.deepcopy(found),
                                  "NotExistFileIdSet": [f for f in file_ids if f not in existing],
                                  "RequestId": request_id}}

    # ---- listings (reconciliation)

    def _limit(self, params: dict[str, Any], default: int, most: int) -> int | None:
        limit = params.get("Limit", default)
        return limit if isinstance(limit, int) and 0 < limit <= most else None

    def _task_rows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The tasks DescribeTasks holds for the request: its application, its retention, its filters."""
        now = self.now()
        days = VOD_TASK_DAYS if self.service == "vod" else MPS_TASK_DAYS
        rows = []
        for (sub_app, task_id), answer in self.tasks.items():
            if self.service == "vod" and sub_app != params.get("SubAppId"):
                continue
            created = _at(answer.get("CreateTime"))
            if created is not None and created < now - days * 86400:
                continue
            status = answer.get("Status")
            if self.service == "cme":
                if params.get("StatusSet") and status not in params["StatusSet"]:
                    continue
                if params.get("TaskTypeSet") and answer.get("TaskType") not in params["TaskTypeSet"]:
                    continue
            elif params.get("Status") and status != params["Status"]:
                continue
            if self.service == "vod" and not (_in_range(created, params.get("CreateTime"))
                                              and _in_range(_at(answer.get("FinishTime")), params.get("FinishTime"))):
                continue
            if self.service == "mps" and not _in_range(created, {"After": params.get("StartTime"),
                                                                 "Before": params.get("EndTime")}):
                continue
            rows.append({"TaskId": task_id, **answer})
        rows.sort(key=lambda r: (str(r.get("CreateTime") or ""), r["TaskId"]), reverse=self.service == "cme")
        return rows

    def _list_tasks(self, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        cme = self.service == "cme"
        limit = self._limit(params, 10, MAX_CME_TASKS_PER_PAGE if cme else MAX_TASKS_PER_PAGE)
        if limit is None:
            return self._error("DescribeTasks", params, "InvalidParameterValue.Limit", "Limit out of range", request_id)
        with self._lock:
            rows = self._task_rows(params)
            self.calls.append(Call(self.now(), "DescribeTasks", params))
        if cme:
            offset = int(params.get("Offset") or 0)
            page = rows[offset:offset + limit]
            return 200, {"Response": {"TotalCount": len(rows), "RequestId": request_id, "TaskBaseInfoSet": [
                {"TaskId": r["TaskId"], "TaskType": r.get("TaskType"), "Status": r.get("Status"),
                 "Progress": r.get("Progress", 100), "ErrCode": r.get("ErrCode", 0), "ErrMsg": r.get("ErrMsg", ""),
                 "CreateTime": r.get("CreateTime")} for r in page]}}
        token = params.get("ScrollToken")
        start = next((i for i, r in enumerate(rows) if r["TaskId"] == token), len(rows)) if token else 0
        page, following = rows[start:start + limit], rows[start + limit:start + limit + 1]
        fields = (("TaskId", "TaskType", "Status", "FileId", "CreateTime", "BeginProcessTime", "FinishTime",
                   "SessionId", "SessionContext") if self.service == "vod" else
                  ("TaskId", "TaskType", "CreateTime", "BeginProcessTime", "FinishTime"))
        answer: dict[str, Any] = {"TaskSet": [{f: r.get(f) for f in fields if f in r} for r in page],
                                  "ScrollToken": following[0]["TaskId"] if following else "", "RequestId": request_id}
        if self.service == "mps":
            answer["TotalCount"] = len(rows)
        return 200, {"Response": answer}

    def _search_media(self, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        offset, limit = int(params.get("Offset") or 0), int(params.get("Limit") or 10)
        if offset < 0 or limit <= 0 or offset + limit > MAX_SEARCH_RESULTS:
            return self._error("SearchMedia", params, "InvalidParameterValue.Limit",
                               "Offset + Limit must not exceed 5000", request_id)
        sources = params.get("SourceTypes") or []
        if not isinstance(sources, list) or len(sources) > MAX_SOURCE_TYPES:
            return self._error("SearchMedia", params, "InvalidParameterValue.SourceTypes",
                               f"SourceTypes: at most {MAX_SOURCE_TYPES}", request_id)
        sub_app = params.get("SubAppId")
        with self._lock:
            self.calls.append(Call(self.now(), "SearchMedia", params))
            found = [info for (app, file_id), info in self.media_info.items()
                     if app == sub_app and file_id in self.media.get(app, set())
                     and _in_range(_at(info["BasicInfo"]["CreateTime"]), params.get("CreateTime"), inclusive=True)
                     and (not sources or info["BasicInfo"]["SourceInfo"]["SourceType"] in sources)]
        descending = (params.get("Sort") or {}).get("Order") != "Asc"
        found.sort(key=lambda i: (i["BasicInfo"]["CreateTime"], i["FileId"]), reverse=descending)
        filters = params.get("Filters") or []
        page = [{k: v for k, v in info.items() if k == "FileId" or not filters or
                 {"BasicInfo": "basicInfo", "MetaData": "metaData"}.get(k) in filters}
                for info in found[offset:offset + limit]]
        return 200, {"Response": {"TotalCount": min(len(found), MAX_SEARCH_RESULTS),
                                  "MediaInfoSet": copy.deepcopy(page), "RequestId": request_id}}

    def _describe_event_config(self, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(self.now(), "DescribeEventConfig", params))
            config = self.event_configs.get(params.get("SubAppId")) or {
                "Mode": "PUSH", "NotificationUrl": "", "UploadMediaCompleteEventSwitch": "OFF",
                "DeleteMediaCompleteEventSwitch": "OFF", "PersistenceCompleteEventSwitch": "OFF"}
        return 200, {"Response": {**config, "RequestId": request_id}}

    def _events_state(self, params: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(self.now(), "DescribeEventsState", params))
            waiting = self.events_waiting.get(params.get("SubAppId"), len(self.pending) + len(self.in_flight))
        return 200, {"Response": {"CountOfEventsToPull": waiting, "RequestId": request_id}}


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
