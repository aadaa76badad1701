"""Safe to snapshot: what Lambda SnapStart needs of the code it freezes after init.

With SnapStart, Lambda runs the init phase (module imports) once per published version, snapshots the
memory and restores that snapshot into every new sandbox. Whatever init creates is then shared by all of
them. mediahook's init creates nothing unique: AWS clients, sessions and connections are made on first
use inside an invocation (lib/aws.py), secrets are read then too, and ids come from the event itself
(event_id) or from ``os.urandom`` (uuid4). The one shared state left is the ``random`` module's seed,
which botocore uses for its retry jitter: after a restore it is re-seeded from the OS, through the
runtime's own hook module, which exists only on SnapStart functions.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping


def snapstart_initialization(env: Mapping[str, str] = os.environ) -> bool:
    """Lambda sets AWS_LAMBDA_INITIALIZATION_TYPE=snap-start when the init is to be snapshotted."""
    return env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def reseed_after_restore() -> None:
    """Fresh entropy for ``random`` in a restored sandbox (seed() with no argument reads os.urandom)."""
    random.seed()


def register_restore_hooks(env: Mapping[str, str] = os.environ) -> bool:
    """Register the after-restore hook on SnapStart functions; do nothing elsewhere. True if registered."""
    if not snapstart_initialization(env):
        return False
    from snapshot_restore_py import register_after_restore  # provided by Lambda's python3.12+ runtime

    register_after_restore(reseed_after_restore)
    return True
