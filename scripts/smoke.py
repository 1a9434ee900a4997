"""A short end-to-end check of a deployed stack (or the local cloud), through its HTTP API:
create an import, upload a small CSV with the presigned POST, poll the import to its end, list the
imported products, delete one. Needs an admin token (the MachineClient's client credentials, see
README "Signing in").

    make smoke API=https://abc123.execute-api.eu-west-1.amazonaws.com TOKEN=eyJ...
    python scripts/smoke.py --api http://127.0.0.1:3000 --token "$TOKEN"

Exit status 0 when every step passed; each step prints one line.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

import requests

ROWS = 5


class SmokeFailed(Exception):
    pass


def sample_csv(prefix: str, rows: int = ROWS) -> bytes:
    lines = ["sku,name,price,active"] + [f"{prefix}{i:03d},Smoke test product {i},{i}.50,true" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _check(response: requests.Response, *expected: int) -> dict:
    if response.status_code not in expected:
        raise SmokeFailed(f"{response.request.method} {response.url}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else {}


def run(api: str, token: str, *, timeout: float = 300.0, poll: float = 2.0, log=print,
        session: requests.Session | None = None) -> dict:
    """Runs every step; returns what it saw (import id, product count...). Raises SmokeFailed."""
    api = api.rstrip("/")
    http = session or requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    prefix = f"smoke-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}-"
    body = sample_csv(prefix)

    created = _check(http.post(f"{api}/imports", json={"file_name": "smoke.csv", "size": len(body)}, timeout=30), 201)
    import_id, upload = created["import"]["id"], created["upload"]
    log(f"created import {import_id}")

    # The presigned POST carries its own signature: no Authorization header to S3.
    posted = requests.post(upload["url"], data=upload["fields"], files={"file": ("smoke.csv", body, "text/csv")},
                           timeout=60)
    if posted.status_code not in (200, 201, 204):
        raise SmokeFailed(f"upload: {posted.status_code} {posted.text[:300]}")
    log(f"uploaded {len(body)} bytes")

    deadline = time.monotonic() + timeout
    while True:
        item = _check(http.get(f"{api}/imports/{import_id}", timeout=30), 200)
        if item.get("status") in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        if time.monotonic() > deadline:
            raise SmokeFailed(f"import {import_id} still {item.get('status')} after {timeout:.0f} s")
        time.sleep(poll)
    if item["status"] != "SUCCEEDED":
        raise SmokeFailed(f"import {import_id} ended {item['status']}: {item.get('error')}")
    written = sum(int(item.get(k) or 0) for k in ("created", "updated", "unchanged"))
    if written != ROWS or int(item.get("failed") or 0):
        raise SmokeFailed(f"import {import_id}: {written} rows stored and {item.get('failed')} failed, expected {ROWS} and 0")
    log(f"import {import_id} SUCCEEDED: {item.get('created')} created")

    page = _check(http.get(f"{api}/products", params={"sku": prefix, "limit": 50}, timeout=30), 200)
    skus = sorted(p["sku"] for p in page["items"])
    if skus != [f"{prefix}{i:03d}" for i in range(ROWS)]:
        raise SmokeFailed(f"listing by SKU prefix {prefix}: {skus}")
    log(f"listed {len(skus)} products")

    victim = skus[0]
    _check(http.delete(f"{api}/products/{victim}", timeout=30), 200, 204)
    _check(http.get(f"{api}/products/{victim}", timeout=30), 404)
    log(f"deleted product {victim}")
    return {"import_id": import_id, "prefix": prefix, "listed": len(skus), "deleted": victim}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default=os.environ.get("API"), help="the API's base URL (stack output ApiUrl)")
    parser.add_argument("--token", default=os.environ.get("TOKEN"), help="an admin access token")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the import")
    args = parser.parse_args(argv)
    if not args.api or not args.token:
        parser.error("give --api and --token (or API=... TOKEN=...)")
    try:
        run(args.api, args.token, timeout=args.timeout)
    except (SmokeFailed, requests.RequestException) as error:
        print(f"SMOKE FAILED: {error}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
