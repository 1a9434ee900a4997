"""Which column of a file holds which catalog field: built-in aliases, explicit mappings, and the
Shopify product-export layout.

A header matches an alias when both are equal after dropping case, spacing and punctuation
(`Item SKU`, `item_sku` and `ITEM-SKU` are one name). When several headers could fill one field,
the one whose alias comes first in ALIASES wins (the field's own name first), and the others are
listed as unknown columns; only two headers of the same name competing for a field are an error.
An explicit mapping ({field: header}, from the request or a preset) decides its fields before the
aliases, and the header it names is no longer a candidate for any other field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from catalog.imports.errors import InvalidMapping, MissingColumns

REQUIRED_COLUMNS = ("sku", "name")
OPTIONAL_COLUMNS = ("description", "price", "active")
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_HEADER_CHARS = 255

# In priority order: the field's own name, then the names other systems give it.
ALIASES: dict[str, tuple[str, ...]] = {
    "sku": ("sku", "item sku", "product sku", "variant sku", "product code", "item code", "article number"),
    "name": ("name", "product name", "item name", "title", "product title"),
    "description": ("description", "product description", "long description", "body (html)", "body"),
    "price": ("price", "unit price", "price (usd)", "variant price", "sale price", "retail price"),
    "active": ("active", "enabled", "status", "published", "is active"),
}

_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def normalize(header: str) -> str:
    """The form headers and aliases are compared in: lower case, letters and digits only."""
    return _NOT_ALNUM.sub("", header.casefold())


_RANK: dict[str, tuple[str, int]] = {normalize(alias): (name, rank)
                                     for name, aliases in ALIASES.items() for rank, alias in enumerate(aliases)}
assert len(_RANK) == sum(len(a) for a in ALIASES.values()), "an alias names two fields"

# A Shopify product export: rows grouped by Handle, variant options in OptionN Value.
SHOPIFY_MARKERS = ("handle", "variantsku")
SHOPIFY_OPTION_VALUES = ("option1value", "option2value", "option3value")


@dataclass(frozen=True)
class ColumnMatch:
    positions: dict[str, int]                        # field -> column index
    mapping: dict[str, str]                          # field -> header as written in the file
    unknown: tuple[str, ...] = ()                    # headers no field uses
    missing: tuple[str, ...] = ()                    # required fields no header fills
    duplicate: str | None = None                     # a header that appears twice for one field
    layout: dict | None = None                       # the Shopify layout, when the file is a Shopify export


def check_mapping(mapping: dict[str, str] | None, where: str = "mapping") -> dict[str, str]:
    """An explicit mapping as given by a person: known fields only, each header once. Returns it
    trimmed; InvalidMapping naming the field otherwise."""
    checked: dict[str, str] = {}
    taken: dict[str, str] = {}
    for name, header in (mapping or {}).items():
        key = f"{where}.{name}"
        if name not in KNOWN_COLUMNS:
            raise InvalidMapping(f"'{name[:40]}' is not a catalog field", {key: f"not a field; one of {', '.join(KNOWN_COLUMNS)}"})
        if not isinstance(header, str) or not header.strip():
            raise InvalidMapping(f"{name}: the header is empty", {key: "must name a column of the file"})
        header = header.strip()
        if len(header) > MAX_HEADER_CHARS or any(c < " " for c in header):
            raise InvalidMapping(f"{name}: the header is not a plausible column name",
                                 {key: f"at most {MAX_HEADER_CHARS} characters, no control characters"})
        other = taken.get(header.casefold())
        if other:
            raise InvalidMapping(f"column '{header[:60]}' is mapped to both {other} and {name}",
                                 {key: f"'{header[:60]}' is already mapped to {other}"})
        taken[header.casefold()] = name
        checked[name] = header
    return checked


def _find(names: tuple[str, ...], header: str, used: set[int]) -> int | None:
    """The column an explicit mapping names: the same name ignoring case, else ignoring punctuation too."""
    for same in (str.casefold, normalize):
        wanted = same(header)
        hits = [i for i, n in enumerate(names) if i not in used and same(n) == wanted]
        if hits:
            return hits[0]
    return None


def match_columns(names: tuple[str, ...], mapping: dict[str, str] | None = None) -> ColumnMatch:
    """Matches a header row's names (trimmed) to the catalog's fields."""
    positions: dict[str, int] = {}
    used: set[int] = set()
    for name, header in (mapping or {}).items():
        index = _find(names, header, used)
        if index is None:
            found = ", ".join(f"'{n}'" for n in names if n) or "nothing"
            raise MissingColumns(f"the mapping names column '{header}' for {name}, which is not in the header "
                                 f"row (found {found})", headers=list(names), missing=[name], mapping={})
        positions[name] = index
        used.add(index)

    candidates: dict[str, list[tuple[int, int]]] = {}     # field -> [(rank, index)]
    for index, header in enumerate(names):
        hit = _RANK.get(normalize(header))
        if index not in used and hit is not None and hit[0] not in positions:
            candidates.setdefault(hit[0], []).append((hit[1], index))
    duplicate = None
    for name, found in candidates.items():
        rank, index = min(found)
        if duplicate is None and sum(1 for r, _ in found if r == rank) > 1:
            duplicate = names[index]        # two headers of one name for one field: no way to choose
        positions[name] = index
        used.add(index)
    ordered = {name: positions[name] for name in KNOWN_COLUMNS if name in positions}
    normalized = {normalize(n): i for i, n in reversed(list(enumerate(names)))}
    layout = None
    if all(m in normalized for m in SHOPIFY_MARKERS):
        layout = {"handle": normalized["handle"],
                  "options": [normalized[o] for o in SHOPIFY_OPTION_VALUES if o in normalized]}
    return ColumnMatch(
        positions=ordered, mapping={name: names[i] for name, i in ordered.items()},
        unknown=tuple(n for i, n in enumerate(names) if i not in used),
        missing=tuple(c for c in REQUIRED_COLUMNS if c not in ordered), duplicate=duplicate, layout=layout)

