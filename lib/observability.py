"""The process-wide powertools Logger, Metrics and (when X-Ray is on) Tracer, set by POWERTOOLS_* variables."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "mediahook"
NAMESPACE = "Mediahook"

def _json_or_text(text: str) -> Any:
    """powertools tries to JSON-decode every log message; only messages that look like JSON are tried."""
    if text[:1] in ("{", "["):
        return json.loads(text)
    raise ValueError("not JSON")


# One log line per event is the largest cost after the event's own JSON: leave out what no line here
# uses (the logging HOWTO's "Optimization" switches). Thread, process and caller are not in powertools'
# lines; "location" is dropped with the caller lookup, a quarter of a line's cost: every message is
# written in one place only, so the message itself locates it.
logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
logging._srcfile = None  # the documented switch for "current filename and line number"

# cast: powertools annotates json_deserializer as returning str, though it returns the decoded value.
# location=None leaves the key out for good (remove_keys is undone by inject_lambda_context's clear_state).
logger = Logger(service=SERVICE, location=None, json_deserializer=cast(Any, _json_or_text))
# Of the keys inject_lambda_context adds, these two repeat on every line what the log group already says
# (whose function) and the platform's REPORT line (its memory): about 110 bytes a line, billed per GB.
REDUNDANT_CONTEXT_KEYS = ["function_arn", "function_memory_size"]
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

AnyHandler = TypeVar("AnyHandler", bound=Callable[..., Any])


def tracing_active(env: Mapping[str, str] = os.environ) -> bool:
    """X-Ray is on: Lambda active tracing (the daemon address is set) and not switched off."""
    disabled = env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(env.get("AWS_XRAY_DAEMON_ADDRESS")) and not disabled


def traced(handler: AnyHandler) -> AnyHandler:
    """powertools ``Tracer.capture_lambda_handler`` when X-Ray is active, else the handler unchanged.

    powertools' Tracer imports the X-Ray SDK (about 200 ms of cold start here) even when tracing is
    disabled; this way only deployments that trace pay for it."""
    if not tracing_active():
        return handler
    from aws_lambda_powertools import Tracer

    return cast(AnyHandler, Tracer(service=SERVICE).capture_lambda_handler(handler, capture_response=False))


_pending: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
_pending_lock = threading.Lock()


def count(name: str, amount: int = 1, **dimensions: str) -> None:
    """Count ``amount`` occurrences (e.g. events by product and type). Counts are summed in memory and
    written by ``flush_counts`` once per invocation: one EMF line per (metric, dimensions), not per event.
    Every metric is in the ``Mediahook`` namespace with the dimensions ``service`` plus those given here:
    the dashboard in serverless.yml reads them so (a test holds the two together)."""
    with _pending_lock:
        _pending[(name, tuple(sorted(dimensions.items())))] += amount


def flush_counts() -> None:
    """Write the counts gathered so far as EMF lines (each with its own dimensions) and reset them."""
    with _pending_lock:
        pending = list(_pending.items())
        _pending.clear()
    for (name, dimensions), value in pending:
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="service", value=SERVICE)
            for key, dimension_value in dimensions:
                metric.add_dimension(name=key, value=dimension_value)


@contextmanager
def counting() -> Iterator[None]:
    """Flush the invocation's counts when it ends, whether it succeeded or not."""
    try:
        yield
    finally:
        flush_counts()
