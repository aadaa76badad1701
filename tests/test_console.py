"""The console in a real browser (Debian's chromium driven by Playwright): one stack per module (moto server,
signed deliveries through the in-process handler into its archive, ledger, events table and topic), one
``mediahook console`` process and one browser, checked as a person would use them.

Set CONSOLE_SCREENSHOTS=DIR to also write each page's screenshot there (docs/assets/console/ holds them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api as playwright

from tests.aws_server import ROOT, archive_and_topic, moto_server, server_client
from tests.conftest import EVENTS, LambdaContext, http_event, response_json

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VOD_KEY, MPS_KEY, TOKEN = "console-vod-key", "console-mps-key", "console-token"
TABLE_PREFIX = "tables/events/"
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")


@dataclass
class Stack:
    """The module's stack: its settings, what was sent and accepted, and readers of what the topic received."""

    endpoint: str
    env: dict[str, str]
    bucket: str
    queue_url: str
    accepted: list[dict[str, Any]] = field(default_factory=list)  # each accepted event: result + summary
    task_id: str = ""
    file_id: str = ""
    published: dict[str, dict[str, Any]] = field(default_factory=dict)  # the deliveries' notifications, by id

    def drain(self) -> list[dict[str, Any]]:
        """The notifications on the topic since the last call (raw delivery: the CloudEvents)."""
        sqs, out = server_client(self.endpoint, "sqs"), []
        while batch := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return out


def _deliver(body: str, product: str, signed: bool) -> dict[str, Any]:
    """One delivery through the function's entry point, signed as Tencent signs it (or with the URL token)."""
    import handler

    query = "" if signed else f"token={TOKEN}"
    response = handler.callback(http_event(body, path=f"/callback/{product}", query=query), LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    return response_json(response)["results"][0]  # type: ignore[no-any-return]


def _send_all(stack: Stack) -> None:
    from lib.cli.common import load_sample, sign_body
    from lib.intake import read_event

    def send(body: str, product: str) -> None:
        signed = sign_body(body, product, vod_key=VOD_KEY, mps_key=MPS_KEY)
        result = _deliver(signed, product, signed != body)
        if not result["duplicate"]:
            event = read_event(json.loads(signed), pinned=product, body=signed.encode())
            stack.accepted.append({**result, "succeeded": event.summary.succeeded, "body": signed})
        time.sleep(0.005)  # distinct receipt times: the timeline's order is the order of sending

    for path in sorted(EVENTS.rglob("*.json")):
        sample = load_sample(path)
        send(sample.body, sample.product)
    # One task of one new file, its events in the order a person will check: upload, PROCESSING, FINISH, then a
    # late PROCESSING (stale).
    stack.file_id, stack.task_id = f"console-file-{uuid.uuid4().hex[:8]}", f"console-task-{uuid.uuid4().hex[:8]}"
    upload = json.loads(load_sample(EVENTS / "vod" / "NewFileUpload.json").body)
    upload["FileUploadEvent"]["FileId"] = stack.file_id
    send(json.dumps(upload), "vod")
    task = json.loads(load_sample(EVENTS / "vod" / "ProcedureStateChanged.json").body)
    for status, message in (("PROCESSING", ""), ("FINISH", ""), ("PROCESSING", "late")):
        task["ProcedureStateChangeEvent"].update(TaskId=stack.task_id, FileId=stack.file_id, Status=status,
                                                 Message=message)
        send(json.dumps(task), "vod")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    from lib import aws, ledger
    from lib.settings import get_settings

    name = f"console-{uuid.uuid4().hex[:8]}"
    with moto_server() as endpoint, pytest.MonkeyPatch.context() as patch:
        bucket, topic, queue = archive_and_topic(endpoint, name)
        ledger.create_table(server_client(endpoint, "dynamodb"), f"{name}-ledger")
        server_client(endpoint, "firehose").create_delivery_stream(
            DeliveryStreamName=f"{name}-table", DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": f"arn:aws:s3:::{bucket}",
                "Prefix": f"{TABLE_PREFIX}dt=!{{timestamp:yyyy-MM-dd}}/", "CompressionFormat": "GZIP"})
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
               "AWS_DEFAULT_REGION": "us-east-1", "ARCHIVE_BUCKET": bucket, "EVENTS_TOPIC_ARN": topic,
               "LEDGER_TABLE": f"{name}-ledger", "EVENTS_STREAM_NAME": f"{name}-table",
               "EVENTS_TABLE_PREFIX": TABLE_PREFIX, "AUTH_MODE": "required", "VOD_SIGN_KEYS": VOD_KEY,
               "MPS_NOTIFY_KEYS": MPS_KEY, "CALLBACK_TOKENS": TOKEN}
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("IDEMPOTENCY_TABLE", raising=False)
        get_settings.cache_clear()
        aws.reset()
        ledger.reset()
        try:
            built = Stack(endpoint, env, bucket, queue)
            _send_all(built)
            built.published = {m["id"]: m for m in built.drain()}  # the replay test then counts only its own
            yield built
        finally:
            get_settings.cache_clear()
            aws.reset()
            ledger.reset()


@dataclass
class Console:
    base: str  # http://127.0.0.1:PORT
    url: str  # with the one-time token
    process: subprocess.Popen[str]


def start_console(stack: Stack, log: Path) -> Console:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_SESSION_TOKEN", "AWS_PROFILE")}
    env.update(stack.env, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "lib.cli", "console"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("?token=" in line for line in lines):
        line = process.stdout.readline() if process.stdout else ""
        if not line and process.poll() is not None:
            raise AssertionError(f"the console exited: {log.read_text()}")
        lines.append(line)
    (url,) = [line.split()[-1] for line in lines if "?token=" in line]
    return Console(url.split("/?token=")[0], url, process)


@pytest.fixture(scope="module")
def console(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    started = start_console(stack, tmp_path_factory.mktemp("console") / "console.log")
    try:
        yield started
    finally:
        started.process.terminate()
        started.process.wait(timeout=20)


@pytest.fixture(scope="module")
def page(console: Console) -> Iterator[Any]:
    """One browser for the module, its session opened with the one-time token."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium); "
                    "`playwright install` is never used")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 800}, accept_downloads=True)
            tab = context.new_page()
            tab.set_default_timeout(30_000)
            tab.goto(console.url)
            assert tab.url == console.base + "/", "the token is dropped from the address after the first visit"
            yield tab
        finally:
            browser.close()


def shot(tab: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


# --------------------------------------------------------------------------- the pages


def test_overview_counts_what_was_sent(page: Any, console: Console, stack: Stack) -> None:
    page.goto(console.base + "/")
    per_product = Counter(e["product"] for e in stack.accepted)
    failed = Counter(e["product"] for e in stack.accepted if e["succeeded"] is False)
    for product in ("vod", "cme", "mps"):
        row = page.locator(f"#counts tr[data-product={product}]")
        assert row.locator(".day-total").inner_text() == str(per_product[product])
        assert row.locator(".week-total").inner_text() == str(per_product[product])
        assert row.locator("td").nth(2).inner_text() == str(failed[product])
        bar = page.locator(f"#chart-day svg g.bar[data-product={product}]")
        assert bar.get_attribute("data-total") == str(per_product[product])
    assert sum(failed.values()) > 0, "the samples include failures"
    assert page.locator("#failures tbody tr").count() == min(10, sum(failed.values()))
    assert "vod: 0" in page.locator("#dead-letters").inner_text()
    assert "a local stack has none" in page.locator("#alarms").inner_text()  # tolerated, said
    assert page.locator("#empty-table").count() == 0
    shot(page, "overview")


def test_events_filter_by_product_and_search_by_file_id(page: Any, console: Console, stack: Stack) -> None:
    page.goto(console.base + "/events")
    assert page.locator("#events tbody tr").count() == min(50, len(stack.accepted))  # the first page
    times = page.locator("#events tbody tr td:first-child").all_inner_texts()
    assert times == sorted(times, reverse=True), "newest first"
    page.select_option("select[name=product]", "cme")
    page.click("#filters button")
    page.wait_for_url("**/events?*product=cme*")
    cme = [e for e in stack.accepted if e["product"] == "cme"]
    rows = page.locator("#events tbody tr")
    rows.first.wait_for()
    assert rows.count() == len(cme)
    assert set(page.locator("#events tbody tr td:nth-child(2)").all_inner_texts()) == {"cme"}
    page.goto(console.base + f"/events?q={stack.file_id}")
    assert page.locator("#events tbody tr").count() == 4  # its upload and the three task events
    shot(page, "events")
    page.fill("input[name=q]", "not an id; DROP TABLE events")
    page.click("#filters button")
    assert "q: an id" in page.locator("#listing-error").inner_text()  # said in place, nothing listed
    assert page.locator("#events").count() == 0


def test_event_page_shows_and_downloads_the_archived_body(page: Any, console: Console, stack: Stack) -> None:
    event = next(e for e in stack.accepted if e["event_type"] == "Material.Imported")
    page.goto(console.base + f"/events?q={event['event_id']}")
    page.click(f"#events tr[data-event-id='{event['event_id']}'] td:first-child a")
    page.wait_for_selector("#archived-body")
    assert page.url.startswith(console.base + "/event?key=")
    shot(page, "event")
    assert json.loads(page.locator("#archived-body").inner_text()) == json.loads(event["body"])
    notification = json.loads(page.locator("#notification").inner_text())
    assert notification == stack.published[event["event_id"]]  # the CloudEvent the topic received
    with page.expect_download() as download:
        page.click("#download")
    assert Path(download.value.path()).read_bytes() == event["body"].encode()  # byte for byte
    resources = page.locator("#resources a").all_inner_texts()
    assert resources and all(page.locator(f"#resources a[href='/resource/{r}']").count() == 1 for r in resources)
    page.click("#replay-event")
    page.wait_for_selector("#dry-run")
    assert "Dry run: 1 archived event would be published" in page.locator("#dry-run").inner_text()
    assert page.locator("#plan li").all_inner_texts() == [event["archive_key"]]


def test_resource_timeline_in_order_with_its_latest_state(page: Any, console: Console, stack: Stack) -> None:
    page.goto(console.base + f"/events?q={stack.file_id}")
    page.click(f"#events a[href='/resource/{stack.task_id}']")
    page.wait_for_url(f"**/resource/{stack.task_id}")
    entries = page.locator("#timeline li.entry")
    assert [entries.nth(i).locator(".status").inner_text() for i in range(entries.count())] == [
        "PROCESSING", "FINISH", "PROCESSING"]
    assert [entries.nth(i).locator(".change").inner_text() for i in range(entries.count())] == [
        "advanced", "advanced", "stale"]
    assert "ProcedureStateChanged FINISH" in page.locator("#latest").inner_text()
    page.goto(console.base + f"/resource/{stack.file_id}")
    assert page.locator("#timeline li.entry").count() == 4
    assert "NewFileUpload" in page.locator("#timeline li.entry").first.inner_text()
    page.goto(console.base + f"/resource/{stack.task_id}")
    shot(page, "resource")


def test_replay_shows_a_dry_run_then_republishes_with_the_original_ids(page: Any, console: Console,
                                                                       stack: Stack) -> None:
    stack.drain()
    page.goto(console.base + f"/resource/{stack.task_id}")
    page.click("#replay-resource")
    page.wait_for_url("**/replay?resource=*")
    assert "Dry run: 3 archived events would be published" in page.locator("#dry-run").inner_text()
    planned = page.locator("#plan li").all_inner_texts()
    assert len(planned) == 3
    shot(page, "replay")
    time.sleep(1)
    assert stack.drain() == [], "a dry run publishes nothing"
    page.click("#confirm button")
    page.wait_for_selector("#result")
    assert "Re-published 3 events" in page.locator("#result").inner_text()
    task_events = [e for e in stack.accepted if e["archive_key"] in "".join(planned)]
    replayed = stack.drain()
    assert sorted(m["id"] for m in replayed) == sorted(e["event_id"] for e in task_events)
    assert [m["data"]["state_change"] for m in replayed] == ["advanced", "advanced", "stale"]  # as first published
    shot(page, "replay-done")


def test_replay_by_filter_lists_what_the_filter_selects(page: Any, console: Console, stack: Stack) -> None:
    page.goto(console.base + "/events?product=mps")
    page.click("#replay-filter")
    page.wait_for_url("**/replay?product=mps*")
    mps = [e for e in stack.accepted if e["product"] == "mps"]
    assert f"Dry run: {len(mps)} archived events" in page.locator("#dry-run").inner_text()
    assert {li.split()[0] for li in page.locator("#plan li").all_inner_texts()} == {e["archive_key"] for e in mps}


# --------------------------------------------------------------------------- what is refused


def _request(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
             data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (127.0.0.1)
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_no_token_foreign_host_and_cross_site_requests_are_refused(page: Any, console: Console) -> None:
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    assert _request(console.base + "/", headers={"Cookie": cookie}) == 200  # the session the browser has
    assert _request(console.base + "/") == 403  # no session
    assert _request(console.base + "/events") == 403
    assert _request(console.url) == 403  # the one-time token, used already by the browser
    assert _request(console.base + "/", headers={"Cookie": cookie, "Host": "attacker.example"}) == 400
    assert _request(console.base + "/", headers={"Cookie": cookie,
                                                 "Host": "attacker.example:" + console.base.rsplit(":", 1)[1]}) == 400
    page.goto(console.base + "/events")
    token = page.locator("body").get_attribute("hx-headers")
    csrf = json.loads(token or "{}")["X-CSRF-Token"]
    form = b"key=x&csrf_token=" + csrf.encode()
    same_origin = {"Cookie": cookie, "Origin": console.base, "Content-Type": "application/x-www-form-urlencoded"}
    assert _request(console.base + "/replay", method="POST", headers=same_origin, data=b"key=x") == 403  # no token
    assert _request(console.base + "/replay", method="POST", data=form,
                    headers={**same_origin, "Origin": "http://attacker.example"}) == 403  # another origin
    assert _request(console.base + "/replay", method="POST", data=form,
                    headers={k: v for k, v in same_origin.items() if k != "Origin"}) == 403  # no origin at all
    # The same request with the token and the console's own origin gets past the guard (to a 400: no such key).
    assert _request(console.base + "/replay", method="POST", headers=same_origin, data=form) == 400


def test_pages_load_nothing_from_elsewhere(page: Any, console: Console, stack: Stack) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path in ("/", "/events", f"/resource/{stack.task_id}"):
        page.goto(console.base + path)
    assert requested and all(url.startswith(console.base + "/") for url in requested), requested
    assert any(url.endswith("/static/htmx.min.js") for url in requested)
