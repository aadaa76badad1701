"""The named queries that ship with ``mediahook query``: the questions operators ask most, as SQL that runs
unchanged on Athena (Trino) and DuckDB.

Times are written into the SQL as literals (computed from ``now``), so both engines read the same window
and a test can pin it. Every query filters on ``dt`` (the partition: Athena reads only those days) with
one day of margin, then on ``received_at`` for the exact window.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lib.query.schema import TABLE


class QueryOptionError(ValueError):
    """A named query's option is malformed or unknown; the message says which and what is expected."""


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, option: str = "--since") -> timedelta:
    """``30m``, ``1h``, ``7d``, ``2w`` as a timedelta."""
    match = _DURATION.match(str(text))
    if not match or int(match[1]) == 0:
        raise QueryOptionError(f"{option}: a duration such as 30m, 1h, 7d or 2w expected, got {text!r}")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _timestamp(moment: datetime | None, symbol: str) -> str:
    """A timestamp literal; ``symbol`` stands in for it when there is no clock (the SQL shown in the docs)."""
    return f"TIMESTAMP '{symbol}'" if moment is None else f"TIMESTAMP '{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}'"


def _window(since: str, now: datetime | None) -> str:
    """The WHERE clause of "received in the last ``since``": the partitions first (with a day of margin:
    a row delivered just after midnight belongs to the next day's partition), then the exact time."""
    start = None if now is None else now - parse_duration(since)
    first_day = f"<day before now - {since}>" if start is None else f"{(start - timedelta(days=1)).date():%Y-%m-%d}"
    return f"dt >= DATE '{first_day}' AND received_at >= {_timestamp(start, f'<now - {since}>')}"


# Columns ``counts --by`` may group by.
GROUPABLE = ("product", "event_type", "delivery", "status", "succeeded", "error_code", "state_change", "recovered",
             "sub_app_id", "dt")


def failures(*, since: str = "7d", now: datetime | None) -> str:
    return (  # S608: the values are parsed (timestamps from durations), the columns from an allow-list
        "SELECT "  # noqa: S608
        f"received_at, product, event_type, subject, task_id, status, error_code, error_message, "
        f"event_id, archive_key FROM {TABLE} WHERE succeeded = false AND {_window(since, now)} "
        f"ORDER BY received_at")


def stuck(*, older_than: str = "1h", since: str = "7d", now: datetime | None) -> str:
    parse_duration(older_than, "--older-than")
    cutoff = _timestamp(None if now is None else now - parse_duration(older_than), f"<now - {older_than}>")
    return (  # S608: the values are parsed (timestamps from durations), the columns from an allow-list
        "SELECT "  # noqa: S608
        f"product, task_id, status, event_type, received_at, subject, event_id, archive_key FROM ("
        f"SELECT *, row_number() OVER (PARTITION BY product, task_id ORDER BY received_at DESC) AS latest "
        f"FROM {TABLE} WHERE task_id IS NOT NULL AND {_window(since, now)}) AS tasks "
        f"WHERE latest = 1 AND status IN ('WAITING', 'PROCESSING') AND received_at < {cutoff} "
        f"ORDER BY received_at")


def recovered(*, since: str = "1d", now: datetime | None) -> str:
    return (  # S608: the values are parsed (timestamps from durations), the columns from an allow-list
        "SELECT "  # noqa: S608
        f"received_at, product, event_type, subject, task_id, status, succeeded, event_id, archive_key "
        f"FROM {TABLE} WHERE recovered = true AND {_window(since, now)} ORDER BY received_at")


def counts(*, by: str = "event_type", since: str = "1d", now: datetime | None) -> str:
    columns = [c.strip() for c in str(by).split(",") if c.strip()]
    unknown = [c for c in columns if c not in GROUPABLE]
    if not columns or unknown:
        raise QueryOptionError(f"--by: one or more of {', '.join(GROUPABLE)} (comma-separated) expected, "
                               f"got {by!r}")
    grouped = ", ".join(columns)
    return (  # S608: the values are parsed (timestamps from durations), the columns from an allow-list
        "SELECT "  # noqa: S608
        f"{grouped}, count(*) AS events FROM {TABLE} WHERE {_window(since, now)} "
        f"GROUP BY {grouped} ORDER BY events DESC, {grouped}")


@dataclass(frozen=True)
class NamedQuery:
    """One named query: what it answers, its options (name -> default) and its SQL builder."""

    name: str
    question: str
    options: dict[str, str]
    build: Callable[..., str]


NAMED_QUERIES: dict[str, NamedQuery] = {q.name: q for q in (
    NamedQuery("failures", "the events that report a failure (succeeded = false), oldest first",
               {"since": "7d"}, failures),
    NamedQuery("stuck", "the tasks whose latest event is WAITING or PROCESSING and older than --older-than "
               "(among the tasks seen within --since)", {"older_than": "1h", "since": "7d"}, stuck),
    NamedQuery("recovered", "the events reconciliation recovered (their push never arrived)", {"since": "1d"},
               recovered),
    NamedQuery("counts", "how many events, grouped by --by (comma-separated columns)",
               {"by": "event_type", "since": "1d"}, counts),
)}


def named_query(name: str, *, now: datetime | None = None, **options: Any) -> str:
    """The SQL of the named query ``name`` with ``options`` (``since="7d"``, ``older_than="1h"``,
    ``by="event_type"``; None means the default), its time window from ``now`` (default: the clock)."""
    query = NAMED_QUERIES.get(name)
    if query is None:
        raise QueryOptionError(f"no named query {name!r}: one of {', '.join(NAMED_QUERIES)}")
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(given) - set(query.options))
    if extra:
        raise QueryOptionError(f"{name} takes {', '.join('--' + o.replace('_', '-') for o in query.options)}, "
                               f"not {', '.join('--' + o.replace('_', '-') for o in extra)}")
    return query.build(**{**query.options, **given}, now=now or datetime.now(UTC))


def sql_template(name: str) -> str:
    """The named query's SQL with its defaults and symbols for its times (``<now - 7d>``): what the CLI
    reference shows."""
    query = NAMED_QUERIES[name]
    return query.build(**query.options, now=None)
