"""A few of the CSV path's property examples (tests/unit/test_import_properties.py runs hundreds
against moto) through the local cloud's real entry points: API, presigned POST, S3, SQS, Step
Functions, the Lambdas and the session's catalog store. Each catalog, written as a spreadsheet
writes it, must import as the reference model says, with exactly its bad rows reported."""
from __future__ import annotations

import csv
import io

import requests
from hypothesis import HealthCheck, given, settings

from tests.support.auth import api_session
from tests.support.catalogs import catalogs, expected_active, expected_price, reference_model, write_csv
from tests.support.cloud import all_products, clear_catalog, upload_via_api, wait_for_import

E2E_EXAMPLES = 4        # each a whole import through the local cloud (~3 s)


def reported_lines(cloud, item: dict) -> list[int]:
    if not item.get("error_report_url"):
        return []
    link = api_session(cloud, "reader").get(cloud.api_url + item["error_report_url"], allow_redirects=False,
                                            timeout=30)
    assert link.status_code == 302, link.text
    text = requests.get(link.headers["Location"], timeout=30).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [int(row[0]) for row in rows[1:]]


@settings(max_examples=E2E_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
@given(catalog=catalogs())
def test_spreadsheet_catalogs_import_end_to_end_as_the_model_says(local_cloud, tmp_path_factory, catalog):
    body, starts = write_csv(catalog)
    expected, bad_lines, duplicates = reference_model(catalog, starts)
    path = tmp_path_factory.mktemp("property") / "catalog.csv"
    path.write_bytes(body)
    clear_catalog(local_cloud)

    item = wait_for_import(local_cloud, upload_via_api(local_cloud, path))
    assert item["status"] == "SUCCEEDED", item
    assert (item["created"], item["failed"], item["duplicates"], item["rows_processed"]) == (
        len(expected), len(bad_lines), duplicates, len(catalog["rows"]))
    products = all_products(local_cloud)
    assert set(products) == set(expected)
    for key, row in expected.items():
        product = products[key]
        assert (product["sku"], product["name"], product["description"]) == (
            row["sku"].strip(), row["name"].strip(), row["description"].strip())
        assert product["price"] == expected_price(row["price"]) and product["active"] is expected_active(row["active"])
    assert sorted(reported_lines(local_cloud, item)) == sorted(bad_lines)
