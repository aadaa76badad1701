"""Audit the installed dependencies for known vulnerabilities with pip-audit, honestly.

pip-audit prints "No known vulnerabilities found" (and exits 0) even when it could not reach a
vulnerability database and audited nothing. This wrapper fails on any vulnerability found, and says
plainly how many packages could not be audited; with ``--require`` an incomplete audit fails too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    require = "--require" in sys.argv[1:]
    pip_audit = Path(sys.executable).with_name("pip-audit")
    result = subprocess.run([str(pip_audit), "--format", "json", "--progress-spinner", "off", "--skip-editable"],
                            capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        print(f"audit: pip-audit gave no report (exit {result.returncode}):\n{result.stderr[-2000:]}")
        return 1 if require else 0
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"audit: VULNERABLE {dependency['name']} {dependency.get('version')}: {ids}")
    audited = len(dependencies) - len(skipped)
    print(f"audit: {audited} of {len(dependencies)} packages audited, {len(vulnerable)} with known vulnerabilities")
    if skipped and not audited:
        print("audit: UNAVAILABLE - no vulnerability database was reachable from this machine; nothing was checked")
    if vulnerable:
        return 1
    return 1 if require and skipped else 0


if __name__ == "__main__":
    sys.exit(main())
