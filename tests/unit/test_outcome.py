"""Outcome semantics: ErrCode 0 is success, anything else failure, whatever the status says.

Every task-type route of the routing table, with payloads built from the Tencent SDK's own struct for that
payload key (tencentcloud's models, so field names are Tencent's), for each status x a zero and a
non-zero error code. `succeeded` is False on any error, None only with no error and no final state.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lib.intake import parse_delivery
from lib.routing import TABLE, Route
from scripts.drift import payload_struct

TASK_ROUTES = [r for r in TABLE if r.outcome and r.error_code]
STATUSES = ("WAITING", "PROCESSING", "FINISH", "FAIL")
ERROR_CODES = (0, 70000)


def _struct_for(route: Route) -> Any:
    """The SDK struct Tencent deserialises this payload key into (scripts/drift.py reads it off the envelope's
    documented types). The VTS-era mps.ProcedureStateChanged is VOD's ProcedureTask: VTS queues carried it."""
    found = payload_struct(route)
    if found is None:
        pytest.fail(f"no SDK struct for {route.product}.{route.event_type} ({route.payload_keys})")
    return found[1]()


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path (``FileInfo.ErrCode``, ``FileInfoSet[].ErrCode``) in a serialised SDK struct."""
    *parents, leaf = path.split(".")
    node = document
    for part in parents:
        if part.endswith("[]"):
            node[part[:-2]] = node.get(part[:-2]) or [{}]
            node = node[part[:-2]][0]
        else:
            node[part] = node.get(part) or {}
            node = node[part]
    node[leaf.removesuffix("[]")] = value


def _payload(route: Route, status: str | None, error_code: int) -> bytes:
    struct = json.loads(_struct_for(route).to_json_string())
    struct = {k: v for k, v in struct.items() if v is not None}  # Tencent leaves absent fields out
    if route.status and status is not None:
        _set(struct, route.status, status)
    assert route.error_code
    _set(struct, route.error_code, error_code)
    if route.error_message:
        _set(struct, route.error_message, "" if error_code == 0 else "the task failed")
    return json.dumps({route.type_key: route.event_type, route.payload: struct}).encode()


def _expected(status: str | None, error_code: int) -> bool | None:
    if error_code != 0 or status == "FAIL":
        return False
    if status in ("WAITING", "PROCESSING"):
        return None
    return True


CASES = [(r, s, e) for r in TASK_ROUTES for s in (STATUSES if r.status else (None,)) for e in ERROR_CODES]


@pytest.mark.parametrize(("route", "status", "error_code"), CASES,
                         ids=[f"{r.product}.{r.event_type}-{s}-{e}" for r, s, e in CASES])
def test_succeeded_follows_the_error_code_whatever_the_status(route: Route, status: str | None,
                                                              error_code: int) -> None:
    (event,) = parse_delivery(_payload(route, status, error_code), pinned=route.product)
    assert event.summary.error_code == error_code
    assert event.summary.succeeded is _expected(status, error_code)


def test_every_product_has_task_routes() -> None:
    assert {r.product for r in TASK_ROUTES} == {"vod", "cme", "mps"}
    assert len(CASES) > 150
