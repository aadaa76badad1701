"""What the console reads besides the events table, each through the code that already reads it: an archived
event (the archive's key format, ``lib.intake.read_event``, ``lib.publish.outgoing`` for the notification as
published), a resource's history (``lib.ledger``, as ``mediahook events`` reads it), the dead letters (the
archive's ``_dead/`` folders), the alarms (CloudWatch) and the last reconcile run (its log line).

Each reader that can be absent (no ledger table, no alarms on a local stack, no reconcile log group) answers
``Unavailable`` with the reason, which the page shows instead of the panel.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast, get_args

from botocore.exceptions import BotoCoreError, ClientError

from lib.cli.replay import ARCHIVE_KEY
from lib.console.queries import PRODUCTS
from lib.notification import Delivery, StateChange

if TYPE_CHECKING:
    from lib.forward.queues import DestinationStatus
    from lib.ledger import Entry, Ledger, SubjectState


class Unavailable(RuntimeError):
    """Something the console reads is not there (not configured, not deployed, not readable): the reason."""


class NotFound(LookupError):
    """No such archived event (a 404)."""


class Unreadable(RuntimeError):
    """An object under an event's key whose bytes are not a readable event (not JSON, or not the product's
    event): the page says why, and the bytes can still be downloaded."""


@dataclass(frozen=True)
class Connection:
    """Where the stack is: the same settings every ``mediahook`` command reads from the environment
    (ARCHIVE_BUCKET or --bucket, ARCHIVE_PREFIX, LEDGER_TABLE, the AWS settings; the query engine reads its own,
    EVENTS_TABLE_PREFIX, ATHENA_WORKGROUP, ...), the stage the alarms and the reconcile function are named after,
    and the query engine to ask."""

    bucket: str
    prefix: str = ""
    ledger_table: str = ""
    stage: str = "dev"
    engine: str = "local"  # the query engine's: local (DuckDB over the table's objects) or athena

    @classmethod
    def from_env(cls, bucket: str | None = None, stage: str | None = None, engine: str = "local") -> Connection:
        return cls(bucket=(bucket or os.environ.get("ARCHIVE_BUCKET", "")).strip(), engine=engine,
                   prefix=os.environ.get("ARCHIVE_PREFIX", ""),
                   ledger_table=os.environ.get("LEDGER_TABLE", "").strip(),
                   stage=(stage or os.environ.get("MEDIAHOOK_STAGE", "") or "dev").strip())

    def client(self, service: str) -> Any:
        from lib import aws

        return aws.client(service)

    def ledger(self) -> Ledger:
        if not self.ledger_table:
            raise Unavailable("LEDGER_TABLE is not set: name the stage's ledger table (the stack's "
                              "LedgerTableName output) to see resources' timelines")
        from lib.ledger import Ledger, retention_days

        return Ledger(self.ledger_table, lambda: self.client("dynamodb"), retention_days(os.environ))


# --------------------------------------------------------------------------- one archived event


@dataclass(frozen=True)
class ArchivedEvent:
    key: str
    product: str
    event_type: str
    event_id: str
    body: bytes  # byte for byte as archived
    metadata: dict[str, str]
    pretty: str  # the body, parsed and indented
    notification: str  # the notification as published (the CloudEvent, indented)
    resources: tuple[str, ...]  # every id it names (lib.ledger.resources_of), each with a timeline
    state_change: StateChange | None
    summary: dict[str, Any]


SYNTHETIC = "_synthetic/"  # smoke checks' events, archived apart (lib/archive.py)


def check_key(conn: Connection, key: str) -> Any:
    """The key's parts, if ``key`` is an event's archive key under this stage's prefix (a smoke check's under
    ``_synthetic/`` too); else ``NotFound``: nothing else in the bucket is read through the console."""
    rest = key[len(conn.prefix):] if key.startswith(conn.prefix) else ""
    # fullmatch: the pattern's ``$`` would let a trailing newline through (into S3 and the download's filename).
    match = ARCHIVE_KEY.fullmatch(rest.removeprefix(SYNTHETIC))
    if match is None:
        raise NotFound(f"not an archived event's key: {key[:200]!r}")
    return match


def archived_body(conn: Connection, key: str) -> tuple[bytes, dict[str, str]]:
    check_key(conn, key)
    try:
        obj = conn.client("s3").get_object(Bucket=conn.bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            raise NotFound(f"no archived event under {key}") from None
        raise Unavailable(f"the archive could not be read: {exc}") from exc
    except BotoCoreError as exc:
        raise Unavailable(f"the archive could not be read: {exc}") from exc
    return obj["Body"].read(), dict(obj.get("Metadata", {}))


def archived_event(conn: Connection, key: str) -> ArchivedEvent:
    """The event archived under ``key`` with what the page shows of it."""
    from lib.archive import ArchivedObject
    from lib.intake import read_event
    from lib.ledger import resources_of
    from lib.publish import outgoing

    match = check_key(conn, key)
    body, meta = archived_body(conn, key)
    try:
        event = read_event(json.loads(body), pinned=match["product"], body=body)
    except ValueError as exc:  # JSON's and pydantic's errors alike
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise Unreadable(f"the archived body under {key} is not a readable {match['product']} event: {reason}") from exc
    state_change = _state_change(conn, event)
    delivery = meta.get("delivery", "push")
    published = outgoing(event, ArchivedObject(conn.bucket, key, created=False),
                         cast("Delivery", delivery if delivery in get_args(Delivery) else "push"),
                         meta.get("received-at", ""), state_change)
    summary = event.summary
    return ArchivedEvent(
        key=key, product=event.product, event_type=event.event_type, event_id=event.event_id, body=body,
        metadata=meta, pretty=json.dumps(json.loads(body), indent=2, ensure_ascii=False),
        notification=json.dumps(json.loads(published.body), indent=2, ensure_ascii=False),
        resources=resources_of(event), state_change=state_change,
        summary={"status": summary.status, "succeeded": summary.succeeded, "error_code": summary.error_code,
                 "task_id": summary.task_id, "subjects": ", ".join(summary.subjects),
                 "received_at": meta.get("received-at"), "delivery": delivery})


def _state_change(conn: Connection, event: Any) -> StateChange | None:
    """What the ledger decided for the event (as replay reads it: off its first resource); None without a ledger
    or when it cannot be read (the page is still shown)."""
    if not conn.ledger_table:
        return None
    from lib.cli.replay import state_change_of

    try:
        return cast("StateChange | None", state_change_of(conn.ledger(), event))
    except (ClientError, BotoCoreError):
        return None


# --------------------------------------------------------------------------- one resource


@dataclass(frozen=True)
class Timeline:
    resource: str
    entries: list[Entry]  # oldest first
    latest: list[SubjectState]  # per product that recorded it as a subject


def timeline(conn: Connection, resource: str) -> Timeline:
    """The ledger's history of ``resource`` and its latest state (as ``mediahook events`` shows them)."""
    from lib.cli.events import latest_states

    ledger = conn.ledger()
    try:
        entries = ledger.entries(resource)
        return Timeline(resource, entries, latest_states(ledger, resource, entries))
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable(f"the ledger could not be read: {exc}") from exc


# --------------------------------------------------------------------------- backlogs, alarms, reconcile


def dead_letters(conn: Connection, limit: int = 1000) -> dict[str, str]:
    """Poison events archived under ``{product}/_dead/`` (pull and CMQ put them there), per product: the count,
    or ``more than LIMIT`` past ``limit`` (the listing stops there; a capped count must not read as exact)."""
    s3 = conn.client("s3")
    out: dict[str, str] = {}
    try:
        for product in PRODUCTS:
            found = 0
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=conn.bucket,
                                                                  Prefix=f"{conn.prefix}{product}/_dead/")
            for page in pages:
                found += len(page.get("Contents", []))
                if found > limit:
                    break
            out[product] = str(found) if found <= limit else f"more than {limit}"
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable(f"the archive could not be listed: {exc}") from exc
    return out


def forwarding_backlog(conn: Connection) -> list[DestinationStatus]:
    """Each destination's forwarding queues, as `mediahook forward status` reads them (lib/forward/queues.py):
    waiting, in flight, dead-lettered, and the oldest waiting message's age (CloudWatch; None without a
    datapoint). The queues are those under FORWARD_QUEUE_URL_PREFIX (the stack's ForwardQueueUrlPrefix output),
    else the stage's ``mediahook-{stage}-forward-``. Counted from the queues' attributes only: the dead-letter
    scan of ``forward status`` would hide messages for a while."""
    from lib.forward.queues import status

    prefix = os.environ.get("FORWARD_QUEUE_URL_PREFIX", "").strip() or f"mediahook-{conn.stage}-forward-"
    try:
        return status(conn.client("sqs"), conn.client("cloudwatch"), prefix, scan_dead_letters=False)
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable(f"the forwarding queues could not be read: {exc}") from exc


@dataclass(frozen=True)
class Alarm:
    name: str
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str
    updated: str


def alarms(conn: Connection) -> list[Alarm]:
    """The stack's CloudWatch alarms (their names begin with the stack's, ``mediahook-{stage}-``)."""
    prefix = f"mediahook-{conn.stage}-"
    try:
        pages = conn.client("cloudwatch").get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
        found = [Alarm(a["AlarmName"][len(prefix):], a["StateValue"], a.get("StateReason", ""),
                       str(a.get("StateUpdatedTimestamp", ""))) for page in pages for a in page.get("MetricAlarms", [])]
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable(f"the alarms could not be read: {exc}") from exc
    if not found:
        raise Unavailable(f"no alarm named {prefix}*: a local stack has none (the stage's stack creates them)")
    return sorted(found, key=lambda a: (a.state != "ALARM", a.name))


def last_reconcile(conn: Connection, days: int = 2) -> dict[str, Any]:
    """The summary of the last reconcile run (its ``reconcile run finished`` log line, lib/reconcile/run.py)."""
    group = f"/aws/lambda/mediahook-{conn.stage}-reconcile"
    start = int((datetime.now(UTC) - timedelta(days=days)).timestamp() * 1000)
    latest: tuple[int, dict[str, Any]] | None = None
    try:
        pages = conn.client("logs").get_paginator("filter_log_events").paginate(
            logGroupName=group, startTime=start, filterPattern='"reconcile run finished"')
        for page in pages:
            for item in page.get("events", []):
                try:
                    summary = json.loads(item["message"]).get("summary")
                except ValueError:
                    continue
                if isinstance(summary, dict) and (latest is None or item["timestamp"] > latest[0]):
                    latest = (item["timestamp"], summary)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise Unavailable(f"no log group {group}: reconcile has not run on this stack") from None
        raise Unavailable(f"the reconcile logs could not be read: {exc}") from exc
    except BotoCoreError as exc:
        raise Unavailable(f"the reconcile logs could not be read: {exc}") from exc
    if latest is None:
        raise Unavailable(f"no reconcile run in the last {days} days ({group})")
    return {"finished": datetime.fromtimestamp(latest[0] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            **latest[1]}
