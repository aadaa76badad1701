"""`mediahook events` and `mediahook replay --file-id ...` through the console command, against a moto server."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from lib.cli.events import COLUMNS
from tests.aws_server import ROOT, archive_and_topic, moto_server, server_client
from tests.conftest import create_ledger_table

pytestmark = pytest.mark.slow
MEDIAHOOK = str(ROOT / ".venv" / "bin" / "mediahook")
FILE_ID, TASK_ID = "5285890784246811111", "1500000001-Procedure-ledgercli0t0"


def _documents() -> list[dict[str, Any]]:
    """A file's upload, a task on it (FINISH, then a late PROCESSING), then its deletion."""
    task = {"TaskId": TASK_ID, "ErrCode": 0, "FileId": FILE_ID}
    return [{"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": FILE_ID, "ProcedureTaskId": TASK_ID}},
            {"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {**task, "Status": "FINISH"}},
            {"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {**task, "Status": "PROCESSING"}},
            {"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": [FILE_ID]}}]


class Stage:
    def __init__(self, endpoint: str) -> None:
        _, self.topic, self.queue = archive_and_topic(endpoint, "ledger-cli")
        create_ledger_table(server_client(endpoint, "dynamodb"), "ledger-cli-ledger")
        self.sqs = server_client(endpoint, "sqs")
        self.env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local",
                    "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1", "ARCHIVE_BUCKET": "ledger-cli",
                    "EVENTS_TOPIC_ARN": self.topic, "AUTH_MODE": "off", "LEDGER_TABLE": "ledger-cli-ledger",
                    "POWERTOOLS_LOG_LEVEL": "WARNING"}
        self.env.pop("AWS_SESSION_TOKEN", None)

    def mediahook(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([MEDIAHOOK, *args], cwd=ROOT, env=env or self.env, capture_output=True, text=True,
                              timeout=120, check=False)

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while batch := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return out


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    with moto_server() as endpoint:
        stage = Stage(endpoint)
        code = ("import json, sys\nfrom lib.api import receive\n"
                "for body in sys.argv[1:]:\n    status, _ = receive(body.encode())\n    assert status == 200\n")
        recorded = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code,
                                   *(json.dumps(d) for d in _documents())], cwd=ROOT, env=stage.env,
                                  capture_output=True, text=True, timeout=120, check=False)
        assert recorded.returncode == 0, recorded.stderr
        yield stage


def test_events_shows_the_latest_state_then_every_event_oldest_first(stage: Stage) -> None:
    result = stage.mediahook("events", "--file-id", FILE_ID)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"latest state of vod {FILE_ID}: FileDeleted - (final; rank 9;")
    table = lines[lines.index(f"4 events recorded under {FILE_ID}, oldest first:") + 1:]
    assert table[0].split() == list(COLUMNS)
    assert [row.split()[2:5] for row in table[1:]] == [
        ["NewFileUpload", "-", "advanced"], ["ProcedureStateChanged", "FINISH", "advanced"],
        ["ProcedureStateChanged", "PROCESSING", "stale"], ["FileDeleted", "-", "advanced"]]


def test_events_json_is_one_object_per_event_and_nothing_else(stage: Stage) -> None:
    result = stage.mediahook("events", "--task-id", TASK_ID, "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON
    assert [list(r) for r in rows] == [list(COLUMNS)] * 3
    assert [(r["event_type"], r["status"], r["state_change"], r["delivery"]) for r in rows] == [
        ("NewFileUpload", None, "advanced", "push"), ("ProcedureStateChanged", "FINISH", "advanced", "push"),
        ("ProcedureStateChanged", "PROCESSING", "stale", "push")]
    assert all(r["archive_key"].endswith(f"/{r['event_id']}.json") for r in rows)


def test_two_ids_are_a_usage_error_and_no_ledger_is_a_clear_one(stage: Stage) -> None:
    both = stage.mediahook("events", "--file-id", FILE_ID, "--task-id", TASK_ID)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    again = stage.mediahook("replay", "--file-id", FILE_ID, "--resource", TASK_ID)
    assert again.returncode == 2 and "not allowed with argument" in again.stderr
    env = {k: v for k, v in stage.env.items() if k != "LEDGER_TABLE"}
    for command in (["events", "--file-id", FILE_ID], ["replay", "--file-id", FILE_ID, "--dry-run"]):
        missing = stage.mediahook(*command, env=env)
        assert missing.returncode == 2 and "LEDGER_TABLE is not set" in missing.stderr, missing.stderr
        assert missing.stdout == ""
    no_dates = stage.mediahook("replay", "--type", "vod.*")
    assert no_dates.returncode == 2 and "--from and --to are required" in no_dates.stderr


def test_replay_by_id_republishes_in_the_original_order_with_ids_and_state_change(stage: Stage) -> None:
    original = stage.drain()
    assert [m["data"]["state_change"] for m in original] == ["advanced", "advanced", "stale", "advanced"]
    dry = stage.mediahook("replay", "--file-id", FILE_ID, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    listed = [line.split()[-1] for line in dry.stdout.splitlines() if line.startswith("  would publish ")]
    assert listed == [m["data"]["archive"]["key"] for m in original]  # oldest first
    assert stage.drain() == []  # a dry run publishes nothing
    real = stage.mediahook("replay", "--file-id", FILE_ID, "--quiet")
    assert real.returncode == 0, real.stdout + real.stderr
    assert stage.drain() == original  # the same CloudEvents, state_change included, in the same order
    narrowed = stage.mediahook("replay", "--task-id", TASK_ID, "--type", "vod.Procedure*", "--quiet")
    assert narrowed.returncode == 0 and "2 archived events recorded under" in narrowed.stdout
    assert [m["id"] for m in stage.drain()] == [m["id"] for m in original[1:3]]


def test_a_date_replay_carries_the_state_change_the_ledger_recorded(stage: Stage) -> None:
    stage.drain()
    today = datetime.now(UTC).date().isoformat()
    result = stage.mediahook("replay", "--from", today, "--to", today, "--type", "vod.ProcedureStateChanged",
                             "--quiet")
    assert result.returncode == 0, result.stderr
    assert sorted(m["data"]["state_change"] for m in stage.drain()) == ["advanced", "stale"]


def test_replay_by_id_skips_an_event_the_ledger_recorded_but_never_archived(stage: Stage) -> None:
    """The ledger records an event beside its archive write: when that write failed, the entry names a key
    that does not exist. Replay says SKIP for it and publishes the rest (the dry run does not list it)."""
    stage.drain()
    listed = stage.mediahook("replay", "--file-id", FILE_ID, "--dry-run")
    keys = [line.split()[-1] for line in listed.stdout.splitlines() if line.startswith("  would publish ")]
    s3 = server_client(stage.env["AWS_ENDPOINT_URL"], "s3")
    s3.delete_object(Bucket="ledger-cli", Key=keys[-1])  # as if its archive write had failed

    dry = stage.mediahook("replay", "--file-id", FILE_ID, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert [line.split()[-1] for line in dry.stdout.splitlines() if line.startswith("  would publish ")] == keys[:-1]
    assert f"SKIP {keys[-1]}" in dry.stderr
    real = stage.mediahook("replay", "--file-id", FILE_ID, "--quiet")
    assert real.returncode == 0, real.stdout + real.stderr
    assert f"SKIP {keys[-1]}" in real.stderr
    assert [m["data"]["archive"]["key"] for m in stage.drain()] == keys[:-1]
