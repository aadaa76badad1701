"""Where forwarding keeps order: a destination never receives an older state of a resource after a newer one.

The FIFO message group (destination and subject) keeps a resource's messages in the order they are *queued*,
which is not always the order the ledger decided them in:

* two callbacks of one resource in two sandboxes at once are decided A then B, but B's send can finish first;
* a callback retried after a newer state of its resource was queued (the ledger gives a retry the decision of
  its first attempt, ``advanced``);
* ``forward redrive`` sends a dead letter back after newer states were delivered.

So the ledger numbers each subject's states as it decides them (``seq``, lib/ledger.py's ``Place``), the numbers
travel in the message (``Queued.sequences``: one per subject the event moved, so a deletion of several files is
ordered against each file's own events), and the delivery claims them on a **watermark** per destination and
subject before the POST (``Ledger.claim_deliveries``: one conditional UpdateItem, or one transaction of them for
several subjects, all claimed or none): refused on any, a newer state was sent there already, and the message is
dropped (``ForwardSuperseded``). The message's own retry passes again, as does a ``repeated`` copy of the state sent
(the same sequence). A retried callback (or an earlier state re-sent) whose subject has moved on is queued only
where stale events are taken (``unless_moved_on``, from what the ledger answered); a redriven message without a
sequence (queued before there was one) is checked against the ledger's latest state (``moved_on``). A destination
that takes stale events (``filter.stale``) asked for every event as it comes: nothing is claimed or dropped for
it. Without a ledger nothing is claimed: events go in the order they are queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from lib.forward.message import Queued
from lib.intake import InboundEvent
from lib.ledger import LedgerUnavailable, Place, ledger_for
from lib.observability import logger
from lib.settings import Settings

if TYPE_CHECKING:  # the models load only where destinations are configured
    from lib.forward.config import Destination


def moved_on(settings: Settings, product: str, subject: str | None, event_id: str) -> bool:
    """True when the ledger's latest state of ``subject`` is another event's (False without a ledger or a
    subject: nothing to tell). Raises botocore's errors when the ledger cannot be read."""
    ledger = ledger_for(settings)
    if ledger is None or not subject:
        return False
    latest = ledger.latest(product, subject)
    return latest is not None and latest.event_id != event_id


def unless_moved_on(event: InboundEvent, places: Mapping[str, Place],
                    destinations: list[Destination]) -> list[Destination]:
    """The destinations of an event the ledger has just decided: all of them, unless it has moved on in any of
    its subjects (a retry of an event that advanced it, which another event holds since; an earlier state of the
    same rank re-sent): a newer state of that subject may be queued or sent already, so only those that take
    stale events. Decided from the ledger's own answer."""
    if not any(p.moved_on for p in places.values()) or not destinations:
        return destinations
    logger.info("retried delivery whose resource moved on since: queued only where stale events are taken",
                extra={"event_id": event.event_id})
    return [d for d in destinations if d.filter.stale]


def superseded(settings: Settings, queued: Queued, destination: Destination) -> bool:
    """Whether ``queued`` must not be sent to ``destination`` because a newer state of its resource was sent
    there (or is being sent). With sequences: claimed on the destination's watermark of every subject (a pass
    is the claim; refused on any subject, nothing is claimed); a redriven message without one: the ledger's
    latest state is another event's. False without a ledger, a subject, or for a destination that takes stale
    events. ``LedgerUnavailable`` when DynamoDB fails: the caller hands the message back (nothing is lost)."""
    ledger = ledger_for(settings)
    if ledger is None or not queued.subject or destination.filter.stale:
        return False
    if queued.sequences:
        return not ledger.claim_deliveries(destination.name, queued.product, queued.sequences, queued.event_id)
    if not queued.redriven:
        return False
    try:
        return moved_on(settings, queued.product, queued.subject, queued.event_id)
    except (ClientError, BotoCoreError) as exc:
        raise LedgerUnavailable(f"the ledger's state could not be read: {exc}") from exc
