"""Configuration, read once from the environment into a validated model.

A missing or malformed variable fails at cold start with the variable's name, not at the first
event that needs it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lib.forward.names import URL_PREFIX_PATTERN
from lib.routing import TopicRule, parse_topic_rules, parse_verify_patterns
from lib.secret_store import secret_from


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the environment variable."""


def split_csv(value: str | None) -> tuple[str, ...]:
    """``"a, b,"`` -> ``("a", "b")``: the form of every list-valued setting."""
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


class EnvSettings(BaseModel):
    """Settings of one feature, each field read from the environment variable of its name upper-cased;
    a malformed value fails with the variable's name. Values are stripped and blank ones ignored, except
    for the fields in ``VERBATIM``, read exactly as given."""

    # defer_build: a cold start builds only the settings it reads (not those of pull or CMQ).
    model_config = ConfigDict(frozen=True, defer_build=True)
    FEATURE: ClassVar[str] = "configuration"
    VERBATIM: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        raw: dict[str, str] = {}
        for name in cls.model_fields:
            value = env.get(name.upper())
            if value is not None and (name in cls.VERBATIM or value.strip()):
                raw[name] = value if name in cls.VERBATIM else value.strip()
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid {cls.FEATURE}: {problems}") from None


class Settings(EnvSettings):
    """Every setting mediahook reads. Field names are the environment variables, lower-cased."""

    archive_bucket: str = Field(min_length=3)
    archive_prefix: str = ""
    events_topic_arn: str | None = Field(default=None, pattern=r"^arn:")
    # A bus name, or its ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME).
    event_bus_name: str | None = Field(
        default=None, pattern=r"^(arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?[A-Za-z0-9._/-]{1,256}$")
    routes: tuple[TopicRule, ...] = ()
    verify_events: tuple[str, ...] = ()  # product.EventType globs to confirm with Tencent (lib/verify.py)
    cme_platform: str | None = None  # CME's platform name: every CME API call takes it (verification)
    idempotency_table: str | None = None
    ledger_table: str | None = None  # DynamoDB table of every resource's history and latest state (lib/ledger.py)
    # How long the ledger's items live: validated with every other setting, so a bad value fails at start-up.
    ledger_retention_days: int = Field(default=90, ge=1, le=36500)
    vod_sign_keys: tuple[str, ...] = ()
    mps_notify_keys: tuple[str, ...] = ()
    callback_tokens: tuple[str, ...] = ()
    vod_sign_keys_param: str | None = None
    mps_notify_keys_param: str | None = None
    callback_tokens_param: str | None = None
    secrets_cache_seconds: int = Field(default=300, ge=0)
    auth_mode: Literal["required", "off"] = "required"
    auth_clock_skew_seconds: int = Field(default=300, ge=0)
    auth_max_lifetime_seconds: int = Field(default=3600, ge=60)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # Refusals (4xx) logged one by one per sandbox and minute; the rest are counted and summarised once a
    # minute (lib/refusals.py): a flood of forged requests must not also fill CloudWatch Logs.
    refusal_log_per_minute: int = Field(default=20, ge=0)
    # Forwarding (docs/forwarding.md): the destinations (a JSON list), the URL prefix of their queues (each
    # destination's FIFO queue and dead-letter queue: lib/forward/names.py), and the delivery function's default
    # concurrency per destination (the rate limit's share).
    # The JSON text, checked here (a bad list fails at cold start, naming the destination) and read by
    # lib/forward/config.destinations_of: a stage without destinations never loads their models.
    forward_destinations: str = ""
    forward_queue_url_prefix: str | None = Field(default=None, pattern=URL_PREFIX_PATTERN)
    forward_concurrency: int = Field(default=2, ge=2, le=1000)  # SQS maximumConcurrency: 2 to 1000
    forward_allow_loopback: bool = False  # local mode only (make serve/demo): the endpoint is on 127.0.0.1
    # The events table (lib/query/): the Firehose delivery stream that takes one row per accepted event. Unset:
    # no rows are written (``mediahook query backfill`` builds them from the archive later).
    events_stream_name: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9_.-]{1,64}$")

    VERBATIM: ClassVar[frozenset[str]] = frozenset({"archive_prefix"})  # a key prefix is taken as given

    @model_validator(mode="after")
    def _cme_verification_has_a_platform(self) -> Self:
        if not self.cme_platform and any(p.startswith(("cme.", "*")) for p in self.verify_events):
            raise ValueError("VERIFY_EVENTS names CME events: set CME_PLATFORM (the CME platform every CME API "
                             "call is made for)")
        return self

    @model_validator(mode="after")
    def _somewhere_to_notify(self) -> Self:
        if not self.events_topic_arn and not self.event_bus_name:
            raise ValueError("EVENTS_TOPIC_ARN or EVENT_BUS_NAME (or both) must be set: notifications need a target")
        return self

    @model_validator(mode="after")
    def _forwarding_has_queues(self) -> Self:
        if self.forward_destinations.strip() in ("", "[]"):
            return self
        if not self.forward_queue_url_prefix:
            raise ValueError("FORWARD_DESTINATIONS is set: FORWARD_QUEUE_URL_PREFIX (the URL of the destinations' "
                             "queues up to their names, the stack's ForwardQueueUrlPrefix output) must be too")
        from lib.forward.config import destinations_of
        from lib.forward.names import name_problem, prefix_name

        for destination in destinations_of(self.forward_destinations).items:
            problem = name_problem(destination.name, prefix_name(self.forward_queue_url_prefix))
            if problem:
                raise ValueError(f"FORWARD_DESTINATIONS: destination {destination.name}: {problem}")
        return self

    @field_validator("forward_destinations")
    @classmethod
    def _destinations(cls, value: str) -> str:
        if value.strip():
            from lib.forward.config import check_destinations  # only stages that forward load its models

            check_destinations(value)
        return value

    @field_validator("verify_events", mode="before")
    @classmethod
    def _verify_patterns(cls, value: Any) -> Any:
        return parse_verify_patterns(value) if isinstance(value, str) else value

    @field_validator("routes", mode="before")
    @classmethod
    def _topic_rules(cls, value: Any) -> Any:
        return parse_topic_rules(value) if isinstance(value, str) else value

    @field_validator("vod_sign_keys", "mps_notify_keys", "callback_tokens", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return split_csv(value) if isinstance(value, str) else value


class TencentCredentialSettings(EnvSettings):
    """Tencent Cloud API credentials: the SDK's own variables, or SSM parameter names (``*_PARAM``)."""

    tencentcloud_secret_id: str | None = None
    tencentcloud_secret_key: str | None = None
    tencentcloud_session_token: str | None = None
    tencentcloud_secret_id_param: str | None = None
    tencentcloud_secret_key_param: str | None = None
    tencentcloud_session_token_param: str | None = None

    def tencent_credentials(self, cache_seconds: int) -> tuple[str, str, str | None]:
        """(secret id, secret key, session token), from the environment or SSM."""
        secret_id = secret_from(self.tencentcloud_secret_id, self.tencentcloud_secret_id_param, cache_seconds)
        secret_key = secret_from(self.tencentcloud_secret_key, self.tencentcloud_secret_key_param, cache_seconds)
        token = secret_from(self.tencentcloud_session_token, self.tencentcloud_session_token_param, cache_seconds)
        if not secret_id or not secret_key:
            raise ConfigError("TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (or their *_PARAM names) "
                              "are required")
        return secret_id, secret_key, token

    @staticmethod
    def check_url(value: str, variable: str, example: str) -> None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{variable}: a URL such as {example} expected")


class QuerySettings(EnvSettings):
    """Where the events table is and how to reach Athena: what ``mediahook query`` reads (not the function's
    settings: querying needs no topic, key or token)."""

    FEATURE: ClassVar[str] = "query configuration"
    VERBATIM: ClassVar[frozenset[str]] = frozenset({"archive_prefix", "events_table_prefix"})

    archive_bucket: str | None = None
    archive_prefix: str = ""
    # The table's rows: ``{events_table_prefix}dt=YYYY-MM-DD/...`` in this bucket (default: the archive bucket).
    events_table_bucket: str | None = None
    events_table_prefix: str = Field(default="tables/events/", pattern=r"^([^/].*/)?$")
    athena_workgroup: str = "primary"
    athena_database: str = "mediahook"

    @property
    def table_bucket(self) -> str:
        """The bucket of the table's rows; ConfigError naming both variables when neither is set."""
        bucket = self.events_table_bucket or self.archive_bucket
        if not bucket:
            raise ConfigError("EVENTS_TABLE_BUCKET or ARCHIVE_BUCKET must be set: the bucket of the events table")
        return bucket


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, parsed on first use (cold start)."""
    return Settings.from_env(os.environ)
