"""Shared fixtures: a moto-backed AWS (bucket, topic, a queue subscribed to it) and helpers to read it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SAMPLES = ROOT / "tests" / "samples"
REGION = "us-east-1"
BUCKET = "mediahook-archive-test"

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "mediahook",
    "POWERTOOLS_METRICS_NAMESPACE": "Mediahook",
    "ARCHIVE_BUCKET": BUCKET,
    "AUTH_MODE": "off",
}

for _name, _value in BASE_ENV.items():  # before any test module imports boto3-using code
    os.environ.setdefault(_name, _value)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


@dataclass
class LambdaContext:
    function_name: str = "mediahook-test-callback"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mediahook-test-callback"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Aws:
    """The moto account a test runs against, with readers for what mediahook left in it."""

    s3: Any
    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def objects(self) -> dict[str, bytes]:
        """Every archived object: key -> bytes."""
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                out[item["Key"]] = self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        return out

    def head(self, key: str) -> dict[str, Any]:
        return self.s3.head_object(Bucket=BUCKET, Key=key)

    def messages(self) -> list[dict[str, Any]]:
        """Every SNS notification so far (drained from the subscribed queue, kept across calls)."""
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                             MessageAttributeNames=["All"], WaitTimeSeconds=0)
            items = batch.get("Messages", [])
            if not items:
                return self.received
            for item in items:
                envelope = json.loads(item["Body"])
                self.received.append({
                    "cloudevent": json.loads(envelope["Message"]),
                    "attributes": {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                    "topic": envelope["TopicArn"],
                })
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=item["ReceiptHandle"])


def _subscribe_queue(sns: Any, sqs: Any, topic_arn: str, name: str) -> str:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """A fresh moto account with the archive bucket, the events topic and a queue subscribed to it."""
    from lib import aws as aws_clients
    from lib import dedup
    from lib.settings import get_settings

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        topic_arn = sns.create_topic(Name="mediahook-events")["TopicArn"]
        queue_url = _subscribe_queue(sns, sqs, topic_arn, "mediahook-events-test")
        monkeypatch.setenv("EVENTS_TOPIC_ARN", topic_arn)
        get_settings.cache_clear()
        aws_clients.reset()
        dedup.reset()
        yield Aws(s3, sns, sqs, topic_arn, queue_url)
        get_settings.cache_clear()
        aws_clients.reset()


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()


def load_event(relative: str) -> dict[str, Any]:
    return json.loads((EVENTS / relative).read_text(encoding="utf-8"))


def all_event_files() -> list[Path]:
    return sorted(EVENTS.rglob("*.json"))


def http_event(body: str | bytes, *, path: str = "/callback", method: str = "POST", query: str = "",
               headers: dict[str, str] | None = None, base64_body: bool = False) -> dict[str, Any]:
    """An API Gateway HTTP API (2.0) event."""
    import base64
    from urllib.parse import parse_qsl

    if base64_body:
        raw = body if isinstance(body, bytes) else body.encode("utf-8")
        body = base64.b64encode(raw).decode("ascii")
    elif isinstance(body, bytes):
        body = body.decode("utf-8")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012", "apiId": "test", "domainName": "test.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "pytest"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "timeEpoch": 0,
        },
        "body": body,
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query))
    return event


def response_json(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])


@pytest.fixture
def idempotency_table(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The DynamoDB table powertools idempotency expects (id key, TTL on `expiration`), switched on."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    from lib import dedup
    from lib.settings import get_settings

    # DynamoDB applies a conditional write atomically; moto's in-process backend checks the condition
    # and then writes without a lock, so two threads can both pass it. Serialise moto's writes to give
    # the stand-in the atomicity the real service guarantees (the tests then exercise our logic).
    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = "mediahook-idempotency-test"
    dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    monkeypatch.setenv("IDEMPOTENCY_TABLE", table)
    get_settings.cache_clear()
    dedup.reset()
    yield table
    dedup.reset()


@contextmanager
def publish_fails_for(marker: str) -> Iterator[None]:
    """SNS publish fails for every message that contains ``marker`` (a poison event); the rest reach moto."""
    from unittest import mock

    from botocore.exceptions import ClientError

    from lib import aws as aws_clients

    make_client = aws_clients.client
    sns = make_client("sns")

    def publish(**kwargs: Any) -> Any:
        if marker in kwargs["Message"]:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "always fails"}}, "Publish")
        return sns.publish(**kwargs)

    broken = mock.Mock(wraps=sns)
    broken.publish.side_effect = publish
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: broken if n == "sns" else make_client(n)):
        yield


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The default artifact (stage ci, x86_64), built once per run by ``osls package`` as users build it, and
    shared by the pytest-xdist workers: the first to need it builds it under a lock, the others read it."""
    from filelock import FileLock

    from tests.packaging import package

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    out, done = shared / "package", shared / "package.built"
    with FileLock(shared / "package.lock"):
        if not done.exists():  # never built, or a build failed: what it left in `out` is not read
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            package(out)
            done.touch()
    return out  # pytest removes the run's temporary directories itself (it keeps the last three runs)


@dataclass
class Bus:
    """An EventBridge bus in the moto account; every event put on it also lands in the ``all`` queue.
    ``calls`` records each PutEvents call's entries; ``fail`` decides, per entry, to fail it instead."""

    events: Any
    sqs: Any
    name: str
    queues: dict[str, str] = field(default_factory=dict)
    calls: list[list[dict[str, Any]]] = field(default_factory=list)
    fail: Any = None  # (call number, entry) -> error code or None

    def rule(self, name: str, pattern: dict[str, Any]) -> None:
        """A rule on the bus with ``pattern``, its target a queue named after it."""
        url = self.sqs.create_queue(QueueName=f"bus-{name}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name=name, EventBusName=self.name, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=name, EventBusName=self.name, Targets=[{"Id": "queue", "Arn": arn}])
        self.queues[name] = url

    def received(self, rule: str = "all") -> list[dict[str, Any]]:
        """The EventBridge events the rule's queue got (drained)."""
        out = []
        while batch := self.sqs.receive_message(QueueUrl=self.queues[rule], MaxNumberOfMessages=10).get("Messages"):
            out += [json.loads(m["Body"]) for m in batch]
            for m in batch:
                self.sqs.delete_message(QueueUrl=self.queues[rule], ReceiptHandle=m["ReceiptHandle"])
        return out

    def put_events(self, **kwargs: Any) -> dict[str, Any]:
        """What mediahook's events client does: recorded, possibly failed per entry, else moto's."""
        entries = kwargs["Entries"]
        self.calls.append(entries)
        verdicts = [self.fail(len(self.calls), e) if self.fail else None for e in entries]
        passed = [e for e, v in zip(entries, verdicts, strict=True) if v is None]
        if passed:
            self.events.put_events(Entries=passed)
        results = [{"EventId": "x"} if v is None else {"ErrorCode": v, "ErrorMessage": "injected"} for v in verdicts]
        return {"FailedEntryCount": sum(v is not None for v in verdicts), "Entries": results}


@pytest.fixture
def event_bus(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    """EVENT_BUS_NAME set to a fresh bus; mediahook's events client goes through ``Bus.put_events``."""
    from unittest import mock

    from lib import aws as aws_clients
    from lib.settings import get_settings

    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name="mediahook-test-bus")
    bus = Bus(events, aws.sqs, "mediahook-test-bus")
    bus.rule("all", {"source": [{"prefix": "tencentcloud/"}]})
    monkeypatch.setenv("EVENT_BUS_NAME", bus.name)
    get_settings.cache_clear()
    make_client = aws_clients.client
    spy = mock.Mock(wraps=events)
    spy.put_events.side_effect = bus.put_events
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: spy if n == "events" else make_client(n)):
        yield bus
    get_settings.cache_clear()


def atomic_moto_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies a conditional write atomically; moto's in-process backend checks the condition and
    then writes without a lock, so two threads can both pass it. Serialise moto's writes to give the
    stand-in the atomicity the real service guarantees (the tests then exercise our logic)."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name, None)
        if original is None or getattr(original, "_atomic", False):
            continue

        def atomic(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        atomic._atomic = True  # type: ignore[attr-defined]
        monkeypatch.setattr(DynamoDBBackend, name, atomic)


def create_ledger_table(dynamodb: Any, name: str) -> None:
    """The ledger's table as serverless.yml's LedgerTable declares it (lib/ledger.py holds the schema)."""
    from lib.ledger import create_table

    create_table(dynamodb, name)


@pytest.fixture
def ledger_table(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """LEDGER_TABLE set to a fresh ledger table in the moto account."""
    from lib import ledger
    from lib.settings import get_settings

    atomic_moto_writes(monkeypatch)
    table = "mediahook-ledger-test"
    create_ledger_table(boto3.client("dynamodb", region_name=REGION), table)
    monkeypatch.setenv("LEDGER_TABLE", table)
    get_settings.cache_clear()
    ledger.reset()
    yield table
    ledger.reset()
    get_settings.cache_clear()


# Two workers (make test: pytest -n 2 --dist loadscope): a module's tests run on one worker, so a module-wide
# fixture (a local stack, a browser) starts once. A test that builds in the project folder (`osls package`, or a
# make target that runs it) is marked `builds_in_root` and holds tests/packaging.BUILD_LOCK, as package() does.
BUILDS_IN_ROOT = "builds_in_root"


@pytest.fixture(autouse=True)
def _one_build_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker(BUILDS_IN_ROOT) is None:
        yield
        return
    from tests.packaging import BUILD_LOCK

    with BUILD_LOCK:
        yield


# The longest modules first. With ``--dist loadscope`` a module runs whole on one worker, and a long one handed out
# late keeps the other worker idle until it ends (longest first is the classic cure). test_load (about 2.5 minutes)
# and the deploy lifecycle (about 2, in the project folder's build lock) start at once on the two workers.
FIRST_MODULES = ("tests/test_load.py", "tests/test_deploy_lifecycle.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(FIRST_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(FIRST_MODULES)))  # stable: the rest as is
