"""A flood of forged requests in one sandbox (child of run.py): what it costs in AWS calls and log lines.

The child's stdout and stderr are what Lambda would send to CloudWatch Logs; the parent counts them.
Every AWS call is counted (botocore's one entry point) and, to be sure none goes out, every endpoint
points at a closed local port.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from typing import Any
from unittest import mock

import botocore.client

from benchmarks.common import ROOT

KINDS = ("bad_signature", "expired", "missing_signature", "invalid_json", "method", "path")


def forged(n: int, template: dict[str, Any]) -> dict[str, Any]:
    kind = KINDS[n % len(KINDS)]
    document = json.loads(template["body"]) | {}
    if kind == "bad_signature":
        document |= {"T": int(time.time()) + 600, "Sign": hashlib.md5(f"guess{n}".encode()).hexdigest()}
    elif kind == "expired":
        document |= {"T": int(time.time()) - 7200, "Sign": "0" * 32}
    body = "{not json" if kind == "invalid_json" else json.dumps(document)
    method = "GET" if kind == "method" else "POST"
    path = "/wp-login.php" if kind == "path" else "/callback/vod"
    return {**template, "body": body, "rawPath": path,
            "requestContext": {**template["requestContext"],
                               "http": {**template["requestContext"]["http"], "method": method, "path": path}}}


def main() -> None:
    target, count = sys.argv[1], int(sys.argv[2])
    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append(operation)
        return real(client, operation, params)

    import handler

    template = json.loads((ROOT / "events" / "vod" / "NewFileUpload.json").read_text(encoding="utf-8"))
    statuses: dict[int, int] = {}

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "mediahook-bench-callback", 256, "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mediahook-bench-callback"

        def get_remaining_time_in_millis(self) -> int:
            return 20_000

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", counted):
        for n in range(count):
            status = handler.callback(forged(n, template), Context())["statusCode"]
            statuses[status] = statuses.get(status, 0) + 1
    with open(target, "w", encoding="utf-8") as out:
        json.dump({"statuses": statuses, "aws_calls": len(calls)}, out)


if __name__ == "__main__":
    main()
