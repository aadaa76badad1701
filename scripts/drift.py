"""Drift between mediahook and Tencent's SDKs: event types, payload keys, sub-results, Status values.

Tencent's Python SDKs (``tencentcloud-sdk-python-vod``, ``-mps``, ``-cme``) are the schema of record. Their
structs say which EventTypes exist, which payload key carries each, and which nested structs are *sub-results*:
structs that report an outcome of their own (a ``Status``, ``ErrCode`` or ``ErrCodeExt`` field), such as a
``*ResultSet`` item's ``TranscodeTask``, a single-object ``AiQualityControlTaskResult`` or a ScheduleTask's
``ActivityResultSet[].ActivityResItem.TranscodeTask``. ``succeeded`` is false when any of them failed, so
the callback must know where they are; it cannot import the SDK (the cold start), so the paths are
generated from the SDK into ``lib/subresults.py`` and a test holds that file to the installed SDK.

    python scripts/drift.py              # make drift: the newest SDKs from the package registry vs the pinned ones
    python scripts/drift.py --installed  # the checks against the installed (pinned) SDKs only
    python scripts/drift.py --write      # regenerate lib/subresults.py from the installed SDKs

Exit codes: 0 no drift, 1 drift found (printed), 2 the registry could not be reached or the SDKs not read.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.routing import KNOWN_STATUSES, TABLE, Route  # noqa: E402

TARGET = ROOT / "lib" / "subresults.py"
PACKAGES = ("tencentcloud-sdk-python-vod", "tencentcloud-sdk-python-mps", "tencentcloud-sdk-python-cme")
MODULES = {"vod": "tencentcloud.vod.v20180717.models", "cme": "tencentcloud.cme.v20191029.models",
           "mps": "tencentcloud.mps.v20190612.models"}
# Each product's notification envelope; MPS has a second one for live-stream processing (NotificationType).
ENVELOPES = {("vod", "EventType"): "EventContent", ("cme", "EventType"): "EventContent",
             ("mps", "EventType"): "ParseNotificationResponse",
             ("mps", "NotificationType"): "ParseLiveStreamProcessNotificationResponse"}
NOT_PAYLOADS = frozenset({"EventHandle", "EventType", "NotificationType", "Operator", "SessionId", "SessionContext",
                          "Timestamp", "Sign", "RequestId", "TaskId"})
OUTCOME_FIELDS = frozenset({"Status", "ErrCode", "ErrCodeExt"})
MAX_DEPTH = 6  # the deepest sub-result Tencent declares is three structs down (ScheduleTask's activities)

_TYPE = re.compile(r":type (\w+): (.*)")
_CLASS = re.compile(r":class:`[\w.]+\.(\w+)`")
_LIST = re.compile(r"list of (\w+)")
_VALUE = re.compile(r"<li>\s*([A-Za-z][\w.]*)\s*[：:]")


def models(product: str) -> Any:
    return importlib.import_module(MODULES[product])


def struct_fields(cls: type) -> dict[str, tuple[str, bool]]:
    """``{field: (type name, is a list)}`` from the struct's own ``:type`` lines (the SDK's documented types)."""
    fields: dict[str, tuple[str, bool]] = {}
    for name, text in _TYPE.findall(_init_doc(cls)):
        struct, listed = _CLASS.search(text), _LIST.search(text)
        if struct:
            fields[name] = (struct.group(1), False)
        else:
            fields[name] = (listed.group(1), True) if listed else (text.strip(), False)
    return fields


def _init_doc(cls: type) -> str:
    """The SDK documents a struct's fields in its ``__init__`` doc string (``:param``/``:type`` lines)."""
    init = vars(cls).get("__init__")
    return (init.__doc__ if init is not None else None) or ""


def documented_values(cls: type, field: str) -> set[str]:
    """The values a field's doc string lists as ``<li>VALUE：...`` (EventType, NotificationType, Status)."""
    doc = _init_doc(cls)
    found = re.search(rf":param _{field}:(.*?):type {field}:", doc, re.S)
    return set(_VALUE.findall(found.group(1))) if found else set()


def _struct(module: Any, name: str) -> type | None:
    cls = getattr(module, name, None)
    return cls if isinstance(cls, type) and hasattr(cls, "_deserialize") else None


def subresult_paths(module: Any, cls: type, prefix: str = "", seen: tuple[str, ...] = ()) -> Iterator[str]:
    """Every path below ``cls`` to a struct that reports an outcome of its own; the walk stops at such a struct
    (its own Status/ErrCode is its verdict) and never follows a struct back into itself."""
    for name, (type_name, listed) in struct_fields(cls).items():
        child = _struct(module, type_name)
        if child is None or type_name in seen or len(seen) >= MAX_DEPTH:
            continue
        path = f"{prefix}{name}{'[]' if listed else ''}"
        if OUTCOME_FIELDS & struct_fields(child).keys():
            yield path
        else:
            yield from subresult_paths(module, child, path + ".", (*seen, type_name))


def payload_struct(route: Route) -> tuple[Any, type] | None:
    """The SDK module and struct of a route's payload key (the VTS-era mps.ProcedureStateChanged is VOD's)."""
    product = "vod" if (route.product, route.event_type) == ("mps", "ProcedureStateChanged") else route.product
    module = models(product)
    envelope = getattr(module, ENVELOPES[(product, route.type_key)])
    fields = struct_fields(envelope)
    for key in route.payload_keys:
        if key in fields and (cls := _struct(module, fields[key][0])) is not None:
            return module, cls
    return None


def derive_subresults() -> dict[str, tuple[str, ...]]:
    """``{"product.EventType": paths}`` for every routed type that reports an outcome, from the installed SDK."""
    table: dict[str, tuple[str, ...]] = {}
    for route in TABLE:
        found = payload_struct(route) if route.outcome else None
        if found is not None and (paths := tuple(subresult_paths(*found))):
            table[f"{route.product}.{route.event_type}"] = paths
    return table


def render(table: dict[str, tuple[str, ...]]) -> str:
    lines = ['"""Where each routed type reports sub-results: GENERATED by ``python scripts/drift.py --write`` from the',
             "installed Tencent SDK structs (a field whose struct has its own Status/ErrCode/ErrCodeExt). Do not edit:",
             'tests/unit/test_subresults.py fails when the installed SDK declares a sub-result this table lacks."""',
             "", "from __future__ import annotations", "", "SUBRESULTS: dict[str, tuple[str, ...]] = {"]
    for name, paths in sorted(table.items()):
        lines.append(f"    {name!r}: (")
        lines.extend(f"        {path!r}," for path in paths)
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def facts() -> dict[str, list[str]]:
    """What the installed SDKs declare, as sorted lists of names (compared between two SDK versions)."""
    out: dict[str, set[str]] = {"event types": set(), "payload keys": set(), "sub-results": set(),
                                "Status values": set()}
    for (product, type_key), envelope_name in ENVELOPES.items():
        envelope = getattr(models(product), envelope_name)
        out["event types"] |= {f"{product}.{t}" for t in documented_values(envelope, type_key)}
        out["payload keys"] |= {f"{product}.{k}" for k in struct_fields(envelope).keys() - NOT_PAYLOADS}
    for name, paths in derive_subresults().items():
        out["sub-results"] |= {f"{name}: {p}" for p in paths}
    subresults = derive_subresults()
    for route in TABLE:
        found = payload_struct(route)
        if found is None:
            continue
        module, cls = found
        structs = [cls, *(_at(module, cls, p) for p in subresults.get(f"{route.product}.{route.event_type}", ()))]
        for struct in (s for s in structs if s is not None):
            out["Status values"] |= {f"{route.product}.{route.event_type} {struct.__name__}.Status: {v}"
                                     for v in documented_values(struct, "Status") if v.isupper()}
    return {kind: sorted(names) for kind, names in out.items()}


def _at(module: Any, cls: type, path: str) -> type | None:
    current: type | None = cls
    for name in path.replace("[]", "").split("."):
        if current is None:
            return None
        current = _struct(module, struct_fields(current).get(name, ("", False))[0])
    return current


def unseen(current: dict[str, list[str]]) -> dict[str, list[str]]:
    """What the rule cannot see in these SDKs: documented types not routed, sub-results not in lib/subresults.py,
    Status values the outcome rule does not know."""
    from lib.subresults import SUBRESULTS

    routed = {f"{r.product}.{r.event_type}" for r in TABLE}
    keys = {f"{r.product}.{k}" for r in TABLE for k in r.payload_keys}
    known_paths = {f"{name}: {p}" for name, paths in SUBRESULTS.items() for p in paths}
    return {
        "event types not routed": sorted(set(current["event types"]) - routed),
        "payload keys not routed": sorted(set(current["payload keys"]) - keys),
        "sub-results not in lib/subresults.py": sorted(set(current["sub-results"]) - known_paths),
        "Status values the rule does not know": sorted(
            v for v in current["Status values"] if v.rsplit(": ", 1)[1] not in KNOWN_STATUSES),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "?"
    return found


def _facts_of(pythonpath: str | None) -> dict[str, Any]:
    """The facts of the SDKs importable with ``pythonpath`` first, read in a fresh interpreter."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run([sys.executable, __file__, "--facts"], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # exit 2, not SystemExit(text)'s 1: 1 says drift was found
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"make drift: could not read the Tencent SDK structs ({tail[:200]}); run it again, or compare the "
              "installed ones with scripts/drift.py --installed", file=sys.stderr)
        raise SystemExit(2)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def fetch_newest(target: str) -> None:
    """pip-install the newest SDKs (and the common package they need) into ``target``; one line on failure."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
               "--no-cache-dir", "--retries", "1", "--timeout", "15", "--upgrade", "--target", target, *PACKAGES]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        failed, stderr = done.returncode != 0, done.stderr
    except subprocess.TimeoutExpired:
        failed, stderr = True, "pip timed out after 600 s"
    if failed:
        reason = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "pip failed")
        print(f"make drift: could not fetch {', '.join(PACKAGES)} from the package registry ({reason[:200]}); "
              "check the network or PIP_INDEX_URL and run it again", file=sys.stderr)
        raise SystemExit(2)


def report(pinned: dict[str, Any], newest: dict[str, Any] | None) -> int:
    """Print the differences; 1 when there is drift, 0 when none."""
    drift = False
    current = newest or pinned
    print("pinned: " + ", ".join(f"{p} {v}" for p, v in pinned["versions"].items()))
    if newest is not None:
        print("newest: " + ", ".join(f"{p} {v}" for p, v in newest["versions"].items()))
        for kind in pinned["facts"]:
            before, after = set(pinned["facts"][kind]), set(newest["facts"][kind])
            for label, names in (("new", after - before), ("removed", before - after)):
                if names:
                    drift = True
                    print(f"{label} {kind} ({len(names)}):")
                    print("".join(f"  {n}\n" for n in sorted(names)), end="")
    for label, names in current["unseen"].items():
        if names:
            drift = True
            print(f"{label} ({len(names)}):")
            print("".join(f"  {n}\n" for n in names), end="")
    print("drift found: see above (lib/routing.py, then python scripts/drift.py --write)" if drift else "no drift")
    return 1 if drift else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--installed", action="store_true", help="check the installed (pinned) SDKs only")
    mode.add_argument("--write", action="store_true", help="regenerate lib/subresults.py from the installed SDKs")
    mode.add_argument("--facts", action="store_true", help=argparse.SUPPRESS)  # one SDK's facts as JSON
    args = parser.parse_args(argv)
    if args.facts:
        current = facts()
        print(json.dumps({"versions": _versions(), "facts": current, "unseen": unseen(current)}))
        return 0
    if args.write:
        TARGET.write_text(render(derive_subresults()), encoding="utf-8")
        print(f"wrote {TARGET.relative_to(ROOT)}")
        return 0
    pinned = _facts_of(None)
    if args.installed:
        return report(pinned, None)
    with tempfile.TemporaryDirectory(prefix="mediahook-drift-") as target:
        fetch_newest(target)
        return report(pinned, _facts_of(target))


if __name__ == "__main__":
    sys.exit(main())
