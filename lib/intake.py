"""From raw bytes to validated events: parse once, split batches, detect the product, validate.

Everything here is pure (no AWS, no clock), so a whole delivery is checked before anything is
written: a batch with one bad event is rejected whole and leaves no trace.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from lib.errors import InvalidEvent, InvalidJson, PayloadTooLarge, ProductMismatch, UnknownProduct
from lib.models import LiveStreamNotification
from lib.models import TaskFields as TaskFieldsModel
from lib.routing import (
    EVENT_TYPE_PATTERN,
    LEGACY,
    PRODUCTS,
    TABLE,
    Product,
    Route,
    Summary,
    candidate_products,
    find_route,
    summarize,
)

# Variants Tencent has published, read by what they carry rather than refused or misread (docs/contract.md):
#   v2-current-fields  a v2.0 envelope (version/eventType/data) whose data holds current-format fields
#   payload-key        the payload key EventType names is missing or null; exactly one other known key is filled
VARIANTS = ("v2-current-fields", "payload-key")
# Current-format fields that mark a v2.0 envelope's data as the current format's payload.
_CURRENT_FIELDS = frozenset({"TaskId", "FileId", "ErrCode", "ErrCodeExt", "Status", "FileIdSet"})
# Every payload key of a product, and the route it belongs to (for a payload under another type's key).
_ROUTE_OF_KEY: dict[tuple[str, str], Route] = {
    (r.product, k): r for r in reversed(TABLE) for k in r.payload_keys}  # reversed: the first route wins

# Fields that differ between copies of one logical event (signature, expiry, pull handle).
DELIVERY_FIELDS = frozenset({"Sign", "T", "Timestamp", "EventHandle"})
MAX_DETAILS = 10


# The top-level field that marks a synthetic event (a smoke check's); Tencent sends no such field.
SYNTHETIC_FIELD = "MediahookSynthetic"


@dataclass(frozen=True)
class InboundEvent:
    """One Tencent event, validated and ready for the pipeline."""

    product: Product
    event_type: str
    event_id: str
    body: bytes  # what is archived: the delivery's own bytes when it held one event
    document: dict[str, Any]
    known: bool  # False: an EventType mediahook has no route for (archived under _unknown/)
    legacy: bool  # True: the pre-2019 VOD v2.0 format
    summary: Summary
    handle: str | None = None  # EventHandle of a pulled event
    verified: bool = False  # confirmed with Tencent's API (lib/verify.py, VERIFY_EVENTS)
    variant: str | None = None  # a published variant read another way (VARIANTS); archived as sent all the same

    @property
    def source(self) -> str:
        return f"tencentcloud/{self.product}"

    @property
    def identity(self) -> tuple[str, str]:
        """What makes two copies one event: the product (the CloudEvent's source) and the event_id."""
        return self.product, self.event_id

    @property
    def synthetic(self) -> bool:
        """A smoke check's event (``mediahook smoke``), not Tencent's: marked so consumers can skip it."""
        marker = self.document.get(SYNTHETIC_FIELD)
        return isinstance(marker, str) and bool(marker)


# The contract's canonical JSON is what ``json.dumps(sort_keys=True, separators=(",", ":"),
# ensure_ascii=False)`` writes. Built once; check_circular=False: a parsed document has no cycles.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False)
# orjson writes the same bytes four times faster, except for floats below 1e-4 (orjson: 1.5e-7 or
# 0.00002, Python: 1.5e-07, 2e-05), which always show as a digit then "e-", or "0.0000".
_SMALL_FLOAT = re.compile(rb"\de-")


MAX_DEPTH = 255  # orjson's nesting limit; Tencent's events nest a dozen levels at most
_TOO_DEEP = "Recursion limit reached"  # what orjson says past MAX_DEPTH


def canonical_json(document: Any, *, errors: str = "strict", deep_ok: bool = False) -> bytes:
    """The contract's canonical JSON of ``document`` as UTF-8 (``errors`` as for ``str.encode``).

    A document nested more than MAX_DEPTH levels is refused (InvalidJson), unless ``deep_ok``: the
    standard encoder's own limit depends on how deep the call stack already is, so a body just within
    the decoder's limit could fail to encode (a 500) or not, by where it was called from."""
    try:
        fast = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # integers beyond 64 bits, lone surrogates: the standard encoder decides
        if str(exc) == _TOO_DEEP and not deep_ok:
            raise InvalidJson(f"the event is nested more than {MAX_DEPTH} levels deep") from None
    else:
        if b"0.0000" not in fast and not (b"e-" in fast and _SMALL_FLOAT.search(fast)):
            return fast
    return _CANONICAL.encode(document).encode("utf-8", errors)


def event_id_of(document: dict[str, Any], *, lenient: bool = False) -> str:
    """SHA-256 of the canonical JSON of the event without its per-delivery fields (the contract).

    A string holding a lone UTF-16 surrogate (``"\\ud800"`` is JSON syntax, but not Unicode) has no
    UTF-8 form: UnicodeEncodeError, unless ``lenient`` (the dead-letter paths, which must archive
    whatever they got) passes the surrogates through."""
    logical = {k: v for k, v in document.items() if k not in DELIVERY_FIELDS}
    canonical = canonical_json(logical, errors="surrogatepass" if lenient else "strict", deep_ok=lenient)
    return hashlib.sha256(canonical).hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """A number too large for a double (``1e400``) would be read as infinity, which JSON cannot hold."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:24]} is out of range")
    return value


# Built once: json.loads(..., parse_constant=...) would build a new decoder for every body.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def parse_json(raw: bytes) -> Any:
    """Decode UTF-8 JSON strictly: no NaN/Infinity (nor numbers that overflow to it), no invalid UTF-8,
    no runaway nesting."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise InvalidJson("the body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN, integers too long to convert
        raise InvalidJson(f"the body is not valid JSON: {exc}") from None


def _pointer(*parts: object) -> str:
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in parts)


def _split_batch(document: dict[str, Any]) -> tuple[list[Any], str] | None:
    """The events of a ``PullEvents``-style envelope and their JSON pointer, or None for one event.
    A body with an ``EventType`` is one event, whatever other fields it has."""
    if "EventType" in document:
        return None
    response = document.get("Response")
    if isinstance(response, dict) and "EventSet" in response:
        events, base = response["EventSet"], "/Response/EventSet"
    elif "EventSet" in document:
        events, base = document["EventSet"], "/EventSet"
    else:
        return None
    if events is None:
        return [], base
    if not isinstance(events, list):
        raise InvalidEvent("EventSet must be a list of events", [{"pointer": base, "message": "not a list"}])
    return events, base


@dataclass(frozen=True)
class RawEvent:
    """One event object of a delivery, parsed but not yet validated."""

    document: dict[str, Any]
    pointer: str  # JSON pointer of the event inside the delivery ("" for a lone event)
    body: bytes | None  # the delivery's bytes when it held this event alone
    envelope: dict[str, Any] | None = None  # the batch's top level (signature fields may sit there)


def split_delivery(raw: bytes, *, pinned: str | None = None, max_bytes: int | None = None) -> list[RawEvent]:
    """Check size and product, parse the JSON once, and split a batch envelope into its events."""
    if max_bytes is not None and len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body is {len(raw)} bytes; at most {max_bytes} are accepted")
    if pinned is not None and pinned not in PRODUCTS:
        raise UnknownProduct(f"unknown product {pinned[:40]!r}; use one of {', '.join(PRODUCTS)}")
    document = parse_json(raw)
    if not isinstance(document, dict):
        raise InvalidEvent("the body must be a JSON object", [{"pointer": "", "message": "not an object"}])
    batch = _split_batch(document)
    if batch is None:
        return [RawEvent(document, "", raw)]
    events, base = batch
    for index, item in enumerate(events):
        if not isinstance(item, dict):
            raise InvalidEvent("each event must be a JSON object",
                               [{"pointer": f"{base}/{index}", "message": "not an object"}])
    return [RawEvent(item, f"{base}/{index}", None, document) for index, item in enumerate(events)]


def read_events(raw_events: list[RawEvent], *, pinned: str | None = None) -> list[InboundEvent]:
    """Validate every event of a split delivery (all or nothing: the first invalid one raises)."""
    return [read_event(e.document, pinned=pinned, pointer=e.pointer, body=e.body) for e in raw_events]


def parse_delivery(raw: bytes, *, pinned: str | None = None, max_bytes: int | None = None) -> list[InboundEvent]:
    """Turn one delivery's bytes into validated events, or raise a 4xx ``DeliveryError``."""
    return read_events(split_delivery(raw, pinned=pinned, max_bytes=max_bytes), pinned=pinned)


def type_key_of(document: dict[str, Any]) -> str:
    """The field that names the event's type: ``EventType``; ``eventType`` in the v2.0 format (with ``version``);
    ``NotificationType`` in an MPS live-stream processing notification (ParseLiveStreamProcessNotification)."""
    if "EventType" in document:
        return "EventType"
    if "eventType" in document and "version" in document:
        return "eventType"
    return "NotificationType" if "NotificationType" in document else "EventType"


def products_for(document: dict[str, Any]) -> tuple[Product, ...]:
    """The products an event can belong to, most likely first, before it is validated (auth needs to know whose
    signature to check): the v2.0 format is VOD's; a ``NotificationType`` is MPS's live-stream processing, a new
    one included; otherwise the EventType decides (routing.candidate_products)."""
    type_key = type_key_of(document)
    if type_key == "eventType":
        return ("vod",)
    if type_key == "NotificationType":
        return ("mps",)
    event_type = document.get(type_key)
    return candidate_products(event_type) if isinstance(event_type, str) else ("vod",)


def read_event(document: dict[str, Any], *, pinned: str | None = None, pointer: str = "",
               body: bytes | None = None, handle: str | None = None) -> InboundEvent:
    """Validate one event object; ``body`` defaults to its compact JSON."""
    type_key = type_key_of(document)
    legacy = type_key == "eventType"
    event_type = document.get(type_key)
    if event_type is None:
        raise InvalidEvent("the event has no EventType", [{"pointer": _pointer_join(pointer, type_key),
                                                           "message": "missing"}])
    if not isinstance(event_type, str):
        raise InvalidEvent("EventType must be a string", [{"pointer": _pointer_join(pointer, type_key),
                                                           "message": f"got {type(event_type).__name__}"}])
    if not EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise InvalidEvent("EventType is not a valid event type name",
                           [{"pointer": _pointer_join(pointer, type_key), "message": "must match "
                             + EVENT_TYPE_PATTERN.pattern}])
    product = _product_for(event_type, products_for(document), pinned, pointer, type_key)
    route: Route | None = LEGACY if legacy else find_route(product, event_type)
    if route is not None and not legacy and route.type_key != type_key:
        route = None  # a live-stream NotificationType named like an EventType (or back): no route of that kind
    try:
        event_id = event_id_of(document)
    except UnicodeEncodeError:
        raise InvalidEvent("the event holds a lone UTF-16 surrogate escape, which is not valid Unicode",
                           [{"pointer": pointer, "message": "lone surrogate"}]) from None
    if body is None:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    summary, variant = Summary(), None
    if route is not None and route.type_key == "NotificationType":
        _validate(LiveStreamNotification, document, pointer)  # its TaskId is read off the top level
    if route is not None:
        key, raw_payload = payload_of(document, route)
        read_as = route
        if legacy and isinstance(raw_payload, dict) and _CURRENT_FIELDS & raw_payload.keys():
            read_as, variant = find_route("vod", event_type) or _CURRENT_TASK, "v2-current-fields"
        elif raw_payload is None and not legacy:
            other = _filled_other_key(document, route)
            if other is not None:
                key, raw_payload, read_as = other
                variant = "payload-key"
        try:
            payload = (_validate(read_as.model, raw_payload, _pointer_join(pointer, key))
                       if raw_payload is not None else None)
        except InvalidEvent:
            if variant is None:
                raise
            # A variant is read best effort: one that does not fit the model it was taken for is read as sent.
            read_as, variant = route, None
            key, raw_payload = payload_of(document, route)
            payload = (_validate(route.model, raw_payload, _pointer_join(pointer, key))
                       if raw_payload is not None else None)
        summary = summarize(read_as, payload, raw_payload, body, document)
    raw_handle = document.get("EventHandle")
    return InboundEvent(
        product=product,
        event_type=event_type,
        event_id=event_id,
        body=body,
        document=document,
        known=route is not None,
        legacy=legacy,
        summary=summary,
        handle=handle if handle is not None else (raw_handle if isinstance(raw_handle, str) else None),
        variant=variant,
    )


# A v2.0 envelope of a type with no current twin, holding current-format fields: read as a generic task.
_CURRENT_TASK = Route("vod", "*", "data", TaskFieldsModel, files=("FileId",))


def _filled(value: Any) -> bool:
    """A payload that says something: an object with a non-empty value (CME's ParseEvent echoes every key with
    null or empty-string defaults, which are not a payload)."""
    return isinstance(value, dict) and any(v not in (None, "", [], {}) for v in value.values())


def _filled_other_key(document: dict[str, Any], route: Route) -> tuple[str, Any, Route] | None:
    """When the payload key the type names is missing or null: the one other known payload key of the product
    that is filled, and its route; None when none is, or several are (then nothing can be read safely)."""
    found = [(key, value, other) for key, value in document.items()
             if (other := _ROUTE_OF_KEY.get((route.product, key))) is not None
             and other is not route and other.type_key == route.type_key and _filled(value)]
    return found[0] if len(found) == 1 else None


def _pointer_join(base: str, *parts: object) -> str:
    return base + _pointer(*parts)


def _product_for(event_type: str, candidates: tuple[Product, ...], pinned: str | None, pointer: str,
                 type_key: str) -> Product:
    if pinned is None:
        return candidates[0]
    if pinned not in candidates:
        raise ProductMismatch(
            f"EventType {event_type!r} is a {candidates[0]} event, but was posted to /callback/{pinned}",
            [{"pointer": _pointer_join(pointer, type_key), "message": f"not a {pinned} event type"}],
        )
    return pinned  # narrowed to a Product by the membership test above


def payload_of(document: dict[str, Any], route: Route) -> tuple[str, Any]:
    """The route's payload: the first of its keys (current name, then old aliases) that is not null.

    Routing is by EventType only; other keys, null or not, are kept as received and not judged.
    """
    for key in route.payload_keys:
        value = document.get(key)
        if value is not None:
            return key, value
    return route.payload, None


def _validate(model: type[BaseModel], value: Any, pointer: str) -> BaseModel:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        details = [
            {"pointer": _pointer_join(pointer, *err["loc"]), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)[:MAX_DETAILS]
        ]
        raise InvalidEvent(f"the payload does not match the {model.__name__} schema", details) from None
