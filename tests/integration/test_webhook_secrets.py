"""Webhook secrets end to end: encrypted with the template's WebhookSecretsKey (KMS, in moto) before
they reach the webhooks table (dynalite); shown once; deliveries still verify."""
from __future__ import annotations

import json

from standardwebhooks import Webhook

from tests.support.auth import api_session
from tests.support.receiver import Receiver


def test_the_webhooks_table_never_holds_a_secret_in_plain_text(local_cloud):
    http, api = api_session(local_cloud), local_cloud.api_url
    with Receiver() as receiver:
        created = http.post(f"{api}/webhooks", json={"url": receiver.url}, timeout=30)
        assert created.status_code == 201, created.text
        endpoint = created.json()
        try:
            rotated = http.post(f"{api}/webhooks/{endpoint['id']}/rotate-secret", timeout=30)
            assert rotated.status_code == 200, rotated.text
            plain = [endpoint["secret"], rotated.json()["secret"]]
            assert all(p.startswith("whsec_") for p in plain) and plain[0] != plain[1]

            table = local_cloud.environment["WEBHOOKS_TABLE"]
            items = local_cloud.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
            stored = json.dumps(items)
            assert endpoint["id"] in stored
            for secret in plain:
                assert secret.removeprefix("whsec_") not in stored
            (item,) = [i for i in items if i.get("id", {}).get("S") == endpoint["id"]]
            assert item["secret"]["S"].startswith("kms:") and item["previous_secret"]["S"].startswith("kms:")

            test = http.post(f"{api}/webhooks/{endpoint['id']}/test", json={}, timeout=30)
            assert test.status_code == 200 and test.json()["ok"], test.text
            (request,) = receiver.requests
            for secret in plain:            # the new secret, and the old one during the grace period
                assert Webhook(secret).verify(request["body"], request["headers"])
        finally:
            http.delete(f"{api}/webhooks/{endpoint['id']}", timeout=30)
