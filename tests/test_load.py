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


def _archived_and_notified(stack: Stack) -> tuple[list[str], list[str]]:
    """The local stack's archive keys (not the events table's objects, which share its bucket under tables/), and
    the CloudEvent ids its topic delivered (after a moment to arrive)."""
    s3 = stack.clients("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="mediahook-local-archive")
            for o in page.get("Contents", []) if not o["Key"].startswith("tables/")]
    time.sleep(0.5)
    return keys, [cloud_event["id"] for cloud_event in stack.received()]


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
        keys, notified = _archived_and_notified(stack)

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


FORGED, GENUINE = 800, 100


def test_genuine_events_sent_during_a_flood_of_forged_ones_are_all_archived_and_published(tmp_path: Path) -> None:
    """A bounded flood (FORGED requests on 127.0.0.1, 6 threads) with GENUINE signed events among them: every
    forged one refused, every genuine one acknowledged, archived once and published once."""
    from lib.cli.common import post, sign_body
    from scripts.local_stack import VOD_KEY

    template = json.loads((SAMPLES / "vod_NewFileUpload.json").read_text(encoding="utf-8"))
    genuine = []
    for i in range(GENUINE):
        event = copy.deepcopy(template)
        event["FileUploadEvent"]["FileId"] = f"52858907842{i:08d}"
        genuine.append(sign_body(json.dumps(event, ensure_ascii=False), "vod", vod_key=VOD_KEY))
    forged = []
    for i in range(FORGED):
        event = copy.deepcopy(template)
        event["FileUploadEvent"]["FileId"] = f"forged-{i}"
        forged.append(json.dumps({**event, "T": int(time.time()) + 600, "Sign": f"{i:032x}"}))
    deliveries = [("forged", body) for body in forged]
    for i, body in enumerate(genuine):  # spread the genuine ones through the flood
        deliveries.insert(i * (FORGED // GENUINE) + i, ("genuine", body))

    stack = Stack(free_port(), free_port(), free_port(), tmp_path)
    with running(stack):
        url = f"{stack.callback}/vod"

        def send(delivery: tuple[str, str]) -> tuple[str, int, str]:
            kind, body = delivery
            status, response = post(url, body)
            for _ in range(20):  # a genuine sender retries a 5xx; forged ones are never retried
                if kind == "forged" or status < 500:
                    break
                time.sleep(0.1)
                status, response = post(url, body)
            event_id = response["results"][0]["event_id"] if status == 200 else ""
            return kind, status, event_id

        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(send, deliveries))
        elapsed = time.monotonic() - started
        keys, notified = _archived_and_notified(stack)

    refused = [r for r in results if r[0] == "forged"]
    accepted = [r for r in results if r[0] == "genuine"]
    print(f"\nflood: {len(deliveries)} requests in {elapsed:.1f}s ({len(deliveries) / elapsed:.0f}/s): "
          f"{sum(r[1] == 401 for r in refused)}/{FORGED} forged refused, "
          f"{sum(r[1] == 200 for r in accepted)}/{GENUINE} genuine archived and published")
    assert all(status == 401 for _, status, _ in refused)
    assert all(status == 200 for _, status, _ in accepted)
    ids = {event_id for _, _, event_id in accepted}
    assert len(ids) == GENUINE
    archived = {k.rsplit("/", 1)[1].removesuffix(".json") for k in keys}
    assert archived == ids and len(keys) == GENUINE  # nothing of the flood reached the archive
    assert sorted(notified) == sorted(ids)  # each genuine event published once, nothing else
