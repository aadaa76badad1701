"""mediahook on this machine: moto server for AWS, serverless-offline for the gateway.

    python scripts/local_stack.py demo    # start, post every sample (signed) + bad deliveries, print a table, stop
    python scripts/local_stack.py serve   # start and stay up; prints the URL, the `export` line for the
                                          # mediahook command, commands to try; Ctrl-C (or SIGTERM) stops

Ports: --moto-port (MOTO_PORT, 5000), --http-port (OFFLINE_HTTP_PORT, 3000), --lambda-port (OFFLINE_LAMBDA_PORT, 3002).
Everything listens on 127.0.0.1 and everything started here is stopped on exit, on Ctrl-C, SIGTERM and SIGHUP,
whatever signal dispositions this process inherited (``running``).

The parts, in order: the ports and processes (``Stack``: start, the AWS resources, stop), ``running`` (the
signals), the demo (``run_demo``, ``print_table`` and its legend), ``serve`` (the banner, then waiting), ``main``.
"""

from __future__ import annotations

import argparse
import base64
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
from lib.cli.common import plural  # noqa: E402
from lib.forward.names import dead_letter_queue_name, queue_name  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's: its queue URLs are {endpoint}/{account}/{name}
BUCKET, TOPIC, TABLE, QUEUE = ("mediahook-local-archive", "mediahook-local-events", "mediahook-local-idempotency",
                               "mediahook-local-notifications")
LEDGER = "mediahook-local-ledger"  # the ledger (lib/ledger.py): as serverless.yml's LedgerTable
# Forwarding (docs/forwarding.md): destination `local`'s queues as plugins/forward-queues.js names them for stage
# local, and its secret in moto's SSM.
FORWARD_QUEUE_PREFIX, FORWARD_DESTINATION = "mediahook-local-forward-", "local"
FORWARD_SECRET_PARAM = "/mediahook/local/forward/local"
EVENTS_STREAM = "mediahook-local-events"  # the events table's delivery stream (lib/query/): as serverless.yml's
# The `local` stage's secrets in serverless.yml.
VOD_KEY, MPS_KEY, TOKEN = "localdemovodkey", "localdemompskey", "local-demo-token"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION,
                     "AWS_REGION": REGION}


class StackError(RuntimeError):
    """Something the user can fix (a busy port, a missing install); printed without a traceback."""


@dataclass(frozen=True)
class Forwarding:
    """Destination `local`: where, in which format, with which secret (FORWARD_URL, FORWARD_FORMAT,
    FORWARD_SECRET or FORWARD_SIGN_KEY)."""

    url: str
    format: str
    secret: str


def forwarding_from_env(env: dict[str, str] | os._Environ[str]) -> Forwarding | None:
    """Destination `local` from FORWARD_URL (none without it): a whsec_ FORWARD_SECRET for cloudevents (one is
    made up when not given), FORWARD_SIGN_KEY for tencent."""
    url = env.get("FORWARD_URL", "").strip()
    if not url:
        return None
    form = env.get("FORWARD_FORMAT", "cloudevents").strip() or "cloudevents"
    if form == "tencent":
        key = env.get("FORWARD_SIGN_KEY", "").strip()
        if not key:
            raise StackError("FORWARD_FORMAT=tencent needs FORWARD_SIGN_KEY: the key your handler checks Sign with "
                             "(one key, or vod=KEY,mps=KEY)")
        return Forwarding(url, form, key)
    if form != "cloudevents":
        raise StackError(f"FORWARD_FORMAT: cloudevents or tencent, not {form!r}")
    secret = env.get("FORWARD_SECRET", "").strip() or "whsec_" + base64.b64encode(os.urandom(24)).decode()
    if not secret.startswith("whsec_"):
        raise StackError("FORWARD_SECRET: a whsec_ secret expected (whsec_ + base64), e.g. whsec_" +
                         base64.b64encode(b"0123456789abcdef").decode())
    return Forwarding(url, form, secret)


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
    forward_queue_urls: list[str] = field(default_factory=list)  # each destination's queue (here: `local`'s)
    forward: Forwarding | None = None  # FORWARD_URL given (serve) or the demo's endpoint: destination `local`

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def forward_queue_url_prefix(self) -> str:
        """FORWARD_QUEUE_URL_PREFIX: moto's queue URLs are {endpoint}/{account}/{name}."""
        return f"{self.endpoint}/{ACCOUNT}/{FORWARD_QUEUE_PREFIX}"

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
        env |= self._create_forwarding()

        env |= {"AWS_ENDPOINT_URL": self.endpoint, "ARCHIVE_BUCKET": BUCKET, "EVENTS_TOPIC_ARN": self.topic_arn,
                "IDEMPOTENCY_TABLE": TABLE, "LEDGER_TABLE": LEDGER, "EVENTS_STREAM_NAME": EVENTS_STREAM,
                "OFFLINE_HTTP_PORT": str(self.http_port),
                "OFFLINE_LAMBDA_PORT": str(self.lambda_port), "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true"}
        gateway, gateway_log = self._spawn("offline", [str(osls), "offline", "start", "--stage", "local",
                                                       *self.osls_args], env)
        wait_for_port(self.http_port, gateway, 120, gateway_log)
        self._start_forward_event_source(env)

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

    def _create_forwarding(self) -> dict[str, str]:
        """Destination `local`'s two queues (as plugins/forward-queues.js makes them) and its secret in moto's SSM;
        returns what the functions' environment gets (the destination list names the secret, never holds it).
        Without a destination, no queues: the prefix is still set, as the stack's output is."""
        sqs = self.clients("sqs")
        env = {"FORWARD_QUEUE_URL_PREFIX": self.forward_queue_url_prefix, "FORWARD_ALLOW_LOOPBACK": "true",
               "FORWARD_DESTINATIONS": ""}
        if self.forward:
            fifo = {"FifoQueue": "true"}
            dead = sqs.create_queue(QueueName=dead_letter_queue_name(FORWARD_QUEUE_PREFIX, FORWARD_DESTINATION),
                                    Attributes=fifo)["QueueUrl"]
            dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.forward_queue_urls = [sqs.create_queue(
                QueueName=queue_name(FORWARD_QUEUE_PREFIX, FORWARD_DESTINATION), Attributes={
                    **fifo, "VisibilityTimeout": "360", "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": dead_arn, "maxReceiveCount": 1000})})["QueueUrl"]]
            self.clients("ssm").put_parameter(Name=FORWARD_SECRET_PARAM, Value=self.forward.secret,
                                              Type="SecureString", Overwrite=True)
            env["FORWARD_DESTINATIONS"] = json.dumps([{"name": "local", "url": self.forward.url,
                                                       "format": self.forward.format,
                                                       "secret_param": FORWARD_SECRET_PARAM}])
        return env

    def _start_forward_event_source(self, env: dict[str, str]) -> None:
        """The forward function, run as Lambda's SQS event source runs it (scripts/sqs_event_source.py)."""
        if not self.forward:
            return
        queues = [arg for url in self.forward_queue_urls for arg in ("--queue-url", url)]
        source, log = self._spawn("forward", [sys.executable, str(ROOT / "scripts" / "sqs_event_source.py"),
                                              *queues, "--handler", "handler.forward"],
                                  {**env, "POWERTOOLS_SERVICE_NAME": "mediahook",
                                   "POWERTOOLS_METRICS_NAMESPACE": "Mediahook"})
        time.sleep(0.5)
        if source.poll() is not None:
            raise StackError(f"the forward event source exited early; see {log}:\n{_tail(log)}")

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
        """SIGTERM to each child's process group (its session), then SIGKILL to a group whose leader has not
        exited 10 s later. A group whose leader already exited is signalled too: its children may be left in it."""
        for process in reversed(self.processes):
            try:  # while any process is in the group, Linux gives its id to no other process
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue  # nothing left in the group
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_requested(signum: int, _frame: Any) -> None:
    """Every stop signal as a KeyboardInterrupt: one path out of ``running`` (its ``finally`` stops the stack)."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    """Start the stack; stop everything on exit, on Ctrl-C, SIGTERM and SIGHUP.

    The handlers are installed explicitly, whatever this process inherited: Python installs its SIGINT
    handler only when SIGINT was not ignored, and `nohup`, `&` in a non-interactive shell and some CI runners
    start programs with it ignored. While the children are being stopped, a second signal is ignored, so it
    cannot cut the clean-up short."""
    previous = {signum: signal.signal(signum, _stop_requested) for signum in STOP_SIGNALS}
    try:
        stack.start()
        yield stack
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        try:
            stack.stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


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
    forwarded: str = ""  # to the demo's endpoint: yes, no (stale), (earlier), NO


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


# What the last column's notes mean, printed under the demo's table (and in docs/getting-started.md).
LEGEND = (
    ("advanced", "moved its resource's state forward (a resource's first event included)"),
    ("repeated", "the same rank as its resource's latest state, in other bytes (here: legacy v2.0 samples of "
                 "tasks their newer sample already finished)"),
    ("stale", "behind its resource's latest state, e.g. posted after the resource's deletion (here: samples "
              "naming a file or class that a deletion sample, earlier in name order, deleted; Tencent's samples "
              "share ids). Not a fault: archived and published like the others"),
    ("duplicate", "the very same event again (same event_id): answered 200 with its first delivery's result, not "
                  "published again"),
)
NOTE_ORDER = tuple(note for note, _ in LEGEND)


def note_counts(rows: list[Row]) -> dict[str, int]:
    """How many accepted deliveries got each note, in the legend's order (notes the legend lacks after it)."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.expected == 200 and row.note:
            counts[row.note] = counts.get(row.note, 0) + 1
    return {note: counts[note] for note in sorted(counts, key=lambda n: (n not in NOTE_ORDER, NOTE_ORDER.index(n)
                                                                          if n in NOTE_ORDER else 0, n))}


def summary(rows: list[Row]) -> str:
    """The demo's last line. The counts by note are of the events archived (they add up to their number); a
    duplicate is a second delivery of one of them, so it is counted apart, as a delivery."""
    ok = sum(r.status == r.expected for r in rows)
    archived = len({(r.product, r.event_id) for r in rows if r.archive_key})
    refused = sum(1 for r in rows if r.expected >= 400)
    counts = note_counts(rows)
    duplicates = counts.pop("duplicate", 0)
    by_note = ", ".join(f"{count} {note}" for note, count in counts.items())
    again = (f"; {plural(duplicates, 'duplicate delivery', 'duplicate deliveries')} answered with its first result, "
             "not published again" if duplicates else "")
    return (f"{ok}/{len(rows)} deliveries answered as expected; {plural(archived, 'event')} archived and published"
            f"{f' ({by_note})' if by_note else ''}{again}; {plural(refused, 'bad delivery', 'bad deliveries')} "
            "refused, nothing written for them.")


def print_table(rows: list[Row], out: Any = None) -> None:
    out = out or sys.stdout
    header = f"{'delivery':<62} {'status':>6}  {'event_id':<14} {'notified':<9} {'forwarded':<10} archive key / note"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for row in rows:
        mark = "" if row.status == row.expected else f"  <-- expected {row.expected}"
        detail = row.archive_key or row.note
        if row.archive_key and row.note:
            detail = f"{row.archive_key} ({row.note})"
        out.write(f"{row.name[:62]:<62} {row.status:>6}  {row.event_id[:12]:<14} {row.notified:<9} "
                  f"{row.forwarded or '-':<10} {detail}{mark}\n")
    out.write("\nnotes (the ledger's state_change, docs/ledger.md; a refusal's note is its error code):\n")
    for note, meaning in LEGEND:
        out.write(f"  {note:<10} {meaning}\n")
    out.write(f"\n{summary(rows)}\n")


def demo_ok(rows: list[Row]) -> bool:
    return all(r.status == r.expected for r in rows) and all(
        r.notified in ("yes", "(earlier)") and r.forwarded != "NO" for r in rows if r.expected == 200)


# --------------------------------------------------------------------------- the demo's forwarding endpoint


class DemoEndpoint:
    """The endpoint `make demo` forwards to, on 127.0.0.1: it verifies each delivery as a Standard Webhooks
    receiver does (the standardwebhooks library) and keeps the CloudEvents it accepted, by (source, id)."""

    def __init__(self) -> None:
        self.secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        self.accepted: dict[tuple[str, str], dict[str, Any]] = {}
        self.refused = 0
        self._server: Any = None

    def start(self) -> str:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from standardwebhooks import Webhook

        webhook, endpoint = Webhook(self.secret), self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    cloud_event = webhook.verify(body, dict(self.headers.items()))
                except Exception:  # noqa: BLE001 - any failure to verify is a refusal
                    endpoint.refused += 1
                    self.send_response(401)
                else:
                    endpoint.accepted[(cloud_event["source"], cloud_event["id"])] = cloud_event
                    self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/mediahook"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def mark_forwarded(rows: list[Row], endpoint: DemoEndpoint, timeout: float = 60) -> None:
    """Wait for the forwarded events (every accepted one but duplicates and stale ones), then fill the column."""
    def due(row: Row) -> bool:
        return bool(row.event_id) and row.note not in ("duplicate", "stale")

    wanted = {(f"tencentcloud/{r.product}", r.event_id) for r in rows if due(r)}
    deadline = time.monotonic() + timeout
    while not wanted <= set(endpoint.accepted) and time.monotonic() < deadline:
        time.sleep(0.25)
    for row in rows:
        if row.event_id:
            key = (f"tencentcloud/{row.product}", row.event_id)
            row.forwarded = ("(earlier)" if row.note == "duplicate" else "yes" if key in endpoint.accepted
                             else "no (stale)" if row.note == "stale" else "NO")


def forwarding_summary(rows: list[Row], endpoint: DemoEndpoint, out: Any = None) -> None:
    out = out or sys.stdout
    forwarded = len({(r.product, r.event_id) for r in rows if r.forwarded == "yes"})
    out.write(f"{forwarded} events forwarded to the demo's endpoint, each verified as Standard Webhooks signs "
              f"({endpoint.refused} refused); stale events and duplicate deliveries not forwarded.\n")


# --------------------------------------------------------------------------- serve


def cli_environment(stack: Stack) -> dict[str, str]:
    """What the ``mediahook`` command needs to work against this stack: its endpoint, resources, credentials."""
    return {"AWS_ENDPOINT_URL": stack.endpoint, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION, "ARCHIVE_BUCKET": BUCKET, "EVENTS_TOPIC_ARN": stack.topic_arn,
            "LEDGER_TABLE": LEDGER, "FORWARD_QUEUE_URL_PREFIX": stack.forward_queue_url_prefix}


def mediahook_command() -> str:
    """The console command as the user can type it from here: the repository's ``.venv/bin/mediahook`` (what
    ``make install`` installs), else this interpreter's, else ``python -m lib.cli`` with this interpreter."""
    for command in (ROOT / ".venv" / "bin" / "mediahook", Path(sys.executable).parent / "mediahook"):
        if command.exists():
            relative = os.path.relpath(command)
            return relative if not relative.startswith("..") else str(command)
    return f"{sys.executable} -m lib.cli"


def banner(stack: Stack, log_dir: Path) -> str:
    """What ``serve`` prints once the stack is up: the URL, the line to paste, and commands to try."""
    mediahook = mediahook_command()
    paste = " ".join(f"{name}={value}" for name, value in cli_environment(stack).items())
    return "\n".join([
        f"mediahook is up: {stack.callback}  (moto server for AWS: {stack.endpoint}; logs in {log_dir})",
        "",
        "Paste this in another terminal, for the mediahook command (and boto3) to use this stack:",
        f"  export {paste}",
        "",
        "then try:",
        f"  {mediahook} send events/vod/*.json --url {stack.callback} --sign-key {VOD_KEY}",
        f"  {mediahook} events --file-id 5285890784273533167",
        f"  {mediahook} replay --dry-run --file-id 5285890784273533167",
        f"  {mediahook} smoke --url {stack.callback} --sign-key {VOD_KEY} --bucket {BUCKET} "
        f"--topic-arn {stack.topic_arn}",
        f"  curl -s -X POST '{stack.callback}/cme?token={TOKEN}' "
        "--data-binary @tests/samples/cme_Material.Imported.json",
        f"Secrets of the local stage: VOD key {VOD_KEY}, MPS key {MPS_KEY} (--notify-key), token {TOKEN}.",
        "Ctrl-C stops everything.",
    ])


def serve(stack: Stack, log_dir: Path) -> int:
    """Print the banner, then wait until a signal stops the stack (KeyboardInterrupt, raised by ``running``'s
    handlers) or one of its processes exits (1)."""
    print(banner(stack, log_dir), flush=True)
    print_forwarding(stack)
    while True:
        for process in stack.processes:
            if process.poll() is not None:
                name = Path(str(process.args[0] if isinstance(process.args, list) else process.args)).name
                print(f"{name} exited (code {process.returncode}); stopping the stack (logs in {log_dir})",
                      file=sys.stderr)
                return 1
        time.sleep(0.5)


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
    endpoint = DemoEndpoint() if args.command == "demo" else None
    try:
        stack.forward = (Forwarding(endpoint.start(), "cloudevents", endpoint.secret) if endpoint
                         else forwarding_from_env(os.environ))
        with running(stack):
            if args.command == "demo":
                assert endpoint is not None
                rows = run_demo(stack, show_progress=not args.no_progress)
                mark_forwarded(rows, endpoint)
                print_table(rows)
                forwarding_summary(rows, endpoint)
                return 0 if demo_ok(rows) else 1
            return serve(stack, args.log_dir)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        # Stopping is how `serve` ends: a clean exit, so `make serve` does not end in "make: *** Error 130".
        return 0 if args.command == "serve" else 130
    finally:
        if endpoint is not None:
            endpoint.stop()


def print_forwarding(stack: Stack) -> None:
    """With FORWARD_URL: what `make serve` forwards where, with the secret the receiver verifies with."""
    if not stack.forward:
        return
    print(f"Forwarding: every event to {stack.forward.url} ({stack.forward.format}, destination `local`); "
          f"{'secret' if stack.forward.format == 'cloudevents' else 'sign key'}: {stack.forward.secret}; "
          f"the forward function's log: {stack.log_dir / 'forward.log'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
