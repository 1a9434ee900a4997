"""The sample events in events/ (one or more per function) and the uploaded file they refer to.

A function's samples are `events/<function folder>.json` or `events/<function folder>_<what>.json`
(e.g. `api_get_import.json`). They tell one story, in the names the local cloud gives the stack
`catalog`: SAMPLE_FILE is dropped into the uploads bucket as SAMPLE_KEY; import_start starts the
import SAMPLE_IMPORT_ID; plan_import, process_chunk, finish_import (or mark_import_failed) run its
steps; the API reports it; its upload.completed event is fanned out (webhook_fanout) to the endpoint
SAMPLE_ENDPOINT_ID, which gets the delivery (webhook_deliver).
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

SAMPLE_BUCKET = "catalog-uploadsbucket"
SAMPLE_KEY = "incoming/catalog.csv"
SAMPLE_IMPORT_ID = "imp_20261126T100000_f7f16a80573d"       # import_id_for_object() of the sample upload
SAMPLE_ENDPOINT_ID = "wh_3c5e7a9b1d2f4a6c"
SAMPLE_JOB_ID = "del_20261126T110000_4f9a0c2b7d1e"
SAMPLE_EXPORT_ID = "exp_20261130T031500_4f9a0c2b7d1e"      # the export job of export.json
# Seven rows; RUG-005's price is not a number. Its size and MD5 are in the S3 event and the chunk.
SAMPLE_FILE = (
    "sku,name,description,price\n"
    'TOTE-001,Canvas tote,"Heavy canvas, natural",12.50\n'
    "MUG-002,Stoneware mug,Glazed stoneware,9.00\n"
    "LAMP-003,Desk lamp,Matte steel,39.90\n"
    "CHAIR-004,Oak chair,,120\n"
    "RUG-005,Linen rug,Hand woven,abc\n"
    "VASE-006,Glass vase,Clear glass,18.00\n"
    "BOWL-007,Café bowl,Ceramic,7.5\n"
).encode()


def function_folders() -> list[str]:
    return sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file())


def event_files(folder: str) -> list[Path]:
    """The sample events of the function in functions/<folder> (none claimed by a longer folder name)."""
    others = [f for f in function_folders() if f != folder and f.startswith(folder + "_")]
    return sorted(p for p in EVENTS.glob("*.json")
                  if (p.stem == folder or p.stem.startswith(folder + "_"))
                  and not any(p.stem == o or p.stem.startswith(o + "_") for o in others))


def load_event(name: str) -> dict:
    """events/<name>.json"""
    return json.loads((EVENTS / f"{name}.json").read_text())
