"""``make scan``: checkov over the packaged CloudFormation template and bandit over ``lib/`` and ``handler.py``,
failing on any finding that the reviewed skip list (``scan/skips.yaml``, each skip with its reason) does not
cover.

    python scripts/scan.py [--template T.json] [--source PATH ...] [--skips scan/skips.yaml] [--scanners DIR]

Exit 0: no unlisted finding; 1: unlisted findings (one line each) or a scanner that could not read its input;
2: usage or setup (the template, the scanners' virtualenv or the skip list missing: the line says how to get it).

The scanners live in their own virtualenv (``.venv-scan``, from ``requirements-scan.lock``; checkov pins
dependencies that clash with mediahook's). Offline: checkov runs with ``--skip-download``, no API key, no
mapping or update look-ups (the environment below), so it calls no vendor's service.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # (no stubs in the lock; only safe_load is used)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / ".serverless" / "cloudformation-template-update-stack.json"
SKIPS = ROOT / "scan" / "skips.yaml"
CHECKS = ROOT / "scan" / "checks"
SCANNERS = ROOT / ".venv-scan" / "bin"
SOURCES = ("lib", "handler.py")
# No call to Bridgecrew/Prisma Cloud (no key: nothing to upload), no guideline mapping download, no PyPI look-up.
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2":
               "false", "LOG_LEVEL": "WARNING"}
SECRET_ENV = ("BC_API_KEY", "PRISMA_API_URL", "BC_CA_BUNDLE")


class SetupError(Exception):
    """Something the scan needs is missing (exit 2); the message says how to get it."""


@dataclass(frozen=True)
class Finding:
    tool: str
    check: str
    where: str  # checkov: the resource's logical id; bandit: file:line
    title: str
    line: str = ""  # bandit: the flagged source line

    def __str__(self) -> str:
        return f"{self.tool} {self.check} {self.where}: {self.title}"


def load_skips(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The skip list; every entry must give an ``id`` and a ``reason`` (an unexplained skip is refused)."""
    if not path.is_file():
        raise SetupError(f"no skip list at {path}: give --skips or restore scan/skips.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for tool in ("checkov", "bandit"):
        for entry in data.get(tool) or []:
            if not entry.get("id") or not str(entry.get("reason", "")).strip():
                raise SetupError(f"{path}: a {tool} skip without an id or a reason: {entry}")
            if tool == "bandit" and not entry.get("file"):
                raise SetupError(f"{path}: the bandit skip {entry['id']} names no file")
    return {tool: list(data.get(tool) or []) for tool in ("checkov", "bandit")}


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def checkov_findings(template: Path, scanners: Path) -> list[Finding]:
    env = {name: value for name, value in os.environ.items() if name not in SECRET_ENV} | OFFLINE_ENV
    result = _run([str(scanners / "checkov"), "--file", str(template), "--framework", "cloudformation",
                   "--skip-download", "--external-checks-dir", str(CHECKS), "--output", "json", "--quiet",
                   "--compact"], env=env)
    try:
        report = json.loads(result.stdout)
    except ValueError as exc:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"checkov gave no report (exit {result.returncode}): {last[:300]}") from exc
    reports = report if isinstance(report, list) else [report]
    findings = []
    for one in reports:
        if one.get("summary", {}).get("parsing_errors"):
            raise RuntimeError(f"checkov could not parse {template}")
        for failed in (one.get("results") or {}).get("failed_checks", []):
            logical_id = str(failed["resource"]).rsplit(".", 1)[-1]
            findings.append(Finding("checkov", failed["check_id"], logical_id, failed["check_name"]))
    if not any(one.get("summary", {}).get("resource_count") for one in reports):
        raise RuntimeError(f"checkov found no resource to scan in {template}")
    return findings


def bandit_findings(sources: list[str], scanners: Path) -> list[Finding]:
    result = _run([str(scanners / "bandit"), "--recursive", "--format", "json", "--quiet", *sources])
    try:
        report = json.loads(result.stdout)
    except ValueError as exc:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"bandit gave no report (exit {result.returncode}): {last[:300]}") from exc
    if report.get("errors"):
        raise RuntimeError(f"bandit could not read: {report['errors']}")
    findings = []
    for issue in report.get("results", []):
        path = Path(issue["filename"])
        relative = path.resolve().relative_to(ROOT).as_posix() if path.resolve().is_relative_to(ROOT) else str(path)
        lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
        line = lines[issue["line_number"] - 1] if 0 < issue["line_number"] <= len(lines) else ""
        findings.append(Finding("bandit", issue["test_id"], f"{relative}:{issue['line_number']}", issue["issue_text"],
                                line))
    return findings


def _covers(tool: str, skip: dict[str, Any], finding: Finding) -> bool:
    if skip["id"] != finding.check:
        return False
    if tool == "checkov":
        resources = skip.get("resources")
        return resources is None or finding.where in resources
    file = finding.where.rsplit(":", 1)[0]
    return bool(file == skip["file"] and str(skip.get("line_contains", "")) in finding.line)


def unlisted(findings: list[Finding], skips: dict[str, list[dict[str, Any]]]) -> tuple[list[Finding], list[str]]:
    """The findings no skip covers, and the skips that covered nothing (stale: to remove)."""
    used: set[tuple[str, int]] = set()
    left = []
    for finding in findings:
        covering = [(finding.tool, i) for i, skip in enumerate(skips[finding.tool])
                    if _covers(finding.tool, skip, finding)]
        used.update(covering)
        if not covering:
            left.append(finding)
    stale = [f"{tool} {skip['id']} {skip.get('file') or ','.join(skip.get('resources') or ['*'])}"
             for tool in ("checkov", "bandit") for i, skip in enumerate(skips[tool])
             if (tool, i) not in used]
    return left, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="the packaged CloudFormation template")
    parser.add_argument("--source", action="append", help="files or folders for bandit (default: lib, handler.py)")
    parser.add_argument("--skips", type=Path, default=SKIPS, help="the reviewed skip list")
    parser.add_argument("--scanners", type=Path, default=SCANNERS, help="bin/ of the virtualenv with checkov, bandit")
    args = parser.parse_args(argv)
    try:
        if not args.template.is_file():
            raise SetupError(f"no packaged template at {args.template}: run `make package` (or give --template)")
        for tool in ("checkov", "bandit"):
            if not (args.scanners / tool).is_file():
                raise SetupError(f"no {tool} in {args.scanners}: run `make scan` (it creates .venv-scan from "
                                 "requirements-scan.lock)")
        skips = load_skips(args.skips)
        findings = checkov_findings(args.template, args.scanners) + bandit_findings(args.source or list(SOURCES),
                                                                                    args.scanners)
    except SetupError as exc:
        print(f"scan: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"scan: {exc}", file=sys.stderr)
        return 1
    left, stale = unlisted(findings, skips)
    for finding in left:
        print(f"scan: FINDING {finding}", file=sys.stderr)
    for skip in stale:
        print(f"scan: note: the skip {skip} matched no finding (remove it from {args.skips.name} if it is gone)")
    covered = len(findings) - len(left)
    if left:
        print(f"scan: {len(left)} finding(s) not in the reviewed skip list ({covered} skipped with a reason): fix "
              f"them, or add a skip with its reason to {args.skips}", file=sys.stderr)
        return 1
    print(f"scan: no unlisted finding (checkov over {args.template.name}, bandit over "
          f"{', '.join(args.source or SOURCES)}; {covered} skipped with a reason in {args.skips.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
