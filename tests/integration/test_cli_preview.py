"""`catalog import --preview` and `catalog import --from ID` against the session's local cloud: the
preview's summary (counts, changes per field, the sample old -> new) with nothing written, then the
previewed file imported without a second upload, doing what the preview said."""
from __future__ import annotations

import re

from tests.integration.test_cli import run, write_csv
from tests.support.cloud import all_products, get_import

HEADER = "sku,name,description,price,active\n"


def preview_id_in(output: str) -> str:
    found = re.search(r"Preview (imp_[0-9]{8}T[0-9]{6}_[0-9a-f]{12}) created", output)
    assert found, output
    return found.group(1)


def test_preview_prints_what_would_change_then_from_imports_the_same_file(local_cloud, tmp_path):
    base = write_csv(tmp_path, "base.csv", HEADER + "CP-1,One,,1.00,true\nCP-2,Two,,2.00,true\nCP-3,Three,,3.00,true\n")
    assert run(local_cloud, "import", str(base)).exit_code == 0
    before = all_products(local_cloud)

    changed = write_csv(tmp_path, "changed.csv",
                        HEADER + "CP-1,One,,1.25,true\nCP-2,Two too,,2.00,false\nCP-3,Three,,3.00,true\nCP-4,Four,,4.00,true\n")
    preview = run(local_cloud, "import", str(changed), "--preview")
    assert preview.exit_code == 0, preview.output
    preview_id = preview_id_in(preview.stderr)
    assert f"Preview {preview_id}: SUCCEEDED" in preview.stdout and "nothing was written" in preview.stdout
    assert all_products(local_cloud) == before
    item = get_import(local_cloud, preview_id)
    assert (item["created"], item["updated"], item["unchanged"]) == (1, 2, 1)
    assert item["field_changes"] == {"sku": 0, "name": 1, "description": 0, "price": 1, "active": 1}
    # The per-field table and each sampled change, old -> new, as printed.
    assert re.search(r"sku\s*┃\s*name\s*┃\s*description\s*┃\s*price\s*┃\s*active\s*┃[^│]*│\s*0\s*│\s*1\s*│\s*0\s*│"
                     r"\s*1\s*│\s*1\s*│", preview.stdout), preview.stdout
    assert re.search(r"2\s+CP-1\s+price\s+1\.00\s+1\.25", preview.stdout), preview.stdout
    assert re.search(r"3\s+CP-2\s+name\s+Two\s+Two too", preview.stdout), preview.stdout
    assert re.search(r"3\s+CP-2\s+active\s+yes\s+no", preview.stdout), preview.stdout
    assert f"catalog import --from {preview_id}" in preview.stdout

    imported = run(local_cloud, "import", "--from", preview_id)
    assert imported.exit_code == 0, imported.output
    found = re.search(r"Import (imp_\S+) started from the file of " + preview_id, imported.stderr)
    assert found, imported.output
    done = get_import(local_cloud, found.group(1))
    assert (done["status"], done["from_import"], done["mode"]) == ("SUCCEEDED", preview_id, "import")
    assert (done["created"], done["updated"], done["unchanged"]) == (1, 2, 1)
    after = all_products(local_cloud)
    assert after["cp-1"]["price"] == "1.25" and after["cp-2"]["active"] is False and "cp-4" in after


def test_import_needs_a_file_or_from_and_a_bad_from_is_named(local_cloud, tmp_path):
    neither = run(local_cloud, "import")
    assert neither.exit_code == 2, neither.output
    unknown = run(local_cloud, "import", "--from", "imp_20200101T000000_000000000000")
    assert unknown.exit_code == 1 and "404" in unknown.stderr and "from_import" in unknown.stderr, unknown.output
