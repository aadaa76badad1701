"""The events page's filters: what a request may carry, the SQL they become, and that SQL's answers on the local
engine (DuckDB, lib.query.local) over rows built as the pipeline builds them. No AWS, no browser."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lib.console.queries import COLUMNS, BadFilter, EventFilter, counts, list_events, replay_candidates
from tests.conftest import EVENTS

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _rows(tmp_path: Path) -> tuple[Any, list[dict[str, Any]]]:
    """A DuckDB ``events`` table holding every sample of events/, received one minute apart before NOW."""
    from lib.cli.common import load_sample
    from lib.intake import read_event
    from lib.query import local
    from lib.query.row import encode_row, event_row

    rows = []
    for index, path in enumerate(sorted(EVENTS.rglob("*.json"))):
        sample = load_sample(path)
        event = read_event(json.loads(sample.body), pinned=sample.product, body=sample.body.encode())
        at = (NOW - timedelta(minutes=index + 1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rows.append(event_row(event, archive_key=f"{sample.product}/{event.event_type}/{event.event_id}.json",
                              delivery="push", received_at=at, state_change="advanced" if index % 3 else "stale"))
    file = tmp_path / "rows.ndjson"
    file.write_bytes(b"".join(encode_row(r) for r in rows))
    db = local.connect(file)
    return (lambda sql: [dict(zip([d[0] for d in db.execute(sql).description], r, strict=True))
                         for r in db.execute(sql).fetchall()]), rows


@pytest.mark.parametrize(("params", "message"), [
    ({"product": "vod' OR 1=1 --"}, "product: one of vod, cme, mps"),
    ({"event_type": "X' UNION SELECT"}, "event_type"),
    ({"succeeded": "maybe"}, "succeeded: true, false or any"),
    ({"state_change": "moved"}, "state_change: one of advanced"),
    ({"q": "abc' OR '1'='1"}, "q: an id"),
    ({"since": "yesterday"}, "since: a date or time"),
    ({"page": "0"}, "page: a page number"),
    ({"since": "2026-12-03T10:00", "until": "2026-12-03T10:00"}, "until: a time after since"),
])
def test_a_bad_filter_value_is_refused_with_its_name(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadFilter, match=message):
        EventFilter.from_params(params)


def test_filters_select_what_they_say_newest_first_and_page(tmp_path: Path) -> None:
    run, rows = _rows(tmp_path)
    everything = list_events(EventFilter(), run, size=10)
    assert len(everything.rows) == 10 and everything.has_next
    times = [r["received_at"] for r in everything.rows]
    assert times == sorted(times, reverse=True)
    last = EventFilter(page=(len(rows) + 9) // 10)
    assert not list_events(last, run, size=10).has_next
    cme = list_events(EventFilter.from_params({"product": "cme"}), run, size=100).rows
    assert {r["product"] for r in cme} == {"cme"} and len(cme) == sum(r["product"] == "cme" for r in rows)
    failed = list_events(EventFilter.from_params({"succeeded": "false"}), run, size=100).rows
    assert len(failed) == sum(r["succeeded"] is False for r in rows) > 0
    stale = list_events(EventFilter.from_params({"state_change": "stale", "product": "vod"}), run, size=100).rows
    assert len(stale) == sum(r["state_change"] == "stale" and r["product"] == "vod" for r in rows)
    window = EventFilter.from_params({"since": (NOW - timedelta(minutes=5, seconds=30)).strftime("%Y-%m-%dT%H:%M:%S"),
                                      "until": NOW.strftime("%Y-%m-%dT%H:%M")})
    assert len(list_events(window, run).rows) == 5


def test_the_id_search_finds_file_ids_task_ids_and_event_ids_exactly(tmp_path: Path) -> None:
    run, rows = _rows(tmp_path)
    file_id = next(r["file_ids"][0] for r in rows if r["file_ids"])
    named = [r for r in rows if f'"{file_id}"' in (r["payload"] or "")]
    found = list_events(EventFilter.from_params({"q": file_id}), run, size=200).rows
    assert {r["event_id"] for r in found} == {r["event_id"] for r in named}
    task = next(r for r in rows if r["task_id"])
    assert task["event_id"] in {r["event_id"] for r in list_events(EventFilter(search=task["task_id"]), run).rows}
    one = list_events(EventFilter(search=rows[3]["event_id"]), run).rows
    assert [r["event_id"] for r in one] == [rows[3]["event_id"]]
    # LIKE's wildcards in an id are literal: "_" does not match any character.
    assert list_events(EventFilter(search=file_id[:-1] + "_"), run).rows == []


def test_counts_per_product_and_outcome_over_the_day_and_the_week(tmp_path: Path) -> None:
    run, rows = _rows(tmp_path)
    day, week = counts(NOW, run)
    for product in ("vod", "cme", "mps"):
        mine = [r for r in rows if r["product"] == product]
        assert sum(day[product].values()) == len(mine) == sum(week[product].values())
        assert day[product]["failed"] == sum(r["succeeded"] is False for r in mine)
        assert day[product]["no outcome"] == sum(r["succeeded"] is None for r in mine)
    later_day, later_week = counts(NOW + timedelta(days=2), run)
    assert sum(sum(p.values()) for p in later_day.values()) == 0
    assert sum(sum(p.values()) for p in later_week.values()) == len(rows)


def test_a_replay_by_filter_takes_every_selected_event_oldest_first(tmp_path: Path) -> None:
    run, rows = _rows(tmp_path)
    selected = replay_candidates(EventFilter.from_params({"product": "vod", "page": "3"}), run)
    vod = [r for r in rows if r["product"] == "vod"]
    assert [r["archive_key"] for r in selected] == [r["archive_key"] for r in reversed(vod)]  # not one page: all


def test_until_finds_an_event_whose_row_reached_the_next_days_partition() -> None:
    """On Athena ``dt`` is the day Firehose received the row: an event received at 23:59:50 can sit in the next
    day's partition. ``until`` must still find it (the local engine's dt is the receipt's day: built here)."""
    import duckdb

    db = duckdb.connect()
    db.execute("CREATE TABLE events AS SELECT TIMESTAMP '2026-12-02 23:59:50' AS received_at, DATE '2026-12-03' AS dt, "
               + ", ".join(f"NULL AS {c}" for c in COLUMNS if c != "received_at"))

    def run(sql: str) -> list[dict[str, Any]]:
        cursor = db.execute(sql)
        return [dict(zip([d[0] for d in cursor.description], r, strict=True)) for r in cursor.fetchall()]

    flt = EventFilter.from_params({"since": "2026-12-02T23:00", "until": "2026-12-02T23:59:59"})
    assert len(list_events(flt, run).rows) == 1
    assert len(replay_candidates(flt, run)) == 1
