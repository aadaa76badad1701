"""``mediahook smoke --url URL [--sign-key K | --token T] [--bucket B] [--topic-arn ARN]``: prove a deployment's
round trip with one synthetic event: the 200, the archived object, the notification on the topic."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from typing import Any

from lib.cli.common import Command, Unreachable, callback_url, post, sign_body
from lib.cli.errors import CliError, require_aws
from lib.urls import RULE as URL_RULE
from lib.urls import insecure_url


@dataclass
class Verdict:
    """One step of the round trip and what became of it: a PASS, FAIL or SKIP line."""

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
        try:
            status, answer = post(callback_url(url, "vod", token), body, timeout=timeout)
        except Unreachable as exc:
            verdicts.append(Verdict("delivery", False, f"{exc}: is --url right and the deployment up?"))
            return verdicts
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


def run(args: argparse.Namespace) -> int:
    if insecure_url(args.url):
        raise CliError(f"--url {args.url!r} is not a URL mediahook sends to ({URL_RULE}): give the "
                       "stack's CallbackUrl output (locally, the URL `make serve` prints)")
    if args.bucket or args.topic_arn:
        require_aws()  # reading the archive or subscribing to the topic: a region and credentials first
    verdicts = smoke(args.url, sign_key=args.sign_key, token=args.token, bucket=args.bucket,
                     topic_arn=args.topic_arn, timeout=args.timeout)
    for verdict in verdicts:
        print(verdict.line())
    failed = [v for v in verdicts if v.ok is False]
    print(f"smoke check: {'FAILED' if failed else 'passed'} ({len(verdicts) - len(failed)}/{len(verdicts)} steps "
          "not failed)")
    return 1 if failed else 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the deployment's callback URL (CallbackUrl)")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--sign-key", help="a VOD callback key of the deployment (vodSignKeys)")
    auth.add_argument("--token", help="a callback token of the deployment (callbackTokens)")
    parser.add_argument("--bucket", help="the archive bucket (ArchiveBucketName), to read the object back")
    parser.add_argument("--topic-arn", help="the events topic (EventsTopicArn), to receive the notification")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per step (default 30)")


COMMAND = Command(
    "smoke", help="prove a deployment's round trip with one synthetic event",
    description="Post one synthetic VOD upload event (marked MediahookSynthetic: archived under _synthetic/, "
                "published with data.synthetic true) and check each step: the 200 with an event_id, the archived "
                "object's bytes (with --bucket), the notification on the topic through a temporary SQS queue "
                "that is removed afterwards (with --topic-arn). Prints PASS, FAIL or SKIP per step; exits 1 if "
                "a step failed.",
    configure=configure, run=run)
