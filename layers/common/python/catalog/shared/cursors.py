"""Opaque, tamper-proof page cursors: the position as JSON, base64url, with an HMAC tag.

The key is `Settings.cursor_key` (CURSOR_SECRET; without it a random key per container).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

from catalog.shared.errors import BadRequest
from catalog.shared.settings import get_settings


class BadCursorError(BadRequest):
    def __init__(self, message: str, param: str):
        super().__init__(message, {param: message})


def _key() -> bytes:
    return get_settings().cursor_key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(position: dict, purpose: str) -> str:
    payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    tag = hmac.new(_key(), purpose.encode() + b"\0" + payload, hashlib.sha256).digest()[:16]
    return _b64(payload) + "." + _b64(tag)


def decode(cursor: str, purpose: str, param: str = "next") -> dict:
    """The position a cursor holds; BadCursorError (naming query parameter `param`) if it was not
    issued for `purpose` with this key."""
    try:
        payload_part, tag_part = cursor.split(".", 1)
        payload, tag = _unb64(payload_part), _unb64(tag_part)
    except (ValueError, TypeError):
        raise BadCursorError("the cursor is malformed", param) from None
    expected = hmac.new(_key(), purpose.encode() + b"\0" + payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(tag, expected):
        raise BadCursorError("the cursor is not valid (it was changed, or it belongs to another listing)", param)
    try:
        position = json.loads(payload)
    except ValueError:
        raise BadCursorError("the cursor is malformed", param) from None
    if not isinstance(position, dict):
        raise BadCursorError("the cursor is malformed", param)
    return position
