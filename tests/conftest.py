"""Shared fixtures. `local_cloud` starts the whole application once per test session, with the
catalog in the store `--catalog-store` names (template parameter CatalogStore; by default the
template's default), so the end-to-end suites run against either store:

    pytest tests/integration tests/browser                        # the template's default store
    pytest tests/integration --catalog-store dynamodb             # the other one

The repository root (for `local` and `tests.support`) and the layer's `catalog` package are on the
path through `pythonpath` in pytest.ini."""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Test-sized settings: small chunks so a few thousand rows already run many parallel chunks.
LOCAL_CLOUD_PARAMETERS = {"ChunkRows": 1000, "ChunkConcurrency": 4, "MaxUploadBytes": 8 * 1024 * 1024,
                          # webhooks: loopback receivers, retries and timeouts in seconds
                          "WebhookRetrySchedule": "1,1,2", "WebhookAllowPrivateTargets": "true",
                          "WebhookTimeoutSeconds": 2, "WebhookSlowCooldownSeconds": 60,
                          # exports: S3's smallest parts, and a new worker invocation after every part
                          "ExportPartBytes": 5 * 1024 * 1024, "ExportInvocationSeconds": 0}


def _catalog_store_parameter() -> dict:
    from local import template as tpl
    return tpl.load(ROOT / "template.yaml")["Parameters"]["CatalogStore"]


def pytest_addoption(parser):
    spec = _catalog_store_parameter()
    parser.addoption("--catalog-store", choices=[str(v) for v in spec["AllowedValues"]], default=str(spec["Default"]),
                     help="the catalog store of the session's local cloud (template parameter CatalogStore; "
                          f"default: the template's, {spec['Default']})")


def pytest_configure(config):
    LOCAL_CLOUD_PARAMETERS["CatalogStore"] = config.getoption("--catalog-store")


def pytest_report_header(config):
    return f"catalog store of the local cloud: {LOCAL_CLOUD_PARAMETERS['CatalogStore']} (--catalog-store)"


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory):
    from local.cloud import LocalCloud, free_port
    from local.faults import FaultPlan
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    cloud = LocalCloud(data_dir=tmp_path_factory.mktemp("local-cloud"), api_port=free_port(),
                       aws_port=free_port(), dynamodb_port=free_port(), parameters=LOCAL_CLOUD_PARAMETERS,
                       environment={"POWERTOOLS_LOG_LEVEL": "WARNING"},
                       faults=FaultPlan())          # none in force; tests set them (tests/integration/test_faults.py)
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture
def sample_csv() -> Path:
    return ROOT / "sample_products.csv"


@pytest.fixture
def captured_events(local_cloud):
    """Every event the events queue delivers, in order (recorded on its way to the webhook fan-out)."""
    seen: list[dict] = []
    lock = threading.Lock()
    consumer = next(f.logical_id for f in local_cloud.functions.all() if any(
        p.mapping.function == f.logical_id and p.mapping.queue_url == local_cloud.ref("EventsQueue")
        for p in local_cloud.pollers))

    def wrapper(invoke, event):
        with lock:
            seen.extend(json.loads(r["body"]) for r in event.get("Records", []))
        return invoke(event)
    local_cloud.functions.wrap(consumer, wrapper)
    yield seen
    local_cloud.functions.wrap(consumer, None)
