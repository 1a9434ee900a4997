"""Configuration read from the environment the template (or the local cloud) sets."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    products_table: str
    imports_table: str
    uploads_bucket: str
    events_queue_url: str
    state_machine_arn: str
    max_upload_bytes: int
    chunk_rows: int
    chunk_concurrency: int
    upload_url_seconds: int
    page_size: int
    name_search_scan_segments: int


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        products_table=env.get("PRODUCTS_TABLE", "products"),
        imports_table=env.get("IMPORTS_TABLE", "imports"),
        uploads_bucket=env.get("UPLOADS_BUCKET", "uploads"),
        events_queue_url=env.get("EVENTS_QUEUE_URL", ""),
        state_machine_arn=env.get("STATE_MACHINE_ARN", ""),
        max_upload_bytes=_int("MAX_UPLOAD_BYTES", 1024 * 1024 * 1024),
        chunk_rows=_int("CHUNK_ROWS", 10_000),
        chunk_concurrency=_int("CHUNK_CONCURRENCY", 40),
        upload_url_seconds=_int("UPLOAD_URL_SECONDS", 900),
        page_size=_int("PAGE_SIZE", 50),
        name_search_scan_segments=_int("NAME_SEARCH_SCAN_SEGMENTS", 4),
    )
