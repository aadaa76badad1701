"""One reconcile run: ask Tencent what happened, recover what mediahook never received.

Per product (``RECONCILE_PRODUCTS``) and, for VOD, per sub-application (``VOD_SUB_APP_IDS``):

1. VOD: ``DescribeEventConfig``. An application in ``PULL`` mode loses nothing (its events wait at
   Tencent for four days): the run reads ``DescribeEventsState`` and emits ``PullBacklog``, and stops there.
2. List the tasks that finished in ``[now - lookback, now - grace]``, every page (``ScrollToken``, or CME's
   Offset); the grace gives the genuine push its chance first. CME gives no finish time: its grace counts
   from the first run that saw the export final (lib/reconcile/sightings.py).
3. A task whose final state the ledger holds is *seen*. Any other (never received, or received only as
   ``PROCESSING``) is asked about with ``DescribeTaskDetail``; if Tencent says it is final, the event the
   push would have carried is rebuilt (lib/reconcile/rebuild.py) and run through the one pipeline as
   ``delivery="reconcile"``: archived, recorded in the ledger, published (``data.recovered: true``).
   A task type the table does not map is counted (``unmapped``) and logged, never guessed.
4. VOD uploads, only where ``DescribeEventConfig`` says ``NewFileUpload`` is pushed: files created in the
   window (``SearchMedia``) with no ``NewFileUpload`` in the ledger are recovered from ``DescribeMediaInfos``.

Idempotent: a second run finds what the first recovered in the ledger (and the pipeline's idempotency
deduplicates the same rebuilt event). Bounded: paging and work stop with ``RECONCILE_RESERVE_MS`` left;
the lookback overlaps the next run, which covers the rest. Loud: Tencent unreachable, throttled or
refusing the credentials fails the run (``ReconcileFailed``) after everything else it could do; an AWS
failure leaves that one task for the next run.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, field_validator, model_validator

from lib import aws, dedup
from lib.errors import DeliveryError, InProgress, StorageUnavailable
from lib.intake import InboundEvent, parse_delivery
from lib.ledger import Ledger, LedgerUnavailable, ledger_for
from lib.observability import count, logger
from lib.pipeline import process
from lib.reconcile.rebuild import FINAL_TASK_STATUSES, Unmappable, task_event, task_event_for, upload_event
from lib.reconcile.sightings import first_seen_final
from lib.routing import Product
from lib.settings import ConfigError, Settings, TencentCredentialSettings, split_csv
from lib.tencent.listing import TencentApi, TencentUnavailable, parse_time

# The outcomes of one listed task or file, as the ReconcileTasks metric's ``outcome`` dimension names them.
Outcome = Literal["seen", "recovered", "failed", "skipped", "unmapped"]
AWS_FAILURES = (StorageUnavailable, InProgress, ClientError, BotoCoreError)


def clock() -> datetime:
    """The run's now (a seam for tests that cross the grace without sleeping)."""
    return datetime.now(UTC)


class ReconcileSettings(TencentCredentialSettings):
    """Reconcile settings (environment variables of the same names, upper-cased); credentials, endpoints,
    ``VOD_SUB_APP_IDS`` and ``CME_PLATFORM`` as for pull mode and verification."""

    FEATURE: ClassVar[str] = "reconcile configuration"

    reconcile_products: tuple[Product, ...] = ("vod",)
    reconcile_lookback_seconds: int = Field(default=3600, ge=60, le=72 * 3600)  # VOD keeps 72 h of tasks
    reconcile_grace_seconds: int = Field(default=300, ge=0)
    reconcile_reserve_ms: int = Field(default=15_000, ge=0)
    reconcile_request_timeout_seconds: int = Field(default=10, ge=1, le=60)
    vod_sub_app_ids: tuple[int, ...] = ()
    vod_api_endpoint: str = "https://vod.tencentcloudapi.com"
    mps_api_endpoint: str = "https://mps.tencentcloudapi.com"
    cme_api_endpoint: str = "https://cme.tencentcloudapi.com"

    @field_validator("reconcile_products", "vod_sub_app_ids", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return tuple(p.lower() for p in split_csv(value)) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _coherent(self) -> ReconcileSettings:
        if self.reconcile_grace_seconds >= self.reconcile_lookback_seconds:
            raise ValueError("RECONCILE_GRACE_SECONDS must be shorter than RECONCILE_LOOKBACK_SECONDS")
        for name in ("vod", "mps", "cme"):
            self.check_url(getattr(self, f"{name}_api_endpoint"), f"{name.upper()}_API_ENDPOINT",
                           f"https://{name}.tencentcloudapi.com")
        return self

    def endpoint(self, product: str) -> str:
        return str(getattr(self, f"{product}_api_endpoint"))


@dataclass
class ReconcileSummary:
    """What one run did; returned by ``handler.reconcile`` and logged."""

    listed: int = 0  # tasks and files Tencent listed in the window
    seen: int = 0  # already in the ledger in their final state
    recovered: int = 0  # rebuilt and run through the pipeline
    failed: int = 0  # an AWS failure: left for the next run
    skipped: int = 0  # not final at Tencent yet (or inside CME's grace), sends no event, gone, or out of time
    unmapped: int = 0  # a task type mediahook cannot rebuild (logged; not in skipped)
    pull_backlog: int = 0  # events waiting at Tencent for PULL-mode applications
    api_calls: int = 0
    complete: bool = True  # false: the reserve time stopped the run (the next one covers the rest)
    scopes: list[str] = field(default_factory=list)  # "vod:1500000001", "mps", "cme"
    errors: list[str] = field(default_factory=list)  # Tencent calls that failed the run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def outcomes(self) -> dict[str, int]:
        return {"listed": self.listed, "seen": self.seen, "recovered": self.recovered, "failed": self.failed,
                "skipped": self.skipped, "unmapped": self.unmapped}


class ReconcileFailed(RuntimeError):
    """Tencent could not be read (unreachable, throttled, credentials refused): the invocation fails so
    the function's error metric and alarm fire; what could be done was done."""

    def __init__(self, summary: ReconcileSummary) -> None:
        super().__init__("reconcile could not read Tencent: " + "; ".join(summary.errors))
        self.summary = summary


class _OutOfTime(Exception):
    """The reserve time is reached: stop paging and working."""


class Reconciler:
    """One run over the configured products and sub-applications."""

    def __init__(self, settings: Settings, config: ReconcileSettings, api: TencentApi, ledger: Ledger,
                 remaining_ms: Callable[[], int], now: Callable[[], datetime] | None = None) -> None:
        self.settings, self.config, self.api, self.ledger = settings, config, api, ledger
        self.remaining_ms = remaining_ms
        # (product, subject) -> the event_id holding its state that was neither published nor archived
        self._unpublished: dict[tuple[str, str], str] = {}
        self.moment = moment = (now or clock)()
        self.after = moment - timedelta(seconds=config.reconcile_lookback_seconds)
        self.before = moment - timedelta(seconds=config.reconcile_grace_seconds)
        self.summary = ReconcileSummary()

    def run(self) -> ReconcileSummary:
        try:
            for product in self.config.reconcile_products:
                for sub_app_id in (self.config.vod_sub_app_ids or (None,)) if product == "vod" else (None,):
                    self._scope(product, sub_app_id)
        except _OutOfTime:
            self.summary.complete = False
            logger.warning("reconcile stopped with the reserve time left; the next run covers the rest",
                           extra={"reserve_ms": self.config.reconcile_reserve_ms})
        self.summary.api_calls = self.api.calls
        for outcome, amount in self.summary.outcomes().items():  # zeros too: the dashboard draws every run
            count("ReconcileTasks", amount, outcome=outcome)
        logger.info("reconcile run finished", extra={"summary": self.summary.as_dict()})
        if self.summary.errors:
            raise ReconcileFailed(self.summary)
        return self.summary

    # ---- scopes

    def _scope(self, product: Product, sub_app_id: int | None) -> None:
        self.summary.scopes.append(product if sub_app_id is None else f"{product}:{sub_app_id}")
        try:
            if product == "vod":
                self._vod(sub_app_id)
            else:
                self._tasks(product, None, self.api.mps_tasks(self.after, self.before) if product == "mps"
                            else self.api.cme_tasks())
        except TencentUnavailable as exc:  # this scope stops; the others are still done, then the run fails
            self._tencent_failed(product, sub_app_id, exc)

    def _tencent_failed(self, product: Product, sub_app_id: int | None, exc: TencentUnavailable,
                        task_id: str | None = None) -> None:
        scope = product if sub_app_id is None else f"{product}:{sub_app_id}"
        self.summary.errors.append(f"{scope}{f' {task_id}' if task_id else ''}: {exc}")
        logger.error("Tencent could not be read; the run will fail",
                     extra={"product": product, "sub_app_id": sub_app_id, "task_id": task_id, "action": exc.action,
                            "error_code": exc.code})

    def _vod(self, sub_app_id: int | None) -> None:
        self._check_time()
        config = self.api.event_config(sub_app_id)
        if str(config.get("Mode") or "").upper() == "PULL":
            waiting = self.api.events_waiting(sub_app_id)
            self.summary.pull_backlog += waiting
            count("PullBacklog", waiting)
            logger.info("PULL mode: events wait at Tencent, nothing to reconcile",
                        extra={"sub_app_id": sub_app_id, "pull_backlog": waiting})
            return
        self._tasks("vod", sub_app_id, self.api.vod_tasks(sub_app_id, self.after, self.before))
        if str(config.get("UploadMediaCompleteEventSwitch") or "").upper() == "ON":
            self._uploads(sub_app_id)

    # ---- tasks

    def _pages(self, pages: Iterator[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        """Every item of every page; the next page is asked for only while there is time."""
        while True:
            self._check_time()
            page = next(pages, None)
            if page is None:
                return
            yield from page

    def _tasks(self, product: Product, sub_app_id: int | None, pages: Iterator[list[dict[str, Any]]]) -> None:
        for listed in self._pages(pages):
            if not self._in_window(product, listed):
                continue
            self.summary.listed += 1
            self._check_time(leaving=1)
            self._task(product, sub_app_id, listed)

    def _in_window(self, product: Product, listed: dict[str, Any]) -> bool:
        """VOD filters by FinishTime itself; MPS's filter needs the window applied here (by FinishTime).
        CME gives no finish time, only CreateTime: an export created since the lookback began is listed
        however recently it finished; its grace counts from the first run that saw it final (_cme_waits)."""
        if product == "vod":
            return True
        if product == "cme":
            created = parse_time(listed.get("CreateTime"))
            return created is not None and self.after <= created
        moment = parse_time(listed.get("FinishTime"))
        return moment is not None and self.after <= moment < self.before

    def _cme_waits(self, task_id: str) -> bool:
        """Whether a CME export listed final is still inside its grace, counted from the first run that saw
        it final (lib/reconcile/sightings.py: CME's API has no finish time to count from)."""
        table = str(self.settings.ledger_table or self.ledger.table)
        seen = first_seen_final(lambda: aws.client("dynamodb"), table, "cme", task_id, self.moment,
                                self.config.reconcile_lookback_seconds)
        if seen > self.before:
            self._add("skipped")
            logger.info("CME export seen final less than the grace ago; its push still has time",
                        extra={"task_id": task_id, "first_seen_final": seen.isoformat()})
            return True
        return False

    def _task(self, product: Product, sub_app_id: int | None, listed: dict[str, Any]) -> None:
        task_id, task_type = str(listed.get("TaskId") or ""), listed.get("TaskType")
        if not task_id or task_event_for(product, task_type) is None:
            self._unmapped(product, task_id, f"task type {task_type!r} is not mapped")
            return
        try:
            state = self.ledger.latest(product, task_id)
        except AWS_FAILURES:
            self._failed(product, task_id, "the ledger could not be read")
            return
        if state is not None and state.final:
            try:
                handled = self._handled(product, task_id, state.event_id)
            except AWS_FAILURES:
                self._failed(product, task_id, "the ledger or the idempotency table could not be read")
                return
            if handled:
                return
        try:
            if product == "cme" and self._cme_waits(task_id):
                return
        except AWS_FAILURES:
            self._failed(product, task_id, "the first-seen-final marker could not be written")
            return
        try:
            answer = self.api.task_detail(product, task_id, sub_app_id)
        except TencentUnavailable as exc:  # this task is left; the scope's others are still done, then the run fails
            self._tencent_failed(product, sub_app_id, exc, task_id)
            return
        status = str((answer or {}).get("Status") or "").upper()
        if answer is None or status not in FINAL_TASK_STATUSES:  # gone, or not final: never recovered early
            self._add("skipped")
            logger.info("task not final at Tencent; not recovered", extra={"product": product, "task_id": task_id,
                                                                           "status": status or None})
            return
        if _notifies_nothing(answer):
            self._add("skipped")
            logger.info("task flow sends no event (TasksNotifyMode None): nothing was missed",
                        extra={"product": product, "task_id": task_id})
            return
        try:
            event = task_event(product, task_type if isinstance(task_type, str) else None, answer, task_id)
        except Unmappable as exc:
            self._unmapped(product, task_id, str(exc))
            return
        except DeliveryError as exc:  # Tencent's answer does not fit the event's model: loud, never half-done
            self._add("failed")
            logger.error("the rebuilt event does not validate; not recovered",
                         extra={"product": product, "task_id": task_id, "error_code": exc.code,
                                "reason": exc.message[:500]})
            return
        self._recover(event, task_id)

    def _handled(self, product: Product, subject: str, event_id: str) -> bool:
        """Whether the ledger's final state stands for an event that went all the way through.

        The ledger records an event beside its archive write, before it is published: a push whose
        archive or publish then failed (a 503 that VOD never retries) is in the ledger, final, and was
        never published. The idempotency record tells: COMPLETED only when archived and published. Such
        an event is run again from its archived bytes (its own event_id: the consumer gets the very event,
        ``advanced`` as it was decided); without an archived copy it is rebuilt from Tencent (False)."""
        status = dedup.status(self.settings.idempotency_table, product, event_id)
        if status not in ("INPROGRESS", "NONE"):  # None: no idempotency table, the ledger is all there is
            self._add("seen")
            return True
        if status == "INPROGRESS":  # another delivery is on it right now
            self._add("skipped")
            return True
        archived = self._archived(product, subject, event_id)
        if archived is None:  # rebuilt from Tencent: its event takes over this state (_recover)
            self._unpublished[(product, subject)] = event_id
            return False
        logger.warning("event in the ledger but never published: run again from its archive",
                       extra={"event_id": event_id, "subject": subject})
        self._recover(archived, subject)
        return True

    def _archived(self, product: Product, subject: str, event_id: str) -> InboundEvent | None:
        entry = next((e for e in self.ledger.entries(subject) if e.event_id == event_id and e.product == product), None)
        if entry is None:
            return None
        try:
            stored = aws.client("s3").get_object(Bucket=self.settings.archive_bucket, Key=entry.archive_key)
            body = stored["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None  # the archive write failed too: rebuild it
            raise
        try:
            (event,) = parse_delivery(body, pinned=product)
        except (DeliveryError, ValueError) as exc:  # the archived copy is unusable: rebuild it from Tencent instead
            logger.error("the archived copy does not parse; rebuilding the event from Tencent",
                         extra={"event_id": event_id, "subject": subject, "archive_key": entry.archive_key,
                                "reason": str(exc)[:500]})
            return None
        return event

    # ---- VOD uploads

    def _uploads(self, sub_app_id: int | None) -> None:
        missing: list[str] = []
        for media in self._pages(self.api.search_media(sub_app_id, self.after, self.before)):
            file_id = str(media.get("FileId") or "")
            if not file_id:
                continue
            self.summary.listed += 1
            try:
                named = [e for e in self.ledger.entries(file_id) if e.product == "vod"]
                upload = next((e for e in named if e.event_type == "NewFileUpload"), None)
                if upload is None and named:  # announced by another event (a pull's PullComplete, a task's)
                    self._add("seen")
                    continue
                handled = upload is not None and self._handled("vod", file_id, upload.event_id)
            except AWS_FAILURES:
                self._failed("vod", file_id, "the ledger or the idempotency table could not be read")
                continue
            if not handled:
                missing.append(file_id)
        self._check_time(leaving=len(missing))
        infos = {str(m.get("FileId")): m for m in self.api.media_infos(sub_app_id, missing)}
        for index, file_id in enumerate(missing):
            self._check_time(leaving=len(missing) - index)
            info = infos.get(file_id)
            if info is None:  # deleted since it was listed
                self._add("skipped")
                continue
            try:
                event = upload_event(info)
            except (Unmappable, DeliveryError) as exc:
                self._add("failed")
                logger.error("the rebuilt upload does not validate; not recovered",
                             extra={"file_id": file_id, "reason": str(exc)[:500]})
                continue
            self._recover(event, file_id)

    # ---- outcomes

    def _recover(self, event: InboundEvent, subject: str) -> None:
        unpublished = self._unpublished.pop((event.product, subject), None)
        try:
            if unpublished is not None:  # the rebuilt bytes differ from the push's: without this, "repeated"
                self.ledger.take_over(event.product, subject, unpublished, event)
            outcome = process(event, delivery="reconcile", settings=self.settings)
        except (*AWS_FAILURES, LedgerUnavailable) as exc:  # nothing acknowledged anywhere: the next run finds it again
            self._failed(event.product, subject, getattr(exc, "code", type(exc).__name__))
            return
        if outcome.duplicate:  # this very event was processed already (the ledger missed it): nothing to do
            self._add("seen")
            return
        self._add("recovered")
        count("RecoveredEvents", product=event.product, event_type=event.event_type)
        logger.warning("event recovered: its push never arrived",
                       extra={"event_id": event.event_id, "subject": subject, "archive_key": outcome.archive_key})

    def _unmapped(self, product: str, subject: str, reason: str) -> None:
        self._add("unmapped")
        logger.warning("task not recoverable: its type is not mapped", extra={"product": product, "task_id": subject,
                                                                             "reason": reason})

    def _failed(self, product: str, subject: str, reason: str) -> None:
        self._add("failed")
        logger.warning("not recovered now (AWS failure); the next run tries again",
                       extra={"product": product, "subject": subject, "reason": reason})

    def _add(self, outcome: Outcome) -> None:
        setattr(self.summary, outcome, getattr(self.summary, outcome) + 1)

    def _check_time(self, leaving: int = 0) -> None:
        if self.remaining_ms() <= self.config.reconcile_reserve_ms:
            self.summary.skipped += leaving
            raise _OutOfTime


def _notifies_nothing(answer: dict[str, Any]) -> bool:
    """A VOD task flow started with TasksNotifyMode None: Tencent sends no ProcedureStateChanged for it."""
    procedure = answer.get("ProcedureTask")
    return isinstance(procedure, dict) and str(procedure.get("TasksNotifyMode") or "").lower() == "none"


def clients_for(config: ReconcileSettings, cache_seconds: int) -> Callable[[str], Any]:
    """The SDK's CommonClient per product (lib/tencent), built on first use."""
    from lib.tencent import make_client

    @functools.cache
    def client(product: str) -> Any:
        return make_client(product, config.endpoint(product), config.tencent_credentials(cache_seconds),
                           config.reconcile_request_timeout_seconds)

    return client


def run(settings: Settings, context: Any, env: Mapping[str, str] | None = None,
        clients: Callable[[str], Any] | None = None) -> ReconcileSummary:
    """The ``reconcile`` entry point's work: one run within the invocation's time budget."""
    config = ReconcileSettings.from_env(os.environ if env is None else env)
    ledger = ledger_for(settings)
    if ledger is None:
        raise ConfigError("LEDGER_TABLE is required: reconcile knows what mediahook received from the ledger")
    if "cme" in config.reconcile_products and not settings.cme_platform:
        raise ConfigError("RECONCILE_PRODUCTS names cme: set CME_PLATFORM (the platform CME's API is asked about)")
    remaining: Callable[[], int] = getattr(context, "get_remaining_time_in_millis", lambda: 60_000)
    api = TencentApi(clients or clients_for(config, settings.secrets_cache_seconds), platform=settings.cme_platform)
    return Reconciler(settings, config, api, ledger, remaining).run()
