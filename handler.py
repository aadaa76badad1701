"""Lambda entry points. Each is thin: observability context, then one call into ``lib``."""

from __future__ import annotations

from typing import Any

from lib import api, dedup
from lib.observability import counting, logger, metrics, traced
from lib.settings import get_settings


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def callback(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Push deliveries (VOD, CME, MPS by URL) through API Gateway or a function URL."""
    dedup.register_context(context)
    with counting():
        return api.handle(event, context)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def pull(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """VOD reliable callback, on a schedule: PullEvents, process, ConfirmEvents. Returns the run's summary."""
    from lib import pull as vod_pull  # the Tencent SDK is loaded on this path only

    dedup.register_context(context)
    with counting():
        return vod_pull.run(get_settings(), context).as_dict()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def queue(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """MPS notifications from AWS SQS, with partial batch failures."""
    from lib import sqs

    dedup.register_context(context)
    with counting():
        return sqs.handle(event, context)
