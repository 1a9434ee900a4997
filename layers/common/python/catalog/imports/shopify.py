"""Reading a Shopify product export (columns.match_columns recognizes it by `Handle` and `Variant SKU`).

Shopify writes one row per variant, grouped by Handle: only a product's first row carries Title,
Body (HTML) and Status (or Published); its further variant rows carry the Handle, their option
values, Variant SKU and Variant Price; image-only rows carry the Handle and Image Src. Each variant
row becomes one product: sku = Variant SKU, name = Title, followed by " - " and the option values
(" / " between them) when the product has options (Shopify's "Default Title" is no option),
description = Body (HTML), price = Variant Price, active = Status (active; draft and archived are
inactive) or Published. Image-only rows are not products: skipped like blank lines, never counted.

Rows inherit from their group's first row, so the planner cuts chunks only where a group starts
(`starts_group`), and a chunk reads its rows in order with one ShopifyRows. This path is slower than
rows.read_text_rows and runs only for such files.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from catalog.imports.csvfile import Header, Record
from catalog.imports.rows import ProductRow, RowError, RowReader, is_blank, tally_rows

DEFAULT_OPTION = "Default Title"     # the one option value of a product without options
_FIELDS = ("sku", "name", "description", "price", "active")


class ShopifyRows:
    """Turns the records of a Shopify export, read in file order from a group's first row, into
    product rows (None for an image-only row)."""

    def __init__(self, header: Header):
        p, layout = header.positions, header.layout or {}
        self._columns = [p.get(f) for f in _FIELDS]
        self._handle = int(layout["handle"])
        self._options = [int(i) for i in layout.get("options", ())]
        self._needed = max([c for c in self._columns if c is not None] + [self._handle, *self._options]) + 1
        # The canonical row the RowReader validates: sku, name, description, price, active, in this order.
        self._reader = RowReader(Header(names=_FIELDS, positions={f: i for i, f in enumerate(_FIELDS)
                                                                  if self._columns[i] is not None}))
        self._group: str | None = None
        self._inherited = ("", "", "")       # the group's first row: title, description, active

    def _value(self, fields: list[str], index: int | None) -> str:
        return fields[index] if index is not None else ""

    def starts_group(self, fields: list[str] | None) -> bool:
        """Whether this record starts a product (a new Handle, or a row with a title)."""
        if fields is None or len(fields) <= self._handle:
            return False
        return fields[self._handle].strip() != self._group or bool(self._value(fields, self._columns[1]).strip())

    def read(self, record: Record) -> ProductRow | RowError | None:
        fields = record.fields
        if fields is None:
            return RowError(record.line, "", record.error or "malformed row", [record.raw.rstrip("\r\n")])
        values = fields
        if len(fields) < self._needed:
            fields = fields + [""] * (self._needed - len(fields))
        sku_i, name_i, description_i, price_i, active_i = self._columns
        options = [fields[i].strip() for i in self._options]
        if self.starts_group(fields):
            self._group = fields[self._handle].strip()
            self._inherited = (fields[name_i], self._value(fields, description_i), self._value(fields, active_i))
        elif not fields[sku_i].strip() and not self._value(fields, price_i).strip() and not any(options):
            return None                      # an image-only row of the product
        title, description, active = self._inherited
        options = [o for o in options if o and o != DEFAULT_OPTION]
        name = f"{title.strip()} - {' / '.join(options)}" if options and title.strip() else title
        canonical = [fields[sku_i], name, self._value(fields, description_i).strip() or description,
                     self._value(fields, price_i), self._value(fields, active_i).strip() or active]
        row = self._reader.read_fields(record.line, canonical)
        if type(row) is RowError:
            row.values = list(values)        # the report shows the row as the file has it
        return row


def shopify_rows(records: Iterable[Record], header: Header) -> Iterator[ProductRow | RowError]:
    """The product rows (and bad rows) of a chunk that starts where a group starts, in file order."""
    reader = ShopifyRows(header)
    for record in records:
        if is_blank(record):
            continue
        row = reader.read(record)
        if row is not None:
            yield row


def read_shopify_rows(records: Iterable[Record], header: Header, skip: frozenset[int] = frozenset()
                      ) -> tuple[dict[str, ProductRow], list[RowError], int, int]:
    """As rows.read_text_rows, for a chunk of a Shopify export."""
    return tally_rows(shopify_rows(records, header), skip)
