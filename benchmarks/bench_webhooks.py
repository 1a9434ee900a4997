"""Webhook delivery benchmark through the local cloud (issue 4).

Phases of N events each: 5 healthy endpoints (deliveries per second); then, --repeat times in
turn, 4 healthy endpoints alone (the baseline) and the same 4 with a fifth that hangs (never answers
before the per-attempt timeout). Prints deliveries per second to the healthy receivers, their
latency (event sent -> request received), and the extra time the hanging endpoint adds to the
healthy ones' deliveries: each hanging phase against the baseline run just before it, as the
median over the repeats (the machine's speed drifts, so pairs are compared, not single runs).
Between phases both delivery lanes are drained. The local cloud runs as its own `python -m local`
process, as a user runs it; the receivers (the other systems) live in this process on 127.0.0.1.
Every phase is bounded by --deadline.

    python benchmarks/bench_webhooks.py                               # 10,000 events per phase
    python benchmarks/bench_webhooks.py --events 2000 --repeat 3      # pairs for a median
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

from cloud_process import CloudProcess, PeakRss  # noqa: E402


class Receiver:
    def __init__(self, hang: bool = False):
        self.seen: dict[str, float] = {}          # webhook-id -> latency (s), first arrival
        self.requests = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                now = time.time()
                if hang:
                    with receiver.lock:
                        receiver.requests += 1
                    receiver.release.wait(120)
                else:
                    sent_at = json.loads(body)["data"]["sent_at"]
                    with receiver.lock:
                        receiver.requests += 1
                        receiver.seen.setdefault(self.headers["webhook-id"], now - sent_at)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def send_events(cloud, count: int, phase: str) -> float:
    """Puts `count` envelopes on the events queue (10 per call); returns when it started."""
    from catalog.events import envelope
    sqs, url = cloud.client("sqs"), cloud.queue_url("EventsQueue")
    started = time.time()
    for start in range(0, count, 10):
        entries = []
        for i in range(start, min(count, start + 10)):
            event = envelope("product.updated", {"sku": f"{phase}-{i}", "sent_at": time.time()},
                             event_id=f"evt_{phase}_{i}_{uuid.uuid4().hex[:6]}")
            entries.append({"Id": str(i - start), "MessageBody": json.dumps(event)})
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    return started


def run_phase(cloud, name: str, events: int, healthy_count: int, hanging: bool, deadline: float) -> dict:
    healthy = [Receiver() for _ in range(healthy_count)]
    stuck = Receiver(hang=True) if hanging else None
    ids = []
    for receiver in healthy + ([stuck] if stuck else []):
        response = requests.post(f"{cloud.api_url}/webhooks", json={"url": receiver.url}, timeout=30)
        response.raise_for_status()
        ids.append(response.json()["id"])
    expected = events * len(healthy)
    started = send_events(cloud, events, name)
    sent_seconds = time.time() - started
    complete = True
    while sum(len(r.seen) for r in healthy) < expected:
        if time.time() > deadline:
            complete = False
            break
        time.sleep(0.2)
    seconds = time.time() - started
    latencies = sorted(v for r in healthy for v in r.seen.values())
    delivered = len(latencies)
    duplicates = sum(r.requests for r in healthy) - delivered
    hanging_attempts = stuck.requests if stuck else 0
    for endpoint_id in ids:
        requests.delete(f"{cloud.api_url}/webhooks/{endpoint_id}", timeout=30)
    for receiver in healthy + ([stuck] if stuck else []):
        receiver.stop()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")  # noqa: E731
    return {"phase": name, "events": events, "healthy_endpoints": len(healthy), "hanging_endpoints": int(hanging),
            "healthy_deliveries": delivered, "expected": expected, "complete": complete,
            "duplicates": duplicates, "hanging_endpoint_attempts": hanging_attempts, "seconds": round(seconds, 2), "enqueue_seconds": round(sent_seconds, 2),
            "deliveries_per_second": round(delivered / seconds, 1) if seconds else 0.0,
            "latency_p50_s": round(pct(0.5), 3), "latency_p95_s": round(pct(0.95), 3),
            "latency_max_s": round(latencies[-1], 3) if latencies else None,
            "latency_mean_s": round(statistics.fmean(latencies), 3) if latencies else None}


PHASES = (("five-healthy", 5, False), ("four-healthy", 4, False), ("four-healthy-one-hanging", 4, True))


def drain(cloud, timeout: float = 120) -> None:
    """Waits until both delivery lanes are empty, so a phase does not inherit the previous one's work
    (a deleted endpoint's queued deliveries are dropped without a request)."""
    sqs = cloud.client("sqs")
    urls = [cloud.queue_url("DeliveriesQueue"), cloud.queue_url("DeliveriesSlowQueue")]
    end = time.time() + timeout
    while time.time() < end:
        left = 0
        for url in urls:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            left += sum(int(attrs[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                                "ApproximateNumberOfMessagesDelayed"))
        if not left:
            return
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events per phase (default 10,000)")
    parser.add_argument("--timeout", type=float, default=2.0, help="per-attempt timeout, seconds")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds per phase before giving up")
    parser.add_argument("--repeat", type=int, default=1, help="baseline + hanging pairs to run (default 1)")
    parser.add_argument("--phases", default="", help="comma-separated phases to run (default: all): "
                                                     + ", ".join(p[0] for p in PHASES))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    import resource

    parameters = {"WebhookRetrySchedule": "1,2,4", "WebhookAllowPrivateTargets": "true",
                  "WebhookTimeoutSeconds": args.timeout, "WebhookSlowCooldownSeconds": 600}
    with tempfile.TemporaryDirectory() as data_dir:
        cloud = CloudProcess(Path(data_dir), parameters)
        try:
            with PeakRss(cloud.process.pid) as rss:
                plan = [PHASES[0]] + [PHASES[1], PHASES[2]] * args.repeat
                phases = []
                for name, healthy, hanging in plan:
                    if args.phases and name not in args.phases.split(","):
                        continue
                    phases.append(run_phase(cloud, name, args.events, healthy, hanging,
                                            deadline=time.time() + args.deadline))
                    drain(cloud)
        finally:
            cloud.stop()
    for result in phases:
        print(json.dumps(result))
    print()
    for r in phases:
        print(f"{r['phase']:>25}: {r['healthy_deliveries']:,}/{r['expected']:,} deliveries to the healthy endpoints "
              f"in {r['seconds']} s = {r['deliveries_per_second']:,}/s; latency p50 {r['latency_p50_s']} s, "
              f"p95 {r['latency_p95_s']} s, max {r['latency_max_s']} s; duplicates {r['duplicates']}"
              + (f"; attempts at the hanging endpoint meanwhile: {r['hanging_endpoint_attempts']:,}"
                 if r["hanging_endpoints"] else ""))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # Linux: KiB
    print(f"peak RSS: local cloud (python -m local + dynalite) {rss.peak / 2 ** 20:,.0f} MiB; "
          f"this process (the receivers) {peak / 2 ** 20:,.0f} MiB")
    pairs = [(a, b) for a, b in zip(phases, phases[1:])
             if a["phase"] == "four-healthy" and b["phase"] == "four-healthy-one-hanging"]
    if pairs:
        def extra(key: str) -> list[float]:
            return [b[key] - a[key] for a, b in pairs]

        def fmt(values: list[float]) -> str:
            return ", ".join(f"{v:+.2f}" for v in values)
        print(f"extra time the hanging endpoint adds to the healthy deliveries (hanging phase - the baseline "
              f"before it; per-attempt timeout {args.timeout} s), over {len(pairs)} pair(s):")
        for key, label in (("seconds", "total time"), ("latency_p50_s", "latency p50"),
                           ("latency_p95_s", "latency p95"), ("latency_max_s", "latency max")):
            values = extra(key)
            print(f"  {label:<12} median {statistics.median(values):+.2f} s  (pairs: {fmt(values)} s)")
        ratios = [b["seconds"] / a["seconds"] for a, b in pairs]
        print(f"  total time ratio, hanging / baseline: median {statistics.median(ratios):.3f} "
              f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
