"""Tracing switches on with X-Ray; metric counts are summed per invocation."""

from __future__ import annotations

import json

import pytest

from lib import observability


def test_tracing_is_active_only_with_the_xray_daemon_and_not_disabled() -> None:
    assert not observability.tracing_active({})
    assert observability.tracing_active({"AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"})
    assert not observability.tracing_active({"AWS_XRAY_DAEMON_ADDRESS": "x", "POWERTOOLS_TRACE_DISABLED": "true"})


def test_traced_wraps_only_when_tracing_is_active(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(event: object, context: object) -> str:
        return "ok"

    monkeypatch.delenv("AWS_XRAY_DAEMON_ADDRESS", raising=False)
    assert observability.traced(handler) is handler
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    wrapped = observability.traced(handler)
    assert wrapped is not handler and callable(wrapped)


def test_counts_are_summed_and_flushed_once_per_dimension_set(capsys: pytest.CaptureFixture[str]) -> None:
    observability.flush_counts()
    capsys.readouterr()
    for _ in range(3):
        observability.count("EventsAccepted", product="vod", event_type="NewFileUpload")
    observability.count("EventsAccepted", product="cme", event_type="Class.Created")
    observability.flush_counts()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    by_product = {line["product"]: line["EventsAccepted"] for line in lines}
    assert by_product == {"vod": [3.0], "cme": [1.0]}
    observability.flush_counts()
    assert '"_aws"' not in capsys.readouterr().out  # nothing left to write
