"""Opaque, tamper-proof page cursors: the position as JSON, base64url, with an HMAC tag.

The key is the value of the Secrets Manager secret CURSOR_SECRET_ARN names (the template's
CursorKeySecret), read once per container: every container signs with the same key, so a `next`
link made by one is accepted by any other and after a cold start. A new value (a rotation) is
picked up as containers start; cursors signed with the old value are then refused (400), and a
client starts its listing again. Without CURSOR_SECRET_ARN the first cursor fails with
CursorKeyMissing: a key per container would look fine on one machine and break on AWS.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from functools import lru_cache

from catalog.shared.aws import client
from catalog.shared.errors import BadRequest
from catalog.shared.settings import get_settings


class BadCursorError(BadRequest):
    def __init__(self, message: str, param: str):
        super().__init__(message, {param: message})


class CursorKeyMissing(RuntimeError):
    """The deployment names no cursor key (a configuration error: a 500, never the user's fault)."""


@lru_cache(maxsize=4)
def _secret_key(secret_arn: str) -> bytes:
    return client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"].encode()


def forget_key() -> None:
    """Drops the key read from Secrets Manager, as a new container would start (tests)."""
    _secret_key.cache_clear()


def _key() -> bytes:
    secret_arn = get_settings().cursor_secret_arn
    if not secret_arn:
        raise CursorKeyMissing("CURSOR_SECRET_ARN is not set: page cursors need the shared key (the template's "
                               "CursorKeySecret)")
    return _secret_key(secret_arn)


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
