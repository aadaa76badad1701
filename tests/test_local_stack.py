"""The README's local path: `make demo`/`make serve` (moto server + serverless-offline) and the operator's CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

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


def _leftovers(ports: list[str]) -> list[int]:
    """The processes still serving this test's stack: moto server by its port argument, the gateway (and its
    workers) by the ports in their environment. Each test's ports are its own, so these are its processes."""
    moto_port, http_port = ports[1], ports[3]
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if (b"-p" in argv and moto_port.encode() in argv) or f"OFFLINE_HTTP_PORT={http_port}".encode() in environ:
            found.append(int(proc.name))
    return found


def _assert_nothing_left(ports: list[str], what: str) -> None:
    """No listener on the stack's ports and no process of it: asserted inside ``_stack_process``, whose
    ``finally`` kills any leftover (a test that looked only after it would pass whatever the stack did)."""
    for port in ports[1::2]:
        assert not _listening(int(port)), f"{what} left a process listening on {port}"
    assert _leftovers(ports) == [], f"{what} left a process running"


@contextmanager
def _stack_process(argv: list[str], ports: list[str]) -> Iterator[subprocess.Popen[str]]:
    """Run local_stack.py; whatever happens in the test (a timeout, a failed assertion), stop it and every
    process of its stack in ``finally``, by process id: a failing test leaves no listener behind."""
    process = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()  # local_stack.py stops its children on SIGTERM
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in _leftovers(ports):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_demo_posts_every_sample_and_prints_the_table(tmp_path: Path) -> None:
    ports = _ports()
    with _stack_process([*STACK, "demo", *ports, "--no-progress", "--log-dir", str(tmp_path)], ports) as demo:
        stdout, stderr = demo.communicate(timeout=300)
        # Here, before _stack_process's clean-up kills whatever is left (after it, these could not fail).
        _assert_nothing_left(ports, "the demo")
    assert demo.returncode == 0, stdout + stderr
    lines = stdout.splitlines()
    samples = sorted((ROOT / "events").rglob("*.json"))
    for sample in samples:
        name = str(sample.relative_to(ROOT / "events").with_suffix(""))
        (row,) = [line for line in lines if line.startswith(name + " (")]
        fields = row.split()
        assert " 200 " in row and " yes " in row, row
        assert fields[5] in ("yes", "no"), row  # forwarded to the demo's endpoint (no: stale, as the ledger decided)
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
    # The legend under the table, one line per note, then the counts by note in the last line.
    legend = lines[lines.index("notes (the ledger's state_change, docs/ledger.md; a refusal's note is its error "
                               "code):") + 1:][:4]
    assert [line.split()[0] for line in legend] == ["advanced", "repeated", "stale", "duplicate"]
    assert "deletion" in legend[2]  # why a sample posted after its resource's deletion is stale
    notes = [row.rsplit("(", 1)[1].rstrip(")") for row in lines if row.endswith((".json (advanced)", ".json (stale)",
                                                                              ".json (repeated)", "(duplicate)"))]
    counts = ", ".join(f"{notes.count(note)} {note}" for note in ("advanced", "repeated", "stale") if notes.count(note))
    assert sum(notes.count(note) for note in ("advanced", "repeated", "stale")) == len(samples)  # they add up
    assert lines[-2] == (f"{total}/{total} deliveries answered as expected; {len(samples)} events archived and "
                         f"published ({counts}); 1 duplicate delivery answered with its first result, not published "
                         "again; 5 bad deliveries refused, nothing written for them.")
    assert notes.count("duplicate") == 1 and notes.count("advanced") > len(samples) // 2
    # forwarding: every event but the stale ones reached the demo's endpoint, verified as Standard Webhooks signs
    # (the last line)
    stale = sum(1 for line in lines if " no (stale) " in line)
    forwarded = sum(1 for line in lines if line.split()[5:6] == ["yes"] and "(duplicate)" not in line)
    assert stale and lines[-1] == (f"{forwarded} events forwarded to the demo's endpoint, each verified as Standard "
                                   "Webhooks signs (0 refused); stale events and duplicate deliveries not forwarded.")


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


def _banner(serve: subprocess.Popen[str]) -> list[str]:
    """The lines ``serve`` prints, up to "Ctrl-C stops everything." (it has then started)."""
    lines: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (lines and lines[-1] == "Ctrl-C stops everything."):
        line = serve.stdout.readline() if serve.stdout else ""
        assert line or serve.poll() is None, serve.stderr.read() if serve.stderr else ""
        lines.append(line.rstrip("\n"))
    return lines


def test_serve_with_sigint_ignored_answers_what_its_banner_says_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    """The banner's export line and commands, pasted as printed, work against the stack (send, events, replay
    --dry-run, smoke); then Ctrl-C stops it all, although the stack was started with SIGINT ignored (as nohup
    and some CI runners start programs), and `serve` ends with 0 (no `make: *** Error 130`)."""
    ports = _ports()
    ignoring_sigint = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *STACK, "serve", *ports, "--log-dir", str(tmp_path)]
    with _stack_process(ignoring_sigint, ports) as serve:
        banner = _banner(serve)
        url = banner[0].split()[3]
        (export,) = [line.strip() for line in banner if line.strip().startswith("export ")]
        for name in ("AWS_ENDPOINT_URL", "LEDGER_TABLE", "ARCHIVE_BUCKET", "EVENTS_TOPIC_ARN", "AWS_DEFAULT_REGION",
                     "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert f" {name}=" in export, f"the export line lacks {name}"
        commands = [line.strip() for line in banner if line.strip().startswith(".venv/bin/mediahook ")]
        assert [c.split()[1] for c in commands] == ["send", "events", "replay", "smoke"]
        # A shell with no AWS setting but the pasted line. The console script of a worktree's shared virtualenv
        # runs the main checkout's code: `python -m lib.cli` from here is the same program, of this checkout.
        shell_env = {k: v for k, v in ENV.items() if not k.startswith("AWS_")}
        shell_env |= {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
        results = {}
        for command in commands:
            pasted = command.replace(".venv/bin/mediahook", f"{sys.executable} -m lib.cli", 1)
            results[command.split()[1]] = subprocess.run(["bash", "-c", f"{export} && {pasted}"], cwd=ROOT,
                                                         env=shell_env, capture_output=True, text=True, timeout=180,
                                                         check=False)
        for name, result in results.items():
            assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
            assert "Traceback" not in result.stderr
        sent = [json.loads(line) for line in results["send"].stdout.splitlines()]
        assert len(sent) == len(list((ROOT / "events" / "vod").glob("*.json"))) and {s["status"] for s in sent} == {200}
        assert "latest state of vod 5285890784273533167: " in results["events"].stdout
        assert "  would publish vod/NewFileUpload/" in results["replay"].stdout
        assert results["smoke"].stdout.count("PASS ") == 3, results["smoke"].stdout
        # the events table: the stack's stream wrote a row per accepted event, which `mediahook query` reads (the
        # smoke check's synthetic NewFileUpload has its row too, archived under _synthetic/: left out here)
        sql = ("SELECT event_type FROM events WHERE product = 'vod' AND event_type = 'NewFileUpload' "
               "AND archive_key LIKE 'vod/%'")
        query = subprocess.run(["bash", "-c", f'{export} && {sys.executable} -m lib.cli query --json "{sql}"'],
                               cwd=ROOT, env=shell_env, capture_output=True, text=True, timeout=180, check=False)
        assert query.returncode == 0, query.stdout + query.stderr
        assert [json.loads(x) for x in query.stdout.splitlines()] == [{"event_type": "NewFileUpload"}]
        forged = subprocess.run([sys.executable, "-m", "lib.cli", "send", "events/vod/NewFileUpload.json", "--url",
                                 url, "--sign-key", "wrongkey"], cwd=ROOT, env=ENV, capture_output=True, text=True,
                                timeout=60, check=False)
        assert forged.returncode == 1 and json.loads(forged.stdout)["status"] == 401
        assert forged.stderr == ""  # no progress bar: not a terminal

        serve.send_signal(signal.SIGINT)  # ignored by default in this process: the stack's own handler acts
        assert serve.wait(timeout=60) == 0
        assert serve.stderr and serve.stderr.read().strip() == "stopped"
        _assert_nothing_left(ports, "Ctrl-C")  # before _stack_process's clean-up, which kills what is left


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


def test_the_demo_counts_by_note_add_up_to_the_events_it_counts() -> None:
    """The last line's counts by note are of the events it counts: a duplicate is a delivery of an event
    already counted (it was "65 events archived and published (57 advanced, 4 repeated, 4 stale, 1 duplicate)",
    66 in all), so it is counted apart."""
    import io

    from scripts.local_stack import Row, print_table

    key = "vod/NewFileUpload/2026/01/01/"
    rows = [Row("a", 200, 200, "e1", "vod", key + "e1.json", "yes", "advanced"),
            Row("b", 200, 200, "e2", "vod", key + "e2.json", "yes", "stale"),
            Row("repeat of a", 200, 200, "e1", "vod", key + "e1.json", "yes", "duplicate"),
            Row("forged", 401, 401, note="unauthenticated")]
    out = io.StringIO()
    print_table(rows, out)
    assert out.getvalue().splitlines()[-1] == (
        "4/4 deliveries answered as expected; 2 events archived and published (1 advanced, 1 stale); 1 duplicate "
        "delivery answered with its first result, not published again; 1 bad delivery refused, nothing written for "
        "them.")


def test_stop_ends_the_group_of_a_child_that_already_exited(tmp_path: Path) -> None:
    """A child of the stack that exited (osls crashing, say: `serve` then stops the stack) can leave its own
    children in its process group; stop() signalled only the groups of children still running."""
    from scripts.local_stack import Stack

    stack = Stack(0, 0, 0, tmp_path)
    leader = subprocess.Popen(["sh", "-c", "sleep 300 >/dev/null & echo $!"], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    orphan = int(leader.communicate(timeout=10)[0])  # the leader has exited; its sleep lives on in its group
    try:
        stack.processes.append(leader)  # type: ignore[arg-type]  # (text mode: stop() reads no output)
        stack.stop()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(orphan):
            time.sleep(0.1)
        assert not _alive(orphan), "stop() left the exited child's group running"
    finally:
        with suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (a zombie, reaped by its new parent soon, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_the_demo_signs_every_sample_it_does_not_send_with_its_token() -> None:
    """Each sample the demo posts signed (VOD's, MPS's, live-stream notifications included: the CLI's own signing,
    no demo-only workaround) passes the callback's verifier with the demo's keys, at the URL of its product."""
    from lib.auth import Secrets, Verifier
    from scripts.local_stack import MPS_KEY, VOD_KEY, signed_delivery

    verifier = Verifier(Secrets(vod_sign_keys=(VOD_KEY,), mps_notify_keys=(MPS_KEY,)))
    signed = 0
    for path in sorted((ROOT / "events").rglob("*.json")):
        url, body, how = signed_delivery(path, "http://127.0.0.1:1/callback")
        if how == "token":
            continue
        product = url.rsplit("/", 1)[-1]
        assert product == path.parent.name, (path, url)
        assert verifier.verify(product, [json.loads(body)], None) == "signature", path
        signed += 1
    assert signed >= len(list((ROOT / "events" / "mps").glob("*.json")))
