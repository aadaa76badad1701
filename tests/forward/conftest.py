"""Forwarding under moto: each destination's FIFO queue and dead-letter queue under a prefix of the test's own,
the destination's secret in SSM, and the settings pointing at them (FORWARD_*)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from lib.forward import names
from tests.conftest import REGION, Aws

ACCOUNT = "123456789012"  # moto's


@dataclass
class Forwarding:
    sqs: Any
    ssm: Any
    prefix: str  # FORWARD_QUEUE_URL_PREFIX: this test's own
    monkeypatch: pytest.MonkeyPatch
    destinations: list[str] = field(default_factory=list)  # configured, in order

    def queues(self, name: str) -> tuple[str, str]:
        """Destination ``name``'s queue and dead-letter queue, created as plugins/forward-queues.js creates them
        (FIFO, a redrive policy to the dead-letter queue); a short visibility timeout for the tests."""
        fifo = {"FifoQueue": "true"}
        prefix_name = names.prefix_name(self.prefix)
        dead = self.sqs.create_queue(QueueName=names.dead_letter_queue_name(prefix_name, name),
                                     Attributes=fifo)["QueueUrl"]
        dead_arn = self.sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = self.sqs.create_queue(QueueName=names.queue_name(prefix_name, name), Attributes={
            **fifo, "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 1000})})["QueueUrl"]
        return queue, dead

    def configure(self, *destinations: dict[str, Any]) -> None:
        """These destinations, each with its queues."""
        from lib.settings import get_settings

        self.destinations = [d["name"] for d in destinations]
        for name in self.destinations:
            self.queues(name)
        self.monkeypatch.setenv("FORWARD_DESTINATIONS", json.dumps(list(destinations)))
        get_settings.cache_clear()

    @property
    def queue_url(self) -> str:
        """The first configured destination's queue (``app``'s when none is)."""
        return self.queues(self.destinations[0] if self.destinations else "app")[0]

    @property
    def dead_letter_queue_url(self) -> str:
        return self.queues(self.destinations[0] if self.destinations else "app")[1]

    def secret(self, value: str) -> str:
        """A SecureString parameter holding ``value``; returns its name."""
        name = f"/mediahook/test/forward/{uuid.uuid4().hex}"
        self.ssm.put_parameter(Name=name, Value=value, Type="SecureString")
        return name

    def waiting(self, dead: bool = False, destination: str | None = None) -> list[dict[str, Any]]:
        """The messages of a destination's queue (or of every configured destination's, in turn), read without
        taking them (visible again at once). SQS FIFO shows the first messages of each group only (none more
        while those are held): at most ten of a group."""
        out = []
        for name in [destination] if destination else (self.destinations or ["app"]):
            url = self.queues(name)[1 if dead else 0]
            handles = []
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
    prefix = f"{sqs.meta.endpoint_url}/{ACCOUNT}/forward-{uuid.uuid4().hex[:8]}-"
    monkeypatch.setenv("FORWARD_QUEUE_URL_PREFIX", prefix)
    monkeypatch.setenv("FORWARD_ALLOW_LOOPBACK", "true")
    get_settings.cache_clear()
    yield Forwarding(sqs, boto3.client("ssm", region_name=REGION), prefix, monkeypatch)
    get_settings.cache_clear()
