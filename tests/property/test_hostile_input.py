"""Hostile input, property-based: whatever arrives, never a 5xx, never an escaping exception, every
4xx in the contract's error shape, and nothing written for a rejected request.

S3 and SNS are in-memory here (tests/fakes/memory_aws.py) so that >10,000 cases run in seconds; the
pipeline, the gateway layer (powertools resolvers) and the models are the real ones.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import handler
from lib import aws
from lib.observability import logger
from lib.settings import get_settings
from tests.conftest import EVENTS, LambdaContext, http_event
from tests.fakes.memory_aws import MemoryS3, MemorySNS

CASES = {"tried": 0, "2xx": 0, "4xx": 0}
EXAMPLES = 1600  # per property; seven properties: 11,200 cases a run
SAMPLES = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EVENTS.rglob("*.json"))]
ERROR_CODES = {"invalid_json", "invalid_event", "unknown_product", "product_mismatch", "unauthenticated",
               "payload_too_large", "method_not_allowed", "not_found"}
# Local runs explore new cases every time; CI (CI=true) replays a fixed sequence, so that a landing is
# not decided by chance. A failure found locally is kept in .hypothesis/ and replayed first.
RUN = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true",
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def sinks() -> Iterator[tuple[MemoryS3, MemorySNS]]:
    s3, sns = MemoryS3(), MemorySNS()
    original, level = aws.client, logger.log_level
    aws.client = lambda service: {"s3": s3, "sns": sns}[service]  # type: ignore[assignment]
    logger.setLevel("CRITICAL")  # thousands of rejections: keep the output readable
    mp = pytest.MonkeyPatch()
    mp.setenv("EVENTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:property")
    mp.setenv("MAX_BODY_BYTES", "65536")
    mp.setenv("AUTH_MODE", "required")
    mp.setenv("CALLBACK_TOKENS", "property-token")
    get_settings.cache_clear()
    yield s3, sns
    aws.client = original  # type: ignore[assignment]
    logger.setLevel(level)
    mp.undo()
    get_settings.cache_clear()
    print(f"\nhostile input: {CASES['tried']} cases tried, {CASES['2xx']} accepted, {CASES['4xx']} refused, "
          "0 server errors, 0 exceptions")


def deliver(event: dict[str, Any], sinks: tuple[MemoryS3, MemorySNS]) -> dict[str, Any]:
    """Call the real handler and check the invariants every response must keep."""
    s3, sns = sinks
    before = (len(s3.objects), len(sns.messages))
    response = handler.callback(event, LambdaContext())  # an exception here fails the property
    CASES["tried"] += 1
    status = response["statusCode"]
    assert 200 <= status < 500, response
    assert response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])
    if status == 200:
        CASES["2xx"] += 1
        assert body["ok"] is True and isinstance(body["results"], list)
        new = [r for r in body["results"] if not r["duplicate"]]
        assert len(s3.objects) - before[0] <= len(new)  # never more objects than new events
    else:
        CASES["4xx"] += 1
        assert body["ok"] is False and set(body) == {"ok", "error"}
        error = body["error"]
        assert error["code"] in ERROR_CODES, error
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["details"], list)
        assert all(set(d) == {"pointer", "message"} for d in error["details"])
        assert (len(s3.objects), len(sns.messages)) == before, "a rejected request wrote something"
    return body


TOKEN = "token=property-token"
# Strings with lone UTF-16 surrogates too: json.dumps writes them as "\ud800" escapes, which are JSON
# syntax but not Unicode (they once escaped as a 500).
surrogate_text = st.lists(st.integers(0xD800, 0xDFFF).map(chr) | st.characters(), min_size=1, max_size=6).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    | surrogate_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25)


@RUN
@given(raw=st.binary(max_size=2048), b64=st.booleans(), path=st.sampled_from(["/callback", "/callback/vod",
                                                                              "/callback/cme", "/callback/mps"]))
def test_arbitrary_bytes(sinks: Any, raw: bytes, b64: bool, path: str) -> None:
    if b64:
        event = http_event(raw, path=path, query=TOKEN, base64_body=True)
    else:
        event = http_event(raw.decode("utf-8", "replace"), path=path, query=TOKEN)
    deliver(event, sinks)


@RUN
@given(value=json_values, event_type=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(
    ["NewFileUpload", "ProcedureStateChanged", "Class.Created", "WorkflowTask", "Material.Imported"])))
def test_arbitrary_json(sinks: Any, value: Any, event_type: str | None) -> None:
    if isinstance(value, dict) and event_type is not None:
        value = {**value, "EventType": event_type}
    deliver(http_event(json.dumps(value), query=TOKEN), sinks)


def _mutate(document: dict[str, Any], rng: random.Random, replacement: Any) -> dict[str, Any]:
    """Drop, retype or replace one field somewhere in the event (or the EventType itself)."""
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in node:
                paths.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                paths.append((node, index))
                walk(node[index])

    walk(document)
    if not paths:
        return document
    container, key = rng.choice(paths)
    action = rng.choice(["drop", "replace", "retype", "stringify"])
    if action == "drop" and isinstance(container, dict):
        del container[key]
    elif action == "retype":
        value = container[key]
        container[key] = [value] if not isinstance(value, list) else {"wrapped": value}
    elif action == "stringify":
        container[key] = json.dumps(container[key])
    else:
        container[key] = copy.deepcopy(replacement)  # a shared object could end up inside itself
    return document


@RUN
@given(sample=st.sampled_from(SAMPLES), seed=st.integers(0, 2**32), replacement=json_values,
       times=st.integers(1, 4))
def test_valid_events_with_fields_mutated(sinks: Any, sample: dict[str, Any], seed: int, replacement: Any,
                                          times: int) -> None:
    rng = random.Random(seed)
    document = json.loads(sample["body"])
    for _ in range(times):
        document = _mutate(document, rng, replacement)
    product = sample["pathParameters"]["product"]
    deliver(http_event(json.dumps(document), path=f"/callback/{product}", query=TOKEN), sinks)


@RUN
@given(sample=st.sampled_from(SAMPLES), depth=st.integers(1, 5000), digits=st.integers(1, 6000),
       kind=st.sampled_from(["deep", "huge-int", "huge-float", "duplicate-key", "nan"]))
def test_pathological_json(sinks: Any, sample: dict[str, Any], depth: int, digits: int, kind: str) -> None:
    body = sample["body"].strip()
    if kind == "deep":
        body = body[:-1] + ', "X": ' + "[" * depth + "]" * depth + "}"
    elif kind == "huge-int":
        body = body[:-1] + ', "X": ' + "9" * digits + "}"
    elif kind == "huge-float":
        body = body[:-1] + f', "X": 1e{digits}' + "}"
    elif kind == "duplicate-key":
        body = '{"EventType": "Class.Created", ' + body[1:]
    else:
        body = body[:-1] + ', "X": NaN}'
    deliver(http_event(body, query=TOKEN), sinks)


@RUN
@given(prefix=st.binary(max_size=64), bad=st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88"]),
       sample=st.sampled_from(SAMPLES))
def test_invalid_utf8(sinks: Any, prefix: bytes, bad: bytes, sample: dict[str, Any]) -> None:
    raw = sample["body"].encode("utf-8")
    cut = len(raw) // 2
    deliver(http_event(raw[:cut] + prefix + bad + raw[cut:], query=TOKEN, base64_body=True), sinks)


@RUN
@given(method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "POST"]),
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                     "multipart/form-data; boundary=x", "", "application/json; charset=gbk"]),
       size=st.sampled_from([0, 10, 65_536, 65_537, 200_000]), sample=st.sampled_from(SAMPLES))
def test_methods_content_types_and_sizes(sinks: Any, method: str, content_type: str, size: int,
                                         sample: dict[str, Any]) -> None:
    body = sample["body"] if size == 10 else ("x" * size)
    event = http_event(body, method=method, query=TOKEN, headers={"content-type": content_type})
    result = deliver(event, sinks)
    if method != "POST":
        assert result["error"]["code"] == "method_not_allowed"
    elif size > 65_536:
        assert result["error"]["code"] == "payload_too_large"


@RUN
@given(sample=st.sampled_from(SAMPLES),
       headers=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=80), max_size=6),
       query=st.dictionaries(st.sampled_from(["token", "Sign", "T", "Timestamp", "product", "x"]),
                             st.text(max_size=60), max_size=4),
       path_product=st.text(max_size=20))
def test_header_query_and_path_injection(sinks: Any, sample: dict[str, Any], headers: dict[str, str],
                                         query: dict[str, str], path_product: str) -> None:
    event = http_event(sample["body"], path=f"/callback/{path_product}" if path_product else "/callback",
                       headers={k: v for k, v in headers.items() if k.lower() != "content-type"})
    event["queryStringParameters"] = query or None
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    event["pathParameters"] = {"product": path_product} if path_product else None
    result = deliver(event, sinks)
    if query.get("token") != "property-token" and result["ok"]:
        pytest.fail("accepted without the right token")


def test_the_figure_is_at_least_ten_thousand_cases() -> None:
    """Runs last in this module: the properties above together tried at least 10,000 cases."""
    assert CASES["tried"] >= 10_000, CASES
