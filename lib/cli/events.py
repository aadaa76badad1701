"""``mediahook events (--file-id ID | --task-id ID | --material-id ID | --project-id ID | --resource ID) [--json]``:
what the ledger knows of one resource, its latest state, then every event recorded under it, oldest first."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from lib.cli.common import Command, plural
from lib.cli.errors import naming, require_aws, require_setting

if TYPE_CHECKING:
    from lib.ledger import Entry, Ledger, SubjectState

# The id options: any of them finds the events recorded under that id (the ledger keys entries by the id alone).
ID_OPTIONS = (("--file-id", "a VOD FileId"), ("--task-id", "a TaskId"), ("--material-id", "a CME MaterialId"),
              ("--project-id", "a CME ProjectId"), ("--resource", "any other id the ledger records (a CastId, a "
                                                                 "class path)"))
COLUMNS = ("received_at", "product", "event_type", "status", "state_change", "delivery", "event_id", "archive_key")


def _dest(flag: str) -> str:
    return "resource_id" if flag == "--resource" else flag[2:].replace("-", "_")


def add_id_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """The id options, mutually exclusive (two at once is a usage error, exit 2)."""
    group = parser.add_mutually_exclusive_group(required=required)
    for flag, what in ID_OPTIONS:
        group.add_argument(flag, metavar="ID", dest=_dest(flag), help=f"{what}: the events recorded under it")


def chosen_id(args: argparse.Namespace) -> str | None:
    """The one id option given, if any."""
    for flag, _ in ID_OPTIONS:
        value = getattr(args, _dest(flag), None)
        if value:
            return str(value)
    return None


def open_ledger() -> Ledger:
    """The ledger named by LEDGER_TABLE, with a region and credentials to read it, or a :class:`CliError`
    saying which is missing."""
    table = require_setting("LEDGER_TABLE", "the stage's ledger table: the stack's LedgerTableName output; "
                                            "locally, the export line `make serve` prints")
    require_aws()
    from lib import aws
    from lib.ledger import Ledger, retention_days

    # A bad LEDGER_RETENTION_DAYS is a ConfigError: main words it (lib.cli.errors.explain), exit 2.
    return Ledger(table, lambda: aws.client("dynamodb"), retention_days(os.environ))


def row(entry: Entry) -> dict[str, Any]:
    """An entry as the command shows it: ``COLUMNS``, in that order."""
    values = entry.as_dict()
    return {name: values[name] for name in COLUMNS}


def latest_states(ledger: Ledger, resource: str, entries: list[Entry]) -> list[SubjectState]:
    """The latest state of ``resource`` as a subject, for each product that recorded it as one."""
    products = dict.fromkeys(e.product for e in entries)
    return [state for state in (ledger.latest(p, resource) for p in products) if state is not None]


def _table(rows: list[dict[str, Any]]) -> str:
    cells = [[str(r[c]) if r[c] is not None else "-" for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def configure(parser: argparse.ArgumentParser) -> None:
    add_id_options(parser, required=True)
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per event and line (keys: " + ", ".join(COLUMNS) + "), nothing else")


def run(args: argparse.Namespace) -> int:
    resource = chosen_id(args)
    assert resource is not None  # the group is required
    ledger = open_ledger()
    with naming(table=ledger.table):
        entries = ledger.entries(resource)
        states = [] if args.json else latest_states(ledger, resource, entries)
    if args.json:
        for entry in entries:
            print(json.dumps(row(entry), ensure_ascii=False))
        return 0
    if not entries and not states:
        print(f"the ledger has no event recorded under {resource!r}")
        return 0
    for state in states:
        print(f"latest state of {state.product} {resource}: {state.event_type} {state.status or '-'} "
              f"({'final' if state.final else 'not final'}; rank {state.rank}; event {state.event_id[:12]}, "
              f"received {state.received_at})")
    if not states:
        print(f"{resource} is not the subject of any event recorded (it is named by them)")
    print(f"\n{plural(len(entries), 'event')} recorded under {resource}, oldest first:")
    print(_table([row(e) for e in entries]))
    return 0


COMMAND = Command(
    "events", help="the ledger's history of one resource",
    description="Show what the ledger (LEDGER_TABLE) recorded for one resource: its latest state, then every "
                "event recorded under the id, oldest first, with what each did to its subject (state_change: "
                "advanced, repeated, stale). An event is recorded under every id it names: a FileId finds its "
                "upload, every task run on it and its deletion. The id options exclude each other. Reads "
                "LEDGER_TABLE and the usual AWS settings.",
    configure=configure, run=run)
