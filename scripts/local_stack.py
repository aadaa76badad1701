"""mediahook on this machine: moto server for AWS, serverless-offline for the gateway.

    python scripts/local_stack.py demo    # start, post every sample (signed) + bad deliveries, print a table, stop
    python scripts/local_stack.py serve   # start and stay up; prints the URL and a curl line; Ctrl-C stops

Ports: --moto-port (MOTO_PORT, 5000), --http-port (OFFLINE_HTTP_PORT, 3000), --lambda-port (OFFLINE_LAMBDA_PORT, 3002).
Everything listens on 127.0.0.1 and everything started here is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib import ledger  # noqa: E402
from lib.cli import callback_url, load_sample, post, progress, sign_body  # noqa: E402

REGION = "us-east-1"
BUCKET, TOPIC, TABLE, QUEUE = ("mediahook-local-archive", "mediahook-local-events", "mediahook-local-idempotency",
                               "mediahook-local-notifications")
LEDGER = "mediahook-local-ledger"  # the ledger (lib/ledger.py): as serverless.yml's LedgerTable
EVENTS_STREAM = "mediahook-local-events"  # the events table's delivery stream (lib/query/): as serverless.yml's
# The `local` stage's secrets in serverless.yml.
VOD_KEY, MPS_KEY, TOKEN = "localdemovodkey", "localdemompskey", "local-demo-token"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION,
                     "AWS_REGION": REGION}


class StackError(RuntimeError):
    """Something the user can fix (a busy port, a missing install); printed without a traceback."""


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{log.stem} exited early (code {process.returncode}); last lines of {log}:\n{_tail(log)}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise StackError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s; see {log}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Stack:
    moto_port: int
    http_port: int
    lambda_port: int
    log_dir: Path
    osls_args: tuple[str, ...] = ()  # extra `osls offline` arguments, e.g. ("--param=authMode=off",)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    topic_arn: str = ""
    queue_url: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def callback(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/callback"

    def clients(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="local",
                            aws_secret_access_key="local")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.log_dir / f"{name}.log"
        handle = log.open("wb")
        # A new session per child, so stopping it stops its whole tree (osls spawns python workers).
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process, log

    def start(self) -> None:
        for name, port in (("moto server", self.moto_port), ("gateway (HTTP)", self.http_port),
                           ("gateway (Lambda)", self.lambda_port)):
            if not port_is_free(port):
                raise StackError(f"port {port} for the {name} is busy on 127.0.0.1; stop what uses it or pick "
                                 f"another (--moto-port/--http-port/--lambda-port, or MOTO_PORT/OFFLINE_HTTP_PORT/"
                                 f"OFFLINE_LAMBDA_PORT)")
        bin_dir = Path(sys.executable).parent
        osls = ROOT / "node_modules" / ".bin" / "osls"
        if not osls.exists():
            raise StackError("node_modules is missing: run `make install` (or `npm ci`) first")
        env = {**os.environ, **LOCAL_CREDENTIALS, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)

        moto, moto_log = self._spawn("moto", [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p",
                                               str(self.moto_port)], env)
        wait_for_port(self.moto_port, moto, 30, moto_log)
        self._create_resources()

        env |= {"AWS_ENDPOINT_URL": self.endpoint, "ARCHIVE_BUCKET": BUCKET, "EVENTS_TOPIC_ARN": self.topic_arn,
                "IDEMPOTENCY_TABLE": TABLE, "LEDGER_TABLE": LEDGER, "EVENTS_STREAM_NAME": EVENTS_STREAM,
                "OFFLINE_HTTP_PORT": str(self.http_port),
                "OFFLINE_LAMBDA_PORT": str(self.lambda_port), "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true"}
        gateway, gateway_log = self._spawn("offline", [str(osls), "offline", "start", "--stage", "local",
                                                       *self.osls_args], env)
        wait_for_port(self.http_port, gateway, 120, gateway_log)

    def _create_resources(self) -> None:
        s3, sns, sqs, dynamodb = (self.clients(s) for s in ("s3", "sns", "sqs", "dynamodb"))
        s3.create_bucket(Bucket=BUCKET)
        self.topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
        dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        ledger.create_table(dynamodb, LEDGER)
        create_events_table_stream(self.clients("firehose"))
        self.queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"})

    def received(self) -> list[dict[str, Any]]:
        """Every CloudEvent delivered so far to the queue subscribed to the topic (drained)."""
        sqs = self.clients("sqs")
        out: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = batch.get("Messages", [])
            if not messages:
                return out
            out.extend(json.loads(m["Body"]) for m in messages)
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])

    def notifications(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The CloudEvents received so far, by (source, id): a CloudEvent's identity is both together."""
        return {(cloud_event["source"], cloud_event["id"]): cloud_event for cloud_event in self.received()}

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


@contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    """Start the stack; stop everything on exit, on Ctrl-C and on SIGTERM."""
    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- the demo


@dataclass
class Row:
    name: str
    expected: int
    status: int
    event_id: str = ""
    product: str = ""
    archive_key: str = ""
    notified: str = ""
    note: str = ""


def create_events_table_stream(firehose: Any) -> None:
    """The events table's stream into the archive bucket, as serverless.yml's EventsTableStream (moto writes each
    put as one object, uncompressed, under the prefix taken literally: the local engine reads either)."""
    firehose.create_delivery_stream(
        DeliveryStreamName=EVENTS_STREAM, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/mediahook-local-events", "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": "tables/events/dt=!{timestamp:yyyy-MM-dd}/", "CompressionFormat": "GZIP"})


def signed_delivery(path: Path, base: str) -> tuple[str, str, str]:
    """(url, body, how it is authenticated) for a sample posted to ``base``/{product}, signed as Tencent signs."""
    sample = load_sample(path)
    if "legacy-v2" in path.parts or sample.product == "cme":
        return callback_url(base, sample.product, TOKEN), sample.body, "token"  # Tencent signs neither
    body = sign_body(sample.body, sample.product, vod_key=VOD_KEY, mps_key=MPS_KEY)
    return callback_url(base, sample.product), body, "Sign/T" if sample.product == "vod" else "Sign/Timestamp"


def run_demo(stack: Stack, show_progress: bool = True) -> list[Row]:
    files = sorted((ROOT / "events").rglob("*.json"))
    rows: list[Row] = []
    base = stack.callback
    deliveries: list[tuple[str, int, str, str, str]] = []  # name, expected status, method, url, body
    for path in files:
        url, body, how = signed_delivery(path, base)
        deliveries.append((f"{path.relative_to(ROOT / 'events').with_suffix('')} ({how})", 200, "POST", url, body))
    first = deliveries[0]
    deliveries += [
        ("repeat of the first sample", 200, "POST", first[3], first[4]),
        ("forged VOD signature", 401, "POST", f"{base}/vod",
         json.dumps({"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "1"}, "T": int(time.time()) + 600,
                     "Sign": "0" * 32})),
        ("no signature, no token", 401, "POST", f"{base}/vod", '{"EventType": "NewFileUpload"}'),
        ("not JSON", 400, "POST", f"{base}/cme?token={TOKEN}", "{not json"),
        ("CME event posted to /callback/vod", 400, "POST", f"{base}/vod?token={TOKEN}",
         '{"EventType": "Class.Created"}'),
        ("GET instead of POST", 405, "GET", f"{base}?token={TOKEN}", ""),
    ]
    for index, (name, expected, method, url, body) in enumerate(deliveries, 1):
        status, response = post(url, body, method=method)
        row = Row(name, expected, status)
        if status == 200 and response.get("results"):
            result = response["results"][0]
            row.event_id, row.product = result["event_id"], result["product"]
            row.note = "duplicate" if result["duplicate"] else ""
        elif "error" in response:
            row.note = response["error"]["code"]
        rows.append(row)
        if show_progress:
            progress(index, len(deliveries), name)
    time.sleep(0.5)
    notes = stack.notifications()
    for row in rows:
        if row.event_id:
            cloud_event = notes.get((f"tencentcloud/{row.product}", row.event_id))
            row.notified = "yes" if cloud_event else ("(earlier)" if row.note == "duplicate" else "NO")
            row.archive_key = cloud_event["data"]["archive"]["key"] if cloud_event else ""
            if cloud_event and cloud_event["data"].get("state_change") and not row.note:
                row.note = cloud_event["data"]["state_change"]  # what the ledger made of it
    return rows


def print_table(rows: list[Row], out: Any = None) -> None:
    out = out or sys.stdout
    header = f"{'delivery':<62} {'status':>6}  {'event_id':<14} {'notified':<9} archive key / note"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for row in rows:
        mark = "" if row.status == row.expected else f"  <-- expected {row.expected}"
        detail = row.archive_key or row.note
        if row.archive_key and row.note:
            detail = f"{row.archive_key} ({row.note})"
        out.write(f"{row.name[:62]:<62} {row.status:>6}  {row.event_id[:12]:<14} {row.notified:<9} {detail}{mark}\n")
    ok = sum(r.status == r.expected for r in rows)
    archived = len({(r.product, r.event_id) for r in rows if r.archive_key})
    out.write(f"\n{ok}/{len(rows)} deliveries answered as expected; {archived} events archived and published; "
              f"{sum(1 for r in rows if r.expected >= 400)} bad deliveries refused, nothing written for them.\n")


def demo_ok(rows: list[Row]) -> bool:
    return all(r.status == r.expected for r in rows) and all(
        r.notified in ("yes", "(earlier)") for r in rows if r.expected == 200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["demo", "serve"])
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    parser.add_argument("--http-port", type=int, default=int(os.environ.get("OFFLINE_HTTP_PORT", "3000")))
    parser.add_argument("--lambda-port", type=int, default=int(os.environ.get("OFFLINE_LAMBDA_PORT", "3002")))
    parser.add_argument("--log-dir", type=Path, default=ROOT / ".local")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(args.moto_port, args.http_port, args.lambda_port, args.log_dir)
    try:
        with running(stack):
            if args.command == "demo":
                rows = run_demo(stack, show_progress=not args.no_progress)
                print_table(rows)
                return 0 if demo_ok(rows) else 1
            print(f"mediahook is up: {stack.callback}  (moto server for AWS: {stack.endpoint}; logs in {args.log_dir})")
            print(f"try:  curl -s -X POST '{stack.callback}/cme?token={TOKEN}' --data-binary "
                  "@tests/samples/cme_Material.Imported.json")
            print(f"VOD key: {VOD_KEY}, MPS key: {MPS_KEY} (e.g. python -m lib.cli send events/vod/*.json --url "
                  f"{stack.callback} --sign-key {VOD_KEY})")
            print(f"then:  AWS_ENDPOINT_URL={stack.endpoint} ARCHIVE_BUCKET={BUCKET} mediahook query "
                  "'SELECT product, event_type, status FROM events'\nCtrl-C stops everything.")
            while all(p.poll() is None for p in stack.processes):
                time.sleep(0.5)
            print("a process of the stack exited; stopping", file=sys.stderr)
            return 1
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
