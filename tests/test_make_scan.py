"""``make scan`` itself: checkov over the packaged template and bandit over lib/ and handler.py pass on the real
tree (every finding fixed or skipped with a reason in scan/skips.yaml) and fail on a planted finding: a copy of
the packaged template with an unencrypted queue, an HTTP API without its access log, a public deployment bucket,
a scheduled function without its dead-letter queue; a source file with an unchecked ``urlopen``. Each planted
copy lives in tmp_path (``SCAN_TEMPLATE``), so parallel workers share nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.aws_server import ROOT

pytestmark = pytest.mark.slow
TEMPLATE = "cloudformation-template-update-stack.json"


def _make_scan(template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "scan", f"SCAN_TEMPLATE={template}"],
                          capture_output=True, text=True, timeout=600, check=False)


def _scan_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "scan.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)


def test_make_scan_passes_on_the_packaged_template(packaged: Path) -> None:
    result = _make_scan(packaged / TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scan: no unlisted finding" in result.stdout
    assert "FINDING" not in result.stdout + result.stderr


def _unencrypted_queue(resources: dict[str, Any]) -> None:
    resources["PlantedQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "planted"}}


def _no_access_log(resources: dict[str, Any]) -> None:
    del resources["HttpApiStage"]["Properties"]["AccessLogSettings"]


def _public_deployment_bucket(resources: dict[str, Any]) -> None:
    del resources["ServerlessDeploymentBucket"]["Properties"]["PublicAccessBlockConfiguration"]


def _no_dead_letter_queue(resources: dict[str, Any]) -> None:
    del resources["ReconcileLambdaFunction"]["Properties"]["DeadLetterConfig"]


PLANTED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "an unencrypted queue": (_unencrypted_queue, "checkov CKV_MEDIAHOOK_1 PlantedQueue"),
    "an HTTP API without access log": (_no_access_log, "checkov CKV_AWS_95 HttpApiStage"),
    "a deployment bucket open to public ACLs": (_public_deployment_bucket, "checkov CKV_AWS_53 ServerlessDeploymentBucket"),
    "a scheduled function without DLQ": (_no_dead_letter_queue, "checkov CKV_AWS_116 ReconcileLambdaFunction"),
}


@pytest.mark.parametrize("problem", list(PLANTED))
def test_make_scan_fails_on_a_planted_finding(packaged: Path, tmp_path: Path, problem: str) -> None:
    plant, expected = PLANTED[problem]
    template = json.loads((packaged / TEMPLATE).read_text(encoding="utf-8"))
    plant(template["Resources"])
    planted = tmp_path / TEMPLATE
    planted.write_text(json.dumps(template), encoding="utf-8")
    result = _make_scan(planted)
    assert result.returncode != 0, f"make scan passed with {problem}:\n{result.stdout}{result.stderr}"
    assert f"scan: FINDING {expected}" in result.stderr, result.stderr
    assert "not in the reviewed skip list" in result.stderr


def test_bandit_finds_an_unchecked_urlopen_the_skip_list_does_not_cover(packaged: Path, tmp_path: Path) -> None:
    source = tmp_path / "fetch.py"
    source.write_text("import urllib.request\n\n\ndef fetch(url: str) -> bytes:\n"
                      "    return urllib.request.urlopen(url).read()\n", encoding="utf-8")
    result = _scan_script("--template", str(packaged / TEMPLATE), "--source", str(source))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"scan: FINDING bandit B310 {source}:5" in result.stderr, result.stderr


def test_a_missing_template_is_a_usage_error_with_the_way_to_make_it(tmp_path: Path) -> None:
    result = _scan_script("--template", str(tmp_path / "none.json"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"scan: no packaged template at {tmp_path / 'none.json'}: run `make package` (or give --template)"]


def test_a_skip_without_a_reason_is_refused(packaged: Path, tmp_path: Path) -> None:
    skips = tmp_path / "skips.yaml"
    skips.write_text("checkov:\n  - id: CKV_AWS_117\n", encoding="utf-8")
    result = _scan_script("--template", str(packaged / TEMPLATE), "--skips", str(skips))
    assert result.returncode == 2
    assert "a checkov skip without an id or a reason" in result.stderr
    assert "Traceback" not in result.stderr
