"""Serve events the way the Lambda Python runtime does, from an unpacked artifact (run by scripts/lambda_like.py).

    python3.12 -I -B scripts/lambda_bootstrap.py SPEC.json

Started in isolated mode with bytecode writing off, it puts only the task root (the unpacked zip), the
runtime directory (boto3 and what it needs, as Lambda's /var/runtime provides) and any extra directories on
``sys.path``, imports the handler's module, and calls it once per event. It writes what it saw to the
spec's ``out`` file: each response, the milliseconds from this script's start to the first response, and
every module under the task root that was compiled from source (none should be: the artifact ships
bytecode). Standard library only: nothing of the project's virtualenv is on the path.
"""

import time

T0 = time.perf_counter()

import importlib  # noqa: E402
import importlib.machinery  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

compiled_from_source: list[str] = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code


def _recording_source_to_code(self: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
    """Called by the import system only when no usable bytecode was found for a module."""
    compiled_from_source.append(str(path))
    return _source_to_code(self, data, path, *args, **kwargs)


importlib.machinery.SourceFileLoader.source_to_code = _recording_source_to_code  # type: ignore[method-assign]


class Context:
    """The attributes of Lambda's context object that the handlers read."""

    def __init__(self, name: str, request_id: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"))
        self.aws_request_id = request_id
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "2026/11/23/[$LATEST]local"
        self._deadline = time.monotonic() + 20

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    task_root = os.path.realpath(spec["task_root"])
    # Only the standard library of the interpreter itself: its own site-packages (whatever this machine
    # installed there) could hide a module that the zip lacks.
    sys.path[:] = [p for p in sys.path if os.path.basename(p) not in ("site-packages", "dist-packages")]
    sys.path[:0] = [task_root, *spec.get("extra_path", []), spec["runtime_dir"]]
    module_name, function_name = spec["handler"].rsplit(".", 1)
    with open(spec["events"], encoding="utf-8") as f:
        events = json.load(f)
    handler = getattr(importlib.import_module(module_name), function_name)
    responses: list[Any] = []
    first_ms = first_cpu_ms = None
    compiled_before_first: list[str] = []
    for n, event in enumerate(events):
        responses.append(handler(event, Context(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"), f"req-{n}")))
        if first_ms is None:
            first_ms = (time.perf_counter() - T0) * 1000
            first_cpu_ms = time.process_time() * 1000  # this process's own CPU: what a busy machine does not inflate
            compiled_before_first = list(compiled_from_source)
    ours = [p for p in compiled_before_first if os.path.realpath(p).startswith(task_root + os.sep)]
    result = {"first_ms": first_ms, "first_cpu_ms": first_cpu_ms, "responses": responses, "compiled_from_source": ours,
              "python": sys.version.split()[0], "flags": {"isolated": sys.flags.isolated,
                                                           "dont_write_bytecode": sys.flags.dont_write_bytecode},
              "sys_path": sys.path}
    with open(spec["out"], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
