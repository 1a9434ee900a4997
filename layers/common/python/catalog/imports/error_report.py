"""Finishing an import: check every chunk was counted, join the error report, close the item."""
from __future__ import annotations

import csv
import io

from catalog.shared.aws import client

REPORT_HEADER_PREFIX = ["line", "column", "message"]
MULTIPART_MIN = 8 * 1024 * 1024


def report_key_for(import_id: str) -> str:
    return f"reports/{import_id}/errors.csv"


def write_error_report(bucket: str, import_id: str, header_names: list[str]) -> str | None:
    """Concatenates the chunks' error parts, in file order, under one header. None if no errors."""
    s3 = client("s3")
    prefix = f"imports/{import_id}/errors/"
    part_keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        part_keys += [o["Key"] for o in page.get("Contents", [])]
    if not part_keys:
        return None
    head = io.StringIO(newline="")
    csv.writer(head).writerow(REPORT_HEADER_PREFIX + [n or f"column_{i + 1}" for i, n in enumerate(header_names)])
    key = report_key_for(import_id)
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/csv")
    parts, buffer = [], bytearray(b"\xef\xbb\xbf" + head.getvalue().encode())

    def flush():
        number = len(parts) + 1
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number,
                              Body=bytes(buffer))["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
        buffer.clear()

    for part_key in sorted(part_keys):
        buffer += s3.get_object(Bucket=bucket, Key=part_key)["Body"].read()
        if len(buffer) >= MULTIPART_MIN:
            flush()
    if buffer or not parts:
        flush()
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": parts})
    return key
