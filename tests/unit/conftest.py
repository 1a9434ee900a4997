"""Unit tests run against moto's in-process AWS (mock_aws), with the template's table shapes."""
from __future__ import annotations

import os

import boto3
import pytest
from moto import mock_aws

from catalog.shared import cursors
from catalog.shared.aws import client
from catalog.shared.settings import get_settings
from catalog.webhooks import secrets
from tests.support import products_api
from tests.support.data_api import CLUSTER_ARN, DATABASE, SECRET_ARN, empty_postgres_catalog, local_data_api
from tests.support.keys import keys
from tests.support.products_api import STORES
from tests.support.template_resources import template

REGION = "us-east-1"

# The metrics' namespace and service, as the template's Globals set them for every function (the
# handlers' Powertools Metrics read them when their module loads).
for _name in ("POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME"):
    os.environ.setdefault(_name, str(template()["Globals"]["Function"]["Environment"]["Variables"][_name]))


@pytest.fixture(autouse=True)
def fresh_settings_and_clients():
    """Settings, boto3 clients, the cursor key and decrypted webhook secrets are kept once per
    container; each test gets its own."""
    for forget in (get_settings.cache_clear, client.cache_clear, cursors.forget_key, secrets.forget_decrypted):
        forget()
    yield
    for forget in (get_settings.cache_clear, client.cache_clear, cursors.forget_key, secrets.forget_decrypted):
        forget()


@pytest.fixture
def moto_env(monkeypatch):
    """An environment for moto's in-process AWS: fake credentials, no endpoint overrides."""
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    for key, value in {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def pipeline_aws(monkeypatch, moto_env):
    """Tables, bucket and queue of the import pipeline in moto; settings pointed at them."""
    env = {"PRODUCTS_TABLE": "products", "IMPORTS_TABLE": "imports", "UPLOADS_BUCKET": "uploads",
           "CHUNK_ROWS": "4", "MAX_UPLOAD_BYTES": "100000"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        queue = products_api.create_resources()
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="uploads")
        keys(monkeypatch)
        monkeypatch.setenv("EVENTS_QUEUE_URL", queue)
        client.cache_clear()
        get_settings.cache_clear()
        yield {"queue": queue}
        client.cache_clear()
        get_settings.cache_clear()


# --- products API (tests/support/products_api.py) ---------------------------------------------
@pytest.fixture(scope="session")
def data_api(tmp_path_factory):
    """The PostgreSQL catalog store's database: an embedded PostgreSQL behind the local Data API."""
    with local_data_api(tmp_path_factory.mktemp("catalog-postgres")) as running:
        yield running


@pytest.fixture(params=STORES)
def aws(request, monkeypatch, moto_env):
    """moto for everything AWS, and the catalog store named by the parameter (both by default; a
    test about one store's internals says `@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)`):
    the products table, or the PostgreSQL catalog emptied for the test."""
    if request.param == "aurora":
        running = request.getfixturevalue("data_api")
        for key, value in {"CATALOG_STORE": "aurora", "CATALOG_DB_CLUSTER_ARN": CLUSTER_ARN,
                           "CATALOG_DB_SECRET_ARN": SECRET_ARN, "CATALOG_DB_NAME": DATABASE,
                           "AWS_ENDPOINT_URL_RDS_DATA": running["endpoint"]}.items():
            monkeypatch.setenv(key, value)
        empty_postgres_catalog(running)
    monkeypatch.setenv("PRODUCTS_TABLE", "products")
    monkeypatch.setenv("IMPORTS_TABLE", "imports")
    monkeypatch.setenv("IMPORT_STATE_MACHINE_ARN", products_api.IMPORT_ARN)
    monkeypatch.setenv("DELETE_ALL_STATE_MACHINE_ARN", products_api.DELETE_ALL_ARN)
    with mock_aws():
        queue_url = products_api.create_resources()
        keys(monkeypatch)
        monkeypatch.setenv("EVENTS_QUEUE_URL", queue_url)
        get_settings.cache_clear()
        client.cache_clear()
        yield queue_url
        get_settings.cache_clear()
        client.cache_clear()


@pytest.fixture(scope="module")
def api_app():
    return products_api.load_api_module()


@pytest.fixture
def api(aws, api_app):
    return products_api.Api(api_app)
