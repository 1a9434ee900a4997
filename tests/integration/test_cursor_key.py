"""The shared cursor key end to end: the local cloud made the template's CursorKeySecret in Secrets
Manager (moto) and its API signs cursors with it. Another container of the API function, here
another process started cold with the function's configuration, accepts the cursor; after the
secret's value changes, a container started afterwards refuses it (400), while a container that
read the key before keeps it (the key is read once per container)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.auth import api_session

ROOT = Path(__file__).resolve().parents[2]

# A cold container of the API function: a new process loads functions/api/app.py and serves one request.
COLD_API_CALL = """
import json, sys
from tests.support.auth import AUTHORIZER
from tests.support.handlers import LambdaContext, load_handler
path, query = sys.argv[1], sys.argv[2]
event = {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
         "queryStringParameters": dict(p.split("=", 1) for p in query.split("&")) if query else None,
         "headers": {}, "isBase64Encoded": False, "body": None,
         "requestContext": {"http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                                     "userAgent": "cold"}, "requestId": "cold", "routeKey": "$default",
                            "stage": "$default", "authorizer": AUTHORIZER["reader"]}}
result = load_handler("api")(event, LambdaContext("catalog-ApiFunction"))
print(json.dumps({"status": result["statusCode"], "body": json.loads(result["body"])}))
"""


def cold_api_get(local_cloud, path: str, query: str) -> tuple[int, dict]:
    # The API function's environment, as the local cloud resolved it from the template (with the
    # AWS_ENDPOINT_URL* of the local cloud, which this process set).
    env = {**os.environ, **local_cloud.environment, "POWERTOOLS_LOG_LEVEL": "ERROR",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common" / "python")])}
    done = subprocess.run([sys.executable, "-c", COLD_API_CALL, path, query], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["status"], answer["body"]


def test_a_cursor_is_accepted_by_another_container_and_refused_after_the_key_changes(local_cloud):
    http = api_session(local_cloud)
    for name in ("cursor-a.csv", "cursor-b.csv"):
        assert http.post(f"{local_cloud.api_url}/imports", json={"file_name": name}, timeout=30).status_code == 201
    first = http.get(f"{local_cloud.api_url}/imports", params={"limit": 1}, timeout=30).json()
    cursor = first["next"]
    assert cursor

    status, page = cold_api_get(local_cloud, "/imports", f"limit=1&next={cursor}")
    assert status == 200, page
    assert page["items"] and page["items"][0]["id"] != first["items"][0]["id"]

    secrets = local_cloud.client("secretsmanager")
    secret_arn = local_cloud.environment["CURSOR_SECRET_ARN"]
    assert secret_arn == local_cloud.ref("CursorKeySecret")
    original = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
    assert len(original) == 64 and original.isalnum()          # GenerateSecretString: 64, no punctuation
    secrets.put_secret_value(SecretId=secret_arn, SecretString="rotated" + original[7:][::-1])
    try:
        status, body = cold_api_get(local_cloud, "/imports", f"limit=1&next={cursor}")
        assert status == 400 and "not valid" in body["fields"]["next"], body
        # The local cloud's API container read the key before the change and keeps it.
        assert http.get(f"{local_cloud.api_url}/imports", params={"limit": 1, "next": cursor},
                        timeout=30).status_code == 200
    finally:
        secrets.put_secret_value(SecretId=secret_arn, SecretString=original)
