"""The HTTP face of ``callback``: powertools resolvers for API Gateway (REST and HTTP) and function URLs.

The routes only adapt HTTP to ``receive``, which does the work and is plain Python (bytes in,
status and body out), so the same code serves every gateway flavour and the tests.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    LambdaFunctionUrlResolver,
    Response,
)
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Router

from lib import auth
from lib.errors import DeliveryError, InvalidJson, MethodNotAllowed
from lib.intake import RawEvent, read_events, split_delivery
from lib.observability import count, logger
from lib.pipeline import process_all
from lib.routing import candidate_products
from lib.settings import Settings, get_settings

OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
RETRY_AFTER_SECONDS = "5"
router = Router()  # type: ignore[no-untyped-call]  # powertools leaves __init__ unannotated


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type="application/json",
                    body=json.dumps(body, ensure_ascii=False, separators=(",", ":")), headers=headers)


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
        event_type = raw.document.get("EventType", raw.document.get("eventType"))
        product = pinned or (candidate_products(event_type)[0] if isinstance(event_type, str) else "vod")
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
        outcomes = process_all(events, delivery="push", settings=settings)
    except DeliveryError as err:
        _record_rejection(err)
        return err.status, err.body()
    return 200, {"ok": True, "results": [o.as_result() for o in outcomes]}


def _record_rejection(err: DeliveryError) -> None:
    if err.code == "in_progress":
        logger.warning("another copy of this event is in flight; asked the sender to retry")
        return
    if err.status >= 500:
        logger.error("delivery failed", extra={"error_code": err.code})
        return
    reason = getattr(err, "reason", err.code)
    count("Rejections", reason=reason)
    logger.warning("delivery rejected", extra={"status": err.status, "error_code": err.code, "reason": reason})


def _body_bytes() -> bytes:
    event = router.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidJson("the body is marked base64 but is not valid base64") from None
    return body.encode("utf-8", errors="surrogatepass")


def _deliver(pinned: str | None) -> Response[str]:
    try:
        raw = _body_bytes()
    except DeliveryError as err:
        _record_rejection(err)
        return _response(err.status, err.body())
    event = router.current_event
    status, body = receive(raw, pinned=pinned, query=event.query_string_parameters or {},
                           headers=dict(event.headers or {}))
    # A 503 is a "try again": say when, so HTTP senders back off instead of hammering.
    return _response(status, body, {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None)


@router.post("/callback")
def post_callback() -> Response[str]:
    return _deliver(None)


@router.post("/callback/<product>")
def post_callback_product(product: str) -> Response[str]:
    return _deliver(product)


@router.route("/callback", method=OTHER_METHODS)
def other_callback() -> Response[str]:
    return _method_not_allowed()


@router.route("/callback/<product>", method=OTHER_METHODS)
def other_callback_product(product: str) -> Response[str]:
    return _method_not_allowed()


def _method_not_allowed() -> Response[str]:
    err = MethodNotAllowed("only POST is accepted")
    _record_rejection(err)
    return _response(err.status, err.body(), {"Allow": "POST"})


def _build(resolver: ApiGatewayResolver) -> ApiGatewayResolver:
    resolver.include_router(router)

    @resolver.not_found
    def not_found(_: Exception) -> Response[str]:
        path = router.current_event.path.rstrip("/")
        if path == "/callback" or (path.startswith("/callback/") and path.count("/") == 2):
            return _method_not_allowed()  # a method the routes do not list at all (TRACE, CONNECT...)
        return _response(404, {"ok": False, "error": {"code": "not_found", "message": "use POST /callback",
                                                       "details": []}})

    return resolver


_RESOLVERS: dict[str, ApiGatewayResolver] = {}


def resolver_for(event: Mapping[str, Any]) -> ApiGatewayResolver:
    """Pick the powertools resolver matching the shape of the Lambda event."""
    if event.get("version") == "2.0":
        domain = str(event.get("requestContext", {}).get("domainName", ""))
        kind = "url" if ".lambda-url." in domain else "http"
    else:
        kind = "rest"
    if kind not in _RESOLVERS:
        cls = {"url": LambdaFunctionUrlResolver, "http": APIGatewayHttpResolver, "rest": APIGatewayRestResolver}[kind]
        _RESOLVERS[kind] = _build(cls())
    return _RESOLVERS[kind]


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    resolver = resolver_for(event)
    router.api_resolver = resolver  # the router is shared by the three resolvers
    return resolver.resolve(event, context)
