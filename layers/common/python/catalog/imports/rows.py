"""Turning CSV records into validated product rows or row errors."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Iterator, NamedTuple

from catalog.imports.csvfile import Header, Record, describe_csv_error
from catalog.products import rules


class ProductRow(NamedTuple):
    # A named tuple, not a dataclass: the import builds one per row, and a tuple is built in C.
    line: int
    key: str                 # normalized SKU
    sku: str
    name: str
    description: str
    price: str | None        # canonical decimal string
    active: bool


_new_row = tuple.__new__     # ProductRow(...) without the Python-level __new__: _new_row(ProductRow, (...))


@dataclass(slots=True)
class RowError:
    line: int
    column: str              # the offending column, or "" for the whole row
    message: str
    values: list[str]        # the row as read, for the error report


def is_blank(record: Record) -> bool:
    fields = record.fields
    return fields is not None and (not fields or (len(fields) == 1 and not fields[0].strip()))


def _quick_reader(reader: "RowReader"):
    """The import's hot check, run once per row by the planner and the chunks: the row of a record
    whose values all pass the fast checks (rules.py: each accepts only values its parser accepts
    unchanged), else None, for the full rules to decide. A closure, so the loop reads no attributes."""
    si, ni, di, pi, ai = reader._sku, reader._name, reader._description, reader._price, reader._active
    needed = reader._needed
    sku_max, name_max, description_max = rules.SKU_MAX, rules.NAME_MAX, rules.DESCRIPTION_MAX
    canonical_price, active_spellings = rules.is_canonical_price, rules.ACTIVE_SPELLINGS
    new_row = _new_row

    def quick(line: int, fields: list[str]) -> ProductRow | None:
        if len(fields) < needed:            # sku and name are two columns: a blank line never passes
            return None
        sku = fields[si].strip()
        name = fields[ni].strip()
        # not sku.isprintable(): maybe control characters; the rule decides
        if not (0 < len(sku) <= sku_max and 0 < len(name) <= name_max and sku.isprintable()):
            return None
        description = "" if di is None else fields[di].strip()
        price = None if pi is None else (fields[pi].strip() or None)
        active = True if ai is None else active_spellings.get(fields[ai])
        if len(description) > description_max or active is None or not (price is None or canonical_price(price)):
            return None
        return new_row(ProductRow, (line, sku.lower(), sku, name, description, price, active))
    return quick


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
        self.quick = _quick_reader(self)

    def read(self, record: Record) -> ProductRow | RowError:
        fields = record.fields
        if fields is None:
            return RowError(record.line, "", record.error or "malformed row", [record.raw.rstrip("\r\n")])
        return self.read_fields(record.line, fields)

    def read_fields(self, line: int, fields: list[str]) -> ProductRow | RowError:
        """The row of a well-formed record (`fields`) starting on `line`: the fast checks, then, for a
        row they do not accept, every rule."""
        return self.quick(line, fields) or self.check_fields(line, fields)

    def check_fields(self, line: int, fields: list[str]) -> ProductRow | RowError:
        """Every rule, in order, with its error message."""
        values = fields
        if len(fields) < self._needed:
            fields = fields + [""] * (self._needed - len(fields))
        try:
            sku = rules.parse_sku(fields[self._sku])
            name = rules.parse_name(fields[self._name])
            description = "" if self._description is None else rules.parse_description(fields[self._description])
            price = None if self._price is None else rules.parse_price(fields[self._price])
            active = True if self._active is None else rules.parse_active(fields[self._active])
        except rules.FieldError as error:
            return RowError(line, error.field, error.message, list(values))
        return _new_row(ProductRow, (line, sku.lower(), sku, name, description, price, active))


def read_rows(records: Iterator[Record], header: Header) -> Iterator[ProductRow | RowError]:
    """Every non-blank record as a row or an error, in file order."""
    read = RowReader(header).read
    for record in records:
        fields = record.fields
        # is_blank(), inlined: this loop runs once per row of every import
        if fields is not None and (not fields or (len(fields) == 1 and not fields[0].strip())):
            continue
        yield read(record)


def read_record_rows(records: Iterator[Record], header: Header, skip: frozenset[int] = frozenset()
                     ) -> tuple[dict[str, ProductRow], list[RowError], int, int]:
    """As read_text_rows, from csvfile.iter_records' records (the path for chunks that are not UTF-8)."""
    return tally_rows(read_rows(records, header), skip)


def tally_rows(rows: Iterable[ProductRow | RowError], skip: frozenset[int] = frozenset()
               ) -> tuple[dict[str, ProductRow], list[RowError], int, int]:
    """Rows in file order (ordinals from 0) -> (winners by SKU key, bad rows, rows skipped as
    duplicates, rows): what read_text_rows answers."""
    winners: dict[str, ProductRow] = {}
    errors: list[RowError] = []
    duplicates = count = 0
    for ordinal, row in enumerate(rows):
        count = ordinal + 1
        if type(row) is RowError:
            errors.append(row)
        elif ordinal in skip:
            duplicates += 1
        else:
            winners[row.key] = row
    return winners, errors, duplicates, count


def read_text_rows(lines: list[str], header: Header, *, line: int, skip: frozenset[int] = frozenset()
                   ) -> tuple[dict[str, ProductRow], list[RowError], int, int]:
    """A chunk's rows, from its decoded physical lines (csvfile.text_lines), `line` being the number
    of the line before the first: (winners by SKU key, bad rows, rows skipped as duplicates, rows).
    Non-blank rows are numbered from 0 (their ordinal); an ordinal in `skip` is a superseded row.

    Gives exactly what `read_rows(iter_records(...))` gives for the same bytes, but is the import's
    hot loop, so it runs as one flat loop: no Record, line numbers from csv.reader's own line count,
    the fast checks (RowReader.quick) for the common valid row and the full rules, with their
    error messages, for anything else (RowReader.check_fields)."""
    reader = RowReader(header)
    quick, slow = reader.quick, reader.check_fields
    winners: dict[str, ProductRow] = {}
    errors: list[RowError] = []
    duplicates = 0
    ordinal = 0
    start = 0                    # index in `lines` where the current csv.reader starts
    while True:
        records = csv.reader(islice(lines, start, None) if start else lines, strict=True)
        base = line + start      # line number before the reader's first line
        last = base              # line number where the previous record ended
        try:
            for fields in records:
                first = last + 1
                last = base + records.line_num
                row = quick(first, fields)
                if row is None:
                    if len(fields) < 2 and (not fields or not fields[0].strip()):
                        continue                # a blank line
                    row = slow(first, fields)   # short row, or some value the fast checks do not accept
                    if type(row) is RowError:
                        errors.append(row)
                        ordinal += 1
                        continue
                if skip and ordinal in skip:
                    duplicates += 1
                else:
                    winners[row.key] = row
                ordinal += 1
        except csv.Error as error:
            # As iter_records: the record is bad on its first line; reading resumes on the next.
            first = last + 1
            errors.append(RowError(first, "", describe_csv_error(error), [lines[first - line - 1].rstrip("\r\n")]))
            ordinal += 1
            start = first - line
            continue
        return winners, errors, duplicates, ordinal
