"""Replay from the console: what would be published (the dry run), then the replay itself, both through
``mediahook replay``'s code (``lib.cli.replay``): the same archive keys, the same checks, the same
re-publication with each event's original id, receipt time, delivery kind and state_change.

A replay is chosen by one event (its archive key), one resource (the events the ledger recorded under it, in
their original order) or the events page's current filter (the events it selects, oldest first).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from typing import Any

from lib.console.queries import EventFilter, Runner, replay_candidates
from lib.console.reads import SYNTHETIC, Connection, NotFound, check_key

LIMIT = 1000  # a replay from the console re-publishes at most this many events; more is `mediahook replay`'s job
# The replay path says its SKIPs on stderr, which the console reads by swapping sys.stderr: one process-wide
# object, while the pages run in a thread pool. Two swaps at once would restore each other's and leave stderr
# pointing at a dead buffer, so they take turns.
_STDERR = threading.Lock()


class TooMany(ValueError):
    """The selection is larger than a console replay may be."""


@dataclass(frozen=True)
class Plan:
    """What a replay would re-publish: archive keys in order, and (by resource) each one's state_change."""

    what: str  # "event KEY", "resource ID", "filter ..." as the page says it
    keys: list[str]
    state_changes: dict[str, Any] | None = None
    skipped: list[str] = field(default_factory=list)  # "KEY: why it is not replayed", as the page says it

    @property
    def digest(self) -> str:
        """The keys in their order, in one word: the dry run's form carries it, and the confirmed replay goes
        ahead only if its own plan still has it (a filter or a resource may have gained events since)."""
        return hashlib.sha256("\n".join(self.keys).encode()).hexdigest()


class Changed(RuntimeError):
    """The selection is no longer what the dry run showed: nothing is published."""


def for_event(conn: Connection, key: str) -> Plan:
    check_key(conn, key)
    if key[len(conn.prefix):].startswith(SYNTHETIC):
        raise NotFound("a smoke check's synthetic event is not replayed (as mediahook replay does not)")
    return Plan(f"event {key}", [key])


def for_resource(conn: Connection, resource: str) -> Plan:
    from lib.cli.replay import archived_only, ledger_keys

    keys, changes = ledger_keys(conn.ledger(), resource, conn.prefix, None, None, "*")
    with _STDERR, redirect_stderr(io.StringIO()):
        present = archived_only(conn.client("s3"), conn.bucket, keys)
    return Plan(f"resource {resource}", present, changes,
                [f"{k}: recorded in the ledger but never archived" for k in keys if k not in present])


def for_filter(conn: Connection, run: Runner, flt: EventFilter) -> Plan:
    rows = replay_candidates(flt, run, limit=LIMIT)
    if len(rows) > LIMIT:
        raise TooMany(f"the filter selects more than {LIMIT} events: narrow it, or use `mediahook replay`")
    keys, skipped = [], []
    for key in dict.fromkeys(str(r["archive_key"]) for r in rows if r.get("archive_key")):
        # The table has a row for a smoke check's synthetic event too: listed, not replayed (as by event).
        try:
            for_event(conn, key)
        except NotFound as exc:
            skipped.append(f"{key}: {exc}")
            continue
        keys.append(key)
    return Plan("the current filter", keys, skipped=skipped)


@dataclass(frozen=True)
class Result:
    published: int
    notes: list[str]  # the replay path's SKIP lines


def run(conn: Connection, plan: Plan) -> Result:
    """Re-publish the plan's events to every configured target (the stage's settings: the topics and the bus)."""
    from lib.cli.replay import replay
    from lib.settings import Settings

    settings = Settings.from_env({**os.environ, "ARCHIVE_BUCKET": conn.bucket})
    notes = io.StringIO()
    with _STDERR, redirect_stderr(notes):
        replay(plan.keys, s3=conn.client("s3"), bucket=conn.bucket, prefix=conn.prefix, settings=settings,
               show_progress=False, state_changes=plan.state_changes)
    skipped = [line for line in notes.getvalue().splitlines() if line.startswith("SKIP")]
    return Result(len(plan.keys) - len(skipped), skipped)
