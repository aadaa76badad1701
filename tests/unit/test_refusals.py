"""The refusal log budget: every refusal counted, the first N of a minute logged, the rest summarised."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from lib import observability
from lib.observability import logger
from lib.refusals import RefusalLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def logged() -> Iterator[io.StringIO]:
    """What the powertools logger writes meanwhile (its handler's stream, swapped)."""
    handler = logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def no_pending_counts() -> Iterator[None]:
    """No counts, and no per-event log keys, left by an earlier test (an invocation clears its own)."""
    logger.thread_safe_clear_keys()
    observability._pending.clear()
    yield
    observability._pending.clear()


def _counted() -> dict[str, int]:
    with observability._pending_lock:
        return {dict(dims)["reason"]: n for (name, dims), n in observability._pending.items() if name == "Rejections"}


def test_within_the_budget_each_refusal_is_one_short_line() -> None:
    clock = Clock()
    log = RefusalLog(clock=clock)
    with logged() as stream:
        for _ in range(3):
            log.refused(401, "bad_signature", budget=5)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["message"], line["status"], line["reason"]) for line in lines] == [("refused", 401, "bad_signature")] * 3
    assert all(len(text) < 300 for text in stream.getvalue().splitlines())
    assert _counted() == {"bad_signature": 3}


def test_past_the_budget_refusals_are_counted_and_summarised_once_a_minute() -> None:
    clock = Clock()
    log = RefusalLog(clock=clock)
    with logged() as stream:
        for n in range(100):
            log.refused(401, "bad_signature" if n % 2 else "expired", budget=20)
        assert log.pending() == 80
        clock.now += 30
        log.summarize_if_due()  # the minute is not over: nothing yet
        assert log.pending() == 80
        clock.now += 31
        log.summarize_if_due()
        log.summarize_if_due()  # once only
        log.refused(400, "invalid_json", budget=20)  # a fresh budget
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 20 + 1 + 1
    summary = lines[20]
    assert summary["suppressed"] == 80 and summary["by_reason"] == {"bad_signature": 40, "expired": 40}
    assert lines[21]["reason"] == "invalid_json"
    assert _counted() == {"bad_signature": 50, "expired": 50, "invalid_json": 1}  # the metric misses none


def test_a_zero_budget_logs_only_summaries() -> None:
    clock = Clock()
    log = RefusalLog(clock=clock)
    with logged() as stream:
        for _ in range(10):
            log.refused(404, "not_found", budget=0)
        clock.now += 60
        log.summarize_if_due()
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["suppressed"] == 10
