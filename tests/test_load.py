"""Load through the real local gateway (serverless-offline) with moto server behind it: 2,000 deliveries,
30% of them duplicates, sent concurrently; every acknowledged event is in S3 once and on SNS once."""

from __future__ import annotations

import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scripts.local_stack import TOKEN, Stack, running
from tests.aws_server import free_port
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
DELIVERIES, DUPLICATE_SHARE, THREADS = 2000, 0.30, 8


def test_two_thousand_deliveries_with_duplicates_lose_nothing(tmp_path: Path) -> None:
    from lib.cli import post

    template = json.loads((SAMPLES / "cme_Storage.NewFileCreated.json").read_text(encoding="utf-8"))
    distinct = int(DELIVERIES * (1 - DUPLICATE_SHARE))
    bodies = []
    for i in range(distinct):
        event = copy.deepcopy(template)
        event["StorageNewFileCreatedEvent"]["MaterialId"] = f"load-{i:05d}"
        bodies.append(json.dumps(event, ensure_ascii=False))
    deliveries = bodies + [bodies[(i * 7919) % distinct] for i in range(DELIVERIES - distinct)]
    deliveries = [deliveries[(i * 7) % DELIVERIES] for i in range(DELIVERIES)]  # interleave the copies

    stack = Stack(free_port(), free_port(), free_port(), tmp_path)
    with running(stack):
        url = f"{stack.callback}/cme?token={TOKEN}"

        def send(body: str) -> tuple[int, str, bool]:
            for _ in range(40):  # a sender retries 5xx (in_progress: its twin is being processed)
                status, response = post(url, body)
                if status == 200:
                    result = response["results"][0]
                    return status, result["event_id"], result["duplicate"]
                time.sleep(0.1)
            return status, "", False

        started = time.monotonic()
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(send, deliveries))
        elapsed = time.monotonic() - started
        s3 = stack.clients("s3")
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="mediahook-local-archive")
                for o in page.get("Contents", [])]
        time.sleep(0.5)
        notified = [cloud_event["id"] for cloud_event in stack.received()]

    accepted = [r for r in results if r[0] == 200]
    absorbed = sum(1 for r in accepted if r[2])
    ids = {r[1] for r in accepted}
    lost = DELIVERIES - len(accepted)
    print(f"\nload: {DELIVERIES} deliveries in {elapsed:.1f}s ({DELIVERIES / elapsed:.0f}/s): {len(ids)} events "
          f"accepted, {absorbed} duplicates absorbed, lost {lost}")
    assert lost == 0
    assert len(ids) == distinct
    assert absorbed == DELIVERIES - distinct
    archived = [k.rsplit("/", 1)[1].removesuffix(".json") for k in keys]
    assert len(archived) == len(set(archived)) == distinct and set(archived) == ids
    assert len(notified) == distinct and set(notified) == ids  # one SNS message per event, none twice
