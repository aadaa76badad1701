"""SnapStart safety: init creates nothing that must differ per sandbox; random is re-seeded after a restore."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import types

import pytest

from lib import snapstart
from tests.conftest import ROOT


def test_no_hook_and_no_runtime_module_outside_snapstart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "snapshot_restore_py", raising=False)
    assert snapstart.register_restore_hooks({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}) is False
    assert snapstart.register_restore_hooks({}) is False
    assert "snapshot_restore_py" not in sys.modules


def test_on_snapstart_random_is_reseeded_after_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[object] = []
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_after_restore = registered.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)

    assert snapstart.register_restore_hooks({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}) is True
    assert registered == [snapstart.reseed_after_restore]

    random.seed(7)  # the state a snapshot would carry into every restored sandbox
    snapshot = random.getstate()
    snapstart.reseed_after_restore()
    assert random.getstate() != snapshot


def test_init_opens_no_connection_and_creates_no_client() -> None:
    """What a snapshot would freeze: importing the handler must not connect anywhere or make AWS clients."""
    code = """
import json, socket, sys
made, connected = [], []
class Recorded(socket.socket):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        made.append(self)
    def connect(self, address):
        connected.append(address)
        raise OSError("no network at init")
socket.socket = Recorded
import handler
from lib import aws
# urllib3 probes IPv6 at import with a socket it binds to ::1 and closes: no connection, nothing kept.
print(json.dumps({"connections": connected, "open_sockets": sum(s.fileno() != -1 for s in made),
                  "clients": aws._create.cache_info().currsize, "sessions": aws._session.cache_info().currsize}))
"""
    env = {"ARCHIVE_BUCKET": "snapstart-bucket", "EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
           "CALLBACK_TOKENS": "t", "AWS_DEFAULT_REGION": "us-east-1", "IDEMPOTENCY_TABLE": "table",
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"connections": [], "open_sockets": 0,
                                                                   "clients": 0, "sessions": 0}
