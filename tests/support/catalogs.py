"""Catalogs as a spreadsheet writes them, for property tests (Hypothesis), and the reference model
of what importing one must give: a dict where the last valid row wins, key = trimmed lower-case SKU.

`catalogs()` draws random SKUs (letter case, padding, Unicode, commas and quotes), duplicates at
random distances, quoted commas, quotes and line breaks, BOM or none, CRLF or LF, random column
order and header case, unknown columns and random bad rows; `write_csv` writes one with Python's
csv module, as a spreadsheet export does."""
from __future__ import annotations

import csv
import io

from hypothesis import strategies as st

COLUMNS = ("sku", "name", "description", "price", "active")

sku_text = st.text(alphabet=st.sampled_from("abcXYZ019-_.,\" éßΩ東ÄØ"), min_size=1, max_size=12).filter(
    lambda s: s.strip() != "")
# Line breaks inside fields as spreadsheets write them: "\n" or "\r\n", never a lone "\r" (which
# csv.writer leaves unquoted after an "\n" line terminator, so no CSV reader could read it back).
free_text = st.lists(st.sampled_from(["a", "b", " ", "Z", "9", ",", '"', "'", "\n", "\r\n", ";", "é", "東"]),
                     max_size=30).map("".join)
name_text = free_text.filter(lambda s: s.strip() != "")
description_text = free_text
price_text = st.one_of(
    st.just(""),
    st.integers(0, 99_999_999).map(str),
    st.tuples(st.integers(0, 99_999), st.integers(0, 99)).map(lambda p: f"{p[0]}.{p[1]:02d}"),
    st.tuples(st.integers(0, 999), st.integers(0, 9)).map(lambda p: f" {p[0]}.{p[1]} "),
)
active_text = st.sampled_from(["", "true", "FALSE", "Yes", "no", "1", "0", " t ", "off"])
# What makes a row bad, and the field the report names
BAD = {
    "name missing": ("name", ""),
    "price not a number": ("price", "abc"),
    "price negative": ("price", "-1.00"),
    "price three places": ("price", "1.234"),
    "active unknown": ("active", "maybe"),
    "sku too long": ("sku", "S" * 65),
    "sku missing": ("sku", "  "),
}


def casing(sku: str, how: int) -> str:
    return (sku, sku.upper(), sku.lower(), sku.swapcase())[how]


@st.composite
def catalogs(draw):
    pool = draw(st.lists(sku_text, min_size=1, max_size=8, unique_by=lambda s: s.strip().lower()))
    rows = []
    for _ in range(draw(st.integers(1, 40))):
        sku = casing(draw(st.sampled_from(pool)), draw(st.integers(0, 3)))
        sku = " " * draw(st.integers(0, 2)) + sku + " " * draw(st.integers(0, 2))
        row = {"sku": sku, "name": draw(name_text), "description": draw(description_text),
               "price": draw(price_text), "active": draw(active_text)}
        bad = draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from(sorted(BAD))))
        if bad:
            field, value = BAD[bad]
            row[field] = value
        rows.append((row, bad))
    unknown = draw(st.lists(st.sampled_from(["Vendor", "notes", "Barcode"]), unique=True, max_size=2))
    order = draw(st.permutations(list(COLUMNS) + unknown))
    header = [draw(st.sampled_from([c, c.upper(), c.capitalize()])) if c in COLUMNS else c for c in order]
    return {"rows": rows, "order": order, "header": header, "bom": draw(st.booleans()),
            "newline": draw(st.sampled_from(["\r\n", "\n"])), "unknown_value": draw(free_text)}


def write_csv(catalog) -> tuple[bytes, list[int]]:
    """The file as csv.writer writes it, and the line on which each data row starts."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=catalog["newline"])
    writer.writerow(catalog["header"])
    starts, line = [], 2
    for row, _ in catalog["rows"]:
        before = out.tell()
        writer.writerow([row.get(column, catalog["unknown_value"]) for column in catalog["order"]])
        starts.append(line)
        line += out.getvalue()[before:].count("\n")
    return ("\ufeff" if catalog["bom"] else "").encode() + out.getvalue().encode("utf-8"), starts


def reference_model(catalog, starts) -> tuple[dict[str, dict], set[int], int]:
    """(products by key, lines of bad rows, duplicates): a dict where the last valid row wins."""
    products, bad_lines, valid = {}, set(), 0
    for (row, bad), line in zip(catalog["rows"], starts):
        if bad:
            bad_lines.add(line)
            continue
        valid += 1
        products[row["sku"].strip().lower()] = row
    return products, bad_lines, valid - len(products)


def expected_price(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    whole, _, cents = text.partition(".")
    return f"{int(whole)}.{cents.ljust(2, '0')}"


def expected_active(text: str) -> bool:
    return text.strip().lower() not in ("false", "no", "0", "off", "f", "n")
