"""``mediahook console`` fails like a CLI: one line on stderr naming what is missing and how to give it, exit 2,
no traceback; and with what it needs, it prints the URL with its one-time token and serves on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from lib.cli.common import load_sample
from lib.intake import read_event
from tests.aws_server import ROOT, free_port, moto_server, server_client

BASE = {"PATH": os.environ["PATH"], "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1", "ARCHIVE_BUCKET": "console-cli-archive",
        "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}


def _console(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lib.cli", "console", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("missing", "says"), [
    ("ARCHIVE_BUCKET", "no archive bucket: set ARCHIVE_BUCKET or give --bucket"),
    ("AWS_DEFAULT_REGION", "no AWS region: set AWS_DEFAULT_REGION"),
    ("AWS_ACCESS_KEY_ID", "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID"),
])
def test_a_missing_setting_is_one_line_and_exit_2(missing: str, says: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    if missing == "AWS_ACCESS_KEY_ID":
        env.pop("AWS_SECRET_ACCESS_KEY")
    result = _console(env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"mediahook console: {says}") and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_without_the_web_framework_it_says_how_to_install_it(tmp_path: Path) -> None:
    """The function's requirements alone (no starlette): one line naming the missing module, exit 2."""
    (tmp_path / "starlette").mkdir()
    (tmp_path / "starlette" / "__init__.py").write_text("raise ModuleNotFoundError(name='starlette')\n")
    result = _console({**BASE, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    assert result.stderr == ("mediahook console: the console's web framework is not installed (no module starlette): "
                             "install the operator tools with `make install` (or pip install -r "
                             "requirements-dev.txt)\n")


def test_a_busy_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _console(BASE, "--port", str(port))
    assert result.returncode == 2
    assert result.stderr == (f"mediahook console: port {port} on 127.0.0.1 is busy: give another --port, or none "
                             "for a free one\n")


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """The console started with ``env``; its process and the URL it printed."""
    process = subprocess.Popen([sys.executable, "-m", "lib.cli", "console"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = [process.stdout.readline(), process.stdout.readline()]
    return process, lines[1].strip()


def _listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at ``port`` (Linux's /proc/net/tcp; state 0A is LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def _overview(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(urllib.request.Request(url), timeout=60) as response:  # noqa: S310 (127.0.0.1)
        assert response.status == 200
        return str(response.read().decode())


def _deployed_stage_signals(endpoint: str, stage: str) -> None:
    """What a deployed stage has and a local stack has not: its alarms, its reconcile function's log."""
    cloudwatch, logs = server_client(endpoint, "cloudwatch"), server_client(endpoint, "logs")
    for name in ("CallbackErrorsAlarm-1A2B3C", "ReconcileErrorsAlarm-4D5E6F"):
        cloudwatch.put_metric_alarm(AlarmName=f"mediahook-{stage}-{name}", Namespace="AWS/Lambda", MetricName="Errors",
                                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                    ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName=f"mediahook-{stage}-ReconcileErrorsAlarm-4D5E6F", StateValue="ALARM",
                               StateReason="Threshold Crossed")
    cloudwatch.put_metric_alarm(AlarmName="another-stack-Alarm", Namespace="AWS/Lambda", MetricName="Errors",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
    group = f"/aws/lambda/mediahook-{stage}-reconcile"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="run")
    now = int(time.time() * 1000)
    summaries = [{"listed": 3, "seen": 2, "recovered": 0}, {"listed": 7, "seen": 5, "recovered": 2}]
    logs.put_log_events(logGroupName=group, logStreamName="run", logEvents=[
        {"timestamp": now - 600_000 + i, "message": json.dumps({"message": "reconcile run finished", "summary": s})}
        for i, s in enumerate(summaries)] + [{"timestamp": now - 1000, "message": "START RequestId: x"}])


def test_an_empty_table_and_a_stages_dead_letters_alarms_and_last_reconcile_on_the_overview() -> None:
    with moto_server() as endpoint:
        s3 = server_client(endpoint, "s3")
        s3.create_bucket(Bucket="console-cli-archive")
        for key in ("vod/_dead/2026/12/03/a.json", "vod/_dead/2026/12/03/b.json", "mps/_dead/2026/12/02/c.json"):
            s3.put_object(Bucket="console-cli-archive", Key=key, Body=b"{}")  # poison events pull and CMQ kept
        _deployed_stage_signals(endpoint, "ci")
        # the stage's forwarding queues, one pair per destination: for `local`, two notifications waiting, one of
        # them then taken by a delivery (in flight), and one dead letter; `quiet` has nothing
        sqs = server_client(endpoint, "sqs")
        fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        queue = sqs.create_queue(QueueName="mediahook-ci-forward-local.fifo", Attributes=fifo)["QueueUrl"]
        dlq = sqs.create_queue(QueueName="mediahook-ci-forward-local-dlq.fifo", Attributes=fifo)["QueueUrl"]
        for name in ("mediahook-ci-forward-quiet.fifo", "mediahook-ci-forward-quiet-dlq.fifo"):
            sqs.create_queue(QueueName=name, Attributes=fifo)
        for group in ("local:vod:1", "local:vod:2"):
            sqs.send_message(QueueUrl=queue, MessageBody=group, MessageGroupId=group)
        sqs.send_message(QueueUrl=dlq, MessageBody="dead", MessageGroupId="local:vod:3")
        assert len(sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=600)["Messages"]) == 1
        process, url = _start({**BASE, "AWS_ENDPOINT_URL": endpoint, "MEDIAHOOK_STAGE": "ci"})
        try:
            page = _overview(url)
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert "The events table has no row for the last week" in page
    assert 'class="day-total">0<' in page
    assert "LEDGER_TABLE" not in page  # the overview does not need the ledger
    dead = page[page.index('id="dead-letters"'):page.index('id="forwarding"')]
    assert all(f"{p}: <b>{n}</b>" in dead for p, n in (("vod", 2), ("cme", 0), ("mps", 1)))
    forwarding = page[page.index('id="forwarding"'):page.index('id="reconcile"')]
    assert "<tr><td>local</td><td>1</td><td>1</td><td>1</td><td>-</td></tr>" in forwarding, forwarding
    assert "<tr><td>quiet</td><td>0</td><td>0</td><td>0</td><td>-</td></tr>" in forwarding, forwarding
    alarms = page[page.index('id="alarms"'):]
    assert alarms.index("ReconcileErrorsAlarm-4D5E6F: <b>ALARM</b>") < alarms.index(
        "CallbackErrorsAlarm-1A2B3C: <b>OK</b>")  # the stage's own, without the stack name's prefix; ALARM first
    assert "another-stack" not in page
    reconcile = page[page.index('id="reconcile"'):page.index('id="alarms"')]
    assert "<dt>listed</dt><dd>7</dd>" in reconcile and "<dt>recovered</dt><dd>2</dd>" in reconcile  # the last run


def test_it_prints_its_url_with_a_token_and_serves_only_127_0_0_1() -> None:
    # Nothing listens at this endpoint: every panel says it could not read the stack, and the page still shows.
    env = {**BASE, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_MAX_ATTEMPTS": "1"}
    process, url = _start(env)
    try:
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url, url
        port = int(url.split(":")[2].split("/")[0])
        assert _listening_addresses(port) == {"127.0.0.1"}  # the loopback address only, never 0.0.0.0
        request = urllib.request.Request(url)  # noqa: S310
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(request, timeout=30) as response:  # follows the redirect with the cookie: the overview
            assert response.status == 200 and response.url == url.split("?")[0]
            page = response.read().decode()
        assert "Overview" in page and "could not be listed" in page  # the dead letters' panel, unreadable
        with pytest.raises(urllib.error.HTTPError) as refused:  # a second browser with the same URL: used up
            urllib.request.urlopen(url, timeout=30)  # noqa: S310
        assert refused.value.code == 403
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_dry_run_needs_no_target_and_a_replay_says_which_setting_is_missing() -> None:
    sample = load_sample(ROOT / "events" / "vod" / "NewFileUpload.json")
    event = read_event(json.loads(sample.body), pinned="vod", body=sample.body.encode())
    key = f"vod/NewFileUpload/2026/12/03/{event.event_id}.json"
    with moto_server() as endpoint:
        s3 = server_client(endpoint, "s3")
        s3.create_bucket(Bucket="console-cli-archive")
        s3.put_object(Bucket="console-cli-archive", Key=key, Body=sample.body.encode(),
                      Metadata={"received-at": "2026-12-03T10:00:00.000Z", "delivery": "push"})
        process, url = _start({**BASE, "AWS_ENDPOINT_URL": endpoint})  # no EVENTS_TOPIC_ARN, no EVENT_BUS_NAME
        try:
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
            opener.open(url, timeout=30).read()
            base = url.split("/?")[0]
            dry = opener.open(f"{base}/replay?{urllib.parse.urlencode({'key': key})}", timeout=30).read().decode()
            assert "Dry run: 1 archived event would be published" in dry
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', dry)
            plan = re.search(r'name="plan" value="([^"]+)"', dry)  # the dry run's digest: what is confirmed
            assert csrf is not None and plan is not None
            confirm = urllib.request.Request(  # noqa: S310 (127.0.0.1)
                f"{base}/replay",
                data=urllib.parse.urlencode({"key": key, "csrf_token": csrf[1], "plan": plan[1]}).encode(),
                headers={"Origin": base, "Content-Type": "application/x-www-form-urlencoded"})
            with pytest.raises(urllib.error.HTTPError) as failed:
                opener.open(confirm, timeout=30)
            assert failed.value.code == 503
            assert "EVENTS_TOPIC_ARN or EVENT_BUS_NAME" in failed.value.read().decode()
        finally:
            process.terminate()
            process.wait(timeout=20)
