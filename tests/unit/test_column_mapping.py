"""Column mapping: built-in aliases and their priorities, explicit mappings, presets (domain and API),
Shopify product exports read by product, and the headers a failed import reports."""
from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from catalog.imports import lifecycle
from catalog.imports.chunks import process_chunk
from catalog.imports.columns import check_mapping, match_columns
from catalog.imports.csvfile import parse_header
from catalog.imports.errors import BadFileError, InvalidMapping, MissingColumns
from catalog.imports.planner import plan_import
from catalog.imports.presets import PresetStore, drop_folder, mapping_for_import
from catalog.imports.progress import FAILED, QUEUED, SUCCEEDED, ImportStore
from catalog.products import rules
from catalog.shared.settings import get_settings
from tests.support import products_api

SHOPIFY = Path(__file__).resolve().parents[1] / "fixtures" / "shopify_products.csv"


# --- aliases --------------------------------------------------------------------------------
@pytest.mark.parametrize("names, expected", [
    (("Item SKU", "Product Name", "Price (USD)"), {"sku": "Item SKU", "name": "Product Name", "price": "Price (USD)"}),
    (("Product Code", "Title", "Description", "Enabled"),
     {"sku": "Product Code", "name": "Title", "description": "Description", "active": "Enabled"}),
    (("Variant SKU", "Title", "Body (HTML)", "Variant Price", "Published"),
     {"sku": "Variant SKU", "name": "Title", "description": "Body (HTML)", "price": "Variant Price",
      "active": "Published"}),
    (("item_sku", "PRODUCT-NAME", "price(usd)", "Status"),          # case, spacing and punctuation ignored
     {"sku": "item_sku", "name": "PRODUCT-NAME", "price": "price(usd)", "active": "Status"}),
])
def test_aliases_match_headers_written_by_other_systems(names, expected):
    match = match_columns(names)
    assert match.mapping == expected
    assert {field: names[i] for field, i in match.positions.items()} == expected
    assert match.missing == () and match.duplicate is None


def test_the_exact_field_name_wins_then_the_alias_order_and_the_others_are_unknown():
    match = match_columns(("Title", "Variant SKU", "name", "SKU", "Published", "Status", "colour"))
    assert match.mapping == {"sku": "SKU", "name": "name", "active": "Status"}
    assert match.unknown == ("Title", "Variant SKU", "Published", "colour")


def test_a_real_duplicate_header_is_an_error_but_a_lower_ranked_pair_is_not():
    assert match_columns(("sku", "name", "SKU")).duplicate == "sku"
    assert match_columns(("Item SKU", "item-sku", "name")).duplicate == "Item SKU"
    assert match_columns(("Title", "Title", "Product Name", "sku")).duplicate is None
    with pytest.raises(BadFileError, match="column 'Item SKU' appears twice"):
        parse_header(b"Item SKU,name,item sku\n")


def test_an_explicit_mapping_decides_before_the_aliases_and_takes_its_header_from_them():
    match = match_columns(("SKU", "Ref", "Label", "Title"), {"sku": "ref", "name": "Label"})
    assert match.mapping == {"sku": "Ref", "name": "Label"}
    assert match.unknown == ("SKU", "Title")
    # a header an alias would give another field goes where the mapping says
    assert match_columns(("Code", "Title", "Name"), {"sku": "Code", "description": "Title"}).mapping == {
        "sku": "Code", "name": "Name", "description": "Title"}
    # the mapping's header is found ignoring punctuation when no header has its exact name
    assert match_columns(("Art.-Nr.", "Name"), {"sku": "art nr"}).mapping == {"sku": "Art.-Nr.", "name": "Name"}


@pytest.mark.parametrize("mapping, field", [
    ({"colour": "Farbe"}, "mapping.colour"),
    ({"sku": "Code", "name": " code "}, "mapping.name"),
    ({"sku": "   "}, "mapping.sku"),
    ({"sku": "a\tb"}, "mapping.sku"),
    ({"sku": "x" * 256}, "mapping.sku"),
])
def test_a_mapping_with_an_unknown_field_or_a_header_twice_is_refused_naming_the_field(mapping, field):
    with pytest.raises(InvalidMapping) as refused:
        check_mapping(mapping)
    assert list(refused.value.fields) == [field]


def test_missing_required_columns_carry_the_headers_for_a_mapping_form():
    with pytest.raises(MissingColumns) as missing:
        parse_header(b"Ref,Label,Price\n")
    assert missing.value.headers == ["Ref", "Label", "Price"]
    assert missing.value.missing == ["sku", "name"]
    assert missing.value.mapping == {"price": "Price"}
    assert "map a column to each" in missing.value.message
    with pytest.raises(MissingColumns) as absent:
        parse_header(b"sku,name\n", {"price": "Cost"})
    assert absent.value.missing == ["price"] and "'Cost' for price" in absent.value.message


def test_status_words_of_other_systems_are_active_spellings():
    assert [rules.parse_active(v) for v in ("active", "Draft", "ARCHIVED", "inactive", "Enabled", "disabled")] == [
        True, False, False, False, True, False]
    assert rules.ACTIVE_SPELLINGS["draft"] is False and rules.ACTIVE_SPELLINGS["Active"] is True
    with pytest.raises(rules.FieldError, match="draft"):
        rules.parse_active("pending")


# --- planning with a mapping, presets, drop folders -----------------------------------------
def put(body: bytes, key: str) -> str:
    boto3.client("s3").put_object(Bucket="uploads", Key=key, Body=body)
    return key


def manifest(key: str) -> list[dict]:
    return json.loads(boto3.client("s3").get_object(Bucket="uploads", Key=key)["Body"].read())


def products() -> dict[str, dict]:
    items = boto3.client("dynamodb").scan(TableName="products")["Items"]
    return {i["sku"]["S"]: {"name": i["name"]["S"], "description": i.get("description", {}).get("S", ""),
                            "price": i.get("price", {}).get("N") or i.get("price", {}).get("S"),
                            "active": i["active"]["BOOL"]} for i in items}


def run(import_id: str, key: str, **extra) -> dict:
    imports = ImportStore("imports")
    imports.create(import_id, status=QUEUED, source=extra.pop("source", "s3"), bucket="uploads", key=key,
                   file_name=key.rsplit("/", 1)[-1], **extra)
    result = lifecycle.run_plan(get_settings(), import_id)
    for chunk in manifest(result["manifest_key"]):
        process_chunk(get_settings(), chunk)
    lifecycle.finish(get_settings(), import_id)
    return imports.get(import_id)


def test_the_chunks_use_the_columns_the_planner_matched(pipeline_aws):
    key = put(b"Item SKU,Product Name,Price (USD),SKU code\nA-1,Alpha,1.50,x\nA-2,Beta,2.00,y\n", "incoming/a.csv")
    item = run("imp_alias", key)
    assert item["status"] == SUCCEEDED and item["created"] == 2 and item["failed"] == 0
    assert item["column_mapping"] == {"sku": "Item SKU", "name": "Product Name", "price": "Price (USD)"}
    assert item["unknown_columns"] == ["SKU code"]
    chunk = manifest("imports/imp_alias/manifest.json")[0]
    assert chunk["columns"] == {"sku": 0, "name": 1, "price": 2}
    assert products() == {"A-1": {"name": "Alpha", "description": "", "price": "1.50", "active": True},
                          "A-2": {"name": "Beta", "description": "", "price": "2.00", "active": True}}


def test_a_preset_applies_to_drops_under_its_folder_and_the_request_mapping_wins_over_it(pipeline_aws):
    store = PresetStore("imports")
    store.put("acme", {"sku": "Ref", "name": "Label", "price": "Cost"})
    body = b"Ref,Label,Cost,Other\nR-1,One,3.00,Two\n"
    item = run("imp_drop", put(body, "incoming/acme/file.csv"))
    assert item["preset"] == "acme" and item["column_mapping"] == {"sku": "Ref", "name": "Label", "price": "Cost"}
    assert products()["R-1"]["name"] == "One"
    # the request's own mapping over the preset: name from Other, and Label no longer maps anywhere
    item = run("imp_both", put(body, "incoming/imp_both.csv"), source="api", preset="acme", mapping={"name": "Other"})
    assert item["column_mapping"] == {"sku": "Ref", "name": "Other", "price": "Cost"}
    assert products()["R-1"]["name"] == "Two"


def test_folders_without_a_preset_and_api_upload_keys_get_the_aliases(pipeline_aws):
    PresetStore("imports").put("acme", {"sku": "Ref", "name": "Label"})
    assert drop_folder("incoming/acme/x.csv") == "acme" and drop_folder("incoming/x.csv") is None
    assert mapping_for_import(PresetStore("imports"), {"source": "api", "key": "incoming/acme/x.csv"}) == (
        {"sku": "Ref", "name": "Label"}, "acme")     # an import started again from a drop keeps its folder's preset
    item = {"source": "s3", "key": "incoming/other/x.csv"}
    assert mapping_for_import(PresetStore("imports"), item) == ({}, None)
    item = {"source": "api", "key": "incoming/imp_20260101T000000_0123456789ab/x.csv", "mapping": {"sku": "Code"}}
    assert mapping_for_import(PresetStore("imports"), item) == ({"sku": "Code"}, None)


def test_a_missing_column_fails_the_plan_and_the_item_shows_the_headers(pipeline_aws):
    key = put(b"Ref,Label,Price\nR-1,One,1.00\n", "incoming/missing.csv")
    ImportStore("imports").create("imp_missing", status=QUEUED, source="s3", bucket="uploads", key=key, file_name="m.csv")
    with pytest.raises(BadFileError) as refused:
        lifecycle.run_plan(get_settings(), "imp_missing")
    assert type(refused.value) is BadFileError      # the type MarkFailed words as "The file cannot be imported"
    lifecycle.fail(get_settings(), "imp_missing", {"Error": "BadFileError", "Cause": json.dumps({
        "errorMessage": refused.value.message, "errorType": type(refused.value).__name__})})
    item = ImportStore("imports").get("imp_missing")
    assert item["status"] == FAILED
    assert item["error"].startswith("The file cannot be imported: required columns 'sku', 'name' missing")
    assert item["headers"] == ["Ref", "Label", "Price"] and item["missing_columns"] == ["sku", "name"]
    assert item["column_mapping"] == {"price": "Price"}


def test_a_preset_deleted_after_the_request_fails_the_import_by_name(pipeline_aws):
    key = put(b"sku,name\nA,B\n", "incoming/gone.csv")
    ImportStore("imports").create("imp_gone", status=QUEUED, source="api", bucket="uploads", key=key,
                                  file_name="g.csv", preset="gone")
    with pytest.raises(BadFileError, match="preset 'gone' no longer exists"):
        lifecycle.run_plan(get_settings(), "imp_gone")


# --- Shopify --------------------------------------------------------------------------------
SHOPIFY_PRODUCTS = {
    "TEE-S-BLK": {"name": "Classic Tee - S / Black", "price": "19.00", "active": True},
    "TEE-S-WHT": {"name": "Classic Tee - S / White", "price": "19.00", "active": True},
    "TEE-M-BLK": {"name": "Classic Tee - M / Black", "price": "21.00", "active": True},
    "TEE-M-WHT": {"name": "Classic Tee - M / White", "price": "21.00", "active": True},
    "TOTE-1": {"name": "Canvas Tote", "price": "12.50", "active": False},
    "MUG-300": {"name": "Enamel Mug - 300 ml", "price": "9.90", "active": False},
    "MUG-450": {"name": "Enamel Mug - 450 ml", "price": "11.90", "active": False},
}


@pytest.mark.parametrize("chunk_rows, sizes", [(1, [4, 1, 2, 1]), (2, [4, 3, 1]), (3, [4, 3, 1]), (100, [8])])
def test_a_shopify_export_is_cut_only_where_a_product_starts(pipeline_aws, chunk_rows, sizes):
    key = put(SHOPIFY.read_bytes(), "incoming/shopify.csv")
    plan = plan_import("imp_shop", "uploads", key, chunk_rows=chunk_rows, max_bytes=100_000)
    chunks = manifest(plan.manifest_key)
    assert [c["rows"] for c in chunks] == sizes
    assert plan.total_rows == 8 and plan.layout == "shopify"      # image-only rows are no rows
    data = SHOPIFY.read_bytes()
    for chunk in chunks[1:]:    # every later chunk starts on a product's first row: its Title is set
        first_row = data[chunk["start"]:].split(b"\n", 1)[0].decode()
        assert first_row.split(",")[1], first_row
    assert chunks[-1]["end"] == len(data)


@pytest.mark.parametrize("chunk_rows", [1, 3])
def test_a_shopify_export_imports_each_variant_as_a_product(pipeline_aws, monkeypatch, chunk_rows):
    monkeypatch.setenv("CHUNK_ROWS", str(chunk_rows))
    get_settings.cache_clear()
    item = run("imp_shopify", put(SHOPIFY.read_bytes(), "incoming/shopify.csv"))
    assert item["file_layout"] == "shopify"
    assert item["column_mapping"] == {"sku": "Variant SKU", "name": "Title", "description": "Body (HTML)",
                                      "price": "Variant Price", "active": "Status"}
    assert (item["created"], item["failed"], item["rows_processed"], item["duplicates"]) == (7, 1, 8, 0)
    got = products()
    assert {sku: {k: p[k] for k in ("name", "price", "active")} for sku, p in got.items()} == SHOPIFY_PRODUCTS
    assert got["TEE-M-WHT"]["description"] == "<p>Soft cotton tee, pre-shrunk.</p>"
    assert got["MUG-450"]["description"].startswith("<p>Camp mug") and "\n<ul>" in got["MUG-450"]["description"]
    errors = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="uploads", Prefix="imports/imp_shopify/errors/")["Contents"]]
    report = b"".join(boto3.client("s3").get_object(Bucket="uploads", Key=k)["Body"].read() for k in errors).decode()
    line, column, message, *values = report.splitlines()[0].split(",")
    assert (line, column, values[0]) == ("13", "price", "desk-lamp")      # the row as the file has it
    assert "twelve" in message


def test_a_shopify_sku_repeated_in_a_later_product_wins_there_across_chunks(pipeline_aws, monkeypatch):
    monkeypatch.setenv("CHUNK_ROWS", "2")
    get_settings.cache_clear()
    header = SHOPIFY.read_bytes().split(b"\n", 1)[0].decode().split(",")
    again = dict.fromkeys(header, "")
    again.update({"Handle": "tee-again", "Title": "Tee Again", "Variant SKU": "tee-s-blk", "Variant Price": "5.00",
                  "Status": "active"})
    body = SHOPIFY.read_bytes() + (",".join(again[h] for h in header) + "\n").encode()
    item = run("imp_shop_dup", put(body, "incoming/shopify-dup.csv"))
    assert (item["created"], item["failed"], item["duplicates"], item["rows_processed"]) == (7, 1, 1, 9)
    assert products()["tee-s-blk"]["name"] == "Tee Again" and "TEE-S-BLK" not in products()


# --- the API: presets and POST /imports --------------------------------------------------------
@pytest.fixture
def mapping_api(pipeline_aws):
    return products_api.Api(products_api.load_api_module())


def test_presets_are_created_listed_read_replaced_and_deleted(mapping_api):
    api = mapping_api
    status, created = api("PUT", "/mappings/acme", {"mapping": {"sku": "Ref", "name": " Label "}})
    assert status == 201 and created["mapping"] == {"sku": "Ref", "name": "Label"}
    assert api("PUT", "/mappings/basic", {"mapping": {"sku": "Code"}})[0] == 201
    status, replaced = api("PUT", "/mappings/acme", {"mapping": {"sku": "Item", "price": "Cost"}})
    assert status == 200 and replaced["mapping"] == {"sku": "Item", "price": "Cost"}
    assert replaced["created_at"] == created["created_at"]
    status, listed = api("GET", "/mappings")
    assert status == 200 and [p["name"] for p in listed["items"]] == ["acme", "basic"]
    assert api("GET", "/mappings/acme") == (200, replaced)
    # presets are not imports, and import history does not list them
    assert api("GET", "/imports")[1]["items"] == []
    assert api("GET", "/imports/preset#acme")[0] == 404
    assert api("DELETE", "/mappings/acme")[0] == 204
    assert api("DELETE", "/mappings/acme")[0] == 404
    status, body = api("GET", "/mappings/acme")
    assert status == 404 and "acme" in body["error"]
    assert [p["name"] for p in api("GET", "/mappings")[1]["items"]] == ["basic"]


@pytest.mark.parametrize("name, body, field", [
    ("Acme", {"mapping": {"sku": "Ref"}}, "name"),
    ("a b", {"mapping": {"sku": "Ref"}}, "name"),
    ("imp_x", {"mapping": {"sku": "Ref"}}, "name"),
    ("acme", {"mapping": {}}, "mapping"),
    ("acme", {"mapping": {"colour": "Farbe"}}, "mapping.colour"),
    ("acme", {"mapping": {"sku": "Ref", "name": "REF"}}, "mapping.name"),
    ("acme", {"mapping": {"sku": 5}}, "mapping.sku"),
    ("acme", {}, "mapping"),
])
def test_a_bad_preset_is_refused_naming_the_field_and_nothing_is_stored(mapping_api, name, body, field):
    status, reply = mapping_api("PUT", f"/mappings/{name}", body)
    assert status == 422, reply
    assert field in reply["fields"], reply
    assert mapping_api("GET", "/mappings")[1]["items"] == []


def test_post_imports_keeps_the_mapping_and_preset_asked_for(mapping_api):
    api = mapping_api
    api("PUT", "/mappings/acme", {"mapping": {"sku": "Ref"}})
    status, created = api("POST", "/imports", {"file_name": "a.csv", "mapping": {"name": "Label"}, "preset": "acme"})
    assert status == 201, created
    item = api("GET", f"/imports/{created['import']['id']}")[1]
    assert item["mapping"] == {"name": "Label"} and item["preset"] == "acme"


@pytest.mark.parametrize("body, status, field", [
    ({"file_name": "a.csv", "preset": "nope"}, 404, "preset"),
    ({"file_name": "a.csv", "preset": "Not A Name"}, 404, "preset"),
    ({"file_name": "a.csv", "mapping": {"colour": "Farbe"}}, 422, "mapping.colour"),
    ({"file_name": "a.csv", "mapping": {"sku": "Title", "name": "title"}}, 422, "mapping.name"),
    ({"file_name": "a.csv", "mapping": {"sku": ["Ref"]}}, 422, "mapping.sku"),
])
def test_post_imports_refuses_a_bad_mapping_or_an_unknown_preset_and_creates_nothing(mapping_api, body, status, field):
    got, reply = mapping_api("POST", "/imports", body)
    assert got == status, reply
    assert field in reply["fields"], reply
    assert mapping_api("GET", "/imports")[1]["items"] == []


def test_a_reader_may_list_presets_but_not_write_them(pipeline_aws):
    reader = products_api.Api(products_api.load_api_module(), role="reader")
    assert reader("GET", "/mappings")[0] == 200
    assert reader("PUT", "/mappings/acme", {"mapping": {"sku": "Ref"}})[0] == 403
    assert reader("DELETE", "/mappings/acme")[0] == 403
