"""The README's local path: `make demo`/`make serve` (moto server + serverless-offline) and the operator's CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from tests.aws_server import ROOT, archive_and_topic, free_port, moto_server, server_client

pytestmark = pytest.mark.slow
STACK = [sys.executable, str(ROOT / "scripts" / "local_stack.py")]
ENV = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}


def _ports() -> list[str]:
    return ["--moto-port", str(free_port()), "--http-port", str(free_port()), "--lambda-port", str(free_port())]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_posts_every_sample_and_prints_the_table(tmp_path: pytest.TempPathFactory) -> None:
    ports = _ports()
    result = subprocess.run([*STACK, "demo", *ports, "--no-progress", "--log-dir", str(tmp_path)], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    samples = sorted((ROOT / "events").rglob("*.json"))
    for sample in samples:
        name = str(sample.relative_to(ROOT / "events").with_suffix(""))
        (row,) = [line for line in lines if line.startswith(name + " (")]
        fields = row.split()
        assert " 200 " in row and " yes " in row, row
        assert any(f.endswith(".json") and "/" in f for f in fields), row  # its archive key
    expected_bad = {"forged VOD signature": "401", "no signature, no token": "401", "not JSON": "400",
                    "CME event posted to /callback/vod": "400", "GET instead of POST": "405"}
    for name, status in expected_bad.items():
        (row,) = [line for line in lines if line.startswith(name)]
        assert row.split()[len(name.split())] == status, row
    assert any("repeat of the first sample" in line and "(duplicate)" in line for line in lines)
    total = len(samples) + 1 + len(expected_bad)
    # mps/ProcedureStateChanged carries the VOD sample's payload (the VTS-era name): the same event_id, but
    # another source, so another event (CloudEvents: source + id), archived under its own product.
    (vod_row,) = [line for line in lines if line.startswith("vod/ProcedureStateChanged (")]
    (mps_row,) = [line for line in lines if line.startswith("mps/ProcedureStateChanged (")]
    assert vod_row.split()[3] == mps_row.split()[3]  # the event_id's first 12 characters
    assert " vod/ProcedureStateChanged/" in vod_row and " mps/ProcedureStateChanged/" in mps_row
    assert "duplicate" not in vod_row + mps_row
    assert f"{total}/{total} deliveries answered as expected; {len(samples)} events archived and published" \
        in result.stdout
    for port in ports[1::2]:
        assert not _listening(int(port)), "the demo left a process listening"


def test_a_busy_port_gives_a_clear_message(tmp_path: pytest.TempPathFactory) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([*STACK, "demo", "--moto-port", str(free_port()), "--http-port", str(port),
                                 "--lambda-port", str(free_port()), "--log-dir", str(tmp_path)],
                                cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"port {port} for the gateway (HTTP) is busy" in result.stderr


def test_serve_answers_the_cli_and_ctrl_c_leaves_no_process(tmp_path: pytest.TempPathFactory) -> None:
    ports = _ports()
    serve = subprocess.Popen([*STACK, "serve", *ports, "--log-dir", str(tmp_path)], cwd=ROOT, env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 180
        while "mediahook is up" not in line and time.monotonic() < deadline:
            line = serve.stdout.readline() if serve.stdout else ""
            assert line or serve.poll() is None, serve.stderr.read() if serve.stderr else ""
        url = line.split()[3]
        send = subprocess.run([sys.executable, "-m", "lib.cli", "send", "events/vod/NewFileUpload.json",
                               "events/mps/WorkflowTask.json", "--url", url, "--sign-key", "localdemovodkey",
                               "--notify-key", "localdemompskey", "--quiet"],
                              cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60, check=False)
        assert send.returncode == 0, send.stdout + send.stderr
        assert [json.loads(x)["status"] for x in send.stdout.splitlines()] == [200, 200]
        # the events table: the stack's stream wrote a row per event, which `mediahook query` reads from moto server
        query_env = {**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports[1]}", "AWS_ACCESS_KEY_ID": "local",
                     "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
                     "ARCHIVE_BUCKET": "mediahook-local-archive"}
        query_env.pop("AWS_SESSION_TOKEN", None)
        query = subprocess.run([sys.executable, "-m", "lib.cli", "query", "--json",
                                "SELECT product, event_type, delivery FROM events ORDER BY product"],
                               cwd=ROOT, env=query_env, capture_output=True, text=True, timeout=60, check=False)
        assert query.returncode == 0, query.stdout + query.stderr
        assert [json.loads(x) for x in query.stdout.splitlines()] == [
            {"product": "mps", "event_type": "WorkflowTask", "delivery": "push"},
            {"product": "vod", "event_type": "NewFileUpload", "delivery": "push"}]
        forged = subprocess.run([sys.executable, "-m", "lib.cli", "send", "events/vod/NewFileUpload.json", "--url",
                                 url, "--sign-key", "wrongkey", "--quiet"], cwd=ROOT, env=ENV, capture_output=True,
                                text=True, timeout=60, check=False)
        assert forged.returncode == 1 and json.loads(forged.stdout)["status"] == 401
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)
    for port in ports[1::2]:
        assert not _listening(int(port)), "Ctrl-C left a process listening"


def test_cli_replay_republishes_archived_events_with_their_ids(tmp_path: pytest.TempPathFactory) -> None:
    with moto_server() as endpoint:
        _, topic, queue = archive_and_topic(endpoint, "replay-archive")
        sqs = server_client(endpoint, "sqs")
        env = {**ENV, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
               "AWS_DEFAULT_REGION": "us-east-1", "ARCHIVE_BUCKET": "replay-archive", "EVENTS_TOPIC_ARN": topic,
               "AUTH_MODE": "off"}
        env.pop("AWS_SESSION_TOKEN", None)
        files = ["events/vod/NewFileUpload.json", "events/vod/ProcedureStateChanged.json", "events/cme/Class.Created.json"]
        archive = subprocess.run([sys.executable, "-c", (
            "import json,sys; from lib.api import receive; from lib.cli import load_sample; from pathlib import Path\n"
            "for f in sys.argv[1:]:\n"
            "    s = load_sample(Path(f)); print(json.dumps(receive(s.body.encode(), pinned=s.product)[1]))"),
            *files], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert archive.returncode == 0, archive.stderr
        ids = [json.loads(line)["results"][0]["event_id"] for line in archive.stdout.splitlines() if line.startswith('{"ok"')]

        def drain() -> list[dict[str, object]]:
            out = []
            while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
                for m in batch:
                    out.append(json.loads(m["Body"]))
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
            return out

        original = {m["id"]: m for m in drain()}
        assert set(original) == set(ids)
        today = datetime.now(UTC).date().isoformat()
        dry = subprocess.run([sys.executable, "-m", "lib.cli", "replay", "--from", today, "--to", today, "--type",
                              "vod.*", "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                             check=False)
        assert dry.returncode == 0 and "2 archived events" in dry.stdout, dry.stdout + dry.stderr
        assert drain() == []  # a dry run publishes nothing
        real = subprocess.run([sys.executable, "-m", "lib.cli", "replay", "--from", today, "--to", today, "--type",
                               "vod.*", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert real.returncode == 0, real.stdout + real.stderr
        replayed = drain()
        assert sorted(m["id"] for m in replayed) == sorted(ids[:2])
        for message in replayed:  # the same CloudEvent as the first time: same id, time and archive key
            assert message == original[message["id"]]


def test_cli_validate_and_schema(tmp_path: pytest.TempPathFactory) -> None:
    ok = subprocess.run([sys.executable, "-m", "lib.cli", "validate", "events/vod/ComposeMediaComplete.json",
                         "tests/samples/vod_legacy-v2_NewFileUpload.json"], cwd=ROOT, env=ENV, capture_output=True,
                        text=True, timeout=60, check=False)
    assert ok.returncode == 0 and ok.stdout.count("OK ") == 2, ok.stdout + ok.stderr
    bad_file = tmp_path / "bad.json"
    bad_file.write_text('{"EventType": "PullComplete", "PullCompleteEvent": {"ErrCode": "x"}}')
    bad = subprocess.run([sys.executable, "-m", "lib.cli", "validate", str(bad_file)], cwd=ROOT, env=ENV,
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1 and "at /PullCompleteEvent/ErrCode" in bad.stdout
    out = tmp_path / "schemas"
    schema = subprocess.run([sys.executable, "-m", "lib.cli", "schema", "--out", str(out)], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=60, check=False)
    assert schema.returncode == 0
    from lib.routing import TABLE

    assert len(list(out.glob("*.schema.json"))) == len(TABLE) + 1  # every event, and the notification
    notification = json.loads((out / "notification.schema.json").read_text())
    assert notification["title"] == "Notification" and "data" in notification["required"]
    compose = json.loads((out / "vod.ComposeMediaComplete.schema.json").read_text())
    assert compose["properties"]["EventType"]["const"] == "ComposeMediaComplete"
