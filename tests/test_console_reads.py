"""What the console agrees to read from the bucket: an event's archive key under the stage's prefix, nothing
else (not the events table's objects, not another prefix, not a made-up path); a smoke check's synthetic event
can be read but not replayed."""

from __future__ import annotations

import pytest

from lib.console.reads import Connection, NotFound, check_key
from lib.console.queries import EventFilter
from lib.console.replaying import for_event, for_filter

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
