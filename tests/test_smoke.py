"""`mediahook smoke` (the console command) against the local stack: moto server + serverless-offline."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.local_stack import BUCKET, Stack, running
from tests.aws_server import ROOT, free_port

pytestmark = pytest.mark.slow
MEDIAHOOK = ROOT / ".venv" / "bin" / "mediahook"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running(Stack(free_port(), free_port(), free_port(), tmp_path_factory.mktemp("smoke"))) as started:
        yield started


def _smoke(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": stack.endpoint, "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_SESSION_TOKEN", None)
    assert MEDIAHOOK.exists(), "make install installs the console command"
    return subprocess.run([str(MEDIAHOOK), "smoke", "--url", stack.callback, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _queues(stack: Stack) -> list[str]:
    return [url for url in stack.clients("sqs").list_queues().get("QueueUrls", []) if "mediahook-smoke-" in url]


def test_smoke_proves_the_round_trip_and_cleans_up(stack: Stack) -> None:
    result = _smoke(stack, "--sign-key", "localdemovodkey", "--bucket", BUCKET, "--topic-arn", stack.topic_arn)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["PASS", "delivery"], ["PASS", "archive"],
                                                        ["PASS", "notification"]]
    assert "smoke check: passed" in lines[-1]
    # The synthetic event is where consumers can tell it apart: under _synthetic/, marked on the topic.
    keys = [o["Key"] for o in stack.clients("s3").list_objects_v2(Bucket=BUCKET, Prefix="_synthetic/")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("_synthetic/vod/NewFileUpload/")
    (notification,) = [n for n in stack.received() if n["data"]["synthetic"]]
    assert notification["data"]["archive"]["key"] == keys[0]
    assert notification["subject"].startswith("mediahook-smoke-")
    assert _queues(stack) == []  # the temporary queue and its subscription are gone
    subscriptions = stack.clients("sns").list_subscriptions_by_topic(TopicArn=stack.topic_arn)["Subscriptions"]
    assert len(subscriptions) == 1  # the stack's own


def test_a_wrong_key_fails_the_smoke_check_with_a_non_zero_exit(stack: Stack) -> None:
    result = _smoke(stack, "--sign-key", "not-the-key", "--topic-arn", stack.topic_arn)
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith("FAIL  delivery") and "HTTP 401" in first
    assert "smoke check: FAILED" in result.stdout
    assert _queues(stack) == []


def test_without_bucket_and_topic_only_the_delivery_is_checked(stack: Stack) -> None:
    result = _smoke(stack, "--token", "local-demo-token")
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = [line.split()[:2] for line in result.stdout.splitlines()[:3]]
    assert verdicts == [["PASS", "delivery"], ["SKIP", "archive"], ["SKIP", "notification"]]


def test_python_dash_m_still_works() -> None:
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "lib.cli", "smoke", "--help"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert "--topic-arn" in result.stdout


def test_synthetic_events_can_be_filtered_out_by_consumers(stack: Stack) -> None:
    """A consumer's filter policy that leaves synthetic events out (docs/deploying.md, "After a deploy: the smoke check")."""
    sns, sqs = stack.clients("sns"), stack.clients("sqs")
    queue = sqs.create_queue(QueueName="consumer-no-synthetic")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"synthetic": [{"exists": False}]})})
    assert _smoke(stack, "--sign-key", "localdemovodkey").returncode == 0
    real = Path(ROOT / "events" / "vod" / "FileDeleted.json")
    sent = subprocess.run([str(MEDIAHOOK), "send", str(real), "--url", stack.callback, "--sign-key",
                           "localdemovodkey", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                                                  WaitTimeSeconds=2).get("Messages", [])]
    assert [b["data"]["event_type"] for b in bodies] == ["FileDeleted"]
    assert all(b["data"]["synthetic"] is False for b in bodies)
