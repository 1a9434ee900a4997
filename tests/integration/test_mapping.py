"""Column mapping end to end through the local cloud (both catalog stores: --catalog-store): aliases,
a Shopify product export, presets through the API and applied to `incoming/<preset>/` drops, an
explicit mapping, the headers a failed import shows, and the CLI's --mapping."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from cli import main as cli_main
from tests.support.auth import api_session, token
from tests.support.cloud import all_products, clear_catalog, upload_via_api, wait_for_history, wait_for_import

SHOPIFY = Path(__file__).resolve().parents[1] / "fixtures" / "shopify_products.csv"


@pytest.fixture
def admin(local_cloud):
    return api_session(local_cloud)


def unique(prefix: str) -> str:
    return f"{prefix}{time.time_ns() % 10**10}"


def drop(cloud, key: str, body: bytes) -> dict:
    """Puts a file in the uploads bucket (as `aws s3 cp` does) and waits for its import to end."""
    cloud.client("s3").put_object(Bucket=cloud.ref("UploadsBucket"), Key=key, Body=body)
    started = wait_for_history(cloud, lambda item: item.get("file_name") == key.rsplit("/", 1)[-1])
    return wait_for_import(cloud, started["id"])


def test_a_file_with_other_headers_imports_through_the_aliases(local_cloud, tmp_path):
    p = unique("al")
    path = tmp_path / "aliases.csv"
    path.write_text(f"Item SKU,Product Name,Price (USD),Warehouse\n{p}-1,Lamp,12.00,B2\n{p}-2,Chair,20.50,C1\n")
    item = wait_for_import(local_cloud, upload_via_api(local_cloud, path))
    assert item["status"] == "SUCCEEDED", item
    assert (item["created"], item["failed"]) == (2, 0)
    assert item["column_mapping"] == {"sku": "Item SKU", "name": "Product Name", "price": "Price (USD)"}
    assert item["unknown_columns"] == ["Warehouse"]
    products = all_products(local_cloud)
    assert {k: (v["name"], v["price"]) for k, v in products.items() if k.startswith(p.lower())} == {
        f"{p}-1".lower(): ("Lamp", "12.00"), f"{p}-2".lower(): ("Chair", "20.50")}


def test_a_shopify_export_imports_each_variant_without_a_mapping(local_cloud):
    clear_catalog(local_cloud)
    item = wait_for_import(local_cloud, upload_via_api(local_cloud, SHOPIFY))
    assert item["status"] == "SUCCEEDED", item
    assert item["file_layout"] == "shopify"
    assert (item["total_rows"], item["created"], item["failed"]) == (8, 7, 1)     # image-only rows are no rows
    assert item["column_mapping"] == {"sku": "Variant SKU", "name": "Title", "description": "Body (HTML)",
                                      "price": "Variant Price", "active": "Status"}
    got = {p["sku"]: (p["name"], p["price"], p["active"]) for p in all_products(local_cloud).values()}
    assert got == {
        "TEE-S-BLK": ("Classic Tee - S / Black", "19.00", True),
        "TEE-S-WHT": ("Classic Tee - S / White", "19.00", True),
        "TEE-M-BLK": ("Classic Tee - M / Black", "21.00", True),
        "TEE-M-WHT": ("Classic Tee - M / White", "21.00", True),
        "TOTE-1": ("Canvas Tote", "12.50", False),         # Status draft
        "MUG-300": ("Enamel Mug - 300 ml", "9.90", False),  # Status archived
        "MUG-450": ("Enamel Mug - 450 ml", "11.90", False),
    }
    descriptions = {p["sku"]: p["description"] for p in all_products(local_cloud).values()}
    assert descriptions["TEE-M-WHT"] == "<p>Soft cotton tee, pre-shrunk.</p>"     # from the product's first row
    link = api_session(local_cloud).get(f"{local_cloud.api_url}{item['error_report_url']}",
                                        headers={"Accept": "application/json"}, timeout=30).json()["url"]
    report = requests.get(link, timeout=30)
    assert report.status_code == 200
    lines = report.text.splitlines()
    assert lines[1].startswith("13,price,") and "desk-lamp" in lines[1]


def test_presets_through_the_api_apply_to_drops_in_their_folder(local_cloud, admin):
    name = unique("acme-")
    url = f"{local_cloud.api_url}/mappings/{name}"
    created = admin.put(url, json={"mapping": {"sku": "Artikel", "name": "Bezeichnung", "price": "Preis"}}, timeout=30)
    assert created.status_code == 201, created.text
    reader = api_session(local_cloud, "reader")
    assert reader.get(url, timeout=30).json()["mapping"] == {"sku": "Artikel", "name": "Bezeichnung", "price": "Preis"}
    assert name in [p["name"] for p in reader.get(f"{local_cloud.api_url}/mappings", timeout=30).json()["items"]]
    assert reader.put(url, json={"mapping": {"sku": "x"}}, timeout=30).status_code == 403

    p = unique("ps")
    body = f"Artikel,Bezeichnung,Preis,Name\n{p}-1,Tasse,4.50,not this one\n".encode()
    item = drop(local_cloud, f"incoming/{name}/{p}.csv", body)
    assert item["status"] == "SUCCEEDED", item
    assert item["preset"] == name and item["column_mapping"]["name"] == "Bezeichnung"
    stored = all_products(local_cloud)[f"{p}-1".lower()]
    assert (stored["name"], stored["price"]) == ("Tasse", "4.50")

    # a folder without a preset: the aliases (here `Name`), as for any drop
    other = drop(local_cloud, f"incoming/{unique('nopreset-')}/{p}-b.csv", f"SKU,Name\n{p}-2,Plain\n".encode())
    assert other["status"] == "SUCCEEDED" and "preset" not in other
    assert all_products(local_cloud)[f"{p}-2".lower()]["name"] == "Plain"

    assert admin.delete(url, timeout=30).status_code == 204
    assert reader.get(url, timeout=30).status_code == 404


def test_post_imports_with_a_preset_and_a_mapping_over_it(local_cloud, admin, tmp_path):
    name = unique("vendor-")
    assert admin.put(f"{local_cloud.api_url}/mappings/{name}",
                     json={"mapping": {"sku": "Ref", "name": "Label"}}, timeout=30).status_code == 201
    p = unique("pm")
    path = tmp_path / "vendor.csv"
    path.write_text(f"Ref,Label,Long label\n{p}-1,Short,A much longer label\n")
    created = admin.post(f"{local_cloud.api_url}/imports", json={
        "file_name": path.name, "size": path.stat().st_size, "preset": name, "mapping": {"name": "Long label"}},
        timeout=30)
    assert created.status_code == 201, created.text
    body = created.json()
    with path.open("rb") as f:
        assert admin.post(body["upload"]["url"], data=body["upload"]["fields"], files={"file": (path.name, f)},
                          timeout=60).status_code in (200, 201, 204)
    item = wait_for_import(local_cloud, body["import"]["id"])
    assert item["status"] == "SUCCEEDED", item
    assert item["preset"] == name and item["mapping"] == {"name": "Long label"}
    assert item["column_mapping"] == {"sku": "Ref", "name": "Long label"}
    assert all_products(local_cloud)[f"{p}-1".lower()]["name"] == "A much longer label"


@pytest.mark.parametrize("body, status, field", [
    ({"preset": "no-such-preset"}, 404, "preset"),
    ({"mapping": {"colour": "Farbe"}}, 422, "mapping.colour"),
    ({"mapping": {"sku": "Title", "name": "TITLE"}}, 422, "mapping.name"),
])
def test_post_imports_refuses_a_bad_mapping_naming_the_field(local_cloud, admin, body, status, field):
    response = admin.post(f"{local_cloud.api_url}/imports", json={"file_name": "x.csv", **body}, timeout=30)
    assert response.status_code == status, response.text
    assert field in response.json()["fields"]


def test_a_missing_column_fails_with_the_headers_and_a_mapping_imports_the_same_file(local_cloud, admin, tmp_path):
    p = unique("mc")
    path = tmp_path / "unmapped.csv"
    path.write_text(f"Ref,Label,Cost\n{p}-1,Desk,99.00\n")
    failed = wait_for_import(local_cloud, upload_via_api(local_cloud, path))
    assert failed["status"] == "FAILED"
    assert "'sku', 'name' missing" in failed["error"]
    assert failed["headers"] == ["Ref", "Label", "Cost"]
    assert failed["missing_columns"] == ["sku", "name"]
    assert failed["column_mapping"] == {}           # Cost is no alias of price either

    created = admin.post(f"{local_cloud.api_url}/imports", json={
        "file_name": path.name, "size": path.stat().st_size,
        "mapping": {"sku": "Ref", "name": "Label", "price": "Cost"}}, timeout=30).json()
    with path.open("rb") as f:
        admin.post(created["upload"]["url"], data=created["upload"]["fields"], files={"file": (path.name, f)}, timeout=60)
    item = wait_for_import(local_cloud, created["import"]["id"])
    assert item["status"] == "SUCCEEDED", item
    stored = all_products(local_cloud)[f"{p}-1".lower()]
    assert (stored["name"], stored["price"]) == ("Desk", "99.00")


def test_the_cli_imports_with_a_named_mapping(local_cloud, admin, tmp_path):
    name = unique("cli-")
    assert admin.put(f"{local_cloud.api_url}/mappings/{name}",
                     json={"mapping": {"sku": "Code", "name": "Label"}}, timeout=30).status_code == 201
    p = unique("cl")
    path = tmp_path / "cli.csv"
    path.write_text(f"Code,Label\n{p}-1,Stool\n")
    env = {"CATALOG_API": local_cloud.api_url, "CATALOG_TOKEN": token(local_cloud, "admin"), "COLUMNS": "200",
           "CATALOG_CLIENT_ID": None, "CATALOG_CLIENT_SECRET": None, "CATALOG_TOKEN_URL": None, "CATALOG_SCOPE": None}
    result = CliRunner().invoke(cli_main.app, ["import", str(path), "--mapping", name, "--poll-interval", "0.2"],
                                env=env, prog_name="catalog")
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.stdout and "sku <- Code" in result.stdout
    assert all_products(local_cloud)[f"{p}-1".lower()]["name"] == "Stool"
    unknown = CliRunner().invoke(cli_main.app, ["import", str(path), "--mapping", "no-such-preset"], env=env,
                                 prog_name="catalog")
    assert unknown.exit_code == 1 and "no-such-preset" in unknown.output
