"""The two formats, signed at delivery time with the destination's secret.

* ``cloudevents``: the notification's CloudEvent, signed as Standard Webhooks signs
  (https://www.standardwebhooks.com): ``webhook-signature: v1,base64(HMAC-SHA256(key, id.timestamp.body))``,
  ``key`` the base64 after ``whsec_``. Receivers verify with the ``standardwebhooks`` libraries.
* ``tencent``: the bytes Tencent delivered, except the signature fields, written afresh with the
  destination's key exactly as lib/auth.py checks them (VOD ``Sign = md5(key + T)``, MPS
  ``Sign = md5(Timestamp + key)``, both expiries). Everything else stays byte for byte, so the user's
  existing Tencent callback handler accepts it unchanged. CME (and the legacy VOD v2.0 format) carry no
  signature: their bytes go as they came.

Signing happens per attempt: a retry carries a fresh timestamp (receivers refuse old ones).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from json.decoder import scanstring  # type: ignore[attr-defined]

SIGNATURE_LIFETIME = 600  # seconds a tencent-format signature stays valid: its T/Timestamp is now + this
_WHITESPACE = " \t\n\r"


class SecretError(ValueError):
    """The destination's secret is not in the form its format needs (the message never quotes it)."""


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (Standard Webhooks: base64 after the prefix)."""
    if not secret.startswith("whsec_"):
        raise SecretError("a cloudevents destination's secret must be a whsec_ secret (whsec_ + base64)")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    except ValueError:
        raise SecretError("the whsec_ secret is not base64") from None
    if len(key) < 16:
        raise SecretError("the whsec_ secret is shorter than 16 bytes")
    return key


def standard_webhook_headers(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``."""
    digest = hmac.new(webhook_key(secret), f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{base64.b64encode(digest).decode('ascii')}"}


def tencent_keys(secret: str) -> dict[str, str]:
    """``vod=KEY,mps=KEY`` (either may be left out) or one key for both products."""
    text = secret.strip()
    if "=" not in text:
        return {"vod": text, "mps": text} if text else {}
    keys: dict[str, str] = {}
    for part in text.split(","):
        product, _, key = part.strip().partition("=")
        if product not in ("vod", "mps") or not key:
            raise SecretError("a tencent destination's secret is one key, or vod=KEY,mps=KEY")
        keys[product] = key
    return keys


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def top_level_spans(text: str) -> dict[str, tuple[int, int]]:
    """Where each top-level member's value starts and ends in a JSON object's text (the last one when a
    name repeats, as a parser keeps it). Raises ``ValueError`` for anything but an object."""
    decoder = json.JSONDecoder()
    index = _skip(text, 0)
    if text[index:index + 1] != "{":
        raise ValueError("not a JSON object")
    spans: dict[str, tuple[int, int]] = {}
    index = _skip(text, index + 1)
    if text[index:index + 1] == "}":
        return spans
    while True:
        if text[index:index + 1] != '"':
            raise ValueError("a member name expected")
        name, index = scanstring(text, index + 1)
        index = _skip(text, index)
        if text[index:index + 1] != ":":
            raise ValueError("':' expected")
        start = _skip(text, index + 1)
        _, end = decoder.raw_decode(text, start)
        spans[name] = (start, end)
        index = _skip(text, end)
        if text[index:index + 1] == "}":
            return spans
        if text[index:index + 1] != ",":
            raise ValueError("',' expected")
        index = _skip(text, index + 1)


def _written(text: str, values: dict[str, object]) -> str:
    """``text`` with each named top-level value replaced (in place, keeping a string a string and a number a
    number), or appended before the closing brace when absent."""
    spans = top_level_spans(text)
    present = sorted(((spans[n], n) for n in values if n in spans), reverse=True)
    for (start, end), name in present:  # from the end, so earlier spans stay valid
        was_string = text[start] == '"'
        value = values[name]
        literal = json.dumps(str(value) if was_string else value)
        text = text[:start] + literal + text[end:]
    missing = [n for n in values if n not in spans]
    if missing:
        close = text.rstrip().rfind("}")
        before = text[:close].rstrip()
        separator = "" if before.endswith("{") else ","
        added = ",".join(f"{json.dumps(n)}:{json.dumps(values[n])}" for n in missing)
        text = f"{before}{separator}{added}{text[close:]}"
    return text


def tencent_resigned(body: str, product: str, secret: str, now: int, legacy: bool = False) -> str:
    """The Tencent body with VOD ``T``/``Sign`` or MPS ``Timestamp``/``Sign`` written with the destination's
    key; CME and legacy VOD bodies unchanged (Tencent signs neither)."""
    if product == "cme" or legacy:
        return body
    keys = tencent_keys(secret)
    key = keys.get(product)
    if not key:
        raise SecretError(f"the destination's secret has no {product} key (vod=KEY,mps=KEY)")
    expiry = now + SIGNATURE_LIFETIME
    if product == "vod":
        sign = hashlib.md5(f"{key}{expiry}".encode(), usedforsecurity=False).hexdigest()
        return _written(body, {"T": expiry, "Sign": sign})
    sign = hashlib.md5(f"{expiry}{key}".encode(), usedforsecurity=False).hexdigest()
    return _written(body, {"Timestamp": expiry, "Sign": sign})
