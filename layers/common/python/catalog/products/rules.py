"""Field rules shared by CSV rows and API writes, so both validate alike.

Each parser takes the raw text and returns the clean value or raises FieldError
naming the field. They are plain functions (not pydantic) because the import's
hot loop calls them for every row; the API's pydantic models call them too.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

SKU_MAX = 64
NAME_MAX = 255
DESCRIPTION_MAX = 4000
PRICE_MAX = Decimal("99999999.99")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The common price shapes ("12", "12.5", "12.50"), canonicalized without Decimal: the import's hot path.
_SIMPLE_PRICE = re.compile(r"(0|[1-9][0-9]{0,7})(?:\.([0-9]{1,2}))?")
# Besides booleans, the status words other systems export (Shopify: active, draft, archived).
_TRUE = frozenset(("true", "1", "yes", "y", "t", "on", "active", "enabled"))
_FALSE = frozenset(("false", "0", "no", "n", "f", "off", "inactive", "disabled", "draft", "archived"))


class FieldError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def normalize_sku(sku: str) -> str:
    """The product key: trimmed and case-folded, so `ABC-1` and `abc-1 ` match."""
    return sku.strip().lower()


def parse_sku(raw: str | None) -> str:
    sku = (raw or "").strip()
    if not sku:
        raise FieldError("sku", "is required")
    if len(sku) > SKU_MAX:
        raise FieldError("sku", f"is longer than {SKU_MAX} characters")
    if _CONTROL.search(sku):
        raise FieldError("sku", "contains control characters")
    return sku


def parse_name(raw: str | None) -> str:
    name = (raw or "").strip()
    if not name:
        raise FieldError("name", "is required")
    if len(name) > NAME_MAX:
        raise FieldError("name", f"is longer than {NAME_MAX} characters")
    return name


def parse_description(raw: str | None) -> str:
    description = (raw or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise FieldError("description", f"is longer than {DESCRIPTION_MAX} characters")
    return description


def parse_price(raw: str | None) -> str | None:
    """Returns the price as a canonical decimal string (two places) or None when blank."""
    text = (raw or "").strip()
    if not text:
        return None
    simple = _SIMPLE_PRICE.fullmatch(text)
    if simple:
        whole, cents = simple.groups()
        return f"{whole}.{(cents or '').ljust(2, '0')}"
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise FieldError("price", f"'{text[:40]}' is not a number") from None
    if not price.is_finite():
        raise FieldError("price", f"'{text[:40]}' is not a number")
    if price < 0:
        raise FieldError("price", "must not be negative")
    if price > PRICE_MAX:
        raise FieldError("price", f"must be at most {PRICE_MAX}")
    if price.as_tuple().exponent < -2 and price != price.quantize(Decimal("0.01")):
        raise FieldError("price", "has more than two decimal places")
    return str(price.quantize(Decimal("0.01")))


def parse_active(raw: str | None) -> bool:
    text = (raw or "").strip().lower()
    if not text or text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FieldError("active", f"'{text[:40]}' is not one of true/false, yes/no, 1/0, active/inactive (draft, archived)")


# Fast paths for the import's hot loop (rows.read_text_rows). Each accepts only values its parser
# returns as they are (or maps exactly as the parser does); anything else goes through the
# parser, for its value or its error message.

# A price already in canonical form ("0.50", "12.00", "99999999.99"): parse_price returns it unchanged.
is_canonical_price = re.compile(r"(?:0|[1-9][0-9]{0,7})\.[0-9]{2}").fullmatch
# `active` exactly as commonly written (no padding; lower, upper or title case) -> parse_active's value.
ACTIVE_SPELLINGS: dict[str, bool] = {
    spelling: word in _TRUE
    for word in sorted(_TRUE | _FALSE)
    for spelling in (word, word.upper(), word.capitalize())
}
ACTIVE_SPELLINGS[""] = True
