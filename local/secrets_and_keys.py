"""The template's Secrets Manager secrets and KMS keys, in moto, for the local cloud.

- AWS::SecretsManager::Secret: created with its SecretString, or a value made as its
  GenerateSecretString asks (length, excluded characters, SecretStringTemplate +
  GenerateStringKey). Ref = the secret's ARN.
- AWS::KMS::Key: a symmetric key. Ref = key id, GetAtt Arn / KeyId. AWS::KMS::Alias: Ref = name.

What they protect outlives the local cloud's process (the DynamoDB tables are on disk: webhook
secrets encrypted with the key, cursors signed with the secret), but moto keeps its state in
memory. So the first start keeps each secret's value and each key's id and material in
<data_dir>/secrets-and-keys.json, and later starts give moto the same ones back: an encrypted
webhook secret stays readable across restarts, as it would on AWS. (Local development data only.)
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Callable

from moto.kms.models import kms_backends

from . import template as tpl

STATE_FILE = "secrets-and-keys.json"


def provision(client: Callable[[str], Any], resolver: tpl.Resolver, template: dict, data_dir: Path) -> None:
    state_path = Path(data_dir) / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    stack = resolver.stack

    secrets_manager = client("secretsmanager")
    for logical, res in tpl.resources_of(template, "AWS::SecretsManager::Secret").items():
        props = res.get("Properties", {})
        name = str(resolver.resolve(props.get("Name")) or f"{stack}-{logical}")
        saved = state.setdefault("secrets", {})
        if logical not in saved:
            saved[logical] = _secret_value(secrets_manager, resolver, props)
        arn = secrets_manager.create_secret(Name=name, SecretString=saved[logical])["ARN"]
        resolver.refs[logical] = arn
        resolver.attrs[(logical, "Id")] = arn

    kms = client("kms")
    for logical, res in tpl.resources_of(template, "AWS::KMS::Key").items():
        props = res.get("Properties", {})
        key = kms.create_key(Description=str(resolver.resolve(props.get("Description", "")) or logical),
                             KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]
        saved = state.setdefault("keys", {})
        if logical in saved:
            key_id = _restore_key(key["KeyId"], saved[logical]["id"], base64.b64decode(saved[logical]["material"]))
        else:
            key_id = key["KeyId"]
            saved[logical] = {"id": key_id, "material": base64.b64encode(_key_material(key_id)).decode()}
        resolver.refs[logical] = key_id
        resolver.attrs[(logical, "KeyId")] = key_id
        resolver.attrs[(logical, "Arn")] = f"arn:aws:kms:{tpl.REGION}:{tpl.ACCOUNT}:key/{key_id}"
    for logical, res in tpl.resources_of(template, "AWS::KMS::Alias").items():
        props = resolver.resolve(res.get("Properties", {}))
        kms.create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        resolver.refs[logical] = props["AliasName"]

    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state, indent=1))
    state_path.chmod(0o600)


def _secret_value(secrets_manager, resolver: tpl.Resolver, props: dict) -> str:
    if "SecretString" in props:
        return str(resolver.resolve(props["SecretString"]))
    spec = resolver.resolve(props.get("GenerateSecretString") or {})
    password = secrets_manager.get_random_password(
        PasswordLength=int(spec.get("PasswordLength", 32)), ExcludeCharacters=str(spec.get("ExcludeCharacters", "")),
        ExcludeNumbers=bool(spec.get("ExcludeNumbers", False)),
        ExcludePunctuation=bool(spec.get("ExcludePunctuation", False)),
        ExcludeUppercase=bool(spec.get("ExcludeUppercase", False)),
        ExcludeLowercase=bool(spec.get("ExcludeLowercase", False)),
        IncludeSpace=bool(spec.get("IncludeSpace", False)),
        RequireEachIncludedType=bool(spec.get("RequireEachIncludedType", True)))["RandomPassword"]
    if spec.get("SecretStringTemplate") and spec.get("GenerateStringKey"):
        return json.dumps({**json.loads(spec["SecretStringTemplate"]), spec["GenerateStringKey"]: password})
    return password


def _kms_backend():
    """moto's KMS, which runs in this process (the local cloud's moto server, or tests' mock_aws)."""
    return kms_backends[tpl.ACCOUNT][tpl.REGION]


def _key_material(key_id: str) -> bytes:
    return _kms_backend().keys[key_id].key_material


def _restore_key(new_id: str, saved_id: str, material: bytes) -> str:
    """Gives the key moto just made the id and material it had before (moto's KMS API can neither
    choose a key id nor import material for a symmetric key)."""
    backend = _kms_backend()
    key = backend.keys.pop(new_id)
    key.id, key.key_material = saved_id, material
    key.arn = f"arn:aws:kms:{tpl.REGION}:{tpl.ACCOUNT}:key/{saved_id}"
    backend.keys[saved_id] = key
    return saved_id
