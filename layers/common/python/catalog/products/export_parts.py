"""An export's CSV, cut into S3 multipart parts: the import's header and columns, RFC 4180 quoting by
the csv module (commas, quotes and line breaks inside fields), BOM-less UTF-8, CRLF line ends.

Pure: rows in, part bodies out. A part is cut only between pages, once it holds at least
`part_bytes`, so every part but the last is big enough for S3 (5 MiB at least) and a part always
ends where a page's position says the next page starts."""
from __future__ import annotations

import csv
import io

HEADER = ("sku", "name", "description", "price", "active")
MIN_PART_BYTES = 5 * 1024 * 1024     # S3's smallest part (but the last)


class PartWriter:
    def __init__(self, part_bytes: int, *, header: bool):
        self.part_bytes = part_bytes
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self.rows = 0                    # rows in the part being filled
        if header:
            self._writer.writerow(HEADER)

    def add(self, rows: list[list[str]]) -> None:
        self._writer.writerows(rows)
        self.rows += len(rows)

    @property
    def full(self) -> bool:
        # Characters never outnumber their UTF-8 bytes: a part this long in characters is big enough.
        return self._buffer.tell() >= self.part_bytes

    @property
    def empty(self) -> bool:
        return self._buffer.tell() == 0

    def take(self) -> tuple[bytes, int]:
        """The part's body and its row count; the writer starts the next part."""
        body, rows = self._buffer.getvalue().encode("utf-8"), self.rows
        self._buffer.seek(0)
        self._buffer.truncate()
        self.rows = 0
        return body, rows
