"""The events table without AWS: named queries and their options, the row of an event, what the cold start
imports, the local engine over rows it is handed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lib.intake import read_event
from lib.query import QueryOptionError, named_query
from lib.query.local import connect, row_bytes
from lib.query.named import NAMED_QUERIES, parse_duration, sql_template
from lib.query.row import MAX_RECORD_BYTES, encode_row, event_row
from lib.query.schema import COLUMNS
from tests.conftest import ROOT

NOW = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)),
                                                ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2))])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "0d", "1y", "-1d", "1d; DROP TABLE events"])
def test_a_malformed_duration_names_the_option(text: str) -> None:
    with pytest.raises(QueryOptionError, match="--since: a duration such as"):
        parse_duration(text)


def test_named_queries_window_by_partition_with_a_days_margin_then_by_time() -> None:
    sql = named_query("failures", since="7d", now=NOW)
    assert "dt >= DATE '2026-11-25' AND received_at >= TIMESTAMP '2026-11-26 12:30:00'" in sql
    assert "received_at < TIMESTAMP '2026-12-03 11:30:00'" in named_query("stuck", older_than="1h", now=NOW)


def test_named_query_options_are_checked() -> None:
    with pytest.raises(QueryOptionError, match="no named query 'fails'"):
        named_query("fails")
    with pytest.raises(QueryOptionError, match="recovered takes --since, not --older-than"):
        named_query("recovered", older_than="1h")
    with pytest.raises(QueryOptionError, match="--by: one or more of"):
        named_query("counts", by="event_type; DELETE")
    assert "GROUP BY product, event_type" in named_query("counts", by="product, event_type", now=NOW)


def test_every_named_query_shows_its_sql_with_symbols_for_its_times() -> None:
    for name in NAMED_QUERIES:
        template = sql_template(name)
        assert template.startswith("SELECT ") and "<now - " in template and "20" not in template


def _event(document: dict[str, object]) -> object:
    return read_event(document, body=json.dumps(document).encode())


def test_the_row_of_an_event() -> None:
    document = {"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {
        "TaskId": "t-1", "Status": "FINISH", "ErrCode": 10010, "Message": "failed", "FileId": "f-1",
        "SubAppId": 1500000001}}
    row = event_row(_event(document), archive_key="vod/x.json", delivery="reconcile",  # type: ignore[arg-type]
                    received_at="2026-12-03T10:00:00.120Z", state_change="advanced")
    assert list(row) == [c.name for c in COLUMNS]
    assert row["received_at"] == "2026-12-03 10:00:00.120"
    assert (row["task_id"], row["status"], row["succeeded"], row["error_code"], row["file_ids"]) == (
        "t-1", "FINISH", False, 10010, ["f-1"])
    assert row["recovered"] is True and row["sub_app_id"] == 1500000001 and row["state_change"] == "advanced"
    assert json.loads(row["payload"]) == document


def test_a_row_too_large_for_firehose_goes_without_its_payload() -> None:
    document = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "f", "Note": "x" * MAX_RECORD_BYTES}}
    row = event_row(_event(document), archive_key="k", delivery="push",  # type: ignore[arg-type]
                    received_at="2026-12-03T10:00:00.000Z", state_change=None)
    line = encode_row(row)
    assert len(line) < MAX_RECORD_BYTES and json.loads(line)["payload"] is None
    assert json.loads(line)["archive_key"] == "k"


def test_the_cold_start_imports_neither_the_query_package_nor_duckdb() -> None:
    probe = subprocess.run([sys.executable, "-c", "import sys, handler; print(sorted(m for m in sys.modules if "
                            "m.startswith(('lib.query', 'duckdb'))))"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
                           env={"PATH": "/usr/bin:/bin", "ARCHIVE_BUCKET": "b", "AWS_DEFAULT_REGION": "us-east-1",
                                "EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t"})
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr


def test_the_local_engine_reads_gzip_and_plain_rows_and_dedupes_per_event_and_day(tmp_path: Path) -> None:
    import gzip

    def line(product: str, event_id: str, at: str) -> bytes:
        return json.dumps({"event_id": event_id, "product": product, "event_type": "T", "received_at": at}).encode()

    rows = tmp_path / "rows.ndjson"
    rows.write_bytes(row_bytes(gzip.compress(line("vod", "a", "2026-12-03 10:00:00.000")))
                     + row_bytes(line("vod", "a", "2026-12-03 10:00:01.000"))  # redelivered copy
                     + row_bytes(line("mps", "a", "2026-12-03 10:00:00.000"))  # the same body, another product
                     + row_bytes(line("vod", "b", "2026-12-04 00:00:00.000")))
    db = connect(rows)
    assert db.execute("SELECT count(*) FROM events_rows").fetchone() == (4,)
    assert db.execute("SELECT product, event_id, CAST(received_at AS VARCHAR), CAST(dt AS VARCHAR) FROM events "
                      "ORDER BY 2, 1").fetchall() == [
        ("mps", "a", "2026-12-03 10:00:00", "2026-12-03"), ("vod", "a", "2026-12-03 10:00:00", "2026-12-03"),
        ("vod", "b", "2026-12-04 00:00:00", "2026-12-04")]
    assert connect(None).execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_the_contract_lists_the_tables_columns_as_the_code_defines_them() -> None:
    from lib.query.schema import PARTITION

    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    section = text.split("## The events table", 1)[1].split("\n## ", 1)[0]
    documented = [(m[1], m[2], m[3].strip()) for m in re.finditer(r"^\| `(\w+)` \| `([\w<>]+)` \| (.+) \|$", section,
                                                                  re.MULTILINE)]
    assert documented == [(c.name, c.glue_type, c.description) for c in (*COLUMNS, PARTITION)]
