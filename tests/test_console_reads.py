"""What the console agrees to read from the bucket: an event's archive key under the stage's prefix, nothing
else (not the events table's objects, not another prefix, not a made-up path); a smoke check's synthetic event
can be read but not replayed, by event or by filter; and plans read the replay path's SKIP lines safely from threads."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest

from lib.console.queries import EventFilter
from lib.console.reads import Connection, NotFound, check_key
from lib.console.replaying import for_event, for_filter, for_resource

EVENT_ID = "ab" * 32
CONN = Connection(bucket="archive", prefix="stage/")


@pytest.mark.parametrize("key", [
    f"stage/vod/NewFileUpload/2026/12/03/{EVENT_ID}.json",
    f"stage/cme/Material.Imported/2026/12/03/{EVENT_ID}.json",
    f"stage/vod/_unknown/SomethingNew/2026/12/03/{EVENT_ID}.json",
    f"stage/_synthetic/vod/NewFileUpload/2026/12/03/{EVENT_ID}.json",
])
def test_an_event_key_under_the_prefix_is_read(key: str) -> None:
    assert check_key(CONN, key)["event_id"] == EVENT_ID


@pytest.mark.parametrize("key", [
    f"vod/NewFileUpload/2026/12/03/{EVENT_ID}.json",  # another prefix
    f"other/vod/NewFileUpload/2026/12/03/{EVENT_ID}.json",
    "stage/tables/events/dt=2026-12-03/part-0001.gz",  # the events table's objects
    f"stage/vod/_dead/2026/12/03/{EVENT_ID}.json",  # a dead letter: not an event's archive
    f"stage/vod/NewFileUpload/2026/12/03/../../../../../secret/{EVENT_ID}.json",
    f"stage/vod/NewFileUpload/2026/12/03/{EVENT_ID[:-1]}.json",
    f"stage/vod/NewFileUpload/2026/12/03/{EVENT_ID}.json\n",  # what the pattern's $ lets through
    "",
])
def test_anything_else_is_not_found(key: str) -> None:
    with pytest.raises(NotFound):
        check_key(CONN, key)


def test_a_synthetic_event_is_not_replayed() -> None:
    assert for_event(CONN, f"stage/vod/NewFileUpload/2026/12/03/{EVENT_ID}.json").keys
    with pytest.raises(NotFound, match="synthetic"):
        for_event(CONN, f"stage/_synthetic/vod/NewFileUpload/2026/12/03/{EVENT_ID}.json")


def test_a_replay_by_filter_leaves_out_synthetic_events_and_says_so() -> None:
    """The events table has rows for smoke checks' events too: the replay path cannot take their keys."""
    real = f"stage/vod/NewFileUpload/2026/12/03/{EVENT_ID}.json"
    synthetic = f"stage/_synthetic/vod/NewFileUpload/2026/12/03/{'cd' * 32}.json"
    plan = for_filter(CONN, lambda sql: [{"archive_key": real}, {"archive_key": synthetic}, {"archive_key": real}],
                      EventFilter())
    assert plan.keys == [real]
    assert len(plan.skipped) == 1 and plan.skipped[0].startswith(f"{synthetic}: ") and "synthetic" in plan.skipped[0]


def test_replays_at_once_leave_stderr_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages run in a thread pool and a plan reads the replay path's SKIP lines by swapping sys.stderr: two at once
    (the first done while the second is still reading) must not leave stderr pointing at a buffer."""
    import lib.cli.replay

    def archived_only(s3: Any, bucket: str, keys: list[str]) -> list[str]:
        time.sleep(float(keys[0]))  # the first reads briefly, the second longer
        print(f"SKIP {keys[0]}", file=sys.stderr)
        return keys

    monkeypatch.setattr(lib.cli.replay, "ledger_keys", lambda ledger, resource, *_: ([resource], {resource: None}))
    monkeypatch.setattr(lib.cli.replay, "archived_only", archived_only)
    monkeypatch.setattr(Connection, "client", lambda self, service: None)
    conn = Connection(bucket="archive", ledger_table="ledger")
    before = sys.stderr
    first = threading.Thread(target=for_resource, args=(conn, "0.1"))
    second = threading.Thread(target=for_resource, args=(conn, "0.25"))
    first.start()
    time.sleep(0.05)
    second.start()
    first.join()
    second.join()
    assert sys.stderr is before


def test_dead_letters_past_the_limit_are_not_said_as_an_exact_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.console.reads import dead_letters

    class Listing:
        def get_paginator(self, name: str) -> Any:
            return self

        def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
            many = {"stage/vod/_dead/": 3, "stage/mps/_dead/": 2}.get(Prefix, 0)
            return [{"Contents": [{}] * many}] if many else [{}]

    monkeypatch.setattr(Connection, "client", lambda self, service: Listing())
    assert dead_letters(CONN, limit=2) == {"vod": "more than 2", "cme": "0", "mps": "2"}
