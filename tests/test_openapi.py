"""The checked-in OpenAPI description matches the routes, and schemathesis finds nothing against the
real local gateway (serverless-offline + moto server)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.aws_server import ROOT, free_port


def test_openapi_json_is_in_sync_with_the_routes() -> None:
    from scripts.openapi import TARGET, render

    assert TARGET.read_text(encoding="utf-8") == render(), "openapi.json is stale: run python scripts/openapi.py"


@pytest.mark.slow
def test_schemathesis_against_the_local_gateway(tmp_path: Path) -> None:
    from scripts.local_stack import Stack, running

    # Auth is off here: this run checks the HTTP contract (status codes, content types, response schemas,
    # server errors, unsupported methods); authentication has its own tests.
    stack = Stack(free_port(), free_port(), free_port(), tmp_path, osls_args=("--param=authMode=off",))
    with running(stack):
        result = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "st"), "run", str(ROOT / "openapi.json"),
             "--url", f"http://127.0.0.1:{stack.http_port}", "--checks", "all",
             # A body's EventType must belong to the product pinned in the path: a cross-field rule that
             # OpenAPI cannot express, so a "schema-valid" request can rightly get 400 product_mismatch.
             "--exclude-checks", "positive_data_acceptance",
             "--max-examples", "60", "--seed", "20261121", "--report-dir", str(tmp_path / "report")],
            # cwd: schemathesis keeps a crash cache (.schemathesis/) in its working directory and replays
            # it first; a fresh one per run keeps every run, here and in CI, the same seeded sequence.
            cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    summary = re.search(r"(\d+) generated", result.stdout)
    print(f"\nschemathesis: {summary.group(0) if summary else '?'} test cases against the local gateway")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
