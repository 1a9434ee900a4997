"""Browser uploads: an import item waiting for its file, and a presigned POST to send it."""
from __future__ import annotations

import re

from catalog.imports.errors import UploadTooLarge
from catalog.imports.progress import IMPORT_MODE, PENDING, ImportStore, new_import_id
from catalog.shared.aws import client
from catalog.shared.settings import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._") or "catalog.csv"
    return cleaned[:120]


def create_upload(settings: Settings, file_name: str, size: int | None, mode: str = IMPORT_MODE, *,
                  mapping: dict[str, str] | None = None, preset: str | None = None) -> tuple[dict, dict]:
    """A PENDING import item (`mode`: import or preview) and the presigned POST that uploads its
    file; UploadTooLarge when the announced size is over the limit (the POST policy enforces it again).
    `mapping` and `preset` (checked by the caller: columns.check_mapping, presets) are kept on the item
    for the plan."""
    if size is not None and size > settings.max_upload_bytes:
        raise UploadTooLarge(size, settings.max_upload_bytes)
    import_id = new_import_id()
    key = f"incoming/{import_id}/{safe_file_name(file_name)}"
    store = ImportStore(settings.imports_table)
    store.create(import_id, status=PENDING, source="api", bucket=settings.uploads_bucket, key=key,
                 file_name=file_name, size=size, mode=mode, mapping=mapping or None, preset=preset)
    post = client("s3").generate_presigned_post(
        Bucket=settings.uploads_bucket, Key=key,
        Conditions=[["content-length-range", 1, settings.max_upload_bytes]],
        ExpiresIn=settings.upload_url_seconds)
    upload = {"url": post["url"], "fields": post["fields"], "max_bytes": settings.max_upload_bytes,
              "expires_in": settings.upload_url_seconds}
    return store.get(import_id), upload


def report_url(bucket: str, key: str, download_name: str, seconds: int = 300) -> str:
    return client("s3").generate_presigned_url(
        "get_object", ExpiresIn=seconds,
        Params={"Bucket": bucket, "Key": key, "ResponseContentType": "text/csv",
                "ResponseContentDisposition": f'attachment; filename="{download_name}"'})
