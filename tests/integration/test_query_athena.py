"""The Athena engine: against moto's Athena (which runs nothing and returns canned results) the request it
sends (workgroup, database, the SQL with the ``events`` view in front) and the typing of the answer; against a
scripted client, the polling, the result pages and a failed query (the workgroup's cutoff)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import boto3
import pytest
from moto.athena.models import QueryResults, athena_backends

from lib.query import QueryFailed, named_query, run_query
from lib.query.athena import run, with_events_view
from lib.query.schema import view_sql
from tests.conftest import REGION, Aws

WORKGROUP, DATABASE = "mediahook-test", "mediahook_test"


def _row(*values: str | None) -> dict[str, Any]:
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


@pytest.fixture
def athena(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = boto3.client("athena", region_name=REGION)
    client.create_work_group(Name=WORKGROUP, Configuration={
        "ResultConfiguration": {"OutputLocation": "s3://results/"}, "EnforceWorkGroupConfiguration": True,
        "BytesScannedCutoffPerQuery": 1024**3})
    monkeypatch.setenv("ATHENA_WORKGROUP", WORKGROUP)
    monkeypatch.setenv("ATHENA_DATABASE", DATABASE)
    return client


def test_the_request_names_the_workgroup_and_database_and_defines_the_events_view(athena: Any) -> None:
    columns = [{"Name": "event_type", "Type": "varchar"}, {"Name": "events", "Type": "bigint"},
               {"Name": "last", "Type": "timestamp"}, {"Name": "dt", "Type": "date"},
               {"Name": "file_ids", "Type": "array(varchar)"}, {"Name": "succeeded", "Type": "boolean"}]
    athena_backends["123456789012"][REGION].query_results_queue.append(QueryResults(rows=[
        _row("event_type", "events", "last", "dt", "file_ids", "succeeded"),
        _row("NewFileUpload", "3", "2026-12-03 10:00:00.123", "2026-12-03", "[a, b]", "true"),
        _row("FileDeleted", "1", "2026-12-02 09:00:00.000", "2026-12-02", "[]", None),
    ], column_info=columns))
    sql = named_query("counts", by="event_type", since="1d", now=datetime(2026, 12, 3, 12))

    result = run_query(sql, engine="athena")

    (execution,) = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    sent = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]
    assert sent["WorkGroup"] == WORKGROUP
    assert sent["QueryExecutionContext"]["Database"] == DATABASE
    rows_table = f'"{DATABASE}"."events_rows"'
    assert sent["Query"] == f"WITH events AS ({view_sql(rows_table)}) {sql}"
    assert "dt >= DATE '2026-12-01'" in sent["Query"]  # the partitions Athena reads: two days, not all
    assert result.columns == ["event_type", "events", "last", "dt", "file_ids", "succeeded"]
    assert result.rows == [
        {"event_type": "NewFileUpload", "events": 3, "last": datetime(2026, 12, 3, 10, 0, 0, 123000),
         "dt": date(2026, 12, 3), "file_ids": ["a", "b"], "succeeded": True},
        {"event_type": "FileDeleted", "events": 1, "last": datetime(2026, 12, 2, 9), "dt": date(2026, 12, 2),
         "file_ids": [], "succeeded": None}]


def test_a_query_with_its_own_with_clause_gets_the_view_as_its_first_member() -> None:
    sql = "WITH recent AS (SELECT * FROM events WHERE dt > DATE '2026-01-01') SELECT count(*) FROM recent"
    view = view_sql('"db"."events_rows"')
    assert with_events_view(sql, "db") == (
        f"WITH events AS ({view}), recent AS (SELECT * FROM events WHERE dt > "  # noqa: S608
        "DATE '2026-01-01') SELECT count(*) FROM recent")


class ScriptedAthena:
    """Athena as a script: the states get_query_execution goes through, and the result pages."""

    def __init__(self, states: list[dict[str, Any]], pages: list[dict[str, Any]]) -> None:
        self.states, self.pages = states, pages
        self.calls: list[tuple[str, Any]] = []

    def start_query_execution(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("start", request))
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        self.calls.append(("status", QueryExecutionId))
        return {"QueryExecution": {"Status": self.states.pop(0)}}

    def get_paginator(self, name: str) -> Any:
        assert name == "get_query_results"
        pages = self.pages

        class Paginator:
            def paginate(self, QueryExecutionId: str) -> Any:
                return iter(pages)

        return Paginator()


def test_it_waits_for_the_query_then_reads_every_page() -> None:
    info = {"ColumnInfo": [{"Name": "event_id", "Type": "varchar"}]}
    pages = [{"ResultSet": {"ResultSetMetadata": info, "Rows": [_row("event_id"), _row("a"), _row("b")]}},
             {"ResultSet": {"ResultSetMetadata": info, "Rows": [_row("c")]}}]
    client = ScriptedAthena([{"State": "QUEUED"}, {"State": "RUNNING"}, {"State": "SUCCEEDED"}], pages)
    slept: list[float] = []

    columns, rows = run("SELECT event_id FROM events", athena=client, workgroup="wg", database="db",
                        sleep=slept.append)

    assert (columns, rows) == (["event_id"], [("a",), ("b",), ("c",)])
    assert len(slept) == 2 and [c[0] for c in client.calls] == ["start", "status", "status", "status"]
    assert client.calls[0][1]["WorkGroup"] == "wg"


def test_a_failed_query_is_a_query_failed_with_athenas_reason(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "Query exhausted resources: the workgroup's BytesScannedCutoffPerQuery (1073741824) was exceeded"
    client = ScriptedAthena([{"State": "FAILED", "StateChangeReason": reason}], [])
    monkeypatch.setattr("lib.aws.client", lambda name: client)
    with pytest.raises(QueryFailed, match="BytesScannedCutoffPerQuery"):
        run_query("SELECT * FROM events", engine="athena")


def test_an_unknown_engine_is_a_value_error(aws: Aws) -> None:
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        run_query("SELECT 1", engine="spark")
