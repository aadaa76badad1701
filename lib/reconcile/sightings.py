"""When a reconcile run first saw a task final: the grace of a product whose API gives no finish time.

CME's ``DescribeTasks`` (``TaskBaseInfo``) and ``DescribeTaskDetail`` give a task's ``CreateTime`` and
nothing else (no finish or update time: tencentcloud/cme/v20191029/models.py), so "finished more than the
grace ago" cannot be read from Tencent. The first run that sees a CME export final and not in the ledger
writes this marker; only a run at least ``RECONCILE_GRACE_SECONDS`` after it recovers the task. The push
thus gets the grace counted from that first sighting, which comes at most one ``reconcileRate`` after the
real finish: never less than the grace, at most one rate more.

The marker is one item of the ledger's table, outside the ledger's own kinds (``pk`` ``sighting#{product}#
{task_id}``, ``sk`` ``sighting``; ``first_seen`` in epoch seconds), written by a single UpdateItem with
``if_not_exists`` so concurrent or repeated runs keep the first time. It expires (the table's TTL,
``expires_at``) a day after the lookback has passed it: by then the task is out of every run's window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

KIND = "sighting"
KEEP_AFTER_LOOKBACK_SECONDS = 86_400


def first_seen_final(client: Callable[[], Any], table: str, product: str, task_id: str, now: datetime,
                     lookback_seconds: int) -> datetime:
    """When a run first saw this task final: now, unless an earlier run recorded it (one UpdateItem)."""
    moment = int(now.timestamp())
    answer = client().update_item(
        TableName=table, Key={"pk": {"S": f"{KIND}#{product}#{task_id}"}, "sk": {"S": KIND}},
        UpdateExpression="SET first_seen = if_not_exists(first_seen, :now), expires_at = :expires",
        ExpressionAttributeValues={":now": {"N": str(moment)},
                                   ":expires": {"N": str(moment + lookback_seconds + KEEP_AFTER_LOOKBACK_SECONDS)}},
        ReturnValues="ALL_NEW")
    return datetime.fromtimestamp(int(answer["Attributes"]["first_seen"]["N"]), UTC)
