"""Imports into the PostgreSQL catalog store (CatalogStore=aurora) through the local cloud's real
entry points: API -> presigned POST -> S3 -> SQS -> Step Functions -> Lambdas -> RDS Data API ->
embedded PostgreSQL, checked in the table's rows (row versions included).

About the PostgreSQL store's rows, so these tests always run on a cloud with CatalogStore=aurora:
the session's cloud when it runs that store (the default), else a cloud of their own, as a user
runs it (`python -m local`, its own process), while the session's runs another store."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from local.cloud import database_arns
from tests.support.auth import api_session
from tests.support.cloud import upload_via_api, wait_for_import
from tests.support.cloud_process import STACK, CloudProcess

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT.parent / "shared" / "tools" / "gen_products.py"


@pytest.fixture(scope="module")
def cloud_on_aurora(request, tmp_path_factory):
    if request.config.getoption("--catalog-store") == "aurora":
        yield request.getfixturevalue("local_cloud")
        return
    cloud = CloudProcess(tmp_path_factory.mktemp("aurora-cloud"), {
        "CatalogStore": "aurora", "ChunkRows": 1000, "ChunkConcurrency": 4, "MaxUploadBytes": 8 * 1024 * 1024})
    yield cloud
    cloud.stop()


@pytest.fixture
def aurora_cloud(cloud_on_aurora):
    """A cloud with CatalogStore=aurora and an empty catalog."""
    cloud = cloud_on_aurora
    assert api_session(cloud, "reader").get(f"{cloud.api_url}/products", timeout=30).status_code == 200   # the catalog's first use migrates it
    _, cluster_arn, secret_arn = database_arns(STACK, "CatalogDatabase")
    cloud.client("rds-data").execute_statement(resourceArn=cluster_arn, secretArn=secret_arn, database="catalog",
                                               sql="DELETE FROM products")
    assert products(cloud) == {}
    return cloud


def products(cloud) -> dict[str, dict]:
    """Every product row, read through the Data API as the functions read it (in pages: a result
    is limited to 1 MB)."""
    _, cluster_arn, secret_arn = database_arns(STACK, "CatalogDatabase")
    out, after = {}, ""
    while True:
        response = cloud.client("rds-data").execute_statement(
            resourceArn=cluster_arn, secretArn=secret_arn, database="catalog", formatRecordsAs="JSON",
            sql="SELECT sku_key, sku, name, description, price::text AS price, active, id, "
                "created_at::text AS created_at, updated_at::text AS updated_at, xmin::text AS version "
                "FROM products WHERE sku_key > :after ORDER BY sku_key LIMIT 1000",
            parameters=[{"name": "after", "value": {"stringValue": after}}])
        rows = json.loads(response["formattedRecords"])
        out.update((row["sku_key"], row) for row in rows)
        if len(rows) < 1000:
            return out
        after = rows[-1]["sku_key"]


def expected_catalog(path: Path) -> dict[str, dict]:
    """Independent reading of a valid file: last row per case-insensitive SKU wins."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        return {row["sku"].strip().lower(): row for row in csv.DictReader(f)}


def test_generated_file_last_row_wins_and_reimport_writes_nothing(aurora_cloud, tmp_path):
    path = tmp_path / "products-5k.csv"
    subprocess.run([sys.executable, str(GENERATOR), "5000", str(path), "--seed", "11",
                    "--columns", "sku,name,description,price,active"], check=True)
    expected = expected_catalog(path)
    item = wait_for_import(aurora_cloud, upload_via_api(aurora_cloud, path), timeout=300)
    assert item["status"] == "SUCCEEDED", item
    assert (item["created"], item["updated"], item["unchanged"], item["failed"]) == (len(expected), 0, 0, 0)
    assert item["duplicates"] == 5000 - len(expected) and item["total_chunks"] == 5

    stored = products(aurora_cloud)
    assert set(stored) == set(expected)
    truthy = {"true", "1", "yes"}
    for key, row in expected.items():
        product = stored[key]
        assert (product["sku"], product["name"], product["description"]) == (row["sku"], row["name"], row["description"])
        assert float(product["price"]) == float(row["price"])
        assert product["active"] is (row["active"] in truthy)
        assert product["created_at"] == product["updated_at"]

    again = wait_for_import(aurora_cloud, upload_via_api(aurora_cloud, path), timeout=300)
    assert again["status"] == "SUCCEEDED", again
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, len(expected))
    assert products(aurora_cloud) == stored          # not one row rewritten (same xmin, same updated_at)


def test_changed_rows_update_in_place_and_bad_rows_are_reported(aurora_cloud, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("sku,name,price\nPG-1,Lamp,10.00\nPG-2,Desk,99.90\n")
    assert wait_for_import(aurora_cloud, upload_via_api(aurora_cloud, first))["status"] == "SUCCEEDED"
    before = products(aurora_cloud)
    second = tmp_path / "second.csv"
    second.write_text("sku,name,price\npg-1,Lamp,12.00\nPG-2,Desk,99.90\nPG-3,,1.00\nPG-4,Shelf,-5\n")
    item = wait_for_import(aurora_cloud, upload_via_api(aurora_cloud, second))
    assert (item["status"], item["created"], item["updated"], item["unchanged"], item["failed"]) == \
        ("SUCCEEDED", 0, 1, 1, 2)
    after = products(aurora_cloud)
    assert (after["pg-1"]["sku"], after["pg-1"]["price"]) == ("pg-1", "12.00")
    assert (after["pg-1"]["id"], after["pg-1"]["created_at"]) == (before["pg-1"]["id"], before["pg-1"]["created_at"])
    assert after["pg-1"]["updated_at"] > before["pg-1"]["updated_at"]
    assert after["pg-2"] == before["pg-2"]
    assert "pg-3" not in after and "pg-4" not in after
    assert item["error_report_url"]
