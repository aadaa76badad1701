"""``succeeded`` is the truth of the whole task: every sub-result the installed SDK declares is seen.

For every routed type that reports an outcome, every path to a struct with its own Status/ErrCode/ErrCodeExt
is derived afresh from the installed SDK's structs (scripts/drift.py), a payload is built from the SDK's own
payload struct with the top level saying success (ErrCode 0, FINISH), and a failure is put at that one path.
The notification must read ``succeeded: false`` with the sub-task's code and message. A sub-result the SDK
grows and lib/subresults.py lacks fails here (and in ``make drift`` before the SDK pin is bumped).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lib import routing
from lib.intake import parse_delivery
from lib.routing import TABLE, Route, find_route
from scripts.drift import TARGET, _at, derive_subresults, payload_struct, render, struct_fields

SUB_CODE, SUB_MESSAGE = 70123, "the sub-task failed"


def _route(name: str) -> Route:
    product, event_type = name.split(".", 1)
    route = find_route(product, event_type)  # type: ignore[arg-type]
    assert route is not None
    return route


DECLARED = derive_subresults()
CASES = [(name, path) for name, paths in sorted(DECLARED.items()) for path in paths]


def test_the_generated_table_is_what_the_installed_sdk_declares() -> None:
    assert TARGET.read_text(encoding="utf-8") == render(DECLARED), \
        "lib/subresults.py is stale: run python scripts/drift.py --write"


def _put(node: dict[str, Any], path: str, value: dict[str, Any]) -> None:
    """Put ``value`` (merged into what is there) at a dotted path; ``[]`` steps hold one item."""
    *parents, leaf = path.split(".")
    for part in parents:
        name = part.removesuffix("[]")
        if part.endswith("[]"):
            node[name] = [node[name][0] if isinstance(node.get(name), list) and node[name] else {}]
            node = node[name][0]
        else:
            node[name] = node.get(name) if isinstance(node.get(name), dict) else {}
            node = node[name]
    name = leaf.removesuffix("[]")
    if leaf.endswith("[]"):
        node[name] = [value]
    else:
        node[name] = {**(node.get(name) or {}), **value}


def _document(route: Route, path: str, failed: bool) -> tuple[bytes, set[str]]:
    found = payload_struct(route)
    assert found is not None
    module, struct = found
    payload = {k: v for k, v in json.loads(struct().to_json_string()).items() if v is not None}
    for name, value in (("Status", "FINISH"), ("ErrCode", 0), ("ErrCodeExt", ""), ("Message", "")):
        if name in struct_fields(struct):
            payload[name] = value  # the top level says the task succeeded
    sub = _at(module, struct, path)
    assert sub is not None
    fields = set(struct_fields(sub))
    outcome: dict[str, Any] = {}
    if "Status" in fields:
        outcome["Status"] = "FAIL" if failed else "SUCCESS"
    if "ErrCode" in fields:
        outcome["ErrCode"] = SUB_CODE if failed else 0
    if "ErrCodeExt" in fields:
        outcome["ErrCodeExt"] = "FailedOperation.SubTask" if failed else ""
    if "Message" in fields:
        outcome["Message"] = SUB_MESSAGE if failed else ""
    _put(payload, path, outcome)
    document = {route.type_key: route.event_type, route.payload: payload}
    if route.type_key == "NotificationType":
        document["TaskId"] = "live-task"
    return json.dumps(document).encode(), fields


@pytest.mark.parametrize(("name", "path"), CASES, ids=[f"{n}:{p}" for n, p in CASES])
def test_a_failed_sub_result_makes_the_task_fail(name: str, path: str) -> None:
    route = _route(name)
    body, fields = _document(route, path, failed=True)
    (event,) = parse_delivery(body, pinned=route.product)
    assert event.summary.succeeded is False, f"{name}: a failure at {path} is not seen"
    if "ErrCode" in fields:
        assert event.summary.error_code == SUB_CODE  # the top level said 0: the sub-task's code is published
    if "Message" in fields:
        assert event.summary.error_message == SUB_MESSAGE


@pytest.mark.parametrize(("name", "path"), CASES, ids=[f"{n}:{p}" for n, p in CASES])
def test_a_succeeded_sub_result_leaves_the_task_succeeded(name: str, path: str) -> None:
    route = _route(name)
    body, _ = _document(route, path, failed=False)
    (event,) = parse_delivery(body, pinned=route.product)
    found = payload_struct(route)
    assert found is not None
    top_level_outcome = ({"Status", "ErrCode", "ErrCodeExt"} & set(struct_fields(found[1]))
                         or "." in (route.error_code or ""))  # a 2017-era type reads its code off FileInfo
    # A success reads true; a payload whose top level reports no outcome (an MPS BatchTask) still reads null.
    assert event.summary.succeeded is (True if top_level_outcome else None)
    assert not event.summary.error_code


def test_every_outcome_route_was_looked_at() -> None:
    """The walk covers the routes it should: every task type whose payload struct the SDK declares."""
    with_struct = {f"{r.product}.{r.event_type}" for r in TABLE if r.outcome and payload_struct(r) is not None}
    # A routed type whose payload struct the walk cannot find would have its sub-results skipped without a word.
    assert with_struct == {f"{r.product}.{r.event_type}" for r in TABLE if r.outcome}
    assert set(DECLARED) <= with_struct
    # The cases the issue names, each from the SDK and not from a list kept by hand:
    for name, path in [("mps.WorkflowTask", "AiQualityControlTaskResult"),
                       ("mps.WorkflowTask", "AiDubbingTaskResult"),
                       ("mps.WorkflowTask", "SmartEraseTaskResult"),
                       ("mps.ScheduleTask", "ActivityResultSet[].ActivityResItem.TranscodeTask"),
                       ("mps.ScheduleTask", "ActivityResultSet[].ActivityResItem.QualityControlTask"),
                       ("vod.ProcedureStateChanged", "MediaProcessResultSet[].TranscodeTask")]:
        assert path in DECLARED[name], f"{name}: {path}"


def test_a_sub_result_missing_from_the_table_fails_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk can fail: without the table's single-object path, the failure goes unseen (and the walk says so)."""
    route = _route("mps.WorkflowTask")
    body, _ = _document(route, "AiQualityControlTaskResult", failed=True)
    monkeypatch.setattr(routing, "SUBRESULTS", {})
    (event,) = parse_delivery(body, pinned="mps")
    assert event.summary.succeeded is True


def test_the_callback_reads_sub_results_without_importing_the_sdk() -> None:
    """The paths come from lib/subresults.py: reading a task with sub-results (and a live-stream notification) on
    the callback's path imports no Tencent SDK module (not in the artifact, and seconds of cold start)."""
    root = Path(__file__).resolve().parents[2]
    probe = (
        "import sys, json, pathlib\n"
        "import handler\n"
        "from lib.intake import parse_delivery\n"
        "samples = pathlib.Path('tests/samples')\n"
        "for name in ('mps_WorkflowTask.json', 'mps_AiReviewResult.json', 'vod_ProcedureStateChanged.json'):\n"
        "    (event,) = parse_delivery((samples / name).read_bytes())\n"
        "    assert event.known, name\n"
        "print(sorted(m for m in sys.modules if m.startswith('tencentcloud')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
