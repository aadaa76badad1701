"""What an answer means for a message, and how long to wait before the next attempt.

2xx: delivered. 408, 425, 429, 5xx, a timeout, a connection error: tried again later, with exponential
backoff and full jitter (AWS's "Exponential Backoff And Jitter"), or after ``Retry-After`` when the
endpoint says how long, until the destination's maximum age. Anything else (other 4xx, and 3xx: no
redirect is followed) is the endpoint refusing this message: trying again would only fail again, so it
goes to the dead-letter queue at once.
"""

from __future__ import annotations

import random
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Literal

Verdict = Literal["delivered", "retry", "rejected"]
RETRIED_STATUSES = frozenset({408, 425, 429})
BASE_DELAY = 2  # seconds before the first retry (at most: full jitter)
MAX_DELAY = 900  # at most 15 minutes between attempts
MAX_VISIBILITY = 43_200  # SQS's maximum visibility timeout (12 hours)


def verdict(status: int | None) -> Verdict:
    """None: no answer (timeout, connection error)."""
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    if status in RETRIED_STATUSES or status >= 500:
        return "retry"
    return "rejected"


def retry_after_seconds(value: str | None, now: float) -> int | None:
    """``Retry-After``: delta seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int(moment.timestamp() - now + 0.999))


def backoff_seconds(attempt: int, retry_after: int | None = None, rng: random.Random | None = None) -> int:
    """The wait before attempt ``attempt + 1`` (``attempt`` >= 1 attempts made): ``Retry-After`` when given
    (within SQS's 12 hours), else a uniform draw in [1, min(MAX_DELAY, BASE_DELAY * 2**(attempt-1))]."""
    if retry_after is not None:
        return min(max(retry_after, 1), MAX_VISIBILITY)
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** min(max(attempt - 1, 0), 20))
    return max(1, round((rng or random).uniform(0, ceiling)))
