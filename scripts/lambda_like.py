"""Run the built artifact as Lambda runs it: the tests of the artifact and ``make bench`` share this.

- The zip is unpacked into a read-only directory (Lambda's ``/var/task``).
- The runtime's interpreter (found as ``plugins/artifact.js`` finds it) runs ``scripts/lambda_bootstrap.py``
  in isolated mode with bytecode writing off: nothing of this virtualenv on the path.
- boto3, botocore, s3transfer and what they need sit in a directory of their own, byte-compiled for the
  runtime, as Lambda's ``/var/runtime`` provides them (copied from this virtualenv: pure Python).
- The environment is Lambda's (``AWS_LAMBDA_*``, ``AWS_EXECUTION_ENV``, ``LAMBDA_TASK_ROOT``...) plus what
  the caller gives (the function's own variables, moto server's endpoint).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_VERSION = "3.12"
# What Lambda's Python runtime provides next to the function's code.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def runtime_python(version: str = RUNTIME_VERSION) -> str:
    """The runtime's interpreter, found by the same code that packages the artifact (one place)."""
    script = (f"const {{ findRuntimePython }} = require({json.dumps(str(ROOT / 'plugins' / 'artifact.js'))});"
              f"const found = findRuntimePython({json.dumps(version)});"
              "if (!found.executable) { console.error('tried: ' + found.tried.join(', ')); process.exit(3); }"
              "console.log(found.executable);")
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"no Python {version} interpreter found ({result.stderr.strip()}); "
                           f"install CPython {version} or set RUNTIME_PYTHON")
    return result.stdout.strip()


def runtime_dir(python: str) -> Path:
    """boto3 and its dependencies, byte-compiled for the runtime, in .local/ (built once per version)."""
    import boto3
    import botocore

    target = ROOT / ".local" / f"lambda-runtime-{RUNTIME_VERSION}-boto3-{boto3.__version__}-{botocore.__version__}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed here: the runtime directory copies it from this virtualenv")
        if spec.submodule_search_locations:
            source = Path(next(iter(spec.submodule_search_locations)))
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(spec.origin, target / Path(spec.origin).name)
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                    str(target)], check=True, timeout=600)
    (target / ".complete").touch()
    return target


def unpack(artifact: Path, into: Path, *, bytecode: bool = True) -> Path:
    """Unzip into ``into`` and make it read-only, as /var/task is. ``bytecode=False`` leaves the shipped
    bytecode out (how the artifact behaved before it carried any: the benchmark's comparison)."""
    with zipfile.ZipFile(artifact) as archive:
        members = [n for n in archive.namelist() if bytecode or "/__pycache__/" not in f"/{n}"]
        archive.extractall(into, members=members)
    for path in sorted(into.rglob("*"), reverse=True):
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    into.chmod(into.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return into


def make_writable(path: Path) -> None:
    """Undo ``unpack``'s read-only modes so the directory can be removed."""
    for item in [path, *path.rglob("*")]:
        item.chmod(item.stat().st_mode | stat.S_IWUSR)


def lambda_environment(function: str, handler: str, task_root: Path, runtime: Path,
                       extra: Mapping[str, str]) -> dict[str, str]:
    """What the Lambda Python runtime sets (less the credentials and endpoints the caller passes)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{RUNTIME_VERSION}",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/23/[$LATEST]local",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "_HANDLER": handler,
    }
    return {**env, **extra}


def invoke(python: str, task_root: Path, runtime: Path, handler: str, events: list[dict[str, Any]],
           env: Mapping[str, str], *, extra_path: list[str] | None = None, timeout: float = 300) -> dict[str, Any]:
    """Serve ``events`` in one fresh runtime process; return what lambda_bootstrap.py recorded."""
    with tempfile.TemporaryDirectory(prefix="mediahook-invoke-") as tmp:
        events_file, out_file = Path(tmp) / "events.json", Path(tmp) / "out.json"
        spec = {"task_root": str(task_root), "runtime_dir": str(runtime), "handler": handler,
                "events": str(events_file), "out": str(out_file), "extra_path": extra_path or []}
        events_file.write_text(json.dumps(events), encoding="utf-8")
        (Path(tmp) / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        result = subprocess.run([python, "-I", "-B", str(ROOT / "scripts" / "lambda_bootstrap.py"),
                                 str(Path(tmp) / "spec.json")], env=dict(env), capture_output=True, text=True,
                                timeout=timeout, check=False, cwd=tmp)
        if result.returncode != 0:
            raise RuntimeError(f"the runtime process failed ({result.returncode}):\n{result.stderr[-4000:]}")
        recorded: dict[str, Any] = json.loads(out_file.read_text(encoding="utf-8"))
        recorded["stdout"] = result.stdout
        return recorded
