"""Load test of the products API (Locust): a read-heavy browsing user and a writing user.

    Reader (weight 4): first page, pages followed through `next` cursors, SKU prefix, name contains
                       (a common word), search (a rare or accented term), active=false, one product
    Writer (weight 1): creates, patches and deletes SKUs of its own (`LOAD-<run>-<user>-<n>`)

Every request carries a bearer token of the machine client for the user's role (reader, admin),
fetched by the client-credentials grant once per process and role, shared by the users, renewed a
minute before it expires and after a 401. By default the local cloud's issuer and clients are used
(<host>/local-auth/oauth2/token, local-reader / local-admin); CATALOG_TOKEN_URL, CATALOG_READER_CLIENT
and CATALOG_ADMIN_CLIENT (`id:secret`) override them. Only loopback hosts are accepted unless
LOAD_ALLOW_REMOTE=1.

Runs in the benchmark venv (`make bench-load` builds .venv-bench from requirements-bench.txt):

    .venv-bench/bin/locust -f benchmarks/locustfile.py --headless -u 10 -r 10 -t 60s -H http://127.0.0.1:3000
    .venv-bench/bin/python benchmarks/locustfile.py --host http://127.0.0.1:3000 --users 10 --run-time 60 \\
        [--warmup S] [--stop-file PATH] [--ready-file PATH] [--json OUT.json]

The second form (what benchmarks/bench_load.py runs) keeps every response time, prints per route
requests, requests/s, p50/p95/p99, errors and error rate, and writes them as JSON; it ends after
--run-time seconds or as soon as --stop-file exists.
"""
from __future__ import annotations

# locust patches the process for gevent when it is imported: before requests, ssl and threading are.
# ruff: noqa: I001
from locust import FastHttpUser, between, events, task
from locust.exception import StopUser

import argparse
import json
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from ipaddress import ip_address
from threading import Lock
from urllib.parse import quote, urlencode, urlsplit

import requests

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ"        # the SKU prefixes gen_products.py draws from
WORDS = ("alpha bravo steel cotton oak linen ceramic matte gloss organic recycled compact deluxe mini pro "
         "ultra classic vintage modern rustic smart wireless eco premium basic travel outdoor kitchen garden "
         "office kids sport").split()
RARE = ("zzqx", "Smörgås", "Łódź", "東京", "12\" edition", "ñandú", "steel oak", "nothing-like-this")
LOCAL_CLIENTS = {"admin": ("local-admin", "local-admin-secret"), "reader": ("local-reader", "local-reader-secret")}
RUN = uuid.uuid4().hex[:6]


class Tokens:
    """Access tokens per (token URL, role), shared by every user of the process."""

    def __init__(self):
        self._lock = Lock()          # gevent's, once locust has patched the process
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    @staticmethod
    def _client(role: str) -> tuple[str, str]:
        given = os.environ.get(f"CATALOG_{role.upper()}_CLIENT")
        if given:
            client_id, _, secret = given.partition(":")
            return client_id, secret
        return LOCAL_CLIENTS[role]

    def get(self, host: str, role: str) -> str:
        url = os.environ.get("CATALOG_TOKEN_URL") or host.rstrip("/") + "/local-auth/oauth2/token"
        with self._lock:
            cached = self._tokens.get((url, role))
            if cached and cached[1] > time.time() + 60:
                return cached[0]
            response = requests.post(url, data={"grant_type": "client_credentials"}, auth=self._client(role),
                                     timeout=30)
            response.raise_for_status()
            body = response.json()
            self._tokens[(url, role)] = (body["access_token"], time.time() + int(body.get("expires_in", 3600)))
            return body["access_token"]

    def forget(self, host: str, role: str) -> None:
        url = os.environ.get("CATALOG_TOKEN_URL") or host.rstrip("/") + "/local-auth/oauth2/token"
        with self._lock:
            self._tokens.pop((url, role), None)


TOKENS = Tokens()


def _loopback(host: str) -> bool:
    name = urlsplit(host).hostname or ""
    if name == "localhost":
        return True
    try:
        return ip_address(name).is_loopback
    except ValueError:
        return False


class _ApiUser(FastHttpUser):
    abstract = True
    role = "reader"

    def on_start(self):
        if not _loopback(self.host or "") and os.environ.get("LOAD_ALLOW_REMOTE") != "1":
            raise StopUser(f"{self.host}: not a loopback address (LOAD_ALLOW_REMOTE=1 allows it)")

    def call(self, method: str, path: str, name: str, expect: tuple[int, ...] = (200,), check=None, **kwargs):
        """One request under `name`; a status outside `expect` is an error, and so is a 200 whose body
        `check(body)` finds wrong (it returns what is wrong, or None): an answer to another request, a
        filter not applied. A 401 (token expired or revoked early) is counted as the error it is, and
        the request is sent once more with a new token. Returns the parsed body, or None."""
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {TOKENS.get(self.host, self.role)}"}
            with self.client.request(method, path, name=name, headers=headers, catch_response=True,
                                     **kwargs) as response:
                if response.status_code in expect:
                    try:
                        body = response.json() if response.content else None
                    except ValueError:
                        body = None
                    try:
                        wrong = check(body) if check is not None and response.status_code == 200 else None
                    except (KeyError, TypeError, AttributeError) as error:
                        wrong = f"malformed body ({error!r}): {(response.text or '')[:100]}"
                    if wrong:
                        response.failure(f"wrong answer: {wrong}"[:200])
                        return None
                    response.success()
                    return body
                text = (response.text or "")[:160] if response.status_code else str(response.error)
                response.failure(f"{response.status_code}: {text}")
                if response.status_code == 401 and attempt == 1:
                    TOKENS.forget(self.host, self.role)
                    continue
                return None
        return None


class Reader(_ApiUser):
    """Browses: lists, filters, pages through cursors, searches, opens products it has seen."""
    weight = 4
    wait_time = between(0.2, 1.0)
    role = "reader"

    def on_start(self):
        super().on_start()
        self.seen: list[str] = []

    def _list(self, name: str, after: str = "", keep=lambda item: True, **params):
        """GET /products: the items must be in SKU order (after `after`, the last SKU key of the page
        before) and each must pass `keep`."""
        def check(body):
            keys = [item["sku"].strip().lower() for item in body["items"]]
            if keys != sorted(keys) or (after and keys and keys[0] <= after):
                return f"items out of SKU order for {params}"
            stray = next((item for item in body["items"] if not keep(item)), None)
            return stray and f"{stray['sku']!r} does not match {params}"

        body = self.call("GET", "/products" + ("?" + urlencode(params) if params else ""), name, check=check)
        if body and body.get("items"):
            self.seen.extend(item["sku"] for item in random.sample(body["items"], min(5, len(body["items"]))))
            del self.seen[:-200]
        return body

    @task(3)
    def first_page(self):
        self._list("GET /products (first page)")

    @task(3)
    def page_through(self):
        body = self._list("GET /products (first page)")
        for _ in range(random.randint(1, 5)):
            if not body or not body.get("next") or not body["items"]:
                break
            after = body["items"][-1]["sku"].strip().lower()
            body = self._list("GET /products?cursor (next page)", after=after, cursor=body["next"])

    @task(3)
    def sku_prefix(self):
        prefix = "".join(random.choice(ALPHABET) for _ in range(random.randint(1, 3)))
        self._list("GET /products?sku (SKU prefix)", keep=lambda item: item["sku"].strip().lower().startswith(prefix.lower()),
                   sku=random.choice((prefix, prefix.lower())))

    @task(2)
    def name_contains(self):
        word = random.choice(WORDS)
        self._list("GET /products?q (name contains)", keep=lambda item: word in item["name"].lower(), q=word)

    @task(1)
    def search(self):
        term = random.choice(RARE)
        self._list("GET /products?q (search, rare term)", keep=lambda item: term.lower() in item["name"].lower(), q=term)

    @task(1)
    def inactive(self):
        self._list("GET /products?active=false", keep=lambda item: item["active"] is False, active="false")

    @task(3)
    def get_one(self):
        if not self.seen:
            self.first_page()
            return
        sku = random.choice(self.seen)
        self.call("GET", f"/products/{quote(sku, safe='')}", "GET /products/{sku}", expect=(200, 404),
                  check=lambda body: body["sku"].lower() != sku.lower() and f"asked for {sku!r}, got {body['sku']!r}")


class Writer(_ApiUser):
    """Creates, patches and deletes products of its own; keeps at most 20 of them at a time."""
    weight = 1
    wait_time = between(0.5, 2.0)
    role = "admin"

    def on_start(self):
        super().on_start()
        self.prefix = f"LOAD-{RUN}-{uuid.uuid4().hex[:6]}"
        self.count = 0
        self.own: list[str] = []

    @task(3)
    def create(self):
        if len(self.own) >= 20:
            self.delete()
            return
        self.count += 1
        sku = f"{self.prefix}-{self.count:05d}"
        body = {"sku": sku, "name": f"Load test {random.choice(WORDS)} {self.count}",
                "description": "Written by benchmarks/locustfile.py", "price": f"{random.randint(1, 99999) / 100:.2f}"}
        if self.call("POST", "/products", "POST /products", expect=(201,), json=body,
                     check=lambda got: got["sku"] != sku and f"created {sku!r}, got {got['sku']!r}") is not None:
            self.own.append(sku)

    @task(3)
    def patch(self):
        if not self.own:
            self.create()
            return
        sku = random.choice(self.own)
        change = random.choice(({"price": f"{random.randint(1, 99999) / 100:.2f}"}, {"active": random.random() < 0.5},
                                {"name": f"Load test {random.choice(WORDS)} patched"}))
        self.call("PATCH", f"/products/{quote(sku, safe='')}", "PATCH /products/{sku}", json=change,
                  check=lambda got: got["sku"] != sku and f"patched {sku!r}, got {got['sku']!r}")

    @task(2)
    def delete(self):
        if not self.own:
            self.create()
            return
        sku = self.own.pop(random.randrange(len(self.own)))
        self.call("DELETE", f"/products/{quote(sku, safe='')}", "DELETE /products/{sku}",
                  check=lambda got: got["deleted"]["sku"] != sku and f"deleted {sku!r}, got {got['deleted']['sku']!r}")


# ---- every response time, per route (the percentiles below are exact, not Locust's rounded buckets)
SAMPLES: dict[str, list[float]] = defaultdict(list)
ERRORS: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


@events.request.add_listener
def _record(request_type, name, response_time, exception=None, **_kwargs):
    SAMPLES[name].append(response_time)
    if exception is not None:
        ERRORS[name][str(exception)[:120]] += 1


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(seconds: float) -> dict:
    routes = {}
    for name in sorted(SAMPLES):
        times = SAMPLES[name]
        errors = sum(ERRORS[name].values())
        routes[name] = {"requests": len(times), "rps": len(times) / seconds, "p50": percentile(times, 50),
                        "p95": percentile(times, 95), "p99": percentile(times, 99), "max": max(times),
                        "errors": errors, "error_rate": errors / len(times),
                        "error_kinds": dict(sorted(ERRORS[name].items(), key=lambda kv: -kv[1])[:3])}
    return {"seconds": seconds, "routes": routes}


def print_table(result: dict, out=sys.stdout) -> None:
    print(f"{'route':<38}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'errors':>8}{'err %':>7}", file=out)
    total = errors = 0
    for name, r in result["routes"].items():
        total += r["requests"]
        errors += r["errors"]
        print(f"{name:<38}{r['requests']:>9}{r['rps']:>8.1f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}"
              f"{r['max']:>9.1f}{r['errors']:>8}{100 * r['error_rate']:>7.2f}", file=out)
    seconds = result["seconds"]
    print(f"{'all':<38}{total:>9}{total / seconds if seconds else 0:>8.1f}{'':>45}{errors:>8}"
          f"{100 * errors / total if total else 0:>7.2f}", file=out)
    for name, r in result["routes"].items():
        for kind, count in r["error_kinds"].items():
            print(f"  {name}: {count} x {kind}", file=out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", required=True)
    ap.add_argument("--users", type=int, default=10, help="readers and writers 4:1 (at least one writer)")
    ap.add_argument("--spawn-rate", type=float, default=10)
    ap.add_argument("--run-time", type=float, default=60, help="seconds at most")
    ap.add_argument("--warmup", type=float, default=0, help="seconds of load before the clock starts (not counted)")
    ap.add_argument("--stop-file", help="end as soon as this file exists")
    ap.add_argument("--ready-file", help="created once the users run and the clock has started")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    if not _loopback(args.host) and os.environ.get("LOAD_ALLOW_REMOTE") != "1":
        sys.exit(f"{args.host}: not a loopback address (LOAD_ALLOW_REMOTE=1 allows it)")

    import gevent
    from locust.env import Environment

    env = Environment(user_classes=[Reader, Writer], host=args.host, events=events)
    runner = env.create_local_runner()
    for role in ("reader", "admin"):        # fetch the tokens before the clock starts
        TOKENS.get(args.host, role)
    runner.start(args.users, spawn_rate=args.spawn_rate)
    if args.warmup:
        gevent.sleep(args.warmup)
        warm = sum(len(times) for times in SAMPLES.values())
        print(f"warm-up: {warm} requests, {sum(sum(e.values()) for e in ERRORS.values())} errors (not counted)")
        SAMPLES.clear()
        ERRORS.clear()
    start = time.monotonic()
    if args.ready_file:
        open(args.ready_file, "w").close()
    while time.monotonic() - start < args.run_time and not (args.stop_file and os.path.exists(args.stop_file)):
        gevent.sleep(0.1)
    runner.quit()
    seconds = time.monotonic() - start
    result = summary(seconds)
    result.update(users=args.users, host=args.host)
    print_table(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
