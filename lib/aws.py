"""boto3 clients, created once per process on first use.

boto3 honours ``AWS_ENDPOINT_URL`` by itself, which is how local runs point every client at moto
server. Timeouts are short and retries standard: a callback must answer before Tencent gives up.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"max_attempts": 3, "mode": "standard"},
)


@functools.cache
def client(service: str) -> Any:
    """A shared client for ``service`` (boto3 clients are thread-safe)."""
    return boto3.session.Session().client(service, config=_CONFIG)


def reset() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    client.cache_clear()
