"""Faults in S3, SNS, DynamoDB and the Tencent API, in each entry point (push, pull, queue).

For every injected fault: no 2xx, ConfirmEvents or queue delete for an event that is not archived;
once the fault clears, replaying the same deliveries ends with every event archived and published
exactly once. Each test prints its figure (faults injected, events lost).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

import handler
from lib import api, dedup
from lib import aws as aws_clients
from tests.conftest import SAMPLES, Aws, LambdaContext
from tests.fakes.vod_api import FakeVodApi

FIGURES = {"faults": 0, "lost": 0}


def _error(kind: str, operation: str) -> Exception:
    if kind == "error":
        return ClientError({"Error": {"Code": "InternalError", "Message": "injected"},
                            "ResponseMetadata": {"HTTPStatusCode": 500}}, operation)
    if kind == "throttle":
        code = {"PutObject": "SlowDown", "Publish": "Throttling"}.get(operation, "ProvisionedThroughputExceededException")
        return ClientError({"Error": {"Code": code, "Message": "injected"},
                            "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)
    if kind == "timeout":
        return ReadTimeoutError(endpoint_url="http://127.0.0.1:1")
    if kind == "connect":
        return ConnectTimeoutError(endpoint_url="http://127.0.0.1:1")
    return EndpointConnectionError(endpoint_url="http://127.0.0.1:1")


class FaultyClient:
    """Wraps a boto3 client; the ``nth`` call (1-based, counting every faulty method) of ``methods`` fails."""

    def __init__(self, real: Any, methods: set[str], nth: int, make_error: Callable[[str], Exception]) -> None:
        self._real, self._methods, self._nth, self._make_error = real, methods, nth, make_error
        self.calls, self.injected = 0, 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if name not in self._methods:
            return attribute

        def faulty(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self._nth:
                self.injected += 1
                FIGURES["faults"] += 1
                raise self._make_error(name)
            return attribute(*args, **kwargs)

        return faulty


SERVICE_METHODS = {"s3": {"put_object"}, "sns": {"publish"},
                   "dynamodb": {"put_item", "update_item", "delete_item", "get_item"}}
OPERATION = {"s3": "PutObject", "sns": "Publish", "dynamodb": "PutItem"}


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, int, str], FaultyClient]]:
    """inject(service, nth, kind): make the nth call of that service fail until ``clear()``-ed."""
    make_client = aws_clients.client
    faulty: dict[str, FaultyClient] = {}

    def client(service: str) -> Any:
        return faulty.get(service) or make_client(service)

    def start(service: str, nth: int, kind: str) -> FaultyClient:
        faulty[service] = FaultyClient(make_client(service), SERVICE_METHODS[service], nth,
                                       lambda _: _error(kind, OPERATION[service]))
        dedup.reset()  # the idempotency layer holds its DynamoDB client
        return faulty[service]

    monkeypatch.setattr(aws_clients, "client", client)
    dedup.register_context(LambdaContext())  # as the handler does: in-flight records expire with the invocation
    start.clear = lambda: (faulty.clear(), dedup.reset())  # type: ignore[attr-defined]
    yield start
    faulty.clear()
    dedup.reset()


def _bodies(n: int) -> list[bytes]:
    template = json.loads((SAMPLES / "vod_ProcedureStateChanged.json").read_text(encoding="utf-8"))
    out = []
    for i in range(n):
        event = copy.deepcopy(template)
        event["ProcedureStateChangeEvent"]["TaskId"] = f"1500000001-Procedure-fault{i:03d}t0"
        out.append(json.dumps(event).encode())
    return out


def _exactly_once(aws: Aws, expected: int) -> None:
    objects = [k for k in aws.objects() if not k.startswith("vod/_dead/")]
    ids = [m["cloudevent"]["id"] for m in aws.messages()]
    FIGURES["lost"] += max(0, expected - len(set(ids)))
    assert len(objects) == expected, objects
    assert len(ids) == expected and len(set(ids)) == expected, sorted(ids)
    assert {k.rsplit("/", 1)[1].removesuffix(".json") for k in objects} == set(ids)


def _archived_ids(aws: Aws) -> set[str]:
    return {k.rsplit("/", 1)[1].removesuffix(".json") for k in aws.objects()}


# ---------------------------------------------------------------------------------------------- push

PUSH_CASES = [(service, nth, kind) for service in ("s3", "sns", "dynamodb") for nth in (1, 2, 3)
              for kind in ("error", "throttle", "timeout")]


@pytest.mark.parametrize(("service", "nth", "kind"), PUSH_CASES, ids=[f"{s}-call{n}-{k}" for s, n, k in PUSH_CASES])
def test_push_fault_then_replay(aws: Aws, idempotency_table: str, context: LambdaContext,
                                inject: Any, service: str, nth: int, kind: str) -> None:
    from lib.intake import event_id_of

    bodies = _bodies(4)
    fault = inject(service, nth, kind)
    for body in bodies:
        status, result = api.receive(body, pinned="vod")
        archived = _archived_ids(aws)
        event_id = event_id_of(json.loads(body))
        if status == 200:
            assert event_id in archived, "acknowledged without an archived object"
        else:
            assert status == 503 and result["error"]["code"] in ("storage_unavailable", "in_progress")
    assert fault.injected == 1
    inject.clear()
    for body in bodies:  # the sender retries every delivery it was not sure about (here: all of them)
        status, _ = api.receive(body, pinned="vod")
        assert status == 200
    _exactly_once(aws, len(bodies))


def test_dedup_record_cannot_be_completed_after_publishing(aws: Aws, idempotency_table: str,
                                                          inject: Any, context: LambdaContext) -> None:
    """DynamoDB fails on the very update that marks the record COMPLETED: the event is already archived
    and published, so it is acknowledged (a 5xx would lead to a second publication later), and the
    record is completed by a second try, so a later copy is a duplicate."""
    body = _bodies(1)[0]
    fault = inject("dynamodb", 2, "error")  # call 1: put_item IN_PROGRESS; call 2: update_item COMPLETED
    status, _ = api.receive(body, pinned="vod")
    assert fault.injected == 1 and status == 200
    inject.clear()
    status, result = api.receive(body, pinned="vod")
    assert status == 200 and result["results"][0]["duplicate"] is True
    _exactly_once(aws, 1)


# ---------------------------------------------------------------------------------------------- queue

QUEUE_CASES = [(service, nth, kind) for service in ("s3", "sns", "dynamodb") for nth in (1, 3)
               for kind in ("error", "timeout")]


def _record(message_id: str, body: bytes) -> dict[str, Any]:
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": body.decode(),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": hashlib.md5(body).hexdigest(), "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}


@pytest.mark.parametrize(("service", "nth", "kind"), QUEUE_CASES, ids=[f"{s}-call{n}-{k}" for s, n, k in QUEUE_CASES])
def test_queue_fault_then_redelivery(aws: Aws, idempotency_table: str, context: LambdaContext,
                                     inject: Any, service: str, nth: int, kind: str) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from lib.intake import event_id_of

    bodies = {f"m{i}": b for i, b in enumerate(_bodies(4))}
    batch = {"Records": [_record(mid, body) for mid, body in bodies.items()]}
    inject(service, nth, kind)
    try:
        failed = {f["itemIdentifier"] for f in handler.queue(batch, context)["batchItemFailures"]}
    except BatchProcessingError:
        failed = set(bodies)
    archived = _archived_ids(aws)
    for mid, body in bodies.items():  # a message reported done (SQS deletes it) must be archived
        if mid not in failed:
            assert event_id_of(json.loads(body)) in archived
    assert failed, "the fault went unnoticed"
    inject.clear()
    retry = {"Records": [_record(mid, bodies[mid]) for mid in sorted(failed)]}  # SQS redelivers the failed
    assert handler.queue(retry, context) == {"batchItemFailures": []}
    _exactly_once(aws, len(bodies))


# ---------------------------------------------------------------------------------------------- pull


@pytest.fixture
def fake_vod(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVodApi]:
    fake = FakeVodApi().start()
    for name, value in {"VOD_API_ENDPOINT": fake.url, "TENCENTCLOUD_SECRET_ID": fake.secret_id,
                        "TENCENTCLOUD_SECRET_KEY": fake.secret_key, "PULL_WORKERS": "1",
                        "PULL_CONCURRENCY": "4"}.items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.stop()


def _guard(fake: FakeVodApi, aws: Aws) -> list[str]:
    """Record every event the fake is asked to confirm while it is not archived."""
    from lib.intake import event_id_of

    violations: list[str] = []
    fake.on_confirm = lambda events: violations.extend(
        i for i in map(event_id_of, events) if i not in _archived_ids(aws))
    return violations


def _drain(fake: FakeVodApi, context: LambdaContext, runs: int = 4) -> None:
    for _ in range(runs):
        with contextlib.suppress(Exception):  # a failed run is retried by the next schedule, as in production
            handler.pull({}, context)
        if fake.remaining() == 0:
            return
        fake.advance(31)


PULL_AWS_CASES = [(service, nth, kind) for service in ("s3", "sns", "dynamodb") for nth in (1, 5)
                  for kind in ("error", "throttle", "timeout")]


@pytest.mark.parametrize(("service", "nth", "kind"), PULL_AWS_CASES,
                         ids=[f"{s}-call{n}-{k}" for s, n, k in PULL_AWS_CASES])
def test_pull_with_an_aws_fault(aws: Aws, idempotency_table: str, context: LambdaContext, inject: Any,
                                fake_vod: FakeVodApi, service: str, nth: int, kind: str) -> None:
    fake_vod.enqueue(*(json.loads(b) for b in _bodies(6)))
    violations = _guard(fake_vod, aws)
    fault = inject(service, nth, kind)
    handler.pull({}, context)
    assert fault.injected == 1
    inject.clear()
    fake_vod.advance(31)
    _drain(fake_vod, context)
    assert violations == [] and fake_vod.remaining() == 0
    _exactly_once(aws, 6)


PULL_API_CASES = [("PullEvents", "RequestLimitExceeded"), ("PullEvents", "DROP"), ("PullEvents", "InternalError"),
                  ("PullEvents", "AuthFailure.SignatureExpire"), ("ConfirmEvents", "DROP"),
                  ("ConfirmEvents", "InternalError"), ("ConfirmEvents", "RequestLimitExceeded")]


@pytest.mark.parametrize(("action", "code"), PULL_API_CASES, ids=[f"{a}-{c}" for a, c in PULL_API_CASES])
def test_pull_with_a_tencent_api_fault(aws: Aws, idempotency_table: str, context: LambdaContext,
                                       fake_vod: FakeVodApi, action: str, code: str) -> None:
    fake_vod.enqueue(*(json.loads(b) for b in _bodies(20)))
    violations = _guard(fake_vod, aws)
    fake_vod.fail_next[action] = code
    FIGURES["faults"] += 1
    _drain(fake_vod, context)
    assert violations == [] and fake_vod.remaining() == 0
    _exactly_once(aws, 20)


def test_zz_print_the_figure() -> None:
    print(f"\nfaults: {FIGURES['faults']} injected across push, queue and pull; events lost: {FIGURES['lost']}")
    assert FIGURES["lost"] == 0


def test_a_dedup_store_failure_is_counted_by_stage(aws: Aws, idempotency_table: str, inject: Any,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from lib.observability import flush_counts

    inject("dynamodb", 1, "error")
    status, result = api.receive(_bodies(1)[0], pinned="vod")
    flush_counts()
    assert status == 503 and result["error"]["code"] == "storage_unavailable"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"Failures"' in line]
    assert [(line["stage"], line["Failures"]) for line in emf] == [("dedup", [1.0])]
