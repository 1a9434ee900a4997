"""The handlers' Powertools `Metrics` (CloudWatch embedded metric format, flushed to the log by
`@metrics.log_metrics`), safe to use from several threads.

Powertools keeps a metric set per process and is not thread-safe: one thread flushing while
another adds a metric fails with "dictionary changed size during iteration". The delivery
function records from its worker threads, and the local cloud runs several invocations of a
handler at once in one process; so each handler's metric set is its own (not Powertools' shared
one) and is read and changed under a lock. On Lambda this changes nothing but the lock. An
invocation with nothing to record (most imports starting, a retried step) publishes nothing,
without Powertools' "No application metrics to publish" warning.
"""
from __future__ import annotations

import threading

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider


class _LockedEMFProvider(AmazonCloudWatchEMFProvider):
    _lock = threading.RLock()

    def add_metric(self, *args, **kwargs) -> None:
        with self._lock:
            super().add_metric(*args, **kwargs)

    def serialize_metric_set(self, *args, **kwargs) -> dict:
        with self._lock:
            return super().serialize_metric_set(*args, **kwargs)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        with self._lock:
            if self.metric_set or raise_on_empty_metrics:    # nothing to publish is a normal outcome here
                super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)

    def clear_metrics(self) -> None:
        with self._lock:
            super().clear_metrics()


def handler_metrics() -> Metrics:
    """A handler's metrics; namespace and service from POWERTOOLS_METRICS_NAMESPACE and
    POWERTOOLS_SERVICE_NAME (the service is the default dimension)."""
    return Metrics(provider=_LockedEMFProvider())
