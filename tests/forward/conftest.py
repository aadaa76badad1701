"""Forwarding under moto: the FIFO queue and its dead-letter queue, the destination's secret in SSM, and the
settings pointing at them (FORWARD_*)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.conftest import REGION, Aws


@dataclass
class Forwarding:
    sqs: Any
    ssm: Any
    queue_url: str
    dead_letter_queue_url: str
    monkeypatch: pytest.MonkeyPatch

    def configure(self, *destinations: dict[str, Any]) -> None:
        from lib.settings import get_settings

        self.monkeypatch.setenv("FORWARD_DESTINATIONS", json.dumps(list(destinations)))
        get_settings.cache_clear()

    def secret(self, value: str) -> str:
        """A SecureString parameter holding ``value``; returns its name."""
        name = f"/mediahook/test/forward/{uuid.uuid4().hex}"
        self.ssm.put_parameter(Name=name, Value=value, Type="SecureString")
        return name

    def waiting(self, dead: bool = False) -> list[dict[str, Any]]:
        """The messages of a queue, read without taking them (visible again at once)."""
        url = self.dead_letter_queue_url if dead else self.queue_url
        out, handles = [], []
        while batch := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                VisibilityTimeout=30, AttributeNames=["All"]).get("Messages"):
            out += [json.loads(m["Body"]) | {"_group": m["Attributes"]["MessageGroupId"]} for m in batch]
            handles += [m["ReceiptHandle"] for m in batch]
        for handle in handles:
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        return out


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()


@pytest.fixture
def forwarding(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Forwarding]:
    from lib.settings import get_settings

    sqs = boto3.client("sqs", region_name=REGION)
    suffix = uuid.uuid4().hex[:8]
    fifo = {"FifoQueue": "true"}
    queue = sqs.create_queue(QueueName=f"forward-{suffix}.fifo", Attributes={**fifo, "VisibilityTimeout": "30"})
    dead = sqs.create_queue(QueueName=f"forward-dlq-{suffix}.fifo", Attributes=fifo)
    monkeypatch.setenv("FORWARD_QUEUE_URL", queue["QueueUrl"])
    monkeypatch.setenv("FORWARD_DEAD_LETTER_QUEUE_URL", dead["QueueUrl"])
    monkeypatch.setenv("FORWARD_ALLOW_LOOPBACK", "true")
    get_settings.cache_clear()
    yield Forwarding(sqs, boto3.client("ssm", region_name=REGION), queue["QueueUrl"], dead["QueueUrl"], monkeypatch)
    get_settings.cache_clear()
