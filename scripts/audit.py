"""Audit the locked dependencies for known vulnerabilities with pip-audit, honestly.

It reads ``requirements-dev.lock`` (every pinned package of the runtime and the tools: exactly what
``make install`` and the Lambda package use) and asks PyPI's vulnerability service, then OSV if PyPI
could audit nothing. pip-audit prints "No known vulnerabilities found" (and exits 0) even when no
database was reachable and nothing was audited; this wrapper fails on any vulnerability found and says
plainly how many packages could not be audited. With ``--require``, an incomplete audit fails too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-dev.lock"
SERVICES = ("pypi", "osv")


def audit(service: str) -> list[dict[str, Any]] | None:
    """pip-audit's findings per locked package, or None if it gave no report at all."""
    pip_audit = Path(sys.executable).with_name("pip-audit")
    result = subprocess.run([str(pip_audit), "--requirement", str(LOCK), "--no-deps", "--disable-pip",
                             "--vulnerability-service", service, "--format", "json", "--progress-spinner", "off"],
                            capture_output=True, text=True, timeout=600, check=False)
    try:
        dependencies: list[dict[str, Any]] = json.loads(result.stdout)["dependencies"]
    except (ValueError, KeyError):
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit: {service}: pip-audit gave no report (exit {result.returncode}): {last[:300]}")
        return None
    return dependencies


def main() -> int:
    require = "--require" in sys.argv[1:]
    dependencies: list[dict[str, Any]] = []
    for service in SERVICES:
        report = audit(service)
        if report is not None:
            dependencies = report
        if any(not d.get("skip_reason") for d in dependencies):
            break
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"audit: VULNERABLE {dependency['name']} {dependency.get('version')}: {ids}")
    audited_count = len(dependencies) - len(skipped)
    print(f"audit: {audited_count} of {len(dependencies)} locked packages audited ({LOCK.name}), "
          f"{len(vulnerable)} with known vulnerabilities")
    if not audited_count:
        print("audit: UNAVAILABLE - neither PyPI's vulnerability service nor OSV was reachable from this "
              "machine; nothing was checked")
    if vulnerable:
        return 1
    return 1 if require and (skipped or not dependencies) else 0


if __name__ == "__main__":
    sys.exit(main())
