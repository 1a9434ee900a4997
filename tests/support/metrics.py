"""Reading the metrics handlers print in CloudWatch's embedded metric format (Powertools Metrics)."""
from __future__ import annotations

import json

UNITS = {"ImportDuration": "Seconds", "WebhookDeliveryLatency": "Milliseconds"}     # the rest: Count


def emf(out: str) -> dict[str, list[float]]:
    """Every metric value in the EMF documents printed on stdout, by metric name; each document
    checked to be in the namespace and with the service dimension the template sets."""
    values: dict[str, list[float]] = {}
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "CatalogImporter" and directive["Dimensions"] == [["service"]]
        assert document["service"] == "catalog-importer"
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            values.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
            assert metric["Unit"] == UNITS.get(metric["Name"], "Count"), metric
    return values
