"""The cursor key secret and the webhook secrets KMS key in moto's in-process AWS (call inside
mock_aws), pointed at by the environment variables the template sets (CURSOR_SECRET_ARN,
WEBHOOK_SECRETS_KEY_ARN), as the template creates them (a 64-character generated secret; a
symmetric KMS key)."""
from __future__ import annotations

import boto3

from catalog.shared import cursors
from catalog.webhooks import secrets

REGION = "us-east-1"


def cursor_secret(monkeypatch, name: str = "catalog-CursorKeySecret") -> str:
    sm = boto3.client("secretsmanager", region_name=REGION)
    value = sm.get_random_password(PasswordLength=64, ExcludePunctuation=True)["RandomPassword"]
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    monkeypatch.setenv("CURSOR_SECRET_ARN", arn)
    cursors.forget_key()
    return arn


def webhook_secrets_key(monkeypatch) -> str:
    arn = boto3.client("kms", region_name=REGION).create_key(Description="webhook secrets")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("WEBHOOK_SECRETS_KEY_ARN", arn)
    secrets.forget_decrypted()
    return arn


def keys(monkeypatch) -> dict[str, str]:
    return {"cursor_secret_arn": cursor_secret(monkeypatch), "webhook_secrets_key_arn": webhook_secrets_key(monkeypatch)}
