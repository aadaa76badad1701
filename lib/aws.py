"""boto3 clients, created once per process on first use.

boto3 honours ``AWS_ENDPOINT_URL`` by itself, which is how local runs point every client at moto
server. Timeouts are short and retries standard: a callback must answer before Tencent gives up.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"max_attempts": 3, "mode": "standard"},
)


_lock = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    """One session for every client: its loaders cache the service models and endpoint data, which a
    session per client would parse again (about 70 ms a client at cold start)."""
    return boto3.session.Session()


@functools.cache
def _create(service: str) -> Any:
    with _lock:  # clients are thread-safe; creating them from one session is not
        return _session().client(service, config=_CONFIG)


def client(service: str) -> Any:
    """The shared client for ``service``."""
    return _create(service)


def reset() -> None:
    """Forget the session and clients (tests switch endpoints and credentials between cases)."""
    _create.cache_clear()
    _session.cache_clear()
