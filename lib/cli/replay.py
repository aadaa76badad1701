"""``mediahook replay --from DATE --to DATE [--type PATTERN] [--dry-run]``: re-publish archived events from S3,
with their original ``event_id``s, so consumers can dedupe. ``mediahook replay --file-id ID`` (or another id
option; the dates then optional): the events the ledger recorded under that id, in their original order, with
their original ids and state_change."""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, get_args

from lib.cli.common import Command, plural, progress
from lib.cli.errors import FAILED, CliError, explain, naming, require_aws
from lib.cli.events import add_id_options, chosen_id, open_ledger
from lib.cli.query import add_engine_option

ARCHIVE_KEY = re.compile(
    r"^(?P<product>vod|cme|mps)/(?P<unknown>_unknown/)?(?P<type>[A-Za-z][\w.\-]*)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<event_id>[0-9a-f]{64})\.json$")


def archived_keys(s3: Any, bucket: str, prefix: str, start: date, end: date, pattern: str) -> list[str]:
    """Archive keys received between ``start`` and ``end`` (inclusive) whose ``product.EventType`` matches."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            match = ARCHIVE_KEY.match(item["Key"][len(prefix):])
            if not match:
                continue  # _dead/ letters and foreign objects are not replayed
            day = date(int(match["y"]), int(match["m"]), int(match["d"]))
            if start <= day <= end and fnmatch.fnmatchcase(f"{match['product']}.{match['type']}", pattern):
                keys.append(item["Key"])
    return sorted(keys)


def ledger_keys(ledger: Any, resource: str, prefix: str, start: date | None, end: date | None,
                pattern: str) -> tuple[list[str], dict[str, Any]]:
    """The archive keys of the events recorded under ``resource``, oldest first (within the dates and the type
    pattern, when given), and each key's state_change."""
    keys: list[str] = []
    changes: dict[str, Any] = {}
    for entry in ledger.entries(resource):
        match = ARCHIVE_KEY.match(entry.archive_key[len(prefix):]) if entry.archive_key.startswith(prefix) else None
        if match is None or entry.archive_key in changes:
            continue
        day = date(int(match["y"]), int(match["m"]), int(match["d"]))
        if (start and day < start) or (end and day > end):
            continue
        if fnmatch.fnmatchcase(f"{match['product']}.{match['type']}", pattern):
            keys.append(entry.archive_key)
            changes[entry.archive_key] = entry.state_change
    return keys, changes


def state_change_of(ledger: Any, event: Any) -> Any:
    """What the ledger decided for ``event`` (a date-range replay with LEDGER_TABLE; the console's event page):
    read off its first resource."""
    from lib.ledger import resources_of

    resources = resources_of(event)
    if not resources:
        return "advanced"  # an event naming nothing cannot be behind anything (lib/ledger.py)
    return next((e.state_change for e in ledger.entries(resources[0])
                 if e.product == event.product and e.event_id == event.event_id), None)


def replay(keys: Iterable[str], *, s3: Any, bucket: str, prefix: str, settings: Any,
           dry_run: bool = False, show_progress: bool = True, state_changes: dict[str, Any] | None = None) -> int:
    """Re-publish archived events with their original ids, receipt times, delivery kinds and (with a ledger)
    state_change, to every configured target (the SNS topic and ROUTES topics, the EventBridge bus)."""
    from lib.archive import ArchivedObject
    from lib.errors import DeliveryError
    from lib.intake import read_event
    from lib.ledger import ledger_for
    from lib.notification import Delivery
    from lib.pipeline import notify

    ledger = ledger_for(settings)

    keys = list(keys)
    for index, key in enumerate(keys, 1):
        match = ARCHIVE_KEY.match(key[len(prefix):])
        assert match is not None
        obj = s3.get_object(Bucket=bucket, Key=key)
        body, meta = obj["Body"].read(), obj.get("Metadata", {})
        event = read_event(json.loads(body), pinned=match["product"], body=body)
        if event.event_id != match["event_id"]:
            print(f"SKIP {key}: its body does not hash to its event_id", file=sys.stderr)
            continue
        if not dry_run:
            delivery = meta.get("delivery", "push")
            if state_changes is not None:
                state_change = state_changes.get(key)
            else:
                state_change = state_change_of(ledger, event) if ledger is not None else None
            try:
                notify(event, ArchivedObject(bucket, key, created=False),
                       delivery=delivery if delivery in get_args(Delivery) else "push",
                       received_at=meta.get("received-at") or datetime.now(UTC).isoformat(), settings=settings,
                       state_change=state_change)
            except DeliveryError as exc:
                cause = explain(exc.__cause__) if exc.__cause__ is not None else None
                raise CliError(f"{plural(index - 1, 'event')} of {len(keys)} re-published, then {key} could not be: "
                               f"{cause.message if cause else exc} (a replay again re-publishes them all, with the "
                               "same ids: consumers dedupe)", cause.exit_code if cause else FAILED) from exc
        if show_progress:
            progress(index, len(keys), match["type"])
    return len(keys)


def archived_only(s3: Any, bucket: str, keys: list[str]) -> list[str]:
    """The keys whose object exists. The ledger records an event beside its archive write, so an entry can
    name a key whose write failed (the event was never acknowledged; Tencent's retry, pull or reconcile
    brings it back under its own key): it is skipped with a SKIP line, as a body that does not hash is.
    The bucket is checked first: in one that does not exist, every HEAD is a bare 404 too."""
    from botocore.exceptions import ClientError

    s3.head_bucket(Bucket=bucket)  # its 404 is a missing bucket (lib.cli.errors.naming words it)
    present = []
    for key in keys:
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            print(f"SKIP {key}: recorded in the ledger but never archived (its archive write failed)", file=sys.stderr)
            continue
        present.append(key)
    return present


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="date_from", metavar="DATE", type=date.fromisoformat,
                        help="the first day, YYYY-MM-DD (UTC, the archive key's date); required without an id option")
    parser.add_argument("--to", dest="date_to", metavar="DATE", type=date.fromisoformat,
                        help="the last day, YYYY-MM-DD (inclusive); required without an id option")
    add_id_options(parser, required=False)
    parser.add_argument("--type", default="*", help="glob on product.EventType, e.g. 'vod.Procedure*'")
    parser.add_argument("--bucket", help="the archive bucket; stands for ARCHIVE_BUCKET (one of the two is required)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be published (needs only the bucket, and LEDGER_TABLE with an id "
                             "option: no topic or bus)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (there is none unless stderr is a "
                                                             "terminal)")
    parser.add_argument("--query", metavar="SQL",
                        help="replay the events this query over the events table selects (it must return event_id "
                             "or archive_key), oldest first; not with dates or an id option")
    add_engine_option(parser)


def archive_bucket(args: argparse.Namespace) -> str:
    """--bucket, or ARCHIVE_BUCKET: the one setting every replay needs."""
    bucket = (args.bucket or os.environ.get("ARCHIVE_BUCKET", "")).strip()
    if not bucket:
        raise CliError("no archive bucket: give --bucket NAME or set ARCHIVE_BUCKET (the stack's ArchiveBucketName "
                       "output; locally, the export line `make serve` prints)")
    return bucket


def publishing_settings(bucket: str) -> Any:
    """The settings a replay that publishes needs (a target: EVENTS_TOPIC_ARN or EVENT_BUS_NAME; ROUTES; the
    ledger), with --bucket standing for ARCHIVE_BUCKET. A dry run reads none of them."""
    from lib.settings import ConfigError, Settings

    if not any(os.environ.get(name, "").strip() for name in ("EVENTS_TOPIC_ARN", "EVENT_BUS_NAME")):
        raise CliError("nowhere to publish: set EVENTS_TOPIC_ARN (the stack's EventsTopicArn output; locally, the "
                       "export line `make serve` prints) or EVENT_BUS_NAME; a dry run (--dry-run) needs neither")
    try:
        return Settings.from_env({**os.environ, "ARCHIVE_BUCKET": bucket})
    except ConfigError as exc:
        raise CliError(str(exc).replace("ARCHIVE_BUCKET:", "--bucket or ARCHIVE_BUCKET:")) from None


def run(args: argparse.Namespace) -> int:
    from lib import aws

    resource = chosen_id(args)
    if args.query is not None:
        return _replay_query(args, resource)
    if resource is None and (args.date_from is None or args.date_to is None):
        raise CliError("--from and --to are required unless an id option (--file-id, --task-id, --material-id, "
                       "--project-id, --resource) is given")
    bucket = archive_bucket(args)
    prefix = os.environ.get("ARCHIVE_PREFIX", "")  # verbatim, as lib/settings.py reads it
    settings = None if args.dry_run else publishing_settings(bucket)
    ledger = open_ledger() if resource is not None else None
    require_aws()
    s3 = aws.client("s3")
    changes: dict[str, Any] | None = None
    dry = " (dry run: nothing is published)" if args.dry_run else ""
    with naming(bucket=bucket, table=ledger.table if ledger else None):
        if resource is not None:
            keys, changes = ledger_keys(ledger, resource, prefix, args.date_from, args.date_to, args.type)
            keys = archived_only(s3, bucket, keys)
            print(f"{plural(len(keys), 'archived event')} recorded under {resource} match {args.type!r}, oldest "
                  f"first{dry}")
        else:
            keys = archived_keys(s3, bucket, prefix, args.date_from, args.date_to, args.type)
            print(f"{plural(len(keys), 'archived event')} from {args.date_from} to {args.date_to} match "
                  f"{args.type!r}{dry}")
        if args.dry_run:
            for key in keys:
                print(f"  would publish {key}")
            return 0
        replay(keys, s3=s3, bucket=bucket, prefix=prefix, settings=settings, show_progress=not args.quiet,
               state_changes=changes)
    print(f"re-published {plural(len(keys), 'event')}")
    return 0


def _replay_query(args: argparse.Namespace, resource: str | None) -> int:
    """``--query``: the archive keys the query selects (lib/query/selection.py), oldest first, then the replay."""
    from lib import aws
    from lib.query import QueryFailed, run_query
    from lib.query.selection import SelectionError, selected_keys

    if resource is not None or args.date_from is not None or args.date_to is not None:
        raise CliError("--query selects the events itself: not with --from/--to or an id option")
    bucket = archive_bucket(args)
    prefix = os.environ.get("ARCHIVE_PREFIX", "")  # verbatim, as lib/settings.py reads it
    settings = None if args.dry_run else publishing_settings(bucket)
    require_aws()
    try:
        result = run_query(args.query, engine=args.engine)
        keys = selected_keys(result.columns, result.rows, lambda sql: run_query(sql, engine=args.engine).rows)
    except SelectionError as exc:
        raise CliError(str(exc)) from None
    except QueryFailed as exc:
        raise CliError(f"the query failed: {exc}", FAILED) from None
    for key in [k for k in keys if not ARCHIVE_KEY.match(k[len(prefix):])]:
        print(f"SKIP {key}: not an archived event's key", file=sys.stderr)
    keys = [k for k in keys if ARCHIVE_KEY.match(k[len(prefix):])]
    print(f"{plural(len(keys), 'archived event')} selected by the query, oldest first"
          + (" (dry run: nothing is published)" if args.dry_run else ""))
    if args.dry_run:
        for key in keys:
            print(f"  would publish {key}")
        return 0
    with naming(bucket=bucket):
        replay(keys, s3=aws.client("s3"), bucket=bucket, prefix=prefix, settings=settings,
               show_progress=not args.quiet)
    print(f"re-published {plural(len(keys), 'event')}")
    return 0


COMMAND = Command(
    "replay", help="re-publish archived events (same event_ids)",
    description="Re-publish the events archived between --from and --to (inclusive, by the archive key's "
                "date) whose product.EventType matches --type, with their original event_id, receipt time and "
                "delivery kind, to every configured target. With an id option instead (--file-id, --task-id, "
                "--material-id, --project-id, --resource; the dates then narrow it if given): the events the "
                "ledger (LEDGER_TABLE) recorded under that id, in their original order, with their original "
                "event_id and state_change. Reads the stage's settings from the environment (ARCHIVE_BUCKET or "
                "--bucket, ARCHIVE_PREFIX, LEDGER_TABLE with an id option, and to publish: EVENTS_TOPIC_ARN or "
                "EVENT_BUS_NAME, ROUTES); a dry run reads no topic or bus. _dead/ letters are not replayed. "
                "With --query SQL instead: the events the query over the events table selects (mediahook query), "
                "oldest first.",
    configure=configure, run=run)
