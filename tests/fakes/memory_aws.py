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


class MemoryDynamoDB:
    """The DynamoDB calls of powertools idempotency and of the ledger, for benchmarks: items in a dict, ``delay``
    per call. Conditions are approximated, enough for events that are each new: an ``attribute_not_exists``
    write to an existing item fails, and so does a ledger update whose ``:rank`` is not above the item's.
    ``writes`` counts the items written, by table, refused conditional writes included (write request units,
    as billed, for items under 1 KB)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.calls = delay, 0
        self.writes: dict[str, int] = {}
        self.items: dict[tuple[str, ...], dict[str, Any]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(table: str, key: dict[str, Any]) -> tuple[str, ...]:
        return (table, *(str(v) for _, v in sorted(key.items())))

    def _wait(self) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.calls += 1

    @staticmethod
    def _refused(old: dict[str, Any] | None) -> Exception:
        from botocore.exceptions import ClientError

        error: Exception = ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "refused"},
                                        "Item": old or {}}, "Write")
        return error

    def _item_key(self, table: str, item: dict[str, Any]) -> tuple[str, ...]:
        names = ("pk", "sk") if "pk" in item else ("id",)
        return self._key(table, {n: item[n] for n in names if n in item})

    def _wrote(self, table: str) -> None:  # called with the lock held
        self.writes[table] = self.writes.get(table, 0) + 1

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self._wait()
        key = self._item_key(kwargs["TableName"], kwargs["Item"])
        with self._lock:
            old = self.items.get(key)
            if old is not None and "attribute_not_exists" in kwargs.get("ConditionExpression", "") \
                    and "#expiry" not in kwargs.get("ExpressionAttributeNames", {}):
                self._wrote(kwargs["TableName"])  # a refused conditional write is billed as a write too
                raise self._refused(old)
            self.items[key] = kwargs["Item"]
            self._wrote(kwargs["TableName"])
        return {}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self._wait()
        key = self._key(kwargs["TableName"], kwargs["Key"])
        values = kwargs.get("ExpressionAttributeValues", {})
        with self._lock:
            old = self.items.get(key)
            if old is not None and ":rank" in values and "rank" in old and int(old["rank"]["N"]) >= int(
                    values[":rank"]["N"]):
                self._wrote(kwargs["TableName"])  # a refused conditional write is billed as a write too
                raise self._refused(old)
            self.items[key] = {**(old or {}), **kwargs["Key"], **{k.lstrip(":"): v for k, v in values.items()}}
            self._wrote(kwargs["TableName"])
        return {}

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        """The ledger's ``change`` transactions and multi-subject claims: the same approximated conditions, all or
        none, every item billed twice (a transactional write)."""
        from botocore.exceptions import ClientError

        self._wait()
        with self._lock:
            reasons: list[dict[str, Any]] = []
            writes: list[tuple[tuple[str, ...], dict[str, Any] | None, dict[str, Any]]] = []
            for action in kwargs["TransactItems"]:
                [(kind, request)] = action.items()
                table, values = request["TableName"], request.get("ExpressionAttributeValues", {})
                key = self._item_key(table, request["Item"]) if kind == "Put" else self._key(table, request["Key"])
                old = self.items.get(key)
                refused = old is not None and (
                    (kind == "Put" and "attribute_not_exists" in request.get("ConditionExpression", ""))
                    or (kind == "Update" and ":rank" in values and "rank" in old
                        and int(old["rank"]["N"]) >= int(values[":rank"]["N"])))
                reasons.append({"Code": "ConditionalCheckFailed", "Item": old} if refused else {"Code": "None"})
                writes.append((key, old, request))
                self.writes[table] = self.writes.get(table, 0) + 2
            if any(r["Code"] != "None" for r in reasons):
                raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                                   "CancellationReasons": reasons}, "TransactWriteItems")
            for key, old, request in writes:
                if "Item" in request:
                    self.items[key] = request["Item"]
                else:
                    values = request.get("ExpressionAttributeValues", {})
                    self.items[key] = {**(old or {}), **request["Key"],
                                       **{k.lstrip(":"): v for k, v in values.items()}}
        return {}

    def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        self._wait()
        with self._lock:
            self.items.pop(self._key(kwargs["TableName"], kwargs["Key"]), None)
            self._wrote(kwargs["TableName"])
        return {}

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        self._wait()
        with self._lock:
            for table, requests in kwargs["RequestItems"].items():
                for request in requests:
                    item = request["PutRequest"]["Item"]
                    self.items[self._item_key(table, item)] = item
                    self._wrote(table)
        return {"UnprocessedItems": {}}

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self._wait()
        item = self.items.get(self._key(kwargs["TableName"], kwargs["Key"]))
        return {"Item": item} if item is not None else {}


class MemorySQS:
    """SendMessageBatch into memory; ``delay`` models a network round trip."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.calls = delay, 0
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.calls += 1
            self.messages += kwargs["Entries"]
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]], "Failed": []}
