"""What a refused request costs: always a count, a log line only within a budget.

The callback URL is public, so anyone can send it requests that are refused (401, 400, 404, 405, 413).
Each is already billed by API Gateway and Lambda; a log line per refusal would add CloudWatch Logs'
per-GB price on top, and a flood of forged deliveries would write its size again in logs. So, per
sandbox: every refusal is counted in the ``Rejections`` metric (by reason: written once per invocation
as EMF, which is what the alarms read), the first ``REFUSAL_LOG_PER_MINUTE`` of each minute are logged
one by one (one short line), and the rest only in one summary line for the minute, written with the
next refusal or at the end of the next invocation after the minute is over.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from lib.observability import count, logger

DEFAULT_BUDGET = 20  # refusals logged one by one per sandbox and minute
WINDOW_SECONDS = 60.0


class RefusalLog:
    """The per-sandbox budget of refusal log lines. Thread-safe: a batch is processed in threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: float = WINDOW_SECONDS) -> None:
        self._clock, self._window = clock, window
        self._lock = threading.Lock()
        self._started = clock()
        self._logged = 0
        self._suppressed: Counter[str] = Counter()

    def refused(self, status: int, reason: str, budget: int = DEFAULT_BUDGET) -> None:
        """Count one refusal; log it if this minute's budget allows, else keep it for the summary."""
        count("Rejections", reason=reason)
        self.summarize_if_due()
        with self._lock:
            within = self._logged < budget
            if within:
                self._logged += 1
            else:
                self._suppressed[reason] += 1
        if within:
            logger.warning("refused", extra={"status": status, "reason": reason})

    def summarize_if_due(self) -> None:
        """Once the minute is over: one line for the refusals it did not log, and a fresh budget."""
        with self._lock:
            now = self._clock()
            if now - self._started < self._window:
                return
            suppressed, self._suppressed = self._suppressed, Counter()
            self._started, self._logged = now, 0
        if suppressed:
            logger.warning("refusals not logged one by one (over the budget of the minute)",
                           extra={"suppressed": sum(suppressed.values()), "by_reason": dict(suppressed)})

    def pending(self) -> int:
        """How many refusals the next summary will report."""
        with self._lock:
            return sum(self._suppressed.values())


refusals = RefusalLog()
