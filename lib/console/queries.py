"""The console's questions to the ``events`` table, asked through the query engine (``lib.query``, the
``mediahook query`` command's engine: DuckDB locally, Athena on a deployed stage), so the console shows the
numbers that command gives.

The SQL is built here from validated values only: enumerations are checked against their few allowed values,
times are parsed, and the one free text (an id to search for) is limited to the characters Tencent's and
mediahook's ids use and quoted. Nothing a request carries reaches the SQL otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from lib import routing

PRODUCTS: tuple[str, ...] = routing.PRODUCTS  # the function's own list (the events table's product column)
STATE_CHANGES = ("advanced", "repeated", "stale")
OUTCOMES = ("succeeded", "failed", "no outcome")  # succeeded true, false, null (an event reporting none)
ID_TEXT = re.compile(r"^[A-Za-z0-9._:/@+=-]{1,200}$")
EVENT_TYPE_TEXT = re.compile(r"^[A-Za-z][\w.\-]{0,100}$")
PAGE_SIZE = 50
COLUMNS = ("received_at", "product", "event_type", "subject", "status", "succeeded", "state_change", "delivery",
           "recovered", "event_id", "archive_key")

Runner = Callable[[str], list[dict[str, Any]]]


class BadFilter(ValueError):
    """A filter value the console cannot use: the message says which and what it expects (a 400)."""


class QueryUnavailable(RuntimeError):
    """The query engine could not answer (not configured, the table missing, the engine's refusal): why."""


def run_sql(sql: str, engine: str = "local") -> list[dict[str, Any]]:
    """The rows of ``sql`` over the ``events`` table, from the query engine (``local`` or ``athena``)."""
    from lib.query import QueryFailed, run_query
    from lib.settings import ConfigError

    try:
        result = run_query(sql, engine=engine)
    except (QueryFailed, ConfigError) as exc:
        raise QueryUnavailable(f"the query engine ({engine}) could not answer: {exc}") from exc
    return [dict(row) for row in result.rows]


def runner(engine: str) -> Runner:
    """``run_sql`` on ``engine``."""
    return lambda sql: run_sql(sql, engine)


def literal(text: str) -> str:
    """A SQL string literal (DuckDB and Athena both double the quote)."""
    return "'" + text.replace("'", "''") + "'"


def timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}'"


def _time(value: str, name: str) -> datetime:
    """``2026-12-03``, ``2026-12-03T10:00`` (a browser's datetime-local) or with seconds/zone; UTC if none."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(f"{name}: a date or time such as 2026-12-03 or 2026-12-03T10:00 (UTC) expected") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _boolean(value: str, name: str) -> bool | None:
    if value in ("", "any"):
        return None
    if value in ("true", "false"):
        return value == "true"
    raise BadFilter(f"{name}: true, false or any expected")


@dataclass(frozen=True)
class EventFilter:
    """The events page's filters (every one optional) and its page number."""

    product: str = ""
    event_type: str = ""
    succeeded: bool | None = None
    state_change: str = ""
    since: datetime | None = None
    until: datetime | None = None
    search: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> EventFilter:
        """From a request's query string or form; ``BadFilter`` names a value that does not fit."""
        def get(name: str) -> str:
            return (params.get(name) or "").strip()

        product, event_type, state_change, search = get("product"), get("event_type"), get("state_change"), get("q")
        if product and product not in PRODUCTS:
            raise BadFilter(f"product: one of {', '.join(PRODUCTS)} expected")
        if event_type and not EVENT_TYPE_TEXT.match(event_type):
            raise BadFilter("event_type: an EventType such as NewFileUpload expected")
        if state_change and state_change not in STATE_CHANGES:
            raise BadFilter(f"state_change: one of {', '.join(STATE_CHANGES)} expected")
        if search and not ID_TEXT.match(search):
            raise BadFilter("q: an id (FileId, TaskId, MaterialId, event id: letters, digits and ._:/@+=-) expected")
        page = get("page") or "1"
        if not page.isdigit() or int(page) < 1:
            raise BadFilter("page: a page number from 1 expected")
        since = _time(get("since"), "since") if get("since") else None
        until = _time(get("until"), "until") if get("until") else None
        if since and until and until <= since:  # an empty window is a mistake, said rather than listed as nothing
            raise BadFilter("until: a time after since expected")
        return cls(product=product, event_type=event_type, succeeded=_boolean(get("succeeded"), "succeeded"),
                   state_change=state_change, since=since, until=until, search=search, page=int(page))

    def params(self, **changes: Any) -> dict[str, str]:
        """The filter as query parameters (what links to other pages of it carry); empty ones left out."""
        chosen = replace(self, **changes)
        out: dict[str, str] = {}
        for f in fields(chosen):
            value = getattr(chosen, f.name)
            if value is None or value == "" or (f.name == "page" and value == 1):
                continue
            name = "q" if f.name == "search" else f.name
            if isinstance(value, bool):
                out[name] = "true" if value else "false"
            elif isinstance(value, datetime):
                out[name] = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
            else:
                out[name] = str(value)
        return out

    def query_string(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def where(self) -> str:
        """The SQL condition of the filter (``TRUE`` when none)."""
        terms: list[str] = []
        if self.product:
            terms.append(f"product = {literal(self.product)}")
        if self.event_type:
            terms.append(f"event_type = {literal(self.event_type)}")
        if self.succeeded is not None:
            terms.append(f"succeeded = {'TRUE' if self.succeeded else 'FALSE'}")
        if self.state_change:
            terms.append(f"state_change = {literal(self.state_change)}")
        if self.since:
            terms.append(f"dt >= DATE '{self.since.astimezone(UTC):%Y-%m-%d}'")  # the partition, then the time
            terms.append(f"received_at >= {timestamp(self.since)}")
        if self.until:
            # dt is the day the row reached the table (Firehose's arrival), which can be the day after its
            # receipt (an event received just before midnight): one day of margin, then the exact time.
            terms.append(f"dt <= DATE '{self.until.astimezone(UTC) + timedelta(days=1):%Y-%m-%d}'")
            terms.append(f"received_at < {timestamp(self.until)}")
        if self.search:
            needle = self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            # FileIds, MaterialIds and the other ids are JSON strings in the payload: "ID" with its quotes.
            quoted = literal(f'%"{needle}"%')
            terms.append(f"(event_id = {literal(self.search)} OR task_id = {literal(self.search)} OR "
                         f"subject = {literal(self.search)} OR payload LIKE {quoted} ESCAPE '\\')")
        return " AND ".join(terms) or "TRUE"


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    has_next: bool


def list_events(flt: EventFilter, run: Runner, size: int = PAGE_SIZE) -> Page:
    """One page of the filtered events, newest first (one row more is asked for, to know if a next page exists)."""
    offset = (flt.page - 1) * size
    rows = run(f"SELECT {', '.join(COLUMNS)} FROM events WHERE {flt.where()} "  # noqa: S608
               f"ORDER BY received_at DESC, event_id LIMIT {size + 1} OFFSET {offset}")
    return Page(rows[:size], len(rows) > size)


def replay_candidates(flt: EventFilter, run: Runner, limit: int = 1000) -> list[dict[str, Any]]:
    """The archive keys of every event the filter selects (not one page: all of them, up to ``limit``), oldest
    first: the order a replay re-publishes them in."""
    return run(f"SELECT received_at, product, event_type, event_id, archive_key FROM events WHERE {flt.where()} "  # noqa: S608
               f"ORDER BY received_at, event_id LIMIT {limit + 1}")


def outcome(succeeded: Any) -> str:
    return OUTCOMES[0] if succeeded is True else OUTCOMES[1] if succeeded is False else OUTCOMES[2]


def counts(now: datetime, run: Runner) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Events received in the last day and the last week, per product and outcome ({product: {outcome: n}},
    every cell present), from one query (the local engine reads the table's objects once per query)."""
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    tables = ({p: dict.fromkeys(OUTCOMES, 0) for p in PRODUCTS}, {p: dict.fromkeys(OUTCOMES, 0) for p in PRODUCTS})
    rows = run(f"SELECT product, succeeded, received_at >= {timestamp(day)} AS last_day, count(*) AS n "  # noqa: S608
               f"FROM events WHERE dt >= DATE '{week:%Y-%m-%d}' AND received_at >= {timestamp(week)} "
               f"GROUP BY product, succeeded, received_at >= {timestamp(day)}")
    for row in rows:
        for table in (tables if row["last_day"] else tables[1:]):
            cell = table.setdefault(str(row["product"]), dict.fromkeys(OUTCOMES, 0))
            cell[outcome(row["succeeded"])] += int(row["n"])
    return tables


def recent_failures(run: Runner, limit: int = 10, now: datetime | None = None) -> list[dict[str, Any]]:
    """The last week's newest events that report a failure."""
    since = (now or datetime.now(UTC)) - timedelta(days=7)
    return run(f"SELECT received_at, product, event_type, subject, status, error_code, error_message, event_id, "  # noqa: S608
               f"archive_key FROM events WHERE succeeded = FALSE AND dt >= DATE '{since:%Y-%m-%d}' "
               f"ORDER BY received_at DESC LIMIT {limit}")
