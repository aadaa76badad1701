"""SQL over every event: the ``events`` table, on Athena when deployed and on DuckDB locally.

The public API (``mediahook query`` and the console call it; keep it stable)::

    from lib.query import run_query, named_query
    result = run_query("SELECT event_type, count(*) AS n FROM events GROUP BY 1")   # engine="local"
    result.columns, result.rows                  # ['event_type', 'n'], [{'event_type': ..., 'n': 3}, ...]
    run_query(named_query("failures", since="7d"), engine="athena")

Both engines connect as the other ``mediahook`` commands do: boto3's own configuration (``AWS_ENDPOINT_URL``
for moto server, the region, the credentials), the table's bucket from ``EVENTS_TABLE_BUCKET`` or
``ARCHIVE_BUCKET`` and its prefix from ``EVENTS_TABLE_PREFIX``; Athena's workgroup and database from
``ATHENA_WORKGROUP`` and ``ATHENA_DATABASE``. Nothing heavy is imported here: the pipeline imports
``lib.query.row`` on the Lambda path, and DuckDB is only imported when the local engine runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from lib.query.named import NAMED_QUERIES, QueryOptionError, named_query

Engine = Literal["local", "athena"]
ENGINES: tuple[Engine, ...] = ("local", "athena")


class QueryFailed(RuntimeError):
    """The engine refused or failed the SQL (a syntax error, an unknown column, Athena's cutoff); the
    message is the engine's own."""


@dataclass(frozen=True)
class QueryResult:
    """A query's answer: its column names, and one dict per row (column -> value: str, int, float, bool,
    datetime, date, list, or None)."""

    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


def run_query(sql: str, *, engine: str = "local") -> QueryResult:
    """Run ``sql`` (which reads the table ``events``) on ``engine``: ``local`` (DuckDB over the table's
    objects, fetched through boto3) or ``athena`` (the deployed workgroup). Raises ``QueryFailed`` when the
    engine rejects the SQL, ``lib.settings.ConfigError`` when a setting is missing, ``ValueError`` for an
    unknown engine."""
    from lib import aws
    from lib.settings import QuerySettings

    settings = QuerySettings.from_env(os.environ)
    if engine == "local":
        import duckdb

        from lib.query import local

        try:
            columns, tuples = local.run(sql, s3=aws.client("s3"), bucket=settings.table_bucket,
                                        prefix=settings.events_table_prefix)
        except duckdb.Error as exc:
            raise QueryFailed(str(exc).splitlines()[0]) from exc
    elif engine == "athena":
        from lib.query import athena

        try:
            columns, tuples = athena.run(sql, athena=aws.client("athena"), workgroup=settings.athena_workgroup,
                                         database=settings.athena_database)
        except athena.AthenaQueryFailed as exc:
            raise QueryFailed(str(exc)) from exc
    else:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    return QueryResult(columns, [dict(zip(columns, row, strict=True)) for row in tuples])


__all__ = ["ENGINES", "NAMED_QUERIES", "QueryFailed", "QueryOptionError", "QueryResult", "named_query", "run_query"]
