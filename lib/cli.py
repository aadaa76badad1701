"""The operator's command line: ``mediahook {send,validate,replay,schema,smoke} ...`` (or ``python -m lib.cli``).

* ``send FILE... --url URL [--sign-key K] [--notify-key K] [--token T]``: post sample events to any
  deployment, signed the way Tencent signs them (VOD ``Sign``/``T``, MPS ``Sign``/``Timestamp``, or a token).
* ``validate FILE...``: check payloads against the models, with readable errors.
* ``replay --from DATE --to DATE [--type PATTERN] [--dry-run]``: re-publish archived events from S3,
  with their original ``event_id``s, so consumers can dedupe.
* ``schema [--out DIR]``: write the JSON Schema of every modelled event.
* ``smoke --url URL [--sign-key K | --token T] [--bucket B] [--topic-arn ARN]``: prove a deployment's round
  trip with one synthetic event: the 200, the archived object, the notification on the topic.

FILE may be a bare Tencent payload, a batch envelope, or an API Gateway event from ``events/``.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlencode

from pydantic import BaseModel, create_model

from lib.errors import DeliveryError
from lib.routing import PRODUCTS, TABLE, candidate_products

SIGNATURE_LIFETIME = 600  # Tencent's default: signatures expire 10 minutes after sending


# --------------------------------------------------------------------------- signing and sending


@dataclass(frozen=True)
class Sample:
    """One deliverable payload read from a file: its body and the product it belongs to."""

    name: str
    body: str
    product: str


def load_sample(path: Path) -> Sample:
    """A payload file or an ``events/`` gateway event (whose body and product are used)."""
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    if isinstance(document, dict) and "body" in document and "requestContext" in document:
        product = (document.get("pathParameters") or {}).get("product") or _guess_product(document["body"])
        return Sample(str(path), document["body"], product)
    return Sample(str(path), text, _guess_product(text))


def _guess_product(body: str) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return "vod"
    event_type = document.get("EventType") if isinstance(document, dict) else None
    if isinstance(event_type, str):
        return candidate_products(event_type)[0]
    return "vod"


def sign_body(body: str, product: str, *, vod_key: str | None = None, mps_key: str | None = None,
              now: float | None = None) -> str:
    """Add Tencent's signature fields to a single-event body (VOD: ``T``/``Sign``; MPS: ``Timestamp``/``Sign``).

    Legacy v2.0 bodies, batches and CME events are returned as they are: Tencent does not sign them."""
    document = json.loads(body)
    if not isinstance(document, dict) or "EventType" not in document:
        return body
    expiry = int(now if now is not None else time.time()) + SIGNATURE_LIFETIME
    if product == "vod" and vod_key:
        document["T"] = expiry
        document["Sign"] = hashlib.md5(f"{vod_key}{expiry}".encode(), usedforsecurity=False).hexdigest()
    elif product == "mps" and mps_key:
        document["Timestamp"] = expiry
        document["Sign"] = hashlib.md5(f"{expiry}{mps_key}".encode(), usedforsecurity=False).hexdigest()
    else:
        return body
    return json.dumps(document, ensure_ascii=False)


def callback_url(base: str, product: str, token: str | None = None) -> str:
    """``base`` (a deployment's ``.../callback``) pinned to ``product``, with ``?token=`` if given."""
    url = base.rstrip("/")
    if url.endswith("/callback"):
        url = f"{url}/{product}"
    return f"{url}?{urlencode({'token': token})}" if token else url


def post(url: str, body: str | bytes, method: str = "POST", timeout: float = 30) -> tuple[int, dict[str, Any]]:
    """Send one HTTP request; return (status, JSON body or {"raw": text})."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    data = body.encode("utf-8") if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data if method == "POST" else None, method=method,  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = {"raw": text}
    return status, parsed if isinstance(parsed, dict) else {"raw": parsed}


def progress(done: int, total: int, label: str = "", stream: Any = None) -> None:
    """A one-line progress bar on stderr (redrawn in place)."""
    stream = stream or sys.stderr
    width = 30
    filled = int(width * done / total) if total else width
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:40]:<40}")
    if done >= total:
        stream.write("\n")
    stream.flush()


def cmd_send(args: argparse.Namespace) -> int:
    failures = 0
    paths = [Path(p) for p in args.files]
    for index, path in enumerate(paths, 1):
        sample = load_sample(path)
        body = sign_body(sample.body, sample.product, vod_key=args.sign_key, mps_key=args.notify_key)
        status, response = post(callback_url(args.url, sample.product, args.token), body)
        failures += status != 200
        print(json.dumps({"file": sample.name, "status": status, "response": response}, ensure_ascii=False))
        if not args.quiet:
            progress(index, len(paths), path.name)
    return 1 if failures else 0


# --------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    from lib.intake import parse_delivery

    bad = 0
    for path in map(Path, args.files):
        sample = load_sample(path)
        try:
            events = parse_delivery(sample.body.encode("utf-8"), pinned=args.product)
        except DeliveryError as err:
            bad += 1
            print(f"INVALID {path}: {err.code}: {err.message}")
            for detail in err.details:
                print(f"    at {detail.get('pointer') or '(body)'}: {detail.get('message')}")
            continue
        for event in events:
            kind = "legacy-v2 " if event.legacy else "" if event.known else "unknown type "
            print(f"OK      {path}: {kind}{event.product}.{event.event_type} event_id={event.event_id[:16]}... "
                  f"subject={event.summary.subject}")
    return 1 if bad else 0


# --------------------------------------------------------------------------- schema


def envelope_models() -> dict[str, type[BaseModel]]:
    """One pydantic model per EventType: the envelope with its ``EventType`` and payload key."""
    models: dict[str, type[BaseModel]] = {}
    for route in TABLE:
        name = f"{route.product}.{route.event_type}"
        fields: dict[str, Any] = {
            "EventType": (Literal[route.event_type], ...),
            route.payload: (route.model | None, None),
        }
        for alias in route.aliases:
            fields[alias] = (route.model | None, None)
        model = create_model(re.sub(r"\W", "_", name), __config__={"extra": "allow"}, **fields)
        model.__doc__ = f"Tencent {route.product.upper()} {route.event_type} event (payload key {route.payload})."
        models[name] = model
    return models


def cmd_schema(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from lib.notification import Notification

    models: dict[str, type[BaseModel]] = {**envelope_models(), "notification": Notification}  # what is published
    for name, model in models.items():
        (out / f"{name}.schema.json").write_text(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False)
                                                 + "\n", encoding="utf-8")
    print(f"wrote {len(models)} JSON Schemas to {out}/ (the events, and notification.schema.json)")
    return 0


# --------------------------------------------------------------------------- replay

ARCHIVE_KEY = re.compile(
    r"^(?P<product>vod|cme|mps)/(?P<unknown>_unknown/)?(?P<type>[A-Za-z][\w.\-]*)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<event_id>[0-9a-f]{64})\.json$")


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


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


def replay(keys: Iterable[str], *, s3: Any, bucket: str, prefix: str, settings: Any,
           dry_run: bool = False, show_progress: bool = True) -> int:
    """Re-publish archived events with their original ids, receipt times and delivery kinds, to every
    configured target (the SNS topic and ROUTES topics, the EventBridge bus)."""
    from lib.archive import ArchivedObject
    from lib.intake import read_event
    from lib.notification import Delivery
    from lib.pipeline import notify

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
            notify(event, ArchivedObject(bucket, key, created=False),
                   delivery=delivery if delivery in get_args(Delivery) else "push",
                   received_at=meta.get("received-at") or datetime.now(UTC).isoformat(), settings=settings)
        if show_progress:
            progress(index, len(keys), match["type"])
    return len(keys)


def cmd_replay(args: argparse.Namespace) -> int:
    from lib import aws
    from lib.settings import get_settings

    settings = get_settings()
    bucket = args.bucket or settings.archive_bucket
    s3 = aws.client("s3")
    keys = archived_keys(s3, bucket, settings.archive_prefix, args.date_from, args.date_to, args.type)
    print(f"{len(keys)} archived events from {args.date_from} to {args.date_to} match {args.type!r}"
          + (" (dry run: nothing is published)" if args.dry_run else ""))
    if args.dry_run:
        for key in keys:
            print(f"  would publish {key}")
        return 0
    replay(keys, s3=s3, bucket=bucket, prefix=settings.archive_prefix, settings=settings,
           show_progress=not args.quiet)
    print(f"re-published {len(keys)} events")
    return 0


# --------------------------------------------------------------------------- smoke check of a deployment


@dataclass
class Verdict:
    step: str
    ok: bool | None  # None: skipped (not asked for, or not readable with these credentials)
    detail: str

    def line(self) -> str:
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]
        return f"{mark}  {self.step:<13} {self.detail}"


def smoke_event(run_id: str) -> dict[str, Any]:
    """A VOD upload event that no consumer can mistake for Tencent's: its FileId says so, and the top-level
    ``MediahookSynthetic`` field makes mediahook archive it under ``_synthetic/`` and publish it with
    ``data.synthetic: true`` and the message attribute ``synthetic=true``."""
    from lib.intake import SYNTHETIC_FIELD

    return {"EventType": "NewFileUpload", SYNTHETIC_FIELD: run_id,
            "FileUploadEvent": {"FileId": f"mediahook-smoke-{run_id}",
                                "MediaBasicInfo": {"Name": "mediahook smoke check", "Type": "mp4"}}}


class _Subscription:
    """A temporary SQS queue subscribed to the topic for synthetic messages only; removed afterwards."""

    def __init__(self, sns: Any, sqs: Any, topic_arn: str, run_id: str) -> None:
        self.sns, self.sqs = sns, sqs
        self.queue_url = sqs.create_queue(QueueName=f"mediahook-smoke-{run_id}")["QueueUrl"]
        self.subscription_arn: str | None = None
        try:
            queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            policy = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}
            sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
            self.subscription_arn = sns.subscribe(
                TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True,
                Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"synthetic": ["true"]})},
            )["SubscriptionArn"]
        except Exception:
            self.close()
            raise

    def wait_for(self, event_id: str, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wait = max(1, min(5, int(deadline - time.monotonic())))
            for message in self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                    WaitTimeSeconds=wait).get("Messages", []):
                document: dict[str, Any] = json.loads(message["Body"])
                if document.get("id") == event_id:
                    return document
        return None

    def close(self) -> None:
        if self.subscription_arn:
            self.sns.unsubscribe(SubscriptionArn=self.subscription_arn)
        self.sqs.delete_queue(QueueUrl=self.queue_url)


def smoke(url: str, *, sign_key: str | None = None, token: str | None = None, bucket: str | None = None,
          topic_arn: str | None = None, timeout: float = 30.0, run_id: str | None = None,
          clients: Any = None) -> list[Verdict]:
    """Post one synthetic event and check each step of its round trip. ``clients(service)`` makes boto3
    clients (default: boto3 with the environment's credentials and endpoint)."""
    import uuid

    from botocore.exceptions import BotoCoreError, ClientError

    from lib import aws

    make = clients or aws.client
    run_id = run_id or uuid.uuid4().hex[:12]
    verdicts: list[Verdict] = []
    subscription = None
    if topic_arn:
        try:
            subscription = _Subscription(make("sns"), make("sqs"), topic_arn, run_id)
        except (ClientError, BotoCoreError) as exc:
            verdicts.append(Verdict("subscribe", False, f"could not subscribe a queue to {topic_arn}: {exc}"))
    try:
        body = sign_body(json.dumps(smoke_event(run_id)), "vod", vod_key=sign_key)
        status, answer = post(callback_url(url, "vod", token), body, timeout=timeout)
        results = answer.get("results") or [{}]
        event_id, key = results[0].get("event_id"), results[0].get("archive_key")
        verdicts.append(Verdict("delivery", status == 200 and bool(event_id),
                                f"HTTP {status}" + (f", event_id {event_id}" if event_id else f": {answer}")))
        if status != 200 or not event_id:
            return verdicts
        verdicts.append(_check_archive(make, bucket, key, body))
        if subscription is not None:
            notification = subscription.wait_for(event_id, timeout)
            data = (notification or {}).get("data") or {}
            archived_at = (data.get("archive") or {}).get("key")
            ok = notification is not None and data.get("synthetic") is True and archived_at == key
            verdicts.append(Verdict("notification", ok, f"CloudEvent {event_id} on the topic, data.synthetic=true"
                                    if ok else f"no matching notification within {timeout:.0f}s"))
        else:
            verdicts.append(Verdict("notification", None, "not checked (give --topic-arn)"))
    finally:
        if subscription is not None:
            subscription.close()
    return verdicts


def _check_archive(make: Any, bucket: str | None, key: str | None, body: str) -> Verdict:
    from botocore.exceptions import BotoCoreError, ClientError

    if not bucket:
        return Verdict("archive", None, f"not checked (give --bucket); the response names {key}")
    if not key or "_synthetic/" not in key:
        return Verdict("archive", False, f"the response named no _synthetic/ key: {key}")
    try:
        stored = make("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "403"):
            return Verdict("archive", None, f"s3://{bucket}/{key} not readable with these credentials")
        return Verdict("archive", False, f"s3://{bucket}/{key}: {code or exc}")
    except BotoCoreError as exc:
        return Verdict("archive", False, f"s3://{bucket}/{key}: {exc}")
    same = stored == body.encode("utf-8")
    return Verdict("archive", same, f"s3://{bucket}/{key}" + ("" if same else ": stored bytes differ from the body"))


def cmd_smoke(args: argparse.Namespace) -> int:
    verdicts = smoke(args.url, sign_key=args.sign_key, token=args.token, bucket=args.bucket,
                     topic_arn=args.topic_arn, timeout=args.timeout)
    for verdict in verdicts:
        print(verdict.line())
    failed = [v for v in verdicts if v.ok is False]
    print(f"smoke check: {'FAILED' if failed else 'passed'} ({len(verdicts) - len(failed)}/{len(verdicts)} steps "
          "not failed)")
    return 1 if failed else 0


# --------------------------------------------------------------------------- entry point


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mediahook", description=__doc__.split("\n\n")[0])
    sub = root.add_subparsers(dest="command", required=True)

    send = sub.add_parser("send", help="post sample events to a deployment, signed as Tencent signs them")
    send.add_argument("files", nargs="+")
    send.add_argument("--url", required=True, help="the deployment's callback URL, e.g. https://.../callback")
    send.add_argument("--sign-key", help="VOD callback key: adds T and Sign = md5(key + T)")
    send.add_argument("--notify-key", help="MPS notify key: adds Timestamp and Sign = md5(Timestamp + key)")
    send.add_argument("--token", help="append ?token=T (CME, unsigned VOD)")
    send.add_argument("--quiet", action="store_true", help="no progress bar")
    send.set_defaults(run=cmd_send)

    validate = sub.add_parser("validate", help="check payloads against the models")
    validate.add_argument("files", nargs="+")
    validate.add_argument("--product", choices=PRODUCTS, help="pin the product, as /callback/{product} does")
    validate.set_defaults(run=cmd_validate)

    replay_cmd = sub.add_parser("replay", help="re-publish archived events (same event_ids)")
    replay_cmd.add_argument("--from", dest="date_from", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    replay_cmd.add_argument("--to", dest="date_to", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    replay_cmd.add_argument("--type", default="*", help="glob on product.EventType, e.g. 'vod.Procedure*'")
    replay_cmd.add_argument("--bucket", help="defaults to ARCHIVE_BUCKET")
    replay_cmd.add_argument("--dry-run", action="store_true", help="list what would be published")
    replay_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    replay_cmd.set_defaults(run=cmd_replay)

    schema = sub.add_parser("schema", help="write the JSON Schema of every modelled event")
    schema.add_argument("--out", default="schemas")
    schema.set_defaults(run=cmd_schema)

    smoke_cmd = sub.add_parser("smoke", help="prove a deployment's round trip with one synthetic event")
    smoke_cmd.add_argument("--url", required=True, help="the deployment's callback URL (CallbackUrl)")
    auth = smoke_cmd.add_mutually_exclusive_group()
    auth.add_argument("--sign-key", help="a VOD callback key of the deployment (vodSignKeys)")
    auth.add_argument("--token", help="a callback token of the deployment (callbackTokens)")
    smoke_cmd.add_argument("--bucket", help="the archive bucket (ArchiveBucketName), to read the object back")
    smoke_cmd.add_argument("--topic-arn", help="the events topic (EventsTopicArn), to receive the notification")
    smoke_cmd.add_argument("--timeout", type=float, default=30.0, help="seconds per step (default 30)")
    smoke_cmd.set_defaults(run=cmd_smoke)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
