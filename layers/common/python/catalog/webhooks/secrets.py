"""Endpoint signing secrets at rest: encrypted with the KMS key WEBHOOK_SECRETS_KEY_ARN names (the
template's WebhookSecretsKey, usable by the API and the delivery function only).

Stored form: "kms:" + base64 of the KMS ciphertext, made with the encryption context
{"webhook_endpoint": <endpoint id>}, so a value copied onto another endpoint does not decrypt. The
plain secret exists only in memory: shown once to the user when it is made (creation, rotation),
and decrypted where requests are signed (the delivery function, and the API's Test button).
A container keeps what it decrypted (bounded) so each ciphertext costs one KMS call per container.

Endpoints saved before secrets were encrypted hold the plain `whsec_...` value: it is read as it
is (is_plain), and sealed the first time it is used (EndpointStore.seal_plain_secrets).
"""
from __future__ import annotations

import base64
from functools import lru_cache

from catalog.shared.aws import client
from catalog.webhooks import signing

SEALED_PREFIX = "kms:"


class SecretsKeyMissing(RuntimeError):
    """The deployment names no KMS key for webhook secrets (a configuration error: a 500)."""


def _context(endpoint_id: str) -> dict[str, str]:
    return {"webhook_endpoint": endpoint_id}


def is_plain(stored: str) -> bool:
    return stored.startswith(signing.PREFIX)


def seal(key_arn: str, endpoint_id: str, secret: str) -> str:
    """The stored form of a plain secret."""
    if not key_arn:
        raise SecretsKeyMissing("WEBHOOK_SECRETS_KEY_ARN is not set: webhook secrets are stored encrypted with "
                                "the template's WebhookSecretsKey")
    blob = client("kms").encrypt(KeyId=key_arn, Plaintext=secret.encode(),
                                 EncryptionContext=_context(endpoint_id))["CiphertextBlob"]
    return SEALED_PREFIX + base64.b64encode(blob).decode()


def unseal(key_arn: str, endpoint_id: str, stored: str) -> str:
    """The plain secret of a stored value (sealed, or plain from before encryption)."""
    if is_plain(stored):
        return stored
    if not stored.startswith(SEALED_PREFIX):
        raise ValueError("not a stored webhook secret")
    if not key_arn:
        raise SecretsKeyMissing("WEBHOOK_SECRETS_KEY_ARN is not set: cannot decrypt webhook secrets")
    return _decrypt(key_arn, endpoint_id, stored)


@lru_cache(maxsize=1024)
def _decrypt(key_arn: str, endpoint_id: str, stored: str) -> str:
    blob = base64.b64decode(stored[len(SEALED_PREFIX):])
    return client("kms").decrypt(KeyId=key_arn, CiphertextBlob=blob,
                                 EncryptionContext=_context(endpoint_id))["Plaintext"].decode()


def forget_decrypted() -> None:
    """Drops what this container decrypted (tests)."""
    _decrypt.cache_clear()
