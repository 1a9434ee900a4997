"""Turning CSV records into validated product rows or row errors."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from . import rules
from .csvfile import Header, Record


@dataclass(slots=True)
class ProductRow:
    line: int
    key: str                 # normalized SKU
    sku: str
    name: str
    description: str
    price: str | None        # canonical decimal string
    active: bool


@dataclass(slots=True)
class RowError:
    line: int
    column: str              # the offending column, or "" for the whole row
    message: str
    values: list[str]        # the row as read, for the error report


def is_blank(record: Record) -> bool:
    fields = record.fields
    return fields is not None and (not fields or (len(fields) == 1 and not fields[0].strip()))


class RowReader:
    """Validates records against one header. Built once per file or chunk."""

    def __init__(self, header: Header):
        p = header.positions
        self._sku = p["sku"]
        self._name = p["name"]
        self._description = p.get("description")
        self._price = p.get("price")
        self._active = p.get("active")
        self._needed = max(p.values()) + 1

    def read(self, record: Record) -> ProductRow | RowError:
        fields = record.fields
        if fields is None:
            return RowError(record.line, "", record.error or "malformed row", [record.raw.rstrip("\r\n")])
        if len(fields) < self._needed:
            fields = fields + [""] * (self._needed - len(fields))
        try:
            sku = rules.parse_sku(fields[self._sku])
            name = rules.parse_name(fields[self._name])
            description = "" if self._description is None else rules.parse_description(fields[self._description])
            price = None if self._price is None else rules.parse_price(fields[self._price])
            active = True if self._active is None else rules.parse_active(fields[self._active])
        except rules.FieldError as error:
            return RowError(record.line, error.field, error.message, list(record.fields))
        return ProductRow(record.line, sku.lower(), sku, name, description, price, active)


def read_rows(records: Iterator[Record], header: Header) -> Iterator[ProductRow | RowError]:
    """Every non-blank record as a row or an error, in file order."""
    read = RowReader(header).read
    for record in records:
        fields = record.fields
        # is_blank(), inlined: this loop runs once per row of every import
        if fields is not None and (not fields or (len(fields) == 1 and not fields[0].strip())):
            continue
        yield read(record)
