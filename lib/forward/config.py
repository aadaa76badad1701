"""Destinations: where notifications are forwarded, in which format, and which notifications.

Configured per stage as a JSON list in ``FORWARD_DESTINATIONS`` (serverless.yml's ``forwardDestinations``
parameter). Pure pydantic: settings, enqueue and delivery all read it without touching AWS.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from lib.forward.names import NAME_PATTERN, name_problem

Format = Literal["cloudevents", "tencent"]


class ForwardFilter(BaseModel):
    """Which notifications a destination gets. Empty lists match everything; ``stale`` events (behind the
    resource's latest state, as the ledger decided) are left out unless asked for."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    products: tuple[Literal["vod", "cme", "mps"], ...] = ()
    event_types: tuple[str, ...] = ()
    succeeded: bool | None = None  # None: either outcome; True/False: only that one
    stale: bool = False

    def matches(self, product: str, event_type: str, succeeded: bool | None, state_change: str | None) -> bool:
        if self.products and product not in self.products:
            return False
        if self.event_types and event_type not in self.event_types:
            return False
        if self.succeeded is not None and succeeded is not self.succeeded:
            return False
        return self.stale or state_change != "stale"


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address literal (the only hosts plain ``http`` is allowed for)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Destination(BaseModel):
    """One endpoint. ``secret_param`` is the name of an SSM SecureString parameter (a ``whsec_`` secret
    for ``cloudevents``; the VOD callback key and the MPS notify key, ``vod=KEY,mps=KEY`` or one key for
    both, for ``tencent``): the secret itself is never in the template or the function's environment."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(pattern=NAME_PATTERN)
    url: str
    format: Format = "cloudevents"
    secret_param: str = Field(min_length=1, max_length=2048)
    filter: ForwardFilter = Field(default_factory=ForwardFilter)
    timeout_seconds: float = Field(default=10, gt=0, le=60)
    max_age_seconds: int = Field(default=86_400, ge=60, le=1_209_600)  # at most the queue's 14-day retention
    rate_limit: float = Field(default=50, gt=0, le=10_000)  # requests per second, over every sandbox
    # the forward function's sandboxes on this destination's queue (its event source's maximumConcurrency);
    # None: the stage's forwardConcurrency (FORWARD_CONCURRENCY)
    concurrency: int | None = Field(default=None, ge=2, le=1000)

    @field_validator("name")
    @classmethod
    def _fit_for_its_queues(cls, value: str) -> str:
        """The queue-name rules (lib/forward/names.py, which plugins/forward-queues.js keeps too)."""
        problem = name_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("url")
    @classmethod
    def _https_or_loopback(cls, value: str) -> str:
        parts = urlsplit(value)
        if not parts.hostname or parts.scheme not in ("https", "http"):
            raise ValueError(f"an https URL expected, got {value[:80]!r}")
        try:
            parts.port  # noqa: B018 -- urlsplit checks the port only when asked: here, not at each delivery
        except ValueError:
            raise ValueError(f"the URL's port is not a port number: {value[:80]!r}") from None
        if parts.username or parts.password:
            raise ValueError("credentials in the URL are not allowed (the URL is logged): sign with the secret")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise ValueError("plain http is allowed for loopback addresses only (local runs): use https")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


class Destinations(BaseModel):
    """The list, with names unique (each is a metric dimension and its own pair of queues)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    items: tuple[Destination, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [d.name for d in self.items]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"destination names must be unique: {', '.join(repeated)}")
        return self

    def named(self, name: str) -> Destination | None:
        return next((d for d in self.items if d.name == name), None)

    def matching(self, product: str, event_type: str, succeeded: bool | None,
                 state_change: str | None) -> list[Destination]:
        return [d for d in self.items if d.filter.matches(product, event_type, succeeded, state_change)]


@functools.cache
def _list_adapter() -> TypeAdapter[tuple[Destination, ...]]:
    return TypeAdapter(tuple[Destination, ...])  # built on first use: a cold start without destinations skips it


def parse_destinations(value: Any) -> Destinations:
    """``FORWARD_DESTINATIONS``: a JSON list of destinations (blank: none). Raises ``ValueError`` naming the
    destination and field at fault."""
    if isinstance(value, Destinations):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return Destinations()
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a JSON list of destinations expected ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, list | tuple):
        raise ValueError("a JSON list of destinations expected")
    return Destinations(items=_list_adapter().validate_python(value))



def check_destinations(text: str) -> None:
    """Raise ``ValueError`` naming each fault (``0.URL: ...``), for the settings' message; nothing when fine."""
    try:
        parse_destinations(text)
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg'].removeprefix('Value error, ')}"
                                   for e in exc.errors())) from None


@functools.cache
def destinations_of(text: str) -> Destinations:
    """The destinations of a ``FORWARD_DESTINATIONS`` text, parsed once per process."""
    return parse_destinations(text)
