"""Webhook endpoints in DynamoDB: pk = "endpoint", sk = endpoint id (few items; one query lists all).

The signing secret is stored encrypted with KMS (catalog/webhooks/secrets.py) to sign deliveries,
and shown in plain text only at creation and rotation; `secret_hint` (its last four characters)
is what is shown afterwards. After a rotation the previous secret keeps signing alongside the new
one for a grace period.
"""
from __future__ import annotations

import secrets as _secrets
import time

from botocore.exceptions import ClientError

from catalog.shared.aws import client
from catalog.shared.clock import now_iso
from catalog.shared.dynamo import batch_get, from_item, is_conditional_failure, to_item, to_value
from catalog.webhooks import secrets, signing

PK = "endpoint"
ALL = "*"
PRIVATE_FIELDS = ("pk", "sk", "secret", "previous_secret", "previous_secret_until")


def new_endpoint_id() -> str:
    return "wh_" + _secrets.token_hex(8)


def subscribed(endpoint: dict, event_type: str) -> bool:
    types = endpoint.get("event_types") or [ALL]
    return ALL in types or event_type in types


def signing_secrets(endpoint: dict, key_arn: str, now: float | None = None) -> list[str]:
    """The plain secrets that sign the endpoint's requests now (decrypted with the KMS key)."""
    stored = [endpoint["secret"]]
    if endpoint.get("previous_secret") and (endpoint.get("previous_secret_until") or 0) > (now or time.time()):
        stored.append(endpoint["previous_secret"])
    return [secrets.unseal(key_arn, endpoint["id"], value) for value in stored]


def public_view(endpoint: dict) -> dict:
    view = {k: v for k, v in endpoint.items() if k not in PRIVATE_FIELDS}
    if "secret_hint" not in view:       # an endpoint saved before secrets were encrypted
        view["secret_hint"] = signing.secret_hint(endpoint["secret"])
    view.setdefault("event_types", [ALL])
    view["status"] = ("disabled" if not endpoint.get("enabled") else
                      "failing" if endpoint.get("failing") else "healthy")
    return view


class EndpointStore:
    def __init__(self, table: str, secrets_key_arn: str = ""):
        """`secrets_key_arn`: the KMS key that encrypts signing secrets (needed to create an
        endpoint or rotate its secret)."""
        self.table = table
        self.secrets_key_arn = secrets_key_arn
        self.ddb = client("dynamodb")

    def _key(self, endpoint_id: str) -> dict:
        return {"pk": {"S": PK}, "sk": {"S": endpoint_id}}

    # --- CRUD ---------------------------------------------------------------------
    def create(self, url: str, event_types: list[str], description: str = "", enabled: bool = True) -> dict:
        """The new endpoint as stored, except that `secret` is the plain signing secret (the one
        time it is: the table holds it encrypted)."""
        now = now_iso()
        endpoint_id = new_endpoint_id()
        secret = signing.generate_secret()
        item = {"pk": PK, "sk": endpoint_id, "id": endpoint_id, "url": url, "event_types": event_types or [ALL],
                "description": description, "enabled": enabled, "failing": False, "consecutive_failures": 0,
                "secret": secrets.seal(self.secrets_key_arn, endpoint_id, secret),
                "secret_hint": signing.secret_hint(secret), "created_at": now, "updated_at": now}
        self.ddb.put_item(TableName=self.table, Item=to_item(item), ConditionExpression="attribute_not_exists(sk)")
        return {**from_item(to_item(item)), "secret": secret}

    def get(self, endpoint_id: str) -> dict | None:
        item = self.ddb.get_item(TableName=self.table, Key=self._key(endpoint_id), ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def get_many(self, endpoint_ids: list[str]) -> dict[str, dict]:
        items = batch_get(self.ddb, self.table, [self._key(i) for i in sorted(set(endpoint_ids))])
        return {endpoint["id"]: endpoint for endpoint in map(from_item, items)}

    def list(self) -> list[dict]:
        items: list[dict] = []
        kwargs = dict(TableName=self.table, KeyConditionExpression="pk = :pk",
                      ExpressionAttributeValues={":pk": {"S": PK}}, ConsistentRead=True)
        while True:
            response = self.ddb.query(**kwargs)
            items.extend(from_item(i) for i in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(items, key=lambda e: e.get("created_at", ""))

    def update(self, endpoint_id: str, values: dict, remove: tuple[str, ...] = (), add: dict | None = None,
               set_if_missing: dict | None = None) -> dict | None:
        """SETs values (and REMOVEs / ADDs) on an existing endpoint; None when it does not exist."""
        names, expr_values, sets, adds = {}, {}, [], []
        for i, (name, value) in enumerate({**values, "updated_at": values.get("updated_at", now_iso())}.items()):
            names[f"#s{i}"] = name
            expr_values[f":s{i}"] = to_value(value)
            sets.append(f"#s{i} = :s{i}")
        for i, (name, value) in enumerate((set_if_missing or {}).items()):
            names[f"#m{i}"] = name
            expr_values[f":m{i}"] = to_value(value)
            sets.append(f"#m{i} = if_not_exists(#m{i}, :m{i})")
        for i, (name, amount) in enumerate((add or {}).items()):
            names[f"#a{i}"] = name
            expr_values[f":a{i}"] = {"N": str(amount)}
            adds.append(f"#a{i} :a{i}")
        removes = []
        for i, name in enumerate(remove):
            names[f"#r{i}"] = name
            removes.append(f"#r{i}")
        expression = "SET " + ", ".join(sets)
        if adds:
            expression += " ADD " + ", ".join(adds)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            response = self.ddb.update_item(
                TableName=self.table, Key=self._key(endpoint_id), UpdateExpression=expression,
                ConditionExpression="attribute_exists(sk)", ExpressionAttributeNames=names,
                ExpressionAttributeValues=expr_values, ReturnValues="ALL_NEW")
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        return from_item(response["Attributes"])

    def delete(self, endpoint_id: str) -> bool:
        try:
            self.ddb.delete_item(TableName=self.table, Key=self._key(endpoint_id),
                                 ConditionExpression="attribute_exists(sk)")
            return True
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise

    # --- lifecycle ----------------------------------------------------------------
    def rotate_secret(self, endpoint_id: str, grace_seconds: int = 86400) -> tuple[dict, str] | None:
        """(the endpoint as stored, the new plain secret), the previous one still signing for
        `grace_seconds`; None when the endpoint does not exist."""
        current = self.get(endpoint_id)
        if current is None:
            return None
        secret = signing.generate_secret()
        previous = current["secret"]
        if secrets.is_plain(previous):
            previous = secrets.seal(self.secrets_key_arn, endpoint_id, previous)
        updated = self.update(endpoint_id, {"secret": secrets.seal(self.secrets_key_arn, endpoint_id, secret),
                                            "secret_hint": signing.secret_hint(secret), "previous_secret": previous,
                                            "previous_secret_until": int(time.time()) + grace_seconds})
        return (updated, secret) if updated else None

    def seal_plain_secrets(self, endpoint: dict) -> bool:
        """Encrypts the secrets of an endpoint saved before secrets were encrypted (once: the write
        is conditioned on the stored values being the plain ones read). Whether it wrote."""
        values = {name: endpoint[name] for name in ("secret", "previous_secret")
                  if endpoint.get(name) and secrets.is_plain(endpoint[name])}
        if not values:
            return False
        names, expr_values, sets, conditions = {}, {}, [], []
        for i, (name, plain) in enumerate(values.items()):
            names[f"#n{i}"] = name
            expr_values[f":old{i}"] = {"S": plain}
            expr_values[f":new{i}"] = {"S": secrets.seal(self.secrets_key_arn, endpoint["id"], plain)}
            sets.append(f"#n{i} = :new{i}")
            conditions.append(f"#n{i} = :old{i}")
        if "secret" in values:
            names["#hint"] = "secret_hint"
            expr_values[":hint"] = {"S": signing.secret_hint(values["secret"])}
            sets.append("#hint = :hint")
        try:
            self.ddb.update_item(TableName=self.table, Key=self._key(endpoint["id"]),
                                 UpdateExpression="SET " + ", ".join(sets),
                                 ConditionExpression=" AND ".join(conditions), ExpressionAttributeNames=names,
                                 ExpressionAttributeValues=expr_values)
        except ClientError as error:
            if is_conditional_failure(error):
                return False        # changed meanwhile (rotated, sealed by another delivery)
            raise
        return True

    def enable(self, endpoint_id: str) -> dict | None:
        return self.update(endpoint_id, {"enabled": True, "failing": False, "consecutive_failures": 0},
                           remove=("disabled_reason", "failing_since", "slow_until"))

    def disable(self, endpoint_id: str, reason: str) -> dict | None:
        return self.update(endpoint_id, {"enabled": False, "disabled_reason": reason})

    def record_attempt(self, endpoint_id: str, *, status_code: int | None, response_ms: int, ok: bool,
                       error: str | None, counts_as_failure: bool = True, failures: int = 1,
                       slow_until: int | None = None) -> dict | None:
        """The endpoint's latest attempt; a failure adds to its consecutive failures, and with `slow_until`
        moves it to the slow lane until then; a success clears both."""
        values = {"last_status_code": status_code, "last_response_ms": response_ms, "last_delivery_at": now_iso(),
                  "last_error": error}
        sets = {k: v for k, v in values.items() if v is not None}
        removes = tuple(k for k, v in values.items() if v is None)
        if ok:
            sets.update(failing=False, consecutive_failures=0)
            return self.update(endpoint_id, sets, remove=removes + ("failing_since", "slow_until"))
        if not counts_as_failure:
            return self.update(endpoint_id, sets, remove=removes)
        if slow_until:
            sets["slow_until"] = slow_until
        return self.update(endpoint_id, sets, remove=removes, add={"consecutive_failures": failures},
                           set_if_missing={"failing_since": int(time.time())})

    def mark_failing(self, endpoint_id: str) -> dict | None:
        return self.update(endpoint_id, {"failing": True})
