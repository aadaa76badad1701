"""MPS notifications from a TDMQ-CMQ queue (MPS's default ``NotifyType``): the ``cmq`` entry point's logic.

A scheduled run long-polls ``BatchReceiveMessage`` (at most 16 messages), runs each message through the
same pipeline as the SQS path, and ``BatchDeleteMessage``s only the messages whose events are archived
and published (or known duplicates, or dead-lettered). Anything else is left: CMQ makes it visible again
after the queue's visibility timeout. A message received ``CMQ_MAX_ATTEMPTS`` times (CMQ's own
``dequeueCount``) that still fails is archived under ``mps/_dead/`` and deleted.

CMQ speaks the legacy Tencent Cloud API (v2): form parameters signed with HmacSHA256, the HMAC computed by
the Tencent SDK's ``Sign`` helper. No SDK client exists for it, so the request is built here.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from pydantic import Field, model_validator

from lib.errors import InProgress
from lib.intake import event_id_of, parse_json
from lib.observability import count, logger
from lib.pipeline import dead_letter
from lib.settings import ConfigError, Settings, TencentCredentialSettings
from lib.sqs import process_notification, unwrap
from lib.urls import insecure_url, require_secure_url

PATH = "/v2/index.php"
NO_MESSAGE = 7000  # BatchReceiveMessage: the queue is empty
MAX_BATCH = 16


class CmqSettings(TencentCredentialSettings):
    """TDMQ-CMQ consumer settings (environment variables of the same names, upper-cased)."""

    FEATURE: ClassVar[str] = "TDMQ-CMQ configuration"

    cmq_endpoint: str  # e.g. https://cmq-gz.public.tencenttdmq.com (from the TDMQ-CMQ console)
    cmq_queue_name: str = Field(min_length=1)
    cmq_region: str = Field(min_length=1)  # e.g. gz, sh, bj
    cmq_polling_wait_seconds: int = Field(default=5, ge=0, le=30)
    cmq_max_attempts: int = Field(default=5, ge=1)
    cmq_concurrency: int = Field(default=8, ge=1, le=64)
    cmq_reserve_ms: int = Field(default=15_000, ge=0)

    @model_validator(mode="after")
    def _endpoint_is_a_url(self) -> CmqSettings:
        self.check_url(self.cmq_endpoint, "CMQ_ENDPOINT", "https://cmq-gz.public.tencenttdmq.com")
        if problem := insecure_url(self.cmq_endpoint):  # signed requests: never in clear over a network
            raise ConfigError(f"CMQ_ENDPOINT: {problem}")
        return self


class CmqError(RuntimeError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"CMQ error {code}: {message}")
        self.code = code


class CmqClient:
    """The two calls mediahook needs, signed as the CMQ API v2 requires."""

    def __init__(self, endpoint: str, region: str, secret_id: str, secret_key: str, token: str | None = None,
                 timeout: float = 40.0) -> None:
        parts = urlsplit(require_secure_url(endpoint, "CMQ endpoint"))
        self.url, self.host = f"{parts.scheme}://{parts.netloc}{PATH}", parts.netloc
        self.region, self.secret_id, self.secret_key, self.token = region, secret_id, secret_key, token
        self.timeout = timeout

    def signed(self, action: str, params: Mapping[str, Any]) -> dict[str, str]:
        """The request's form parameters with ``Signature``: HmacSHA256 over
        ``POST{host}/v2/index.php?{name=value&...}`` (sorted names, ``_`` in names as ``.``, raw values)."""
        from tencentcloud.common.sign import Sign

        fields = {"Action": action, "Region": self.region, "Timestamp": str(int(time.time())),
                  "Nonce": str(random.randint(1, 2**31 - 1)), "SecretId": self.secret_id,  # noqa: S311 - a nonce
                  "SignatureMethod": "HmacSHA256", **{k: str(v) for k, v in params.items()}}
        if self.token:
            fields["Token"] = self.token
        query = "&".join(f"{name.replace('_', '.')}={fields[name]}" for name in sorted(fields))
        fields["Signature"] = Sign.sign(self.secret_key, f"POST{self.host}{PATH}?{query}", "HmacSHA256")
        return fields

    def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        data = urlencode(self.signed(action, params)).encode("ascii")
        request = urllib.request.Request(self.url, data=data, method="POST",  # noqa: S310 (lib/urls.py rule)
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (scan/skips.yaml)
                answer = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise CmqError(-1, f"{action}: {exc}") from exc
        if int(answer.get("code", -1)) != 0:
            raise CmqError(int(answer.get("code", -1)), str(answer.get("message", "")))
        return dict(answer)

    def receive(self, queue: str, count: int, wait: int) -> list[dict[str, Any]]:
        try:
            answer = self.call("BatchReceiveMessage", {"queueName": queue, "numOfMsg": count,
                                                       "pollingWaitSeconds": wait})
        except CmqError as exc:
            if exc.code == NO_MESSAGE:
                return []
            raise
        return list(answer.get("msgInfoList") or [])

    def delete(self, queue: str, receipt_handles: list[str]) -> None:
        params: dict[str, Any] = {"queueName": queue}
        params.update({f"receiptHandle.{i}": handle for i, handle in enumerate(receipt_handles)})
        self.call("BatchDeleteMessage", params)


@dataclass
class CmqSummary:
    received: int = 0
    processed: int = 0
    duplicates: int = 0
    deleted: int = 0
    dead: int = 0
    left: int = 0
    delete_failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_client(cmq: CmqSettings, cache_seconds: int = 300) -> CmqClient:
    secret_id, secret_key, token = cmq.tencent_credentials(cache_seconds)
    return CmqClient(cmq.cmq_endpoint, cmq.cmq_region, secret_id, secret_key, token,
                     timeout=cmq.cmq_polling_wait_seconds + 10)


@dataclass(frozen=True)
class Fate:
    """What becomes of one received message."""

    delete: bool  # archived and published (or a duplicate, or dead-lettered): delete it
    duplicate: bool = False
    dead: bool = False


LEAVE = Fate(delete=False)  # not done: CMQ shows it again after the visibility timeout


def _handle(message: dict[str, Any], settings: Settings, cmq: CmqSettings) -> Fate:
    body = str(message.get("msgBody", ""))
    try:
        outcomes = process_notification(body, settings)
        return Fate(delete=True, duplicate=bool(outcomes) and all(o.duplicate for o in outcomes))
    except InProgress:
        return LEAVE
    except Exception as exc:  # noqa: BLE001 - left to come back; poison after CMQ_MAX_ATTEMPTS receives
        attempts = int(message.get("dequeueCount") or 1)
        code = str(getattr(exc, "code", type(exc).__name__))
        logger.warning("CMQ message failed; it will come back", extra={"msg_id": message.get("msgId"),
                                                                       "attempts": attempts, "error_code": code})
        if attempts < cmq.cmq_max_attempts:
            return LEAVE
        try:
            parsed = parse_json(unwrap(body))
        except Exception:  # noqa: BLE001 - not JSON at all: keep the text
            parsed = None
        document = parsed if isinstance(parsed, dict) else {"msgBody": body}
        event_id = event_id_of(document, lenient=True)
        try:
            dead_letter(settings, product="mps", document=document, event_id=event_id, code=code, message=str(exc),
                        attempts=attempts, delivery="queue")
        except Exception:  # noqa: BLE001 - not archived: must not be deleted
            logger.exception("dead-letter archive failed; the message will come back")
            return LEAVE
        return Fate(delete=True, dead=True)


def run(settings: Settings, context: Any, env: Mapping[str, str] | None = None,
        client: CmqClient | None = None) -> CmqSummary:
    """Drain the queue within the invocation's time budget."""
    cmq = CmqSettings.from_env(os.environ if env is None else env)
    client = client or make_client(cmq, settings.secrets_cache_seconds)
    remaining: Callable[[], int] = getattr(context, "get_remaining_time_in_millis", lambda: 60_000)
    summary = CmqSummary()
    with ThreadPoolExecutor(cmq.cmq_concurrency, thread_name_prefix="cmq") as pool:
        while remaining() > cmq.cmq_reserve_ms:
            messages = client.receive(cmq.cmq_queue_name, MAX_BATCH, cmq.cmq_polling_wait_seconds)
            if not messages:
                break
            summary.received += len(messages)
            fates = list(pool.map(lambda m: _handle(m, settings, cmq), messages))
            done = [(m, f) for m, f in zip(messages, fates, strict=True) if f.delete]
            if done:
                try:
                    client.delete(cmq.cmq_queue_name, [m["receiptHandle"] for m, _ in done])
                except CmqError as exc:
                    summary.delete_failures += 1
                    logger.warning("BatchDeleteMessage failed; the messages will come back (deduplicated)",
                                   extra={"error_code": exc.code})
                    done = []
            summary.deleted += len(done)
            summary.left += len(messages) - len(done)
            summary.dead += sum(f.dead for _, f in done)
            summary.duplicates += sum(f.duplicate for _, f in done)
            summary.processed += sum(not f.dead for _, f in done)
    logger.info("CMQ run finished", extra={"summary": summary.as_dict()})
    for outcome, amount in summary.as_dict().items():  # zeros too: the dashboard draws every run
        count("CmqMessages", amount, outcome=outcome)
    return summary
