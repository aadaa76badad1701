"""The HTTP face of ``callback``: API Gateway HTTP API (payload 2.0), REST API proxy (1.0) and function URLs.

The three event shapes are AWS's documented Lambda proxy formats; reading them takes a few lines, so this
module does it itself rather than load powertools' event handler, whose package brings every resolver
(AppSync, Bedrock, VPC Lattice...) and asyncio to the cold start: about 50 ms of a callback's first
event on python3.12 (docs/performance.md). The routes are two paths, POST only; everything else gets
the contract's 404/405. ``receive`` does the work and is plain Python (bytes in, status and body out), so
the same code serves every gateway flavour and the tests.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lib import auth
from lib.errors import DeliveryError, InvalidJson, MethodNotAllowed
from lib.intake import RawEvent, products_for, read_events, split_delivery
from lib.observability import logger
from lib.pipeline import process_all
from lib.refusals import DEFAULT_BUDGET, refusals
from lib.settings import ConfigError, Settings, get_settings

RETRY_AFTER_SECONDS = "5"


def _sources(document: dict[str, Any], envelope: dict[str, Any] | None, query: Mapping[str, str],
             headers: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """Where signature fields may be: the event, its batch envelope, the query string, the headers."""
    lowered = {k.lower(): v for k, v in headers.items()}
    header_fields = {name: lowered[name.lower()] for name in ("Sign", "T", "Timestamp") if name.lower() in lowered}
    return [document, *([envelope] if envelope is not None else []), query, header_fields]


def authenticate(raw_events: list[RawEvent], *, pinned: str | None,
                 query: Mapping[str, str], headers: Mapping[str, str], settings: Settings) -> None:
    """Check every event of the delivery before any of it is judged or written."""
    if settings.auth_mode == "off":
        return
    secrets = auth.load_secrets(settings)
    _warn_once_if_unconfigured(secrets)
    verifier = auth.Verifier.for_settings(settings, secrets)
    token = query.get("token")
    for raw in raw_events:
        product = pinned or products_for(raw.document)[0]
        verifier.verify(product, _sources(raw.document, raw.envelope, query, headers), token)


_warned_unconfigured = False


def _warn_once_if_unconfigured(secrets: auth.Secrets) -> None:
    """One clear line per cold start when AUTH_MODE=required leaves a product with no check."""
    global _warned_unconfigured
    missing = auth.unconfigured_products(secrets)
    if missing and not _warned_unconfigured:
        _warned_unconfigured = True
        logger.warning(
            "AUTH_MODE=required but no key or token is configured for %s: their deliveries get 401. "
            "Set VOD_SIGN_KEYS / MPS_NOTIFY_KEYS / CALLBACK_TOKENS (or the *_PARAM SSM names), "
            "or AUTH_MODE=off for local use only.", ", ".join(missing))


def receive(raw: bytes, *, pinned: str | None = None, query: Mapping[str, str] | None = None,
            headers: Mapping[str, str] | None = None, settings: Settings | None = None) -> tuple[int, dict[str, Any]]:
    """Handle one push delivery: authenticate, validate, archive, publish. Returns (status, body)."""
    settings = settings or get_settings()
    query, headers = query or {}, headers or {}
    try:
        raw_events = split_delivery(raw, pinned=pinned, max_bytes=settings.max_body_bytes)
        authenticate(raw_events, pinned=pinned, query=query, headers=headers, settings=settings)
        events = read_events(raw_events, pinned=pinned)
        if settings.verify_events:  # the Tencent SDK is loaded only when verification is configured
            from lib import verify

            events = verify.check(events, query=query, settings=settings)
        outcomes = process_all(events, delivery="push", settings=settings)
    except DeliveryError as err:
        _record_rejection(err, settings.refusal_log_per_minute)
        return err.status, err.body()
    return 200, {"ok": True, "results": [o.as_result() for o in outcomes]}


def _log_budget() -> int:
    """REFUSAL_LOG_PER_MINUTE, for the refusals made before a delivery's settings are at hand (404, 405)."""
    try:
        return get_settings().refusal_log_per_minute
    except ConfigError:
        return DEFAULT_BUDGET  # the delivery itself will fail on the configuration, loudly


def _record_rejection(err: DeliveryError, budget: int | None = None) -> None:
    """A refusal (4xx) is counted and, within the sandbox's log budget, logged (lib/refusals.py); a 5xx
    is always logged: it is ours to fix, and the sender retries it."""
    if err.code == "in_progress":
        logger.warning("another copy of this event is in flight; asked the sender to retry")
        return
    if err.status >= 500:
        logger.error("delivery failed", extra={"error_code": err.code})
        return
    refusals.refused(err.status, getattr(err, "reason", err.code), _log_budget() if budget is None else budget)


@dataclass(frozen=True)
class HttpRequest:
    """What the routes need of a proxy event, whichever gateway sent it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: str
    base64_encoded: bool
    rest: bool  # REST API proxy (payload 1.0): answered with multiValueHeaders as well


def request_of(event: Mapping[str, Any]) -> HttpRequest:
    """Read a Lambda proxy event: payload 2.0 (HTTP API, function URL) or 1.0 (REST API)."""
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0":
        method = str((context.get("http") or {}).get("method", ""))
        path = str(event.get("rawPath") or (context.get("http") or {}).get("path") or "/")
        stage = context.get("stage")
        if stage and stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1:]  # a named HTTP API stage is part of rawPath
        rest = False
    else:
        method, path, rest = str(event.get("httpMethod", "")), str(event.get("path") or "/"), True
    return HttpRequest(method=method.upper(), path=path, query=event.get("queryStringParameters") or {},
                       headers=event.get("headers") or {}, body=event.get("body") or "",
                       base64_encoded=bool(event.get("isBase64Encoded")), rest=rest)


def _body_bytes(request: HttpRequest) -> bytes:
    if request.base64_encoded:
        try:
            return base64.b64decode(request.body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidJson("the body is marked base64 but is not valid base64") from None
    return request.body.encode("utf-8", errors="surrogatepass")


# The API: (method, path) as OpenAPI writes them; scripts/openapi.py documents exactly these.
ROUTES = (("POST", "/callback"), ("POST", "/callback/{product}"))
_CALLBACK = re.compile(r"^/callback(?:/(?P<product>[^/]+))?/?$")


def _deliver(request: HttpRequest, pinned: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        raw = _body_bytes(request)
    except DeliveryError as err:
        _record_rejection(err)
        return err.status, err.body(), {}
    status, body = receive(raw, pinned=pinned, query=request.query, headers=dict(request.headers))
    # A 503 is a "try again": say when, so HTTP senders back off instead of hammering.
    return status, body, {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else {}


def _method_not_allowed() -> tuple[int, dict[str, Any], dict[str, str]]:
    err = MethodNotAllowed("only POST is accepted")
    _record_rejection(err)
    return err.status, err.body(), {"Allow": "POST"}


def route(request: HttpRequest) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST /callback and /callback/{product} deliver; other methods there get 405; other paths 404."""
    match = _CALLBACK.match(request.path)
    if match is None:
        refusals.refused(404, "not_found", _log_budget())
        return 404, {"ok": False, "error": {"code": "not_found", "message": "use POST /callback", "details": []}}, {}
    if request.method != "POST":
        return _method_not_allowed()
    return _deliver(request, match.group("product"))


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda proxy response for one HTTP invocation."""
    request = request_of(event)
    status, body, extra_headers = route(request)
    refusals.summarize_if_due()  # a flood that stopped still gets its last minute's summary line
    headers = {**extra_headers, "Content-Type": "application/json"}
    response: dict[str, Any] = {"statusCode": status, "isBase64Encoded": False,
                                "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                                "headers": headers}
    if request.rest:
        response["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    return response
