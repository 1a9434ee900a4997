"""An export's CSV, cut into S3 multipart parts: the import's header and columns, RFC 4180 quoting as
the csv module quotes (QUOTE_MINIMAL: a field holding a comma, a quote, CR or LF is quoted, quotes
doubled), BOM-less UTF-8, CRLF line ends. The stores hand over pages as CSV text: DynamoDB's through
csv_lines (the csv module), PostgreSQL's made by its own statement (the same rule, checked byte for
byte against the csv module by the unit tests), which spares the export a JSON decode and a CSV
encode per row.

Pure: pages in, part bodies out. A part is cut only between pages, once it holds at least
`part_bytes`, so every part but the last is big enough for S3 (5 MiB at least) and a part always
ends where a page's position says the next page starts."""
from __future__ import annotations

import csv
import io

HEADER = ("sku", "name", "description", "price", "active")
MIN_PART_BYTES = 5 * 1024 * 1024     # S3's smallest part (but the last)


def csv_lines(rows: list[list[str]]) -> str:
    """Rows as CSV lines, as the export writes them."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


class PartWriter:
    def __init__(self, part_bytes: int, *, header: bool):
        self.part_bytes = part_bytes
        self._buffer = io.StringIO()
        self.rows = 0                    # rows in the part being filled
        if header:
            self._buffer.write(csv_lines([list(HEADER)]))

    def add(self, text: str, rows: int) -> None:
        self._buffer.write(text)
        self.rows += rows

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
