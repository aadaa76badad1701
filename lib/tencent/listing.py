"""What Tencent's APIs say happened: the task, file and event-configuration reads of a reconcile run.

Each method is one documented API (field names as in the SDK's models.py); the listings are generators
that ask for the next page only when the caller wants it, so a run that is out of time stops paging.

- VOD ``DescribeTasks``: tasks of the last 72 hours, filtered by ``Status`` and ``FinishTime``
  (``TimeRange``), pages of at most 100 chained by ``ScrollToken``.
- MPS ``DescribeTasks``: 7 days, ``Status`` and ``StartTime``/``EndTime``, the same paging.
- CME ``DescribeTasks``: per platform, ``StatusSet``/``TaskTypeSet``, pages of at most 20 by ``Offset``
  (no time filter and no finish time: the caller filters by ``CreateTime`` and counts the grace from the
  first run that saw the task final, lib/reconcile/sightings.py).
- ``DescribeTaskDetail`` (VOD, MPS, CME), VOD ``SearchMedia`` (uploaded files, ``SourceTypes``, by
  ``CreateTime``, Offset + Limit <= 5000), ``DescribeMediaInfos`` (at most 20 FileIds),
  ``DescribeEventConfig``, ``DescribeEventsState``.

Errors: a transient one (throttled, network, Tencent's internal error) is retried a few times; then,
like a refused credential, it is ``TencentUnavailable``: the run cannot trust what it did not read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

# DescribeTaskDetail's "no such task" (lib/verify.py reads the same list of codes).
NOT_FOUND_CODES = ("ResourceNotFound", "InvalidParameterValue.TaskId", "InvalidParameter.TaskId")
TRANSIENT_CODES = ("RequestLimitExceeded", "ClientNetworkError", "ServerNetworkError", "InternalError",
                   "ClientError.NetworkError", "FailedOperation.Timeout")
RETRY_DELAYS = (0.2, 0.5, 1.0)
VOD_TASKS_PER_PAGE = MPS_TASKS_PER_PAGE = 100
CME_TASKS_PER_PAGE = 20
MEDIA_PER_PAGE = 50
MEDIA_INFOS_PER_CALL = 20
SEARCH_RESULT_LIMIT = 5000  # SearchMedia: Offset + Limit at most 5000
# The files NewFileUpload announces, by MediaBasicInfo.SourceInfo.SourceType (MediaSourceData): "Upload" (server,
# client/UGC and pull uploads). Not Record/TrtcRecord/WebPageRecord (recordings), VideoProcessing (a task's
# output, announced by that task's event) nor Unknown: reconcile must not invent an upload Tencent never pushes.
# Pulled files are Upload too but announced by PullComplete: the run skips a file any VOD ledger entry names.
UPLOAD_SOURCE_TYPES = ("Upload",)


class TencentUnavailable(Exception):
    """Tencent did not answer: unreachable, throttled past the retries, or refusing the credentials."""

    def __init__(self, product: str, action: str, code: str) -> None:
        super().__init__(f"Tencent's {product.upper()} {action} failed ({code or 'no answer'})")
        self.product, self.action, self.code = product, action, code


def iso(moment: datetime) -> str:
    """Tencent's ISO 8601 form: 2019-01-09T16:36:22Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime | None:
    """A Tencent timestamp, or None (missing, empty, or the "0000-00-00T00:00:00Z" of "not yet")."""
    if not isinstance(text, str) or not text or text.startswith("0000"):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _sub_app(sub_app_id: int | None) -> dict[str, Any]:
    return {"SubAppId": sub_app_id} if sub_app_id is not None else {}


class TencentApi:
    """The reads of a reconcile run. ``clients(product)`` gives the SDK's CommonClient for the product
    (lib/tencent.make_client); ``platform`` is CME's (CME_PLATFORM); ``calls`` counts the API calls made."""

    def __init__(self, clients: Callable[[str], Any], platform: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.clients, self.platform, self.sleep = clients, platform, sleep
        self.calls = 0

    def call(self, product: str, action: str, params: dict[str, Any], *,
             not_found: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """The ``Response`` of one call, None for a ``not_found`` error code; retried when transient."""
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        code = ""
        for delay in (*RETRY_DELAYS, None):
            self.calls += 1
            try:
                answer: dict[str, Any] = self.clients(product).call_json(action, params)["Response"]
                return answer
            except TencentCloudSDKException as exc:
                code = str(exc.get_code() or "")
                if not_found and code.startswith(not_found):
                    return None
                if delay is None or not code.startswith(TRANSIENT_CODES):
                    break
                self.sleep(delay)
        raise TencentUnavailable(product, action, code)

    # ---- tasks

    def vod_tasks(self, sub_app_id: int | None, after: datetime, before: datetime) -> Iterator[list[dict[str, Any]]]:
        """Pages of VOD tasks that finished in [after, before)."""
        params = {**_sub_app(sub_app_id), "Status": "FINISH", "Limit": VOD_TASKS_PER_PAGE,
                  "FinishTime": {"After": iso(after), "Before": iso(before)}}
        yield from self._scroll("vod", params)

    def mps_tasks(self, after: datetime, before: datetime) -> Iterator[list[dict[str, Any]]]:
        """Pages of finished MPS tasks of the window (MPS filters by StartTime/EndTime)."""
        params = {"Status": "FINISH", "StartTime": iso(after), "EndTime": iso(before), "Limit": MPS_TASKS_PER_PAGE}
        yield from self._scroll("mps", params)

    def _scroll(self, product: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        token: str | None = None
        while True:
            answer = self.call(product, "DescribeTasks", {**params, **({"ScrollToken": token} if token else {})}) or {}
            yield [t for t in answer.get("TaskSet") or [] if isinstance(t, dict)]
            token = answer.get("ScrollToken") or None
            if not token:
                return

    def cme_tasks(self) -> Iterator[list[dict[str, Any]]]:
        """Pages of the platform's finished export tasks (CME lists them without a time filter)."""
        offset = 0
        while True:
            answer = self.call("cme", "DescribeTasks", {
                "Platform": self.platform, "TaskTypeSet": ["VIDEO_EDIT_PROJECT_EXPORT"],
                "StatusSet": ["SUCCESS", "FAIL"], "Offset": offset, "Limit": CME_TASKS_PER_PAGE}) or {}
            page = [t for t in answer.get("TaskBaseInfoSet") or [] if isinstance(t, dict)]
            yield page
            offset += len(page)
            if not page or offset >= int(answer.get("TotalCount") or 0):
                return

    def task_detail(self, product: str, task_id: str, sub_app_id: int | None = None) -> dict[str, Any] | None:
        """DescribeTaskDetail's answer, or None when Tencent knows no such task."""
        params: dict[str, Any] = {"TaskId": task_id}
        if product == "vod":
            params.update(_sub_app(sub_app_id))
        elif product == "cme":
            params["Platform"] = self.platform
        return self.call(product, "DescribeTaskDetail", params, not_found=NOT_FOUND_CODES)

    # ---- VOD files and event configuration

    def search_media(self, sub_app_id: int | None, after: datetime, before: datetime) -> Iterator[list[dict[str, Any]]]:
        """Pages of uploaded files (``UPLOAD_SOURCE_TYPES``) created in [after, before] (oldest first), basic
        info only."""
        offset = 0
        while offset < SEARCH_RESULT_LIMIT:
            limit = min(MEDIA_PER_PAGE, SEARCH_RESULT_LIMIT - offset)
            answer = self.call("vod", "SearchMedia", {
                **_sub_app(sub_app_id), "CreateTime": {"After": iso(after), "Before": iso(before)},
                "SourceTypes": list(UPLOAD_SOURCE_TYPES),
                "Sort": {"Field": "CreateTime", "Order": "Asc"}, "Filters": ["basicInfo"],
                "Offset": offset, "Limit": limit}) or {}
            page = [m for m in answer.get("MediaInfoSet") or [] if isinstance(m, dict)]
            yield page
            offset += len(page)
            if not page or offset >= int(answer.get("TotalCount") or 0):
                return

    def media_infos(self, sub_app_id: int | None, file_ids: list[str]) -> list[dict[str, Any]]:
        """The files' basic info and metadata (DescribeMediaInfos, 20 FileIds a call); deleted ones are absent."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(file_ids), MEDIA_INFOS_PER_CALL):
            answer = self.call("vod", "DescribeMediaInfos", {
                **_sub_app(sub_app_id), "FileIds": file_ids[start:start + MEDIA_INFOS_PER_CALL],
                "Filters": ["basicInfo", "metaData"]}) or {}
            found += [m for m in answer.get("MediaInfoSet") or [] if isinstance(m, dict)]
        return found

    def event_config(self, sub_app_id: int | None) -> dict[str, Any]:
        """The application's mode (PUSH or PULL) and which optional events it sends."""
        return self.call("vod", "DescribeEventConfig", _sub_app(sub_app_id)) or {}

    def events_waiting(self, sub_app_id: int | None) -> int:
        """How many events wait to be pulled (approximate, about 3 minutes late: Tencent's words)."""
        answer = self.call("vod", "DescribeEventsState", _sub_app(sub_app_id)) or {}
        return int(answer.get("CountOfEventsToPull") or 0)
