"""Shared fixtures. `local_cloud` starts the whole application once per test session.

The repository root (for `local` and `tests.support`) and the layer's `catalog` package are on the
path through `pythonpath` in pytest.ini."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Test-sized settings: small chunks so a few thousand rows already run many parallel chunks.
LOCAL_CLOUD_PARAMETERS = {"ChunkRows": 1000, "ChunkConcurrency": 4, "MaxUploadBytes": 8 * 1024 * 1024,
                          # webhooks: loopback receivers, retries and timeouts in seconds
                          "WebhookRetrySchedule": "1,1,2", "WebhookAllowPrivateTargets": "true",
                          "WebhookTimeoutSeconds": 2, "WebhookSlowCooldownSeconds": 60}


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory):
    from local.cloud import LocalCloud, free_port
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    cloud = LocalCloud(data_dir=tmp_path_factory.mktemp("local-cloud"), api_port=free_port(),
                       aws_port=free_port(), dynamodb_port=free_port(), parameters=LOCAL_CLOUD_PARAMETERS,
                       environment={"POWERTOOLS_LOG_LEVEL": "WARNING"})
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture
def sample_csv() -> Path:
    return ROOT / "sample_products.csv"
