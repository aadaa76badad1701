"""Pull throughput (child of run.py): mediahook's puller vs a naive sequential loop, both against the
local fake VOD API with ``latency`` added to every Tencent call and every (in-memory) AWS call."""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, use_memory_aws


def _events(n: int, offset: int) -> list[dict[str, Any]]:
    template = json.loads((ROOT / "tests" / "samples" / "vod_ProcedureStateChanged.json").read_text(encoding="utf-8"))
    out = []
    for i in range(n):
        event = copy.deepcopy(template)
        event["ProcedureStateChangeEvent"]["TaskId"] = f"1500000001-Procedure-{offset + i:07d}t0"
        out.append(event)
    return out


def naive(client: Any, settings: Any, expected: int) -> float:
    """Pull 16, process one by one, confirm, repeat: what a first version would do."""
    from lib.intake import read_event
    from lib.pipeline import process

    done, start = 0, time.perf_counter()
    while done < expected:
        response = client.call_json("PullEvents", {})
        events = response["Response"].get("EventSet") or []
        for document in events:
            process(read_event(document, pinned="vod"), delivery="pull", settings=settings)
        client.call_json("ConfirmEvents", {"EventHandles": [e["EventHandle"] for e in events]})
        done += len(events)
    return done / (time.perf_counter() - start)


def main() -> None:
    target, n, naive_n, latency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    from lib import pull as vod_pull
    from lib.intake import event_id_of
    from lib.settings import get_settings
    from tests.fakes.vod_api import FakeVodApi

    s3, _, _ = use_memory_aws(delay=latency)  # DynamoDB too: the ledger is on (LEDGER_TABLE), as deployed
    fake = FakeVodApi(latency=latency).start()
    env = {"VOD_API_ENDPOINT": fake.url, "TENCENTCLOUD_SECRET_ID": fake.secret_id,
           "TENCENTCLOUD_SECRET_KEY": fake.secret_key}
    pull_settings = vod_pull.PullSettings.from_env(env)
    settings = get_settings()
    try:
        fake.enqueue(*_events(naive_n, 0))
        naive_rate = naive(vod_pull.make_client(pull_settings), settings, naive_n)

        fake.enqueue(*_events(n, naive_n))
        confirms_before_archive: list[str] = []

        def check(events: list[dict[str, Any]]) -> None:  # at confirm time, every event must be in S3
            archived = {key.rsplit("/", 1)[-1].removesuffix(".json") for key in list(s3.objects)}
            confirms_before_archive.extend(i for i in map(event_id_of, events) if i not in archived)

        fake.on_confirm = check
        puller = vod_pull.Puller(settings, pull_settings, vod_pull.make_client(pull_settings), lambda: 10**9)
        start = time.perf_counter()
        summary = puller.run()
        elapsed = time.perf_counter() - start
    finally:
        fake.stop()
    rate = summary.confirmed / elapsed
    Path(target).write_text(json.dumps({
        "events": n, "latency_ms": latency * 1000, "seconds": round(elapsed, 2), "events_per_s": round(rate, 1),
        "naive_events": naive_n, "naive_events_per_s": round(naive_rate, 1), "speedup": round(rate / naive_rate, 1),
        "summary": summary.as_dict(), "workers": pull_settings.pull_workers,
        "concurrency": pull_settings.pull_concurrency, "confirmed_before_archived": len(confirms_before_archive),
        "remaining_at_fake": fake.remaining()}))


if __name__ == "__main__":
    main()
