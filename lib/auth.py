"""Is this delivery from Tencent? The callback signature schemes and the URL token.

* VOD: ``Sign = md5(SignKey + T)``, ``T`` the expiry as Unix seconds.
* MPS: ``Sign = md5(Timestamp + NotifyKey)``, ``Timestamp`` the expiry: note the reversed order.
* Any product: ``?token=`` in the callback URL (CME has no signature; old VOD accounts neither).

The fields are looked up in the event body first, then the batch envelope, the query string and the
headers. Every comparison is constant-time; several keys may be valid at once so they can rotate.
It fails closed: a product with nothing configured is refused unless ``AUTH_MODE=off``.
MD5(key + expiry) does not bind the body, so a captured delivery can be replayed until it expires;
exactly-once processing (the idempotency store) is what makes such a replay harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lib.errors import Unauthenticated
from lib.secret_store import secret_from
from lib.settings import Settings, split_csv


@dataclass(frozen=True)
class Secrets:
    """The keys and tokens in force now (environment plus SSM, merged)."""

    vod_sign_keys: tuple[str, ...] = ()
    mps_notify_keys: tuple[str, ...] = ()
    callback_tokens: tuple[str, ...] = ()

    def configured_for(self, product: str) -> bool:
        if self.callback_tokens:
            return True
        return bool(self.vod_sign_keys if product == "vod" else self.mps_notify_keys if product == "mps" else ())


def _from_ssm(name: str | None, ttl: int) -> tuple[str, ...]:
    return split_csv(secret_from(None, name, ttl))


def load_secrets(settings: Settings) -> Secrets:
    """Merge environment secrets with SSM ones; powertools caches SSM values for the configured TTL,
    so a rotated key takes effect within ``SECRETS_CACHE_SECONDS`` without a deploy."""
    ttl = settings.secrets_cache_seconds
    return Secrets(
        vod_sign_keys=settings.vod_sign_keys + _from_ssm(settings.vod_sign_keys_param, ttl),
        mps_notify_keys=settings.mps_notify_keys + _from_ssm(settings.mps_notify_keys_param, ttl),
        callback_tokens=settings.callback_tokens + _from_ssm(settings.callback_tokens_param, ttl),
    )


def unconfigured_products(secrets: Secrets) -> list[str]:
    return [p for p in ("vod", "cme", "mps") if not secrets.configured_for(p)]


def _lookup(sources: Iterable[Mapping[str, Any]], name: str) -> Any:
    for source in sources:
        if name in source and source[name] is not None:
            return source[name]
    return None


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _any_equal(candidate: str, accepted: Iterable[str]) -> bool:
    """Constant-time match against every accepted value (no early exit on the first hit)."""
    matched = False
    for value in accepted:
        matched |= _equal(candidate, value)
    return matched


def _expiry(value: Any) -> int | None:
    """``T``/``Timestamp`` as an int: a JSON number or a decimal string; anything else is invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 12:
        return int(value.strip())
    return None


def signature(product: str, key: str, expiry: int) -> str:
    """Tencent's callback signature: VOD ``md5(SignKey + T)``, MPS ``md5(Timestamp + NotifyKey)`` (reversed)."""
    stamp = str(expiry)
    # MD5 is Tencent's signature scheme (not ours to change); see the module docstring on its limits.
    return hashlib.md5((key + stamp if product == "vod" else stamp + key).encode("utf-8"),
                       usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Verifier:
    """Checks one delivery against the secrets in force, at time ``now``."""

    secrets: Secrets
    clock_skew: int = 300
    max_lifetime: int = 3600

    @classmethod
    def for_settings(cls, settings: Settings, secrets: Secrets) -> Verifier:
        return cls(secrets, settings.auth_clock_skew_seconds, settings.auth_max_lifetime_seconds)

    def check_signature(self, product: str, sources: list[Mapping[str, Any]], now: float) -> None:
        """Raise ``Unauthenticated`` unless ``Sign`` matches a key of ``product`` and has not expired."""
        keys = self.secrets.vod_sign_keys if product == "vod" else self.secrets.mps_notify_keys
        expiry_field = "T" if product == "vod" else "Timestamp"
        sign = _lookup(sources, "Sign")
        raw_expiry = _lookup(sources, expiry_field)
        if sign is None or raw_expiry is None:
            raise Unauthenticated("missing_signature")
        expiry = _expiry(raw_expiry)
        if not isinstance(sign, str) or expiry is None:
            raise Unauthenticated("malformed_signature")
        if expiry < now - self.clock_skew:
            raise Unauthenticated("expired")
        if expiry > now + self.max_lifetime + self.clock_skew:
            raise Unauthenticated("expiry_too_far")
        expected = [signature(product, key, expiry) for key in keys]
        if not _any_equal(sign.strip().lower(), expected):
            raise Unauthenticated("bad_signature")

    def verify(self, product: str, sources: list[Mapping[str, Any]], token: str | None,
               now: float | None = None) -> str:
        """Accept the delivery or raise ``Unauthenticated``; returns the scheme that accepted it."""
        moment = time.time() if now is None else now
        if token is not None and self.secrets.callback_tokens:
            if _any_equal(token, self.secrets.callback_tokens):
                return "token"
            raise Unauthenticated("bad_token")
        has_keys = bool(self.secrets.vod_sign_keys if product == "vod"
                        else self.secrets.mps_notify_keys if product == "mps" else ())
        if has_keys:
            self.check_signature(product, sources, moment)
            return "signature"
        if self.secrets.callback_tokens:
            raise Unauthenticated("missing_token")
        raise Unauthenticated("not_configured")
