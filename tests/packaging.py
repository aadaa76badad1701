"""Build the Lambda artifact as users do (``osls package``, as ``make package`` runs it) for the tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from filelock import FileLock

from tests.aws_server import ROOT

OSLS = ROOT / "node_modules" / ".bin" / "osls"
# `osls package` (serverless-python-requirements' .serverless/requirements) and the make targets that run it
# build in the project folder: two at once, from two pytest-xdist workers, would mix their files. Whatever
# builds there holds this lock (one object, so a holder may take it again), and so does a build in a copy of the
# project (test_deploy_lifecycle.py): serverless-python-requirements' static cache is one per machine, and a build
# that finds it half-filled by another deletes it. The file is git-ignored.
BUILD_LOCK = FileLock(ROOT / ".build.lock")


def package(out: Path, *params: str, env: dict[str, str] | None = None, check: bool = True,
            stage: str = "ci") -> subprocess.CompletedProcess[str]:
    """``osls package --stage ci --package OUT [--param k=v ...]``; no AWS credentials needed or given."""
    assert OSLS.exists(), "run `make install` (npm ci) first"
    base = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        base.pop(name, None)  # packaging must not need AWS credentials
    args = [str(OSLS), "package", "--stage", stage, "--package", str(out)]
    args += [f"--param={p}" for p in params]
    with BUILD_LOCK:
        result = subprocess.run(args, cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True,
                                timeout=600, check=False)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def template(out: Path, *params: str, stage: str = "ci") -> Path:
    """The CloudFormation template ``osls package`` compiles for these stage parameters, without the work that
    makes the zip deployable (plugins/artifact.js, MEDIAHOOK_TEMPLATE_ONLY): for the tests that read only the
    template, at about half the cost of a package. Returns the template's path."""
    package(out, *params, env={"MEDIAHOOK_TEMPLATE_ONLY": "1"}, stage=stage)
    return out / "cloudformation-template-update-stack.json"
