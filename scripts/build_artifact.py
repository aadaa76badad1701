"""Finish the Lambda artifact that ``osls package`` built: bytecode for the runtime, only what runs, same bytes twice.

Run by ``plugins/artifact.js`` after serverless-python-requirements has put the dependencies into the zip,
with the runtime's own interpreter (python3.12 for Lambda's python3.12)::

    python3.12 scripts/build_artifact.py .serverless/mediahook.zip --runtime 3.12

Why each step:

- Lambda serves the code from a read-only ``/var/task``: bytecode that is not in the zip is compiled from
  source on every cold start. Every ``.py`` is compiled here by the runtime's interpreter.
- The bytecode is *unchecked-hash* (PEP 552): a zip keeps timestamps to two seconds, so timestamp-checked
  bytecode can be judged stale on Lambda and recompiled anyway; unchecked bytecode is used as it is.
- Entries are sorted, their timestamps and modes fixed, and compilation runs with a fixed hash seed (the
  order of frozenset constants depends on it): the same commit gives the same zip.
- Files that do not run are dropped (console scripts in ``bin/``, stubs, the plugin's bookkeeping).

Standard library only: it runs on the bare runtime interpreter, before any virtualenv exists for it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# Fixed metadata for every entry: zip's earliest date, world-readable files (Lambda needs 644 at least).
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
# What serverless-python-requirements leaves that never runs on Lambda.
DROPPED_TOP_LEVEL = {"bin", "requirements.txt", ".completed_requirements"}
DROPPED_SUFFIXES = ("-stubs",)


def _is_dropped(name: str) -> bool:
    top = name.split("/", 1)[0]
    return (top in DROPPED_TOP_LEVEL or top.endswith(DROPPED_SUFFIXES) or "/__pycache__/" in f"/{name}"
            or name.endswith((".pyc", ".pyo")))


def _extract(source: Path, into: Path) -> None:
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            if info.is_dir() or _is_dropped(info.filename):
                continue
            target = into / info.filename
            if not target.resolve().is_relative_to(into.resolve()):
                raise SystemExit(f"build_artifact: refusing an entry outside the archive: {info.filename}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)


def _compile(root: Path) -> list[str]:
    """Compile every module for this interpreter; return the files that are not valid Python for it."""
    failed: list[str] = []
    for path in sorted(root.rglob("*.py")):
        try:
            py_compile.compile(str(path), cfile=None, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                               dfile=str(path.relative_to(root)))
        except py_compile.PyCompileError:
            failed.append(str(path.relative_to(root)))
    return failed


def _write(root: Path, target: Path) -> None:
    files = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(files):  # entry order by name, as `unzip -l` and the tests read it
            path = files[name]
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | FILE_MODE) << 16  # a regular file, rw-r--r--
            info.create_system = 3  # Unix, so the mode above is read as such
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(target)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build(zip_path: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="mediahook-artifact-") as tmp:
        root = Path(tmp)
        _extract(zip_path, root)
        failed = _compile(root)
        modules = sum(1 for _ in root.rglob("*.py"))
        _write(root, zip_path)
    return {"path": str(zip_path), "bytes": zip_path.stat().st_size, "sha256": sha256(zip_path),
            "modules": modules, "not_compiled": failed,
            "python": f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("zip", type=Path)
    parser.add_argument("--runtime", required=True, help="the Lambda runtime's Python version, e.g. 3.12")
    args = parser.parse_args(argv)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != args.runtime:
        print(f"build_artifact: this is Python {here}, the runtime is Python {args.runtime}: bytecode would not "
              f"load there. Run it with python{args.runtime}.", file=sys.stderr)
        return 2
    if os.environ.get("PYTHONHASHSEED") != "0":  # frozenset constants are ordered by string hashes
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        return subprocess.run([sys.executable, *sys.orig_argv[1:]], env=env, check=False).returncode
    report = build(args.zip)
    if report["not_compiled"]:
        print(f"build_artifact: not valid Python {here}, left as source: {report['not_compiled']}", file=sys.stderr)
        return 1
    size = int(str(report["bytes"]))
    print(f"artifact {report['path']}: {size / 1e6:.2f} MB, {report['modules']} modules compiled for "
          f"CPython {report['python']} (unchecked-hash), sha256 {report['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
