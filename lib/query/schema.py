"""The events table's columns: the public schema (docs/contract.md), in one place.

The Glue table in serverless.yml, the DuckDB table of the local engine and the rows the function writes
all follow ``COLUMNS`` (a test holds serverless.yml to it). ``dt`` is the partition column: the day a row was
delivered into the table (Athena: the ``dt=YYYY-MM-DD/`` prefix Firehose writes; locally: the day of
``received_at``), so it is not in a row's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column: its name, its Glue (Hive) type, its DuckDB type, and what it holds."""

    name: str
    glue_type: str
    duckdb_type: str
    description: str


COLUMNS: tuple[Column, ...] = (
    Column("event_id", "string", "VARCHAR", "the event's id (SHA-256 of its canonical JSON), as in the notification"),
    Column("product", "string", "VARCHAR", "vod, cme or mps"),
    Column("event_type", "string", "VARCHAR", "Tencent's EventType, e.g. ProcedureStateChanged"),
    Column("received_at", "timestamp", "TIMESTAMP", "UTC receipt time (`YYYY-MM-DD HH:MM:SS.mmm`)"),
    Column("delivery", "string", "VARCHAR", "push, pull, queue or reconcile"),
    Column("subject", "string", "VARCHAR", "the primary resource id (FileId, TaskId, ...), the CloudEvent subject"),
    Column("task_id", "string", "VARCHAR", "the task id, when the event has one"),
    Column("file_ids", "array<string>", "VARCHAR[]", "every FileId the event names"),
    Column("status", "string", "VARCHAR", "Tencent's status as sent: FINISH, PROCESSING, ..."),
    Column("succeeded", "boolean", "BOOLEAN", "false on any error, true on success, null when no outcome is reported"),
    Column("error_code", "bigint", "BIGINT", "Tencent's error code as sent (0: none); null when the event has none"),
    Column("error_message", "string", "VARCHAR", "Tencent's error message, when not empty"),
    Column("state_change", "string", "VARCHAR", "advanced, repeated or stale (the ledger's decision); null without "
                                                "a ledger and in backfilled rows"),
    Column("recovered", "boolean", "BOOLEAN", "true: rebuilt by reconciliation (delivery reconcile)"),
    Column("sub_app_id", "bigint", "BIGINT", "the VOD sub-application (SubAppId), when the event names one"),
    Column("archive_key", "string", "VARCHAR", "the key of the event's bytes in the archive bucket"),
    Column("payload", "string", "VARCHAR", "the event's JSON as a string (for json_extract); null when the row "
                                           "would exceed Firehose's record limit (read the archive_key)"),
)

PARTITION = Column("dt", "date", "DATE", "partition: the day the row was delivered to the table (UTC)")

# What the table and its rows are called: ``events`` is the deduplicated view every query reads; the
# Glue table of the rows themselves is ``events_rows``.
TABLE = "events"
ROWS_TABLE = "events_rows"

# What the ``events`` view is over the rows: one row per event and day (Firehose delivers at least once,
# and a backfill may meet a row the function wrote). An event is its product and event_id (the same body
# sent to VOD and to MPS is two events, as in the archive). Partitioned by dt too, so that a filter on dt
# still prunes partitions through the window.
DEDUPLICATED = (
    "SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY product, event_id, dt "
    "ORDER BY received_at) AS copy FROM {rows}) AS numbered WHERE copy = 1")


def column_names() -> list[str]:
    return [c.name for c in COLUMNS] + [PARTITION.name]


def view_sql(rows: str = ROWS_TABLE) -> str:
    """The body of the ``events`` view over ``rows``: first copy of each (product, event_id, dt)."""
    return DEDUPLICATED.format(columns=", ".join(column_names()), rows=rows)
