"""``mediahook query "SQL" | NAMED [--since 7d ...] | backfill --from DATE [--to DATE]``: SQL over the events
table (lib/query/), on DuckDB locally or on Athena, printed as a table, JSON lines or CSV; the named queries;
and the backfill of the table from the archive."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, date, datetime
from typing import Any

from lib.cli.common import Command
from lib.query.named import NAMED_QUERIES, sql_template
from lib.query.schema import TABLE

BACKFILL = "backfill"


def cell(value: Any) -> str:
    """A value as the table and CSV show it: timestamps to the millisecond, lists as JSON, null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def json_value(value: Any) -> Any:
    """A value as ``--json`` writes it: timestamps and dates as ISO 8601 strings, the rest as JSON has it."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def print_table(columns: list[str], rows: list[dict[str, Any]], out: Any) -> None:
    cells = [[cell(r[c]) for c in columns] for r in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), file=out)
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip(), file=out)
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", file=out)


def print_result(columns: list[str], rows: list[dict[str, Any]], *, as_json: bool, as_csv: bool) -> None:
    if as_json:
        for row in rows:
            print(json.dumps({c: json_value(row[c]) for c in columns}, ensure_ascii=False))
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell(row[c]) for c in columns] for row in rows)
    else:
        print_table(columns, rows, sys.stdout)


def _fail(message: str, code: int) -> int:
    print(f"mediahook query: {message}", file=sys.stderr)
    return code


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    """``--engine``, shared with ``mediahook replay --query``."""
    parser.add_argument("--engine", choices=("local", "athena"), default="local",
                        help="local: DuckDB over the table's objects, read through boto3 (AWS_ENDPOINT_URL for moto "
                             "server); athena: the stage's workgroup (ATHENA_WORKGROUP) and database "
                             "(ATHENA_DATABASE)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", metavar="SQL|NAME",
                        help=f"SQL over the table {TABLE}, or a named query ({', '.join(NAMED_QUERIES)}), or "
                             f"{BACKFILL}")
    add_engine_option(parser)
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON object per row and line, nothing else")
    output.add_argument("--csv", action="store_true", help="CSV with a header line")
    parser.add_argument("--since", metavar="DURATION",
                        help="named queries: how far back (30m, 1h, 7d, 2w); defaults: failures and stuck 7d, "
                             "recovered and counts 1d")
    parser.add_argument("--older-than", metavar="DURATION", help="stuck: the age of a task's latest event (default 1h)")
    parser.add_argument("--by", metavar="COLUMNS",
                        help="counts: the columns to group by, comma-separated (default event_type)")
    parser.add_argument("--sql", action="store_true", help="print the SQL a named query runs, and run nothing")
    parser.add_argument("--from", dest="date_from", metavar="DATE", type=date.fromisoformat,
                        help=f"{BACKFILL}: the first day, YYYY-MM-DD (the archive key's date); required")
    parser.add_argument("--to", dest="date_to", metavar="DATE", type=date.fromisoformat,
                        help=f"{BACKFILL}: the last day, inclusive (default today, UTC)")
    parser.add_argument("--dry-run", action="store_true",
                        help=f"{BACKFILL}: count what would be written, write nothing")


def _named_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"since": args.since, "older_than": args.older_than, "by": args.by}


def run(args: argparse.Namespace) -> int:
    from lib.query import QueryFailed, QueryOptionError, named_query, run_query
    from lib.settings import ConfigError

    if args.query == BACKFILL:
        return run_backfill(args)
    named = args.query in NAMED_QUERIES
    given = [_flag(k) for k, v in _named_options(args).items() if v is not None]
    if args.date_from or args.date_to or args.dry_run:
        return _fail(f"--from, --to and --dry-run are {BACKFILL}'s options", 2)
    if not named and (given or args.sql):
        return _fail(f"{', '.join(given or ['--sql'])}: only with a named query ({', '.join(NAMED_QUERIES)})", 2)
    try:
        sql = named_query(args.query, **_named_options(args)) if named else args.query
        if args.sql:
            print(sql)
            return 0
        result = run_query(sql, engine=args.engine)
    except (QueryOptionError, ConfigError) as exc:
        return _fail(str(exc), 2)
    except QueryFailed as exc:
        return _fail(f"the query failed: {exc}", 1)
    except Exception as exc:  # noqa: BLE001 (AWS unreachable, no such bucket: one line, not a traceback)
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    print_result(result.columns, result.rows, as_json=args.json, as_csv=args.csv)
    return 0


def run_backfill(args: argparse.Namespace) -> int:
    import os

    from lib import aws
    from lib.query.backfill import backfill
    from lib.settings import ConfigError, QuerySettings

    if args.date_from is None:
        return _fail(f"{BACKFILL} needs --from DATE (YYYY-MM-DD, the first day of the archive to read)", 2)
    end = args.date_to or datetime.now(UTC).date()
    if end < args.date_from:
        return _fail(f"--to {end} is before --from {args.date_from}", 2)
    try:
        settings = QuerySettings.from_env(os.environ)
        table_bucket = settings.table_bucket
        if not settings.archive_bucket:
            raise ConfigError("ARCHIVE_BUCKET must be set: the archive the rows are built from")
        written = 0
        for day in backfill(aws.client("s3"), archive_bucket=settings.archive_bucket,
                            archive_prefix=settings.archive_prefix, table_bucket=table_bucket,
                            table_prefix=settings.events_table_prefix, start=args.date_from, end=end,
                            dry_run=args.dry_run):
            written += day.written
            print(f"{day.day}: {day.archived} archived, {day.present} already in the table, "
                  f"{day.written} {'to write' if args.dry_run else 'written'}")
            for key in day.skipped:
                print(f"SKIP {key}: not an event any more (its bytes do not validate)", file=sys.stderr)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    except Exception as exc:  # noqa: BLE001 (AWS unreachable, no such bucket: one line, not a traceback)
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    print(f"backfill from {args.date_from} to {end}: {written} rows {'to write' if args.dry_run else 'in place'}")
    return 0


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _named_reference() -> str:
    return " ".join(f"{q.name} ({q.question}; options: "
                    f"{', '.join(f'{_flag(o)} {d}' for o, d in q.options.items())}): "
                    f"{sql_template(q.name)}." for q in NAMED_QUERIES.values())


COMMAND = Command(
    "query", help="SQL over every event (the events table), locally or on Athena",
    description=f"Run SQL over the table {TABLE} (one row per accepted event: docs/querying.md has its columns) "
                "on DuckDB over the table's objects (--engine local, the default: read through boto3, so "
                "AWS_ENDPOINT_URL points it at moto server) or on the stage's Athena workgroup (--engine "
                "athena). Prints a table, or --json (one object per row) or --csv. Reads EVENTS_TABLE_BUCKET "
                "(default ARCHIVE_BUCKET), EVENTS_TABLE_PREFIX (default tables/events/), ATHENA_WORKGROUP, "
                "ATHENA_DATABASE and the usual AWS settings. Exit 2: a usage or configuration error; exit 1: "
                f"the query failed. The named queries, with their SQL: {_named_reference()} "
                f"'{BACKFILL} --from DATE [--to DATE]' builds the rows of the events archived on those days that "
                "the table does not hold (events archived before the table existed, rows whose write failed) "
                "into one object per day; running it again adds nothing.",
    configure=configure, run=run)
