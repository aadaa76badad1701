"""In-memory stand-ins for the two AWS calls of the pipeline (S3 put_object, SNS publish).

For tests and benchmarks that must not spend their time in moto: ``put_object`` keeps the
If-None-Match semantics of S3 (a second write of a key fails with PreconditionFailed), ``delay``
models a network round trip.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class MemoryS3:
    """put_object with If-None-Match semantics; ``delay`` models a network round trip."""

    def __init__(self, delay: float = 0.0, conditional: bool = True) -> None:
        self.delay, self.calls, self.conditional = delay, 0, conditional
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.calls += 1
            if self.conditional and kwargs.get("IfNoneMatch") == "*" and kwargs["Key"] in self.objects:
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": "PreconditionFailed", "Message": ""}}, "PutObject")
            self.objects[kwargs["Key"]] = kwargs["Body"]
        return {}


class MemorySNS:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.messages: list[str] = []
        self._lock = threading.Lock()

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.messages.append(kwargs["Message"])
            return {"MessageId": str(len(self.messages))}
