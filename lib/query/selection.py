"""What ``mediahook replay --query`` replays: the archive keys of the events a query selected, in their
original order.

The query must return ``archive_key`` or ``event_id`` (with ``product``, when an id is both a VOD and an
MPS event); the keys are then looked up in the ``events`` table with their receipt times and put in the
order the events were received, which is each resource's original order.
"""

from __future__ import annotations

import re
from typing import Any

from lib.query.schema import TABLE

_EVENT_ID = re.compile(r"^[0-9a-f]{64}$")
LOOKUP_CHUNK = 500  # ids per IN (...) list: Athena's query text is limited to 256 KB


class SelectionError(ValueError):
    """The query's rows do not name events (no event_id nor archive_key column)."""


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def selected_keys(columns: list[str], rows: list[dict[str, Any]], run: Any) -> list[str]:
    """The archive keys of the events in ``rows``, oldest first. ``run(sql)`` runs a query on the same engine
    and returns its rows (dicts)."""
    if "archive_key" in columns:
        field, wanted = "archive_key", {str(r["archive_key"]) for r in rows if r.get("archive_key")}
    elif "event_id" in columns:
        field = "event_id"
        wanted = {str(r["event_id"]) for r in rows if r.get("event_id") and _EVENT_ID.match(str(r["event_id"]))}
    else:
        raise SelectionError("the query must return an event_id or an archive_key column (SELECT event_id FROM "
                             "events WHERE ...)")
    # An event_id with its product names one event (the same body sent to VOD and to MPS is two).
    pairs = ({(str(r.get("product")), str(r["event_id"])) for r in rows}
             if field == "event_id" and "product" in columns else None)
    found: dict[str, Any] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ", ".join(_quoted(v) for v in ordered[start:start + LOOKUP_CHUNK])
        for row in run(f"SELECT product, event_id, archive_key, received_at FROM {TABLE} "  # noqa: S608 (quoted)
                       f"WHERE {field} IN ({chunk})"):
            if pairs is None or (row["product"], row["event_id"]) in pairs:
                found.setdefault(row["archive_key"], row["received_at"])
    return sorted(found, key=lambda key: (found[key], key))
