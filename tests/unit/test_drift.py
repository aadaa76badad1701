"""``make drift`` (scripts/drift.py): what it reports, and how it fails when the registry cannot be reached."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.drift import facts, report, unseen

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "drift.py"
VERSIONS = {"tencentcloud-sdk-python-vod": "1", "tencentcloud-sdk-python-mps": "1", "tencentcloud-sdk-python-cme": "1"}


def _snapshot(current: dict[str, list[str]]) -> dict[str, Any]:
    return {"versions": VERSIONS, "facts": current, "unseen": unseen(current)}


def test_the_installed_sdks_show_no_drift_and_every_kind_of_fact_is_read() -> None:
    current = facts()
    assert all(current[kind] for kind in ("event types", "payload keys", "sub-results", "Status values"))
    assert "mps.ProcessEof" in current["event types"]  # the live-stream NotificationType list is read too
    assert not any(unseen(current).values())


def test_new_and_removed_names_are_printed_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    pinned = facts()
    newest = {kind: list(names) for kind, names in pinned.items()}
    newest["event types"] = [*newest["event types"], "vod.BrandNewComplete"]
    newest["sub-results"] = [*newest["sub-results"][1:], "mps.WorkflowTask: BrandNewTaskResult"]
    newest["Status values"] = [*newest["Status values"], "mps.WorkflowTask WorkflowTask.Status: PAUSED"]
    assert report(_snapshot(pinned), _snapshot(newest)) == 1
    out = capsys.readouterr().out
    assert "new event types (1):\n  vod.BrandNewComplete" in out
    assert f"removed sub-results (1):\n  {pinned['sub-results'][0]}" in out
    assert "sub-results not in lib/subresults.py (1):\n  mps.WorkflowTask: BrandNewTaskResult" in out
    assert "event types not routed (1):\n  vod.BrandNewComplete" in out
    assert "Status values the rule does not know (1):" in out and "PAUSED" in out
    assert out.rstrip().endswith("drift found: see above (lib/routing.py, then python scripts/drift.py --write)")


def test_the_same_sdks_are_no_drift(capsys: pytest.CaptureFixture[str]) -> None:
    pinned = _snapshot(facts())
    assert report(pinned, pinned) == 0
    assert capsys.readouterr().out.rstrip().endswith("no drift")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there now: a refused connection


def test_an_unreachable_registry_is_one_line_and_exit_2() -> None:
    env = {**os.environ, "PIP_INDEX_URL": f"http://127.0.0.1:{_closed_port()}/simple", "PIP_EXTRA_INDEX_URL": "",
           "PIP_FIND_LINKS": "", "PIP_NO_INDEX": ""}
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("make drift: could not fetch tencentcloud-sdk-python-vod")
    assert "PIP_INDEX_URL" in lines[0] and "Traceback" not in done.stderr


def test_sdks_that_cannot_be_read_are_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 1 means drift found: newest SDKs that do not even import are exit 2 (the docstring's code), in one line."""
    from scripts import drift

    def broken_download(target: str) -> None:
        package = Path(target) / "tencentcloud"
        package.mkdir()
        (package / "__init__.py").write_text("raise ImportError('a broken wheel')\n")

    monkeypatch.setattr(drift, "fetch_newest", broken_download)
    with pytest.raises(SystemExit) as stopped:
        drift.main([])
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("make drift: could not read the Tencent SDK structs"), lines
    assert "a broken wheel" in lines[0]


def test_a_registry_that_does_not_answer_in_time_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from scripts import drift

    def hanging(command: list[str], **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired(command, kwargs.get("timeout") or 0)

    monkeypatch.setattr(drift.subprocess, "run", hanging)
    with pytest.raises(SystemExit) as stopped:
        drift.fetch_newest("unused")
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("make drift: could not fetch") and "timed out" in lines[0], lines
