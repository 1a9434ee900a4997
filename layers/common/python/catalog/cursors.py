"""Opaque, tamper-proof page cursors: the position as JSON, base64url, with an HMAC tag.

The key comes from CURSOR_SECRET (a Secrets Manager value on AWS); without it a per-process
random key is used, which is fine for tests but makes cursors die with the process.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from functools import lru_cache


class BadCursorError(ValueError):
    pass


@lru_cache(maxsize=1)
def _key() -> bytes:
    secret = os.environ.get("CURSOR_SECRET", "")
    return secret.encode() if secret else secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(position: dict, purpose: str) -> str:
    payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    tag = hmac.new(_key(), purpose.encode() + b"\0" + payload, hashlib.sha256).digest()[:16]
    return _b64(payload) + "." + _b64(tag)


def decode(cursor: str, purpose: str) -> dict:
    try:
        payload_part, tag_part = cursor.split(".", 1)
        payload, tag = _unb64(payload_part), _unb64(tag_part)
    except (ValueError, TypeError):
        raise BadCursorError("the cursor is malformed") from None
    expected = hmac.new(_key(), purpose.encode() + b"\0" + payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(tag, expected):
        raise BadCursorError("the cursor is not valid (it was changed, or it belongs to another listing)")
    try:
        position = json.loads(payload)
    except ValueError:
        raise BadCursorError("the cursor is malformed") from None
    if not isinstance(position, dict):
        raise BadCursorError("the cursor is malformed")
    return position
