"""The deployed engine: Athena, in the stack's workgroup (its bytes-scanned cutoff and results location
apply to every query) and its Glue database, where ``events`` is the deduplicated view of ``events_rows``.

Athena answers in strings; the values are typed back from the result's column types, so both engines
return the same Python values (datetime, date, bool, int, list) for the same SQL.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

POLL_SECONDS = 0.5
DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaQueryFailed(RuntimeError):
    """Athena refused or failed the query (a syntax error, the workgroup's bytes-scanned cutoff, ...)."""


def _array(text: str) -> list[str]:
    """Athena shows ``array(varchar)`` as ``[a, b]``."""
    inner = text.strip()[1:-1].strip()
    return [part.strip() for part in inner.split(",")] if inner else []


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace(" UTC", ""))


_TYPED: dict[str, Callable[[str], Any]] = {
    "boolean": lambda v: v.lower() == "true",
    "tinyint": int, "smallint": int, "integer": int, "bigint": int,
    "double": float, "float": float, "real": float, "decimal": float,
    "date": date.fromisoformat,
    "timestamp": _timestamp, "timestamp with time zone": _timestamp,
    "array": _array,
    "json": json.loads,
}


def typed(value: str | None, athena_type: str) -> Any:
    """One cell back from Athena's string to the value DuckDB would have returned."""
    if value is None:
        return None
    convert = _TYPED.get(athena_type.split("(")[0].strip().lower())
    return convert(value) if convert else value


def run(sql: str, *, athena: Any, workgroup: str, database: str,
        sleep: Callable[[float], None] = time.sleep) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Start ``sql`` (with the ``events`` view in front) in ``workgroup`` against ``database``, wait for it,
    read every page of its results."""
    started = athena.start_query_execution(QueryString=with_events_view(sql, database), WorkGroup=workgroup,
                                           QueryExecutionContext={"Database": database})
    execution_id = started["QueryExecutionId"]
    while True:
        status = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
        if status["State"] in DONE:
            break
        sleep(POLL_SECONDS)
    if status["State"] != "SUCCEEDED":
        reason = status.get("StateChangeReason") or status["State"].lower()
        raise AthenaQueryFailed(f"Athena query {execution_id} {status['State'].lower()}: {reason}")
    columns: list[str] = []
    types: list[str] = []
    rows: list[tuple[Any, ...]] = []
    first = True
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id):
        result = page["ResultSet"]
        if not columns:
            info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            columns = [c["Name"] for c in info]
            types = [c.get("Type", "varchar") for c in info]
        for record in result.get("Rows", []):
            cells = [d.get("VarCharValue") for d in record.get("Data", [])]
            if first:  # a SELECT's first row repeats the column names
                first = False
                if cells == columns:
                    continue
            rows.append(tuple(typed(v, t) for v, t in zip(cells, types, strict=False)))
    return columns, rows


_WITH = re.compile(r"^\s*WITH\s+(?!RECURSIVE\b)", re.IGNORECASE)


def with_events_view(sql: str, database: str) -> str:
    """``sql`` with the ``events`` view defined in front (a WITH clause over ``events_rows``), so the same SQL
    runs on both engines; a query that starts with its own WITH gets ``events`` as its first member."""
    from lib.query.schema import ROWS_TABLE, TABLE, view_sql

    rows = f'"{database}"."{ROWS_TABLE}"'
    view = f"{TABLE} AS ({view_sql(rows)})"
    if _WITH.match(sql):
        return _WITH.sub(lambda m: f"WITH {view}, ", sql, count=1)
    return f"WITH {view} {sql}"
