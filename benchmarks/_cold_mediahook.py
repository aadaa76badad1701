"""One cold start of mediahook: a fresh interpreter imports handler and serves one event (run by cold_start.py)."""

import time

T0 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, sys.argv[2])
import handler  # noqa: E402


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 256, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


with open(sys.argv[1], encoding="utf-8") as f:
    event = json.load(f)
response = handler.callback(event, Context())
elapsed = (time.perf_counter() - T0) * 1000
assert response["statusCode"] == 200, response
sys.stderr.write(json.dumps({"ms": elapsed}) + "\n")
