"""Cold start (docs/performance.md): importing ``handler`` runs no cyclic garbage collection (the collector is
paused while pydantic, powertools, botocore and lib are imported: ~20 ms of CPU for nothing), and leaves the
collector on, with everything imported frozen out of its walk. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.aws_server import ROOT

PROBE = """
import gc, json, sys
collections = []  # the collections run once handler.py started on its imports (lib first)
gc.callbacks.append(lambda phase, info: collections.append(info["generation"])
                    if phase == "start" and "lib" in sys.modules else None)
import handler
print(json.dumps({"during_import": collections, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def _probe(code: str) -> dict[str, object]:
    env = {**os.environ, "ARCHIVE_BUCKET": "mediahook-archive-test", "AWS_DEFAULT_REGION": "us-east-1",
           "POWERTOOLS_TRACE_DISABLED": "true"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    answer: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_importing_the_handler_collects_nothing_and_leaves_the_collector_on() -> None:
    seen = _probe(PROBE)
    assert seen["during_import"] == [], "the cyclic collector ran while handler imported lib and its stack"
    assert seen["enabled"] is True
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 50_000, seen


def test_a_collector_turned_off_before_stays_off() -> None:
    seen = _probe("import gc\ngc.disable()\n" + PROBE)
    assert seen["enabled"] is False
