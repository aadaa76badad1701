"""Lambda entry points. Each is thin: observability context, then one call into ``lib``."""

from __future__ import annotations

from typing import Any

from lib import api, dedup
from lib.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def callback(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Push deliveries (VOD, CME, MPS by URL) through API Gateway or a function URL."""
    dedup.register_context(context)
    return api.handle(event, context)
