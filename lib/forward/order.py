"""Whether a resource has moved on since an event: the ledger's latest state of its subject is another event's.

Two places ask, because the FIFO group keeps a resource's messages in the order they are *queued*, and two
paths queue an event after a newer one of its resource: a callback retried after that newer state was queued
(the ledger gives a retry the decision of its first attempt, ``advanced``), and ``forward redrive``. Each
leaves such an event out, unless the destination takes stale events.
"""

from __future__ import annotations

from lib.ledger import ledger_for
from lib.settings import Settings


def moved_on(settings: Settings, product: str, subject: str | None, event_id: str) -> bool:
    """True when the ledger's latest state of ``subject`` is another event's (False without a ledger or a
    subject: nothing to tell). Raises botocore's errors when the ledger cannot be read."""
    ledger = ledger_for(settings)
    if ledger is None or not subject:
        return False
    latest = ledger.latest(product, subject)
    return latest is not None and latest.event_id != event_id
