"""The application's CloudWatch metrics: their names (the template's alarms and dashboard use them)
and the sink the domain records them in.

Handlers pass their Powertools `Metrics` (flushed as EMF by `@metrics.log_metrics`); the domain
only calls `add_metric(name, unit, value)`, so it knows nothing of Lambda or Powertools, and code
that has nothing to report passes nothing (NO_METRICS).
"""
from __future__ import annotations

from typing import Protocol

IMPORTS_SUCCEEDED = "ImportsSucceeded"
IMPORTS_FAILED = "ImportsFailed"
IMPORTS_CANCELLED = "ImportsCancelled"
ROWS_IMPORTED = "RowsImported"
ROWS_FAILED = "RowsFailed"
IMPORT_DURATION = "ImportDuration"
PREVIEWS_SUCCEEDED = "PreviewsSucceeded"     # previews (dry runs) apart: they import nothing
PREVIEWS_FAILED = "PreviewsFailed"
PREVIEWS_CANCELLED = "PreviewsCancelled"
ROWS_PREVIEWED = "RowsPreviewed"
WEBHOOK_DELIVERIES_SUCCEEDED = "WebhookDeliveriesSucceeded"
WEBHOOK_DELIVERIES_FAILED = "WebhookDeliveriesFailed"
WEBHOOK_DELIVERY_LATENCY = "WebhookDeliveryLatency"
WEBHOOK_ENDPOINTS_DISABLED = "WebhookEndpointsDisabled"

COUNT, SECONDS, MILLISECONDS = "Count", "Seconds", "Milliseconds"


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


class _NoMetrics:
    def add_metric(self, name: str, unit: str, value: float) -> None:
        pass


NO_METRICS: MetricsSink = _NoMetrics()
