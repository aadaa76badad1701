"""``mediahook query`` (table, --json, --csv, named queries, failures like a CLI), ``query backfill`` and
``replay --query``, against moto in-process."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lib.cli import main
from lib.query import run_query
from lib.settings import get_settings
from tests.conftest import Aws, LambdaContext
from tests.integration.test_query import TABLE_PREFIX, deliver, table  # noqa: F401  (fixture)

SAMPLES = ("vod/NewFileUpload.json", "vod/ProcedureStateChanged.json", "vod/TranscodeComplete.json",
           "cme/Material.Imported.json", "mps/WorkflowTask.json")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def delivered(table: Aws, context: LambdaContext) -> list[dict[str, Any]]:  # noqa: F811
    return [deliver(path, context) for path in SAMPLES]


def test_query_prints_json_lines_csv_and_a_table(delivered: list[dict[str, Any]],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT event_id, event_type, received_at, file_ids, succeeded FROM events ORDER BY event_id"
    code, out, _ = cli(capsys, "query", sql, "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["event_id"] for line in lines] == sorted(r["event_id"] for r in delivered)
    assert all(datetime.fromisoformat(line["received_at"]) for line in lines)
    assert all(isinstance(line["file_ids"], list) for line in lines)

    code, out, _ = cli(capsys, "query", sql, "--csv")
    parsed = list(csv.reader(io.StringIO(out)))
    assert code == 0 and parsed[0] == ["event_id", "event_type", "received_at", "file_ids", "succeeded"]
    assert [row[0] for row in parsed[1:]] == [line["event_id"] for line in lines]

    code, out, _ = cli(capsys, "query", "SELECT product, count(*) AS n FROM events GROUP BY product ORDER BY product")
    assert code == 0
    assert out.splitlines() == ["product  n", "cme      1", "mps      1", "vod      3", "(3 rows)"]


def test_named_queries_run_and_show_their_sql(delivered: list[dict[str, Any]],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "query", "counts", "--by", "product", "--since", "1h", "--json")
    assert code == 0
    assert {json.loads(line)["product"]: json.loads(line)["events"] for line in out.splitlines()} == {
        "vod": 3, "cme": 1, "mps": 1}
    code, out, _ = cli(capsys, "query", "failures", "--since", "7d", "--sql")
    assert code == 0 and out.startswith("SELECT ") and "succeeded = false" in out


@pytest.mark.parametrize(("argv", "message"), [
    (("query", "counts", "--by", "payload"), "--by: one or more of"),
    (("query", "failures", "--since", "soon"), "--since: a duration such as"),
    (("query", "failures", "--by", "product"), "failures takes --since, not --by"),
    (("query", "SELECT 1", "--since", "1d"), "--since: only with a named query"),
    (("query", "failures", "--from", "2026-01-01"), "backfill's options"),
    (("query", "backfill"), "backfill needs --from DATE"),
])
def test_usage_errors_are_one_line_and_exit_2(table: Aws, capsys: pytest.CaptureFixture[str],  # noqa: F811
                                              argv: tuple[str, ...], message: str) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("mediahook query: ") and message in err


def test_a_query_the_engine_rejects_exits_1_with_its_message(table: Aws,  # noqa: F811
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "query", "SELECT nope FROM events")
    assert code == 1 and err.startswith("mediahook query: the query failed: ") and "nope" in err
    assert err.count("\n") == 1


def test_no_bucket_configured_says_which_variable(table: Aws, capsys: pytest.CaptureFixture[str],  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARCHIVE_BUCKET")
    code, _, err = cli(capsys, "query", "SELECT * FROM events")
    assert code == 2 and "EVENTS_TABLE_BUCKET or ARCHIVE_BUCKET" in err and err.count("\n") == 1


def _table_objects(aws: Aws) -> dict[str, bytes]:
    return {k: v for k, v in aws.objects().items() if k.startswith(TABLE_PREFIX)}


def test_backfill_builds_the_rows_of_events_archived_before_the_table_and_twice_adds_nothing(
        table: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    deliver("vod/NewFileUpload.json", context)  # a row written by the function
    monkeypatch.delenv("EVENTS_STREAM_NAME")  # ... then events archived with no table
    get_settings.cache_clear()
    before = [deliver(path, context) for path in SAMPLES[1:]]
    assert len(run_query("SELECT * FROM events").rows) == 1

    today = datetime.now(UTC).date()
    code, out, _ = cli(capsys, "query", "backfill", "--from", str(today - timedelta(days=2)), "--dry-run")
    assert code == 0 and f"{today}: 5 archived, 1 already in the table, 4 to write" in out
    assert len(run_query("SELECT * FROM events").rows) == 1

    code, out, _ = cli(capsys, "query", "backfill", "--from", str(today))
    assert code == 0 and f"{today}: 5 archived, 1 already in the table, 4 written" in out
    rows = run_query("SELECT * FROM events_rows").rows
    assert sorted(r["event_id"] for r in rows) == sorted(
        [r["event_id"] for r in before] + [deliver("vod/NewFileUpload.json", context)["event_id"]])
    backfilled = {r["archive_key"]: r for r in rows if r["state_change"] is None}
    for result in before:
        row = backfilled[result["archive_key"]]
        meta = table.head(result["archive_key"])["Metadata"]
        assert (row["event_type"], row["delivery"]) == (result["event_type"], meta["delivery"])
        assert row["received_at"] == datetime.fromisoformat(meta["received-at"].replace("Z", "")).replace(tzinfo=None)

    objects = _table_objects(table)
    code, out, _ = cli(capsys, "query", "backfill", "--from", str(today), "--to", str(today))
    assert code == 0 and "4 written" in out
    assert _table_objects(table) == objects  # the same object, byte for byte: nothing added
    assert len(run_query("SELECT * FROM events_rows").rows) == 5


def test_replay_query_republishes_exactly_the_selected_events_oldest_first(
        delivered: list[dict[str, Any]], table: Aws, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    table.messages()
    table.received.clear()
    sql = "SELECT event_id FROM events WHERE product = 'vod' ORDER BY event_id DESC"
    code, out, _ = cli(capsys, "replay", "--query", sql, "--dry-run")
    vod = [r for r in delivered if r["product"] == "vod"]
    assert code == 0
    assert [line.split()[-1] for line in out.splitlines()[1:]] == [r["archive_key"] for r in vod]  # received order
    assert table.messages() == []

    code, out, _ = cli(capsys, "replay", "--query", "SELECT archive_key FROM events WHERE product = 'vod'", "--quiet")
    assert code == 0 and "re-published 3 events" in out
    assert [m["cloudevent"]["id"] for m in table.messages()] == [r["event_id"] for r in vod]


def test_replay_query_needs_an_event_id_or_archive_key(delivered: list[dict[str, Any]],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "replay", "--query", "SELECT product FROM events")
    assert code == 2 and "must return an event_id or an archive_key" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "replay", "--query", "SELECT event_id FROM events", "--from", "2026-01-01")
    assert code == 2 and "not with --from/--to" in err


def test_replay_query_leaves_the_table_as_it_was(delivered: list[dict[str, Any]], table: Aws,  # noqa: F811
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    before = _table_objects(table)
    assert cli(capsys, "replay", "--query", "SELECT event_id FROM events", "--quiet")[0] == 0
    assert _table_objects(table) == before
