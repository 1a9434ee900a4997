"""Preview (a dry run) end to end through the local cloud, on the session's catalog store: a
preview through the API writes nothing and publishes nothing, "import this file" (from_import)
then does exactly what it said without a second upload, a file dropped under preview/ gets a
preview, and a bad from_import is refused with a 4xx naming it."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.support.auth import api_session
from tests.support.cloud import all_products, clear_catalog, upload_via_api, wait_for_history, wait_for_import, wait_until

BASE = ("sku,name,description,price,active\n"
        "P-1,Apple,red,1.00,true\n"
        "P-2,Pear,green,2.00,true\n"
        "P-3,Plum,blue,3.00,true\n"
        "P-4,Fig,brown,4.00,true\n")
CHANGED = ("sku,name,description,price,active\n"
           "P-1,Apple,red,1.50,true\n"          # price
           "p-2,Pears,green,2.00,true\n"        # SKU case and name
           "P-3,Plum,blue,3.00,true\n"          # unchanged
           "P-4,Fig,dried,4.00,false\n"         # description and active
           "N-1,New,,9.99,true\n"               # created
           "N-2,,no name,1.00,true\n"           # bad: no name
           "N-3,Three,,1.00,true\n"
           "n-3,Three last,,1.00,true\n")       # wins over N-3: one duplicate
OUTCOME = ("created", "updated", "unchanged", "failed", "duplicates", "rows_processed")


@pytest.fixture
def cloud(local_cloud):
    clear_catalog(local_cloud)
    return local_cloud




def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_preview_then_import_this_file_does_exactly_what_the_preview_said(cloud, captured_events, tmp_path):
    wait_for_import(cloud, upload_via_api(cloud, write(tmp_path, "base.csv", BASE)))
    before = all_products(cloud)

    preview = wait_for_import(cloud, upload_via_api(cloud, write(tmp_path, "changed.csv", CHANGED), mode="preview"))
    assert (preview["status"], preview["mode"]) == ("SUCCEEDED", "preview")
    assert all_products(cloud) == before                    # nothing written: ids, timestamps, values
    assert tuple(preview[k] for k in OUTCOME) == (2, 3, 1, 1, 1, 8)
    assert preview["field_changes"] == {"sku": 1, "name": 1, "description": 1, "price": 1, "active": 1}
    assert preview["sample_changes"] == [
        {"sku": "P-1", "line": 2, "field": "price", "old": "1.00", "new": "1.50"},
        {"sku": "p-2", "line": 3, "field": "sku", "old": "P-2", "new": "p-2"},
        {"sku": "p-2", "line": 3, "field": "name", "old": "Pear", "new": "Pears"},
        {"sku": "P-4", "line": 5, "field": "description", "old": "brown", "new": "dried"},
        {"sku": "P-4", "line": 5, "field": "active", "old": True, "new": False},
    ]
    assert preview["error_report_url"] == f"/imports/{preview['id']}/errors"

    response = api_session(cloud).post(f"{cloud.api_url}/imports", json={"from_import": preview["id"]}, timeout=30)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["upload"] is None
    again = body["import"]
    assert (again["mode"], again["from_import"], again["source"], again["key"], again["file_name"]) == \
           ("import", preview["id"], "api", preview["key"], preview["file_name"])
    done = wait_for_import(cloud, again["id"])
    assert done["status"] == "SUCCEEDED"
    assert tuple(done[k] for k in OUTCOME) == tuple(preview[k] for k in OUTCOME)
    after = all_products(cloud)
    assert after["p-1"]["price"] == "1.50" and after["p-2"]["sku"] == "p-2" and after["n-3"]["name"] == "Three last"
    assert len(after) == len(before) + 2

    # Events come in order: by the import's upload.completed, any the preview published would be in.
    wait_until(lambda: any(e["type"] == "upload.completed" and e["data"]["id"] == done["id"] for e in captured_events),
               message="the import's upload.completed")
    assert [e["data"]["id"] for e in captured_events if e["type"].startswith("upload.")].count(preview["id"]) == 0
    assert not [e for e in captured_events if e["type"].startswith("product.")]


def test_a_file_dropped_under_preview_gets_a_preview_with_its_folder(cloud, tmp_path):
    wait_for_import(cloud, upload_via_api(cloud, write(tmp_path, "base.csv", BASE)))
    before = all_products(cloud)
    key = f"preview/shop-{time.time_ns()}/catalog.csv"
    cloud.client("s3").put_object(Bucket=cloud.ref("UploadsBucket"), Key=key, Body=CHANGED.encode())
    item = wait_for_import(cloud, wait_for_history(cloud, lambda i: i["key"] == key)["id"])
    assert (item["status"], item["mode"], item["source"]) == ("SUCCEEDED", "preview", "s3")
    assert item["drop_folder"] == key.split("/")[1]
    assert tuple(item[k] for k in OUTCOME) == (2, 3, 1, 1, 1, 8)
    assert all_products(cloud) == before


def test_a_bad_from_import_is_refused_naming_it(cloud, tmp_path):
    http = api_session(cloud)

    def post(body: dict) -> requests.Response:
        return http.post(f"{cloud.api_url}/imports", json=body, timeout=30)

    unknown = post({"from_import": "imp_20200101T000000_000000000000"})
    assert unknown.status_code == 404 and "from_import" in unknown.json()["fields"], unknown.text
    neither = post({"mode": "preview"})
    assert neither.status_code == 422 and "file_name" in neither.json()["fields"], neither.text
    bad_mode = post({"file_name": "x.csv", "mode": "dry"})
    assert bad_mode.status_code == 422 and "mode" in bad_mode.json()["fields"], bad_mode.text

    pending = post({"file_name": "never-sent.csv"}).json()["import"]
    waiting = post({"from_import": pending["id"]})
    assert waiting.status_code == 409 and "from_import" in waiting.json()["fields"], waiting.text
    assert "PENDING" in waiting.json()["error"]

    done = wait_for_import(cloud, upload_via_api(cloud, write(tmp_path, "gone.csv", BASE)))
    cloud.client("s3").delete_object(Bucket=cloud.ref("UploadsBucket"), Key=done["key"])
    gone = post({"from_import": done["id"], "mode": "preview"})
    assert gone.status_code == 409 and done["key"] in gone.json()["error"], gone.text
    assert gone.json()["fields"] == {"from_import": f"its file {done['key']} is gone"}
