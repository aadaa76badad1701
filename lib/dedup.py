"""Exactly-once effects: powertools idempotency keyed by the event's identity, persisted in DynamoDB.

An event's identity is its product with its ``event_id``, as CloudEvents defines uniqueness (``source``
and ``id`` together): one body delivered as VOD and as MPS (a VTS payload both products send) is two
events, each archived and published under its own product.

Tencent's push deliveries carry no id and arrive more than once (retries, ``TasksNotifyMode=Change``,
a pushed and a pulled copy). The archive-and-publish step runs at most once per (product, ``event_id``):

* a copy that arrives after the first completed gets the stored result back, marked duplicate;
* a copy that arrives while the first is in flight gets ``InProgress`` (503, retry later);
* a failure inside the step deletes the in-progress record, so the retry runs the step again (and
  the archive's conditional write makes the second run find its object instead of writing another).

The key prefix is fixed, not the powertools default (which includes the function name), so the
callback, pull and queue functions share one record per event.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceConnectionError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lib import aws
from lib.errors import InProgress, StorageUnavailable
from lib.observability import count, logger

KEY_PREFIX = "mediahook-event"
EVENT_KEY = "[product, event_id]"  # powertools hashes what this selects of ``identity``'s dict
# Longer than Tencent's 4-day retention of unconfirmed VOD events, so a late redelivery still dedupes.
RECORD_TTL_SECONDS = 5 * 24 * 3600

Effects = Callable[..., dict[str, Any]]
_context: LambdaContext | None = None


def register_context(context: Any) -> None:
    """Remember the invocation's context so in-flight records expire with the Lambda's time budget
    (a crashed invocation does not block its event for the record's whole TTL)."""
    global _context
    _context = context if hasattr(context, "get_remaining_time_in_millis") else None


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    """powertools calls this only when it answers from the store: the event was seen before."""
    return {**response, "duplicate": True} if isinstance(response, dict) else response


@functools.cache
def _runner(table: str, effects: Effects) -> Effects:
    config = IdempotencyConfig(
        event_key_jmespath=EVENT_KEY,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RECORD_TTL_SECONDS,
        response_hook=_mark_duplicate,
    )
    persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=aws.client("dynamodb"))

    def effects_once(*, key: dict[str, str], done: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        result = effects(**kwargs)
        done["result"] = result  # seen by ``call`` if powertools then fails to save the record
        return result

    run = cast(Effects, idempotent_function(effects_once, data_keyword_argument="key", persistence_store=persistence,
                                            config=config, key_prefix=KEY_PREFIX))

    def call(**kwargs: Any) -> dict[str, Any]:
        if _context is not None:
            config.register_lambda_context(_context)
        done: dict[str, Any] = {}
        event = kwargs["event"]
        key = identity(event.product, event.event_id)
        try:
            return run(key=key, done=done, **kwargs)
        except (IdempotencyPersistenceLayerError, IdempotencyPersistenceConnectionError):
            if "result" not in done:
                raise
            # The event is archived and published; only marking its record COMPLETED failed. A 5xx
            # now would send the sender into a record stuck IN_PROGRESS and, once that expired, to a
            # second publication. So: try once more to complete the record, and acknowledge anyway.
            result: dict[str, Any] = done["result"]
            try:
                persistence.save_success(data=key, result=result)
            except Exception:  # noqa: BLE001 - still failing: acknowledged, with a warning to act on
                logger.warning("event archived and published, but its idempotency record could not be "
                               "completed; a copy delivered after the record expires would be published again",
                               extra={"event_id": key["event_id"], "product": key["product"]})
            return result

    return call


def identity(product: str, event_id: str) -> dict[str, str]:
    """The data an event's record is keyed by (through ``EVENT_KEY``): its product and event_id."""
    return {"product": product, "event_id": event_id}


def status(table: str | None, product: str, event_id: str) -> str | None:
    """The event's record status: ``COMPLETED`` once archived and published, ``INPROGRESS`` while a
    delivery is on it, ``NONE`` when no delivery finished (a failed run deletes its record; an in-flight
    record whose invocation died counts as none); None without a table. Reconciliation reads it to tell
    an event recorded in the ledger but never published (its delivery failed after the ledger's write)."""
    if not table:
        return None
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemNotFoundError

    persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=aws.client("dynamodb"))
    persistence.configure(IdempotencyConfig(event_key_jmespath=EVENT_KEY), key_prefix=KEY_PREFIX)
    try:
        record = persistence.get_record(identity(product, event_id))
    except IdempotencyItemNotFoundError:
        return "NONE"
    if record is None:
        return "NONE"
    expiry = record.in_progress_expiry_timestamp
    if record.status == "INPROGRESS" and expiry is not None and expiry < time.time() * 1000:
        return "NONE"  # its invocation died: nobody is on it
    return str(record.status)


def run_once(table: str | None, effects: Effects, **kwargs: Any) -> dict[str, Any]:
    """Run ``effects(**kwargs)`` once per event; without a table, just run it (the archive's
    conditional write still keeps one object per event_id per day)."""
    if not table:
        return effects(**kwargs)
    try:
        return _runner(table, effects)(**kwargs)
    except IdempotencyAlreadyInProgressError:
        raise InProgress("this event is being processed by another delivery; retry shortly") from None
    except (IdempotencyPersistenceLayerError, IdempotencyPersistenceConnectionError,
            IdempotencyInconsistentStateError) as exc:
        count("Failures", stage="dedup")
        raise StorageUnavailable("the deduplication store is unavailable; the delivery was not acknowledged") from exc


def reset() -> None:
    """Forget the cached persistence layers (tests switch tables and endpoints)."""
    _runner.cache_clear()
