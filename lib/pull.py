"""VOD reliable callback: PullEvents, run the pipeline, ConfirmEvents; the ``pull`` entry point's logic.

VOD keeps unconfirmed events for 4 days and hands them out again 30 s after a PullEvents that was not
confirmed. So this loop confirms a handle only when its event is archived and published (or is a
known duplicate, or was dead-lettered), and only inside the 30 s window; everything else is simply
left to come back. Each batch's events run concurrently. An event that keeps failing is a *poison*
event: after ``PULL_MAX_ATTEMPTS`` failures (counted by ``event_id``) it is archived under
``vod/_dead/`` with its error and confirmed, so it stops blocking the queue.

The Tencent SDK (``tencentcloud-sdk-python-common``, for TC3 signing) is imported here only, so the
callback's cold start never pays for it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from lib import aws
from lib.errors import DeliveryError, InProgress
from lib.intake import InboundEvent, event_id_of, read_event
from lib.observability import count, logger
from lib.pipeline import Outcome, dead_letter, process
from lib.settings import Settings, TencentCredentialSettings

MAX_EVENTS_PER_PULL = 16  # PullEvents returns at most 16 events
MAX_HANDLES_PER_CONFIRM = 16  # ConfirmEvents takes at most 16 handles
CONFIRM_WINDOW_SECONDS = 30.0  # after this, ConfirmEvents fails and the events come back
CONFIRM_MARGIN_SECONDS = 3.0  # confirm no later than 27 s after the pull
NO_EVENT_CODES = ("ResourceNotFound",)  # PullEvents says "no event" with an error (code prefix)
# Worth a few quick retries before the run is failed (and retried by the next schedule).
TRANSIENT_CODES = ("RequestLimitExceeded", "ClientNetworkError", "ServerNetworkError", "InternalError",
                   "ClientError.NetworkError", "FailedOperation.Timeout")
PULL_RETRY_DELAYS = (0.2, 0.5, 1.0)


class PullSettings(TencentCredentialSettings):
    """Pull-mode settings (environment variables of the same names, upper-cased)."""

    FEATURE: ClassVar[str] = "pull configuration"

    vod_sub_app_ids: tuple[int, ...] = ()
    vod_api_endpoint: str = "https://vod.tencentcloudapi.com"
    pull_max_attempts: int = Field(default=5, ge=1)
    pull_workers: int = Field(default=4, ge=1, le=16)  # PullEvents loops in parallel (Tencent allows 100 calls/s)
    pull_concurrency: int = Field(default=64, ge=1, le=128)  # events processed at once across all workers
    pull_request_timeout_seconds: int = Field(default=10, ge=6)
    pull_reserve_ms: int = Field(default=15_000, ge=0)

    @field_validator("vod_sub_app_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return tuple(p.strip() for p in value.split(",") if p.strip()) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _endpoint_is_a_url(self) -> PullSettings:
        self.check_url(self.vod_api_endpoint, "VOD_API_ENDPOINT", "https://vod.tencentcloudapi.com")
        return self


def make_client(pull: PullSettings, cache_seconds: int = 300) -> Any:
    """The Tencent SDK's CommonClient for VOD (lib/tencent.py); endpoint and credentials from settings."""
    from lib.tencent import make_client as tencent_client

    return tencent_client("vod", pull.vod_api_endpoint, pull.tencent_credentials(cache_seconds),
                          pull.pull_request_timeout_seconds)


@dataclass
class PullSummary:
    """What one run did; returned by ``handler.pull`` and logged."""

    pulled: int = 0
    processed: int = 0
    duplicates: int = 0
    confirmed: int = 0
    dead: int = 0
    left: int = 0  # events pulled but not confirmed: they come back after 30 s
    confirm_failures: int = 0
    sub_apps: list[int | None] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def counts(self) -> dict[str, int]:
        """The run's numbers, as the PullEvents metric's ``outcome`` dimension names them."""
        return {name: value for name, value in self.as_dict().items() if isinstance(value, int)}


class AttemptCounter:
    """Failures per event_id. In DynamoDB when a table is configured (survives invocations), else in memory."""

    def __init__(self, table: str | None) -> None:
        self.table = table
        self._local: dict[str, int] = {}
        self._lock = threading.Lock()

    def fail(self, event_id: str) -> int:
        """Record one more failure; return the total so far."""
        if self.table:
            result = aws.client("dynamodb").update_item(
                TableName=self.table, Key={"id": {"S": f"mediahook-attempts#{event_id}"}},
                UpdateExpression="ADD attempts :one SET expiration = :exp",
                ExpressionAttributeValues={":one": {"N": "1"}, ":exp": {"N": str(int(time.time()) + 5 * 86400)}},
                ReturnValues="UPDATED_NEW")
            return int(result["Attributes"]["attempts"]["N"])
        with self._lock:
            self._local[event_id] = self._local.get(event_id, 0) + 1
            return self._local[event_id]


@dataclass(frozen=True)
class Handled:
    """The fate of one pulled event: confirm it or leave it."""

    handle: str
    confirm: bool
    outcome: Outcome | None = None
    dead: bool = False


class Puller:
    """One run of the pull loop over the configured SubAppIds."""

    def __init__(self, settings: Settings, pull: PullSettings, client: Any,
                 remaining_ms: Callable[[], int], clock: Callable[[], float] = time.monotonic) -> None:
        self.settings, self.pull, self.client = settings, pull, client
        self.remaining_ms, self.clock = remaining_ms, clock
        self.attempts = AttemptCounter(settings.idempotency_table)
        self.summary = PullSummary()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=pull.pull_concurrency, thread_name_prefix="pull-event")

    def run(self) -> PullSummary:
        """Drain every SubAppId with ``pull_workers`` loops in parallel: while one batch is being
        processed or confirmed, others are already pulled (each waits on a 30 ms+ round trip)."""
        try:
            for sub_app_id in self.pull.vod_sub_app_ids or (None,):
                self.summary.sub_apps.append(sub_app_id)
                with ThreadPoolExecutor(self.pull.pull_workers, thread_name_prefix="pull-loop") as loops:
                    for done in [loops.submit(self._drain, sub_app_id) for _ in range(self.pull.pull_workers)]:
                        done.result()
        finally:
            self._pool.shutdown(wait=True)
        logger.info("pull run finished", extra={"summary": self.summary.as_dict()})
        for outcome, amount in self.summary.counts().items():  # zeros too: the dashboard draws every run
            count("PullEvents", amount, outcome=outcome)
        return self.summary

    def _params(self, sub_app_id: int | None, **extra: Any) -> dict[str, Any]:
        return {**({"SubAppId": sub_app_id} if sub_app_id is not None else {}), **extra}

    def _drain(self, sub_app_id: int | None) -> None:
        while self.remaining_ms() > self.pull.pull_reserve_ms:
            events, pulled_at = self._pull_once(sub_app_id)
            if not events:
                return
            self._add(pulled=len(events))
            handled = self._handle_batch(events)
            self._confirm(sub_app_id, [h for h in handled if h.confirm], pulled_at)
            self._add(left=sum(1 for h in handled if not h.confirm))

    def _add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self.summary, name, getattr(self.summary, name) + value)

    def _pull_once(self, sub_app_id: int | None) -> tuple[list[dict[str, Any]], float]:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        for attempt, delay in enumerate((*PULL_RETRY_DELAYS, None)):
            pulled_at = self.clock()
            try:
                response = self.client.call_json("PullEvents", self._params(sub_app_id))
                break
            except TencentCloudSDKException as exc:
                code = str(exc.get_code() or "")
                if code.startswith(NO_EVENT_CODES):
                    return [], pulled_at
                if delay is None or not code.startswith(TRANSIENT_CODES):
                    raise
                logger.warning("PullEvents failed; retrying", extra={"error_code": code, "attempt": attempt + 1})
                time.sleep(delay)
        events = (response.get("Response") or {}).get("EventSet") or []
        return [e for e in events if isinstance(e, dict)], pulled_at

    def _handle_batch(self, documents: list[dict[str, Any]]) -> list[Handled]:
        """Validate every event, process each distinct event once (concurrently), answer per handle.

        Copies of one event inside a batch (same event_id, different handles) share one run, so a
        copy never races its twin into ``in_progress``."""
        handled: list[Handled] = []
        groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        events: dict[str, InboundEvent] = {}
        for document in documents:
            handle = document.get("EventHandle")
            if not isinstance(handle, str):
                logger.error("pulled event without an EventHandle; cannot confirm it")
                continue
            try:
                event = read_event(document, pinned="vod", handle=handle)
            except DeliveryError as err:  # invalid for good: retrying cannot help
                handled.append(self._dead_letter(document, handle, err.code, err.message, attempts=1))
                continue
            groups.setdefault(event.event_id, []).append((handle, document))
            events.setdefault(event.event_id, event)
        results = self._pool.map(lambda eid: self._process_one(events[eid], groups[eid][0][1]), list(groups))
        for event_id, first in zip(groups, results, strict=True):
            copies = groups[event_id]
            handled.append(Handled(copies[0][0], first.confirm, first.outcome, first.dead))
            for handle, _ in copies[1:]:
                twin = (Outcome(first.outcome.event_id, first.outcome.product, first.outcome.event_type, True,
                                first.outcome.archive_key) if first.outcome else None)
                handled.append(Handled(handle, first.confirm, twin, first.dead))
        return handled

    def _process_one(self, event: InboundEvent, document: dict[str, Any]) -> Handled:
        handle = event.handle or ""
        try:
            outcome = self._process_waiting_for_twins(event)
        except InProgress:  # another delivery is still on it: not this event's fault; it comes back
            return Handled(handle, confirm=False)
        except Exception as exc:  # noqa: BLE001 - any failure: leave it to come back, count it
            attempts = self.attempts.fail(event.event_id)
            code = getattr(exc, "code", type(exc).__name__)
            logger.warning("pulled event failed; it will come back",
                           extra={"event_id": event.event_id, "attempts": attempts, "error_code": code})
            if attempts >= self.pull.pull_max_attempts:
                return self._dead_letter(document, handle, str(code), str(exc), attempts, event)
            return Handled(handle, confirm=False)
        return Handled(handle, confirm=True, outcome=outcome)

    def _process_waiting_for_twins(self, event: InboundEvent) -> Outcome:
        """Process; if a copy of the event is in flight (another batch, a push), give it a moment to
        finish so this copy can be confirmed as a duplicate now rather than pulled again in 30 s."""
        for delay in (0.05, 0.1, 0.2, 0.4, 0.8):
            try:
                return process(event, delivery="pull", settings=self.settings)
            except InProgress:
                time.sleep(delay)
        return process(event, delivery="pull", settings=self.settings)

    def _dead_letter(self, document: dict[str, Any], handle: str, code: str, message: str, attempts: int,
                     event: InboundEvent | None = None) -> Handled:
        """Archive a poison event under vod/_dead/ with its error, so it can be confirmed and inspected."""
        event_id = event.event_id if event else event_id_of(document, lenient=True)
        try:
            dead_letter(self.settings, product="vod", document=document, event_id=event_id, code=code,
                        message=message, attempts=attempts, delivery="pull")
        except Exception:  # noqa: BLE001 - not archived: it must not be confirmed
            logger.exception("dead-letter archive failed; the event will come back", extra={"event_id": event_id})
            return Handled(handle, confirm=False)
        return Handled(handle, confirm=True, dead=True)

    def _confirm(self, sub_app_id: int | None, done: list[Handled], pulled_at: float) -> None:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        for start in range(0, len(done), MAX_HANDLES_PER_CONFIRM):
            chunk = done[start:start + MAX_HANDLES_PER_CONFIRM]
            if self.clock() - pulled_at > CONFIRM_WINDOW_SECONDS - CONFIRM_MARGIN_SECONDS:
                logger.warning("confirm window passed; events will be pulled again (they are deduplicated)",
                               extra={"events": len(chunk)})
                self._add(left=len(chunk))
                continue
            try:
                self.client.call_json("ConfirmEvents", self._params(sub_app_id, EventHandles=[h.handle for h in chunk]))
            except TencentCloudSDKException as exc:
                self._add(confirm_failures=1, left=len(chunk))
                logger.warning("ConfirmEvents failed; the events will come back", extra={"error_code": exc.get_code()})
                continue
            outcomes = [h.outcome for h in chunk if h.outcome is not None]
            self._add(confirmed=len(chunk), dead=sum(h.dead for h in chunk), processed=len(outcomes),
                      duplicates=sum(o.duplicate for o in outcomes))


def run(settings: Settings, context: Any, env: Mapping[str, str] | None = None, client: Any = None) -> PullSummary:
    """The ``pull`` entry point's work: one run of the loop within the invocation's time budget."""
    pull = PullSettings.from_env(os.environ if env is None else env)
    remaining: Callable[[], int] = getattr(context, "get_remaining_time_in_millis", lambda: 60_000)
    return Puller(settings, pull, client or make_client(pull, settings.secrets_cache_seconds), remaining).run()
