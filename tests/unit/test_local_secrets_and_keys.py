"""The local cloud's Secrets Manager secrets and KMS keys (local/secrets_and_keys.py): made as the
template says, Ref/GetAtt resolved to them, and the same again after a restart (moto forgets
everything; the data directory does not), so what was encrypted before a restart still decrypts."""
from __future__ import annotations

import boto3
from moto import mock_aws

from local import secrets_and_keys
from local import template as tpl
from tests.support.template_resources import template


def start(data_dir) -> tuple[tpl.Resolver, dict]:
    """What a start of the local cloud does for secrets and keys, in a fresh moto."""
    resolver = tpl.Resolver(template=template(), stack="catalog", parameters={})
    resolver.template = deployed = resolver.deployed_template()
    secrets_and_keys.provision(lambda service: boto3.client(service, region_name=tpl.REGION), resolver, deployed,
                               data_dir)
    return resolver, deployed


def test_secrets_and_keys_are_made_from_the_template_and_survive_a_restart(moto_env, tmp_path):
    with mock_aws():
        resolver, deployed = start(tmp_path)
        assert tpl.resources_of(deployed, "AWS::SecretsManager::Secret") and tpl.resources_of(deployed, "AWS::KMS::Key")
        secret_arn = resolver.ref("CursorKeySecret")
        value = boto3.client("secretsmanager", region_name=tpl.REGION).get_secret_value(SecretId=secret_arn)["SecretString"]
        assert len(value) == 64 and value.isalnum()          # GenerateSecretString: 64, no punctuation
        key_arn = resolver.resolve({"Fn::GetAtt": ["WebhookSecretsKey", "Arn"]})
        assert key_arn == f"arn:aws:kms:{tpl.REGION}:{tpl.ACCOUNT}:key/{resolver.ref('WebhookSecretsKey')}"
        kms = boto3.client("kms", region_name=tpl.REGION)
        blob = kms.encrypt(KeyId=key_arn, Plaintext=b"whsec_x", EncryptionContext={"e": "1"})["CiphertextBlob"]
        alias = resolver.ref("WebhookSecretsKeyAlias")
        assert kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"] == key_arn

    with mock_aws():                                            # a restart: moto starts empty
        again, _ = start(tmp_path)
        assert again.resolve({"Fn::GetAtt": ["WebhookSecretsKey", "Arn"]}) == key_arn
        kms = boto3.client("kms", region_name=tpl.REGION)
        assert kms.decrypt(KeyId=key_arn, CiphertextBlob=blob, EncryptionContext={"e": "1"})["Plaintext"] == b"whsec_x"
        secret = boto3.client("secretsmanager", region_name=tpl.REGION).get_secret_value(
            SecretId=again.ref("CursorKeySecret"))["SecretString"]
        assert secret == value
