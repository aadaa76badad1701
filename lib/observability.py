"""The process-wide powertools Logger, Metrics and Tracer (configured by POWERTOOLS_* variables)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "mediahook"
NAMESPACE = "Mediahook"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def count(name: str, **dimensions: str) -> None:
    """Emit one count with its own dimensions (an EMF line), e.g. events by product and type."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)
