"""A flood of forged requests in one sandbox: every one refused and counted, no AWS call, a few log lines.

The callback's URL is public: each refused request is billed by API Gateway and Lambda before mediahook
sees it, so what mediahook adds must be nothing more: no AWS call, and no log line past the budget
(lib/refusals.py). The metric still counts every refusal, for the alarm on signature and expiry refusals.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import warnings
from collections import Counter
from typing import Any
from unittest import mock

import botocore.client
import pytest

import handler
from lib import api
from lib import refusals as refusal_log
from lib.observability import logger
from lib.settings import get_settings
from tests.conftest import Aws, LambdaContext, http_event, load_event

VOD_KEY = "vodCallbackKey1"
FLOOD = 1000


@pytest.fixture
def signed(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    monkeypatch.setenv("AUTH_MODE", "required")
    monkeypatch.setenv("VOD_SIGN_KEYS", VOD_KEY)
    monkeypatch.setenv("MPS_NOTIFY_KEYS", "mpsNotifyKey1")
    monkeypatch.setenv("CALLBACK_TOKENS", "flood-test-token")
    monkeypatch.setenv("MAX_BODY_BYTES", "8192")
    get_settings.cache_clear()
    fresh = refusal_log.RefusalLog()  # a fresh sandbox's budget
    monkeypatch.setattr(refusal_log, "refusals", fresh)
    monkeypatch.setattr(api, "refusals", fresh)
    return aws


def _forged(n: int) -> dict[str, Any]:
    """The kinds of request an attacker sends to a public URL, in turn."""
    document = json.loads(load_event("vod/NewFileUpload.json")["body"])
    document["FileUploadEvent"]["FileId"] = f"forged-{n}"
    kind = n % 7
    if kind == 0:  # a made-up signature
        document |= {"T": int(time.time()) + 600, "Sign": hashlib.md5(f"guess{n}".encode()).hexdigest()}
    elif kind == 1:  # a captured signature, long expired
        t = int(time.time()) - 7200
        document |= {"T": t, "Sign": hashlib.md5(f"{VOD_KEY}{t}".encode()).hexdigest()}
    elif kind == 2:  # no signature at all
        pass
    elif kind == 3:
        return http_event("{not json")
    elif kind == 4:
        return http_event("", method="GET")
    elif kind == 5:
        return http_event(json.dumps(document), path="/wp-login.php")
    else:  # larger than MAX_BODY_BYTES
        return http_event(json.dumps(document | {"padding": "x" * 8192}))
    return http_event(json.dumps(document))


def test_a_thousand_forged_deliveries_cost_no_aws_call_and_few_log_lines(
        signed: Aws, context: LambdaContext, capsys: pytest.CaptureFixture[str]) -> None:
    aws_calls: list[str] = []
    real_call = botocore.client.BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        aws_calls.append(operation)
        return real_call(client, operation, params)

    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    capsys.readouterr()
    try:
        with mock.patch.object(botocore.client.BaseClient, "_make_api_call", counted), \
                warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("default")
            statuses = Counter(handler.callback(_forged(n), context)["statusCode"] for n in range(FLOOD))
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    printed = capsys.readouterr()
    emf = [json.loads(line) for line in printed.out.splitlines() if '"_aws"' in line]
    other_stdout = [line for line in printed.out.splitlines() if '"_aws"' not in line]
    log_lines = stream.getvalue().splitlines()

    assert sum(statuses.values()) == FLOOD and all(400 <= status < 500 for status in statuses)
    assert statuses == {401: 429, 400: 143, 405: 143, 404: 143, 413: 142}
    assert aws_calls == []
    refused = sum(line.get("Rejections", [0])[0] for line in emf)
    assert refused == FLOOD  # the metric counts every refusal
    lines = len(log_lines) + len(other_stdout) + len(printed.err.splitlines()) + len(warned)
    print(f"\nflood: {FLOOD} forged requests -> {dict(statuses)}, {len(aws_calls)} AWS calls, {lines} log lines "
          f"({sum(map(len, log_lines))} bytes) besides {len(emf)} EMF lines")
    assert lines < 40
    assert all(len(line) < 300 for line in log_lines)


def test_a_genuine_delivery_during_the_flood_is_archived_and_published(signed: Aws, context: LambdaContext) -> None:
    for n in range(200):
        assert handler.callback(_forged(n), context)["statusCode"] >= 400
    document = json.loads(load_event("vod/NewFileUpload.json")["body"])
    t = int(time.time()) + 600
    document |= {"T": t, "Sign": hashlib.md5(f"{VOD_KEY}{t}".encode()).hexdigest()}
    assert handler.callback(http_event(json.dumps(document)), context)["statusCode"] == 200
    assert len(signed.objects()) == 1 and len(signed.messages()) == 1


@pytest.mark.parametrize("budget", [0, 5])
def test_the_budget_is_refusal_log_per_minute(signed: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch,
                                               budget: int) -> None:
    monkeypatch.setenv("REFUSAL_LOG_PER_MINUTE", str(budget))
    get_settings.cache_clear()
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        for n in range(60):  # every kind: signature, expiry, JSON, method, path and size refusals
            handler.callback(_forged(n), context)
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    refused = [json.loads(line) for line in stream.getvalue().splitlines() if '"refused"' in line]
    assert len(refused) == budget
    assert refusal_log.refusals.pending() == 60 - budget  # kept for the minute's summary line


def test_a_refusal_after_an_accepted_event_carries_none_of_its_keys(signed: Aws, context: LambdaContext) -> None:
    """The pipeline's per-event log keys (correlation_id, archive_key...) end with their invocation: a
    refusal in the same sandbox must not be logged under the previous event's id."""
    document = json.loads(load_event("vod/NewFileUpload.json")["body"])
    t = int(time.time()) + 600
    document |= {"T": t, "Sign": hashlib.md5(f"{VOD_KEY}{t}".encode()).hexdigest()}
    assert handler.callback(http_event(json.dumps(document)), context)["statusCode"] == 200
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        assert handler.callback(_forged(0), context)["statusCode"] == 401
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "refused"
    assert not {"correlation_id", "archive_key", "event_type", "product", "delivery"} & set(line)
