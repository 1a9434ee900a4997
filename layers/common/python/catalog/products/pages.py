"""What a product listing is asked and answers, whichever store serves it: the filters, the page,
and the signed cursors bound to those filters (`next` after the page's last item, `prev` before
its first, walked backwards)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from catalog.products.errors import BadQueryError
from catalog.products.rules import normalize_sku
from catalog.shared import cursors

PURPOSE = "products"
MAX_LIMIT = 200


@dataclass(frozen=True)
class ProductFilter:
    sku: str = ""              # normalized prefix
    q: str = ""                # lower-cased substring of the name
    active: bool | None = None

    @classmethod
    def of(cls, sku: str | None = None, q: str | None = None, active: bool | None = None) -> "ProductFilter":
        return cls(normalize_sku(sku or ""), (q or "").strip().lower(), active)

    def fingerprint(self) -> str:
        text = json.dumps([self.sku, self.q, self.active])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def empty(self) -> bool:
        return not self.sku and not self.q and self.active is None


@dataclass
class Page:
    items: list[dict]
    total: int
    matches: int | None
    limit: int
    next: str | None
    prev: str | None

    def to_json(self) -> dict:
        return {"items": self.items, "total": self.total, "matches": self.matches, "limit": self.limit,
                "next": self.next, "prev": self.prev}


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQueryError("limit", f"must be between 1 and {MAX_LIMIT}")


def read_cursor(cursor: str, f: ProductFilter) -> dict:
    """The position a cursor holds: {"d": "f"|"b", "k": sku key, ...}; BadQueryError naming `cursor`
    when it was tampered with, is malformed or belongs to a listing with other filters."""
    try:
        position = cursors.decode(cursor, PURPOSE)
    except cursors.BadCursorError as error:
        raise BadQueryError("cursor", error.message) from None
    if position.get("f") != f.fingerprint():
        raise BadQueryError("cursor", "the cursor belongs to a listing with other filters")
    if position.get("d") not in ("f", "b") or not isinstance(position.get("k"), str):
        raise BadQueryError("cursor", "the cursor is malformed")
    return position


def make_cursor(f: ProductFilter, direction: str, position: dict) -> str:
    return cursors.encode({"f": f.fingerprint(), "d": direction, **position}, PURPOSE)
