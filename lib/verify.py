"""Confirm pushed events with Tencent before trusting them (``VERIFY_EVENTS``).

Tencent's callback signatures cover an expiry time, not the body: whoever holds one valid ``(Sign, T)``
can post any body under it until ``T`` passes. The one party that knows what happened is Tencent, so a
pushed event whose type matches ``VERIFY_EVENTS`` is checked against Tencent's API before it is archived
as genuine, published or acknowledged (routing.CONFIRM says how, per type):

- a task event: ``DescribeTaskDetail`` by TaskId finds the task, of the event's kind (the answer holds it
  in the field for the event's struct); the event's status is one the task has had (an event that says
  PROCESSING for a task now FINISH confirms; one that says FINISH for a task still PROCESSING does not),
  a final event's error code is the task's; every FileId and URL in the event is in the answer;
- a file event: ``DescribeMediaInfos`` finds the FileId (``FileDeleted``: no longer finds them);
- CME: its export task (``DescribeTaskDetail``), materials (``DescribeMaterials``), project
  (``DescribeProjects``) or class paths (``DescribeClass``), all on the platform ``CME_PLATFORM`` names.

Outcomes: confirmed (the event goes on, ``data.verified: true``); ``NotConfirmed`` (401 ``not_confirmed``,
the delivery kept under ``{product}/_rejected/``); ``VerificationUnavailable`` (503: Tencent unreachable,
throttled or refusing our credentials; the sender retries, never a silent pass). An answer that does not
yet show what the event says (a task or file Tencent has not indexed yet) is asked again a few times.

The Tencent SDK is loaded only here (through lib/tencent.py), and this module only when VERIFY_EVENTS is set.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, field_validator

from lib import aws
from lib.errors import NotConfirmed, VerificationUnavailable
from lib.intake import InboundEvent, payload_of
from lib.observability import count, logger
from lib.routing import CONFIRM, find_route, verify_matches
from lib.settings import Settings, TencentCredentialSettings, split_csv

# Tencent does not document the error DescribeTaskDetail answers for an unknown TaskId; these are taken
# as "no such task" (checked against the SDK's error code list), anything else as "could not ask".
NOT_FOUND_CODES = ("ResourceNotFound", "InvalidParameterValue.TaskId", "InvalidParameter.TaskId")
STATUS_RANK = {"WAITING": 0, "PROCESSING": 1, "FINISH": 2, "SUCCESS": 2, "FAIL": 2, "FAILED": 2, "ABORTED": 2}
# (CME export tasks: PROCESSING, then SUCCESS or FAIL.)


class _NotYet(Exception):
    """Tencent's answer does not (yet) show what the event says."""


class VerifySettings(TencentCredentialSettings):
    """Where and how to ask Tencent. Credentials as for pull mode (the SDK's variables or ``*_PARAM``)."""

    FEATURE = "verification settings"
    vod_api_endpoint: str = "https://vod.tencentcloudapi.com"
    mps_api_endpoint: str = "https://mps.tencentcloudapi.com"
    cme_api_endpoint: str = "https://cme.tencentcloudapi.com"
    vod_sub_app_ids: tuple[int, ...] = ()
    verify_request_timeout_seconds: int = Field(default=5, ge=1, le=30)
    # Delays before asking again when the answer does not yet show the event (a task still indexing).
    verify_retry_seconds: tuple[float, ...] = (0.5, 1.0)

    @field_validator("vod_sub_app_ids", "verify_retry_seconds", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return split_csv(value) if isinstance(value, str) else value


def _flatten(value: Any) -> Iterator[str]:
    """Every scalar in a JSON answer, as text (FileIds come as strings or numbers)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _payload(event: InboundEvent) -> dict[str, Any]:
    """The event's payload struct (the task), read as intake read it."""
    route = find_route(event.product, event.event_type)
    value = payload_of(event.document, route)[1] if route is not None else None
    return value if isinstance(value, dict) else {}


class Verifier:
    """Asks Tencent's VOD, MPS and CME APIs about events. ``clients(product)`` gives a CommonClient (tests: one
    for the local fakes); by default the SDK's, from ``VerifySettings``."""

    def __init__(self, settings: VerifySettings, cache_seconds: int = 300,
                 clients: Callable[[str], Any] | None = None, sleep: Callable[[float], None] = time.sleep,
                 platform: str | None = None) -> None:
        self.settings, self.sleep, self.platform = settings, sleep, platform
        self._clients = clients or functools.cache(lambda product: self._client(product, cache_seconds))

    def _client(self, product: str, cache_seconds: int) -> Any:
        from lib.tencent import make_client

        endpoint = {"vod": self.settings.vod_api_endpoint, "mps": self.settings.mps_api_endpoint,
                    "cme": self.settings.cme_api_endpoint}[product]
        return make_client(product, endpoint, self.settings.tencent_credentials(cache_seconds),
                           self.settings.verify_request_timeout_seconds)

    def _call(self, product: str, action: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The answer, or None when Tencent says there is no such resource."""
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        try:
            answer: dict[str, Any] = self._clients(product).call_json(action, params)["Response"]
            return answer
        except TencentCloudSDKException as exc:
            code = str(exc.get_code() or "")
            if code.startswith(NOT_FOUND_CODES):
                return None
            if code.startswith("AuthFailure"):
                logger.error("Tencent refused the verification credentials", extra={"error_code": code})
            raise VerificationUnavailable(f"Tencent's {product.upper()} API could not confirm the event "
                                          f"({code or 'no answer'}); retry later") from None

    def confirm(self, event: InboundEvent, sub_app_id: int | None = None) -> None:
        """Return if Tencent confirms ``event``; raise ``NotConfirmed`` or ``VerificationUnavailable``."""
        how = CONFIRM[(event.product, event.event_type)]
        delays = [*self.settings.verify_retry_seconds, None]
        for delay in delays:
            try:
                self._check(event, how, sub_app_id)
                return
            except _NotYet as exc:
                if delay is None:
                    raise NotConfirmed(str(exc)) from None
                self.sleep(delay)

    def _sub_apps(self, explicit: int | None) -> list[int | None]:
        if explicit is not None:
            return [explicit]
        return list(self.settings.vod_sub_app_ids) or [None]

    def _check(self, event: InboundEvent, how: str, sub_app_id: int | None) -> None:
        if how.startswith("task:"):
            self._check_task(event, how.removeprefix("task:"), sub_app_id)
        elif how in ("media", "deleted"):
            self._check_files(event, deleted=how == "deleted", sub_app_id=sub_app_id)
        elif how == "cme:task":
            self._check_cme_task(event)
        elif how in ("cme:materials", "cme:materials-deleted"):
            self._check_cme_materials(event, deleted=how.endswith("-deleted"))
        elif how == "cme:project":
            self._check_cme_project(event)
        else:
            self._check_cme_class(event, deleted=how.endswith("-deleted"))

    def _check_task(self, event: InboundEvent, field: str, sub_app_id: int | None) -> None:
        task_id = event.summary.task_id
        if not task_id:
            raise _NotYet("the event names no TaskId")
        answer = None
        for app in self._sub_apps(sub_app_id) if event.product == "vod" else [None]:
            params: dict[str, Any] = {"TaskId": task_id, **({"SubAppId": app} if app is not None else {})}
            answer = self._call(event.product, "DescribeTaskDetail", params)
            if answer is not None:
                break
        if answer is None:
            raise _NotYet(f"no task {task_id}")
        task = answer.get(field)
        if not isinstance(task, dict):
            raise _NotYet(f"task {task_id} is a {answer.get('TaskType')} task, not the event's kind ({field})")
        self._compare_task(event, task_id, task, answer)

    def _compare_task(self, event: InboundEvent, task_id: str, task: dict[str, Any], answer: dict[str, Any]) -> None:
        """The event's state is one the task has had, a final event's ErrCode is the task's, and every
        FileId and URL of the event is in Tencent's answer."""
        api_status = str(answer.get("Status") or task.get("Status") or "").upper()
        event_status = str(event.summary.status or "FINISH").upper()  # the 2017-era events report completion
        if STATUS_RANK.get(event_status, 2) > STATUS_RANK.get(api_status, 0):
            raise _NotYet(f"task {task_id} is {api_status or 'unknown'}, the event says {event_status}")
        # A final event's error code is the task's own (ErrCode on the task struct, in the event and the answer).
        api_code, event_code = task.get("ErrCode"), _payload(event).get("ErrCode")
        if (STATUS_RANK.get(event_status, 2) == 2 and isinstance(api_code, int) and isinstance(event_code, int)
                and not isinstance(api_code, bool) and event_code != api_code):
            raise _NotYet(f"task {task_id} ended with ErrCode {api_code}, the event says {event_code}")
        self._outputs_known(event, answer)

    @staticmethod
    def _outputs_known(event: InboundEvent, answer: dict[str, Any]) -> None:
        known = set(_flatten(answer))
        for file_id in event.summary.file_ids:
            if file_id not in known:
                raise _NotYet(f"file {file_id} is not in Tencent's answer")
        for url in event.summary.urls:
            if url not in known:
                raise _NotYet(f"URL {url} is not in Tencent's answer")

    def _check_files(self, event: InboundEvent, *, deleted: bool, sub_app_id: int | None) -> None:
        file_ids = list(event.summary.file_ids)
        if not file_ids:
            raise _NotYet("the event names no FileId")
        missing: set[str] = set(file_ids)
        for app in self._sub_apps(sub_app_id):
            params: dict[str, Any] = {"FileIds": file_ids, **({"SubAppId": app} if app is not None else {})}
            answer = self._call("vod", "DescribeMediaInfos", params) or {}
            found = {str(m.get("FileId")) for m in answer.get("MediaInfoSet") or [] if isinstance(m, dict)}
            if deleted:
                if found & set(file_ids):
                    raise _NotYet(f"files {sorted(found & set(file_ids))} still exist")
            else:
                missing -= found
                if not missing:
                    return
        if not deleted:
            raise _NotYet(f"no file {sorted(missing)}")

    # ---- CME: every call names the platform (CME_PLATFORM)

    def _cme(self, action: str, **params: Any) -> dict[str, Any] | None:
        return self._call("cme", action, {"Platform": self.platform, **params})

    def _check_cme_task(self, event: InboundEvent) -> None:
        task_id = event.summary.task_id
        if not task_id:
            raise _NotYet("the event names no TaskId")
        answer = self._cme("DescribeTaskDetail", TaskId=task_id)
        if answer is None:
            raise _NotYet(f"no task {task_id}")
        if answer.get("TaskType") not in (None, "VIDEO_EDIT_PROJECT_EXPORT"):
            raise _NotYet(f"task {task_id} is a {answer.get('TaskType')} task, not a video export")
        self._compare_task(event, task_id, answer, answer)

    def _check_cme_materials(self, event: InboundEvent, *, deleted: bool) -> None:
        wanted = [m for m in event.summary.material_ids if m]
        if not wanted:
            raise _NotYet("the event names no MaterialId")
        answer = self._cme("DescribeMaterials", MaterialIds=wanted) or {}
        found = {str((m.get("BasicInfo") or {}).get("MaterialId")) for m in answer.get("MaterialInfoSet") or []
                 if isinstance(m, dict)}
        if deleted and found & set(wanted):
            raise _NotYet(f"materials {sorted(found & set(wanted))} still exist")
        if not deleted and set(wanted) - found:
            raise _NotYet(f"no material {sorted(set(wanted) - found)}")

    def _check_cme_project(self, event: InboundEvent) -> None:
        project_id = event.summary.project_id
        if not project_id:
            raise _NotYet("the event names no ProjectId")
        answer = self._cme("DescribeProjects", ProjectIds=[project_id]) or {}
        found = {str(p.get("ProjectId")) for p in answer.get("ProjectInfoSet") or [] if isinstance(p, dict)}
        if project_id not in found:
            raise _NotYet(f"no project {project_id}")

    def _check_cme_class(self, event: InboundEvent, *, deleted: bool) -> None:
        payload = _payload(event)
        owner = payload.get("DestinationOwner") or payload.get("Owner")
        paths = payload.get("ClassPathSet") or [payload.get("DestinationClassPath") or payload.get("ClassPath")]
        paths = [p for p in paths if isinstance(p, str) and p]
        if not isinstance(owner, dict) or not paths:
            raise _NotYet("the event names no owner and class path")
        answer = self._cme("DescribeClass", Owner={"Type": owner.get("Type"), "Id": owner.get("Id")}) or {}
        existing = {str(c.get("ClassPath")) for c in answer.get("ClassInfoSet") or [] if isinstance(c, dict)}
        if deleted and existing & set(paths):
            raise _NotYet(f"classes {sorted(existing & set(paths))} still exist")
        if not deleted and set(paths) - existing:
            raise _NotYet(f"no class {sorted(set(paths) - existing)}")


# --------------------------------------------------------------------------- the callback's side


@functools.cache
def default_verifier(settings: Settings) -> Verifier:
    return Verifier(VerifySettings.from_env(os.environ), settings.secrets_cache_seconds,
                    platform=settings.cme_platform)


def sub_app_id_from(query: Mapping[str, str]) -> int | None:
    """``?subAppId=`` on the callback URL (set it in Tencent's NotificationUrl for a sub-application)."""
    value = query.get("subAppId") or query.get("SubAppId")
    if value is None:
        return None
    if not value.isdigit():
        raise NotConfirmed(f"subAppId {value[:20]!r} is not a number")
    return int(value)


def check(events: list[InboundEvent], *, query: Mapping[str, str], settings: Settings,
          verifier: Verifier | None = None) -> list[InboundEvent]:
    """Confirm every event of a push delivery that VERIFY_EVENTS names; return them marked ``verified``.
    A contradicted event is kept under ``{product}/_rejected/`` and the whole delivery refused (401)."""
    chosen = [e for e in events if verify_matches(settings.verify_events, e.product, e.event_type)]
    if not chosen:
        return events
    verifier = verifier or default_verifier(settings)
    sub_app_id = sub_app_id_from(query)
    confirmed: set[str] = set()
    for event in chosen:
        try:
            verifier.confirm(event, sub_app_id)
        except NotConfirmed as exc:
            keep_rejected(event, exc.detail, settings)
            count("NotConfirmed", product=event.product)
            raise
        confirmed.add(event.event_id)
    return [dataclasses.replace(e, verified=True) if e.event_id in confirmed else e for e in events]


def keep_rejected(event: InboundEvent, reason: str, settings: Settings) -> str | None:
    """The delivery of a contradicted event, kept as evidence (a forged body is one). Returns the key."""
    now = datetime.now(UTC)
    key = (f"{settings.archive_prefix}{event.product}/_rejected/{now:%Y/%m/%d}/"
           f"{event.event_id}-{now:%H%M%S%f}.json")
    try:
        aws.client("s3").put_object(
            Bucket=settings.archive_bucket, Key=key, Body=event.body, ContentType="application/json",
            Metadata={"reason": reason.encode("ascii", "replace").decode()[:1000], "product": event.product,
                      "event-type": event.event_type[:200], "rejected-at": now.isoformat()})
    except (ClientError, BotoCoreError):  # still refused: nothing is published; the reason is in the log
        logger.exception("could not keep a contradicted delivery under _rejected/", extra={"archive_key": key})
        return None
    logger.warning("event not confirmed by Tencent: refused, kept under _rejected/",
                   extra={"event_id": event.event_id, "archive_key": key, "reason": reason[:500]})
    return key
