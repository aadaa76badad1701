"""Every ``mediahook`` command fails like a CLI: for each missing piece (a setting, the region, credentials, a
table, a bucket, a file, a reachable endpoint) one line on stderr naming it and how to give it, exit 2 for usage
and configuration, 1 for a failed check, and no traceback (``--debug`` shows one). ``validate`` and ``send``
give every file its line. A command asks only for the settings it uses.

In process (``lib.cli.main``) with moto's in-process AWS where a table or bucket must exist or not, and a few
cases through a real ``python -m lib.cli`` process to prove nothing else reaches stderr."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

import lib.cli
from lib import aws
from tests.aws_server import ROOT, free_port
from tests.conftest import create_ledger_table

AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION",
                 "AWS_REGION", "AWS_ENDPOINT_URL", "ARCHIVE_BUCKET", "ARCHIVE_PREFIX", "EVENTS_TOPIC_ARN",
                 "EVENT_BUS_NAME", "LEDGER_TABLE", "ROUTES")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = {"AWS_DEFAULT_REGION": "us-east-1"}
SAMPLE = "events/vod/NewFileUpload.json"


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No AWS setting from the machine or the suite: each case sets exactly what it gives. No ~/.aws files,
    no instance metadata service (it would be asked for credentials, off this machine)."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(ROOT)
    aws.reset()
    yield
    aws.reset()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = lib.cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- settings, region, credentials

# (command line, environment given, the line's start, what it must name): each with exit 2.
MISSING = [
    (["events", "--file-id", "F"], {**CREDENTIALS, **REGION}, "mediahook events: LEDGER_TABLE is not set",
     "LedgerTableName"),
    (["events", "--file-id", "F"], {**CREDENTIALS, **REGION, "LEDGER_TABLE": "t", "LEDGER_RETENTION_DAYS": "0"},
     "mediahook events: invalid ledger configuration: LEDGER_RETENTION_DAYS", "from 1 to 36500"),
    (["events", "--file-id", "F"], {**CREDENTIALS, "LEDGER_TABLE": "t"}, "mediahook events: no AWS region",
     "AWS_DEFAULT_REGION"),
    (["events", "--file-id", "F"], {**REGION, "LEDGER_TABLE": "t"}, "mediahook events: no AWS credentials",
     "AWS_ACCESS_KEY_ID"),
    (["replay", "--from", "2026-01-01", "--to", "2026-01-02", "--dry-run"], {**CREDENTIALS, **REGION},
     "mediahook replay: no archive bucket", "--bucket NAME or set ARCHIVE_BUCKET"),
    (["replay", "--type", "vod.*", "--bucket", "bkt"], {**CREDENTIALS, **REGION},
     "mediahook replay: --from and --to are required", "--file-id"),
    (["replay", "--from", "2026-01-01", "--to", "2026-01-02", "--bucket", "bkt"], {**CREDENTIALS, **REGION},
     "mediahook replay: nowhere to publish: set EVENTS_TOPIC_ARN", "a dry run (--dry-run) needs neither"),
    (["replay", "--from", "2026-01-01", "--to", "2026-01-02", "--bucket", "bkt"],
     {**CREDENTIALS, **REGION, "EVENTS_TOPIC_ARN": "not-an-arn"}, "mediahook replay: invalid configuration: "
     "EVENTS_TOPIC_ARN: String should match pattern", "^arn:"),
    (["replay", "--task-id", "T", "--dry-run", "--bucket", "bkt"], {**CREDENTIALS, **REGION},
     "mediahook replay: LEDGER_TABLE is not set", "LedgerTableName"),
    (["replay", "--from", "2026-01-01", "--to", "2026-01-02", "--dry-run", "--bucket", "bkt"], CREDENTIALS,
     "mediahook replay: no AWS region", "AWS_DEFAULT_REGION"),
    (["replay", "--from", "2026-01-01", "--to", "2026-01-02", "--dry-run", "--bucket", "bkt"], REGION,
     "mediahook replay: no AWS credentials", "AWS_SECRET_ACCESS_KEY"),
    (["smoke", "--url", "http://127.0.0.1:9/callback", "--bucket", "bkt"], CREDENTIALS,
     "mediahook smoke: no AWS region", "AWS_DEFAULT_REGION"),
    (["smoke", "--url", "http://127.0.0.1:9/callback", "--topic-arn", "arn:aws:sns:us-east-1:1:t"], REGION,
     "mediahook smoke: no AWS credentials", "AWS_ACCESS_KEY_ID"),
    (["smoke", "--url", "127.0.0.1:3000/callback"], {}, "mediahook smoke: --url '127.0.0.1:3000/callback' is not",
     "CallbackUrl"),
    (["send", SAMPLE, "--url", "localhost/callback"], {}, "mediahook send: --url 'localhost/callback' is not",
     "make serve"),
]


@pytest.mark.parametrize(("argv", "given", "start", "names"), MISSING,
                         ids=[f"{case[0][0]}-{case[2].split(': ', 1)[1][:32]}" for case in MISSING])
def test_each_missing_piece_is_one_line_and_exit_2(argv: list[str], given: dict[str, str], start: str, names: str,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    code, out, err = _run(capsys, *argv)
    line = _one_line(err)
    assert code == 2, line
    assert line.startswith(start) and names in line, line
    assert out == ""  # nothing was done: nothing on standard output


def test_a_usage_error_is_exit_2_from_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lib.cli.main(["events"])  # no id option
    assert exit_info.value.code == 2
    assert "one of the arguments --file-id" in capsys.readouterr().err


# --------------------------------------------------------------------------- a table, a bucket, an endpoint


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's in-process AWS, with credentials and a region, and nothing created yet."""
    for name, value in {**CREDENTIALS, **REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        aws.reset()
        yield lambda service: boto3.client(service, region_name="us-east-1")


def test_a_missing_table_names_it_and_its_setting(moto: Any, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_TABLE", "no-such-ledger")
    for argv in (["events", "--file-id", "F"], ["replay", "--file-id", "F", "--dry-run", "--bucket", "bkt"]):
        code, _, err = _run(capsys, *argv)
        line = _one_line(err)
        assert code == 2 and "the table no-such-ledger does not exist: check LEDGER_TABLE" in line, line


def test_a_missing_bucket_names_it_and_its_setting(moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "replay", "--from", "2026-01-01", "--to", "2026-01-02", "--dry-run", "--bucket",
                        "no-such-bucket")
    line = _one_line(err)
    assert code == 2 and "the bucket no-such-bucket does not exist: check --bucket or ARCHIVE_BUCKET" in line, line


def test_a_dry_run_needs_the_bucket_only_and_bucket_stands_for_archive_bucket(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """No ARCHIVE_BUCKET, no topic, no bus: --bucket and a dry run are enough (they were two tracebacks)."""
    moto("s3").create_bucket(Bucket="given-bucket")
    code, out, err = _run(capsys, "replay", "--from", "2026-01-01", "--to", "2026-01-02", "--dry-run", "--bucket",
                          "given-bucket")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == ("0 archived events from 2026-01-01 to 2026-01-02 match '*' (dry run: nothing is "
                                   "published)")


def test_an_empty_ledger_lookup_works_with_only_what_it_reads(moto: Any, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    create_ledger_table(moto("dynamodb"), "a-ledger")
    monkeypatch.setenv("LEDGER_TABLE", "a-ledger")
    code, out, err = _run(capsys, "events", "--file-id", "F")
    assert (code, err) == (0, "")
    assert out == "the ledger has no event recorded under 'F'\n"


def test_a_replay_to_a_missing_topic_says_how_far_it_got_and_logs_nothing(
        moto: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline's JSON log line (with its traceback) stays out of the terminal; the one line says how many
    events were re-published before the failure, and what to fix."""
    from lib.api import receive
    from lib.cli.common import load_sample
    from lib.settings import Settings

    moto("s3").create_bucket(Bucket="replay-bucket")
    topic = moto("sns").create_topic(Name="replay-topic")["TopicArn"]
    env = {"ARCHIVE_BUCKET": "replay-bucket", "EVENTS_TOPIC_ARN": topic, "AUTH_MODE": "off"}
    sample = load_sample(Path(SAMPLE))
    assert receive(sample.body.encode(), pinned="vod", settings=Settings.from_env(env))[0] == 200
    capsys.readouterr()
    gone = topic.replace("replay-topic", "no-such-topic")
    for name, value in {**env, "EVENTS_TOPIC_ARN": gone}.items():
        monkeypatch.setenv(name, value)
    today = datetime.now(UTC).date().isoformat()
    code, out, err = _run(capsys, "replay", "--from", today, "--to", today)
    line = _one_line(err)
    assert code == 2
    assert line.startswith("mediahook replay: 0 events of 1 re-published, then vod/NewFileUpload/"), line
    assert "the topic does not exist" in line and "check EVENTS_TOPIC_ARN" in line, line
    assert out == f"1 archived event from {today} to {today} match '*'\n"  # no log line, no traceback


def test_an_unreachable_aws_endpoint_is_named(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for name, value in {**CREDENTIALS, **REGION, "AWS_ENDPOINT_URL": endpoint, "LEDGER_TABLE": "t"}.items():
        monkeypatch.setenv(name, value)
    code, _, err = _run(capsys, "events", "--file-id", "F")
    line = _one_line(err)
    assert code == 2 and f"AWS_ENDPOINT_URL={endpoint} is not answering" in line and "make serve" in line, line


def test_an_unreachable_deployment_is_named_by_send_and_a_failed_step_of_smoke(
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/callback"
    code, out, err = _run(capsys, "send", SAMPLE, "--url", url)
    line = _one_line(err)
    assert code == 2 and line.startswith(f"mediahook send: nothing answers at {url}/vod (") and "--url" in line, line
    code, out, err = _run(capsys, "smoke", "--url", url)
    assert code == 1 and err == ""
    assert out.splitlines()[0].startswith(f"FAIL  delivery      nothing answers at {url}/vod")
    assert out.splitlines()[-1] == "smoke check: FAILED (0/1 steps not failed)"


def test_schema_into_a_file_that_is_not_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    code, _, err = _run(capsys, "schema", "--out", str(taken))
    line = _one_line(err)
    assert code == 2 and line.startswith(f"mediahook schema: cannot write into {taken}") and "--out" in line, line


# --------------------------------------------------------------------------- every file its line


@pytest.fixture
def bad_files(tmp_path: Path) -> list[str]:
    """A valid sample, a file that is not JSON, a missing file, an invalid event, a directory, in that order."""
    (tmp_path / "not.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "invalid.json").write_text('{"EventType": "PullComplete", "PullCompleteEvent": {"ErrCode": "x"}}',
                                           encoding="utf-8")
    (tmp_path / "a-directory").mkdir()
    return [SAMPLE, str(tmp_path / "not.json"), str(tmp_path / "missing.json"), str(tmp_path / "invalid.json"),
            str(tmp_path / "a-directory")]


def test_validate_gives_every_file_its_line_in_one_call(bad_files: list[str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "validate", *bad_files)
    assert code == 1 and err == ""
    lines = [line for line in out.splitlines() if not line.startswith("    at ")]
    assert lines[0].startswith(f"OK      {SAMPLE}: vod.NewFileUpload")
    assert lines[1] == f"INVALID {bad_files[1]}: not JSON: Expecting property name enclosed in double quotes at line 1 " \
                       "column 2"
    assert lines[2] == f"INVALID {bad_files[2]}: no such file"
    assert lines[3].startswith(f"INVALID {bad_files[3]}: invalid_event: ")
    assert "    at /PullCompleteEvent/ErrCode: " in out
    assert lines[4] == f"INVALID {bad_files[4]}: a directory, not a file"
    assert lines[5] == "4 files of 5 invalid"


class _Gateway(BaseHTTPRequestHandler):
    """A stand-in callback: 200 for a body the models accept, 400 for one they refuse (as the callback does)."""

    def do_POST(self) -> None:
        from lib.errors import DeliveryError
        from lib.intake import parse_delivery

        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            parse_delivery(body, pinned=self.path.split("?")[0].rsplit("/", 1)[-1])
            status, answer = 200, {"ok": True}
        except DeliveryError as err:
            status, answer = 400, {"error": {"code": err.code}}
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


def test_send_gives_every_file_its_line_in_one_call(bad_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code, out, err = _run(capsys, "send", *bad_files, "--url", f"http://127.0.0.1:{server.server_port}/callback")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1 and err == ""  # no progress bar: stderr is not a terminal
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == bad_files
    assert [line["status"] for line in lines] == [200, None, None, 400, None]
    assert lines[1]["error"].startswith("not JSON: ")
    assert lines[2]["error"] == "no such file"
    assert lines[3]["response"] == {"error": {"code": "invalid_event"}}
    assert lines[4]["error"] == "a directory, not a file"


# --------------------------------------------------------------------------- --debug, the unexpected, a real process


def test_debug_shows_the_traceback_and_still_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--debug", "events", "--file-id", "F"], ["events", "--file-id", "F", "--debug"]):
        code, _, err = _run(capsys, *argv)
        assert code == 2
        assert err.startswith("Traceback (most recent call last):")
        assert err.splitlines()[-1].startswith("mediahook events: LEDGER_TABLE is not set")


def test_an_unexpected_error_is_one_line_that_points_to_debug(capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: Any) -> int:
        raise KeyError("surprise")

    monkeypatch.setattr(lib.cli, "COMMANDS", tuple(dataclasses.replace(c, run=broken) if c.name == "schema" else c
                                                   for c in lib.cli.COMMANDS))
    code, _, err = _run(capsys, "schema")
    line = _one_line(err)
    assert code == 1
    assert line == "mediahook schema: KeyError: 'surprise'; run again with --debug for the traceback"


@pytest.mark.parametrize("argv", [["events", "--file-id", "F"], ["replay", "--from", "2026-01-01", "--to", "2026-01-01",
                                                                "--dry-run"], ["validate", "no-such-file.json"]])
def test_the_console_program_prints_no_traceback(argv: list[str], tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    result = subprocess.run([sys.executable, "-m", "lib.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert "Traceback" not in result.stderr + result.stdout
    if argv[0] == "validate":
        assert (result.returncode, result.stdout) == (1, "INVALID no-such-file.json: no such file\n"
                                                         "1 file of 1 invalid\n")
    else:
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
