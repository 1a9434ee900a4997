"""Webhook delivery benchmark through the local cloud (issue 4).

Phases of N events each. First a reference: four healthy endpoints alone. Then --repeat pairs,
in alternating order: five healthy endpoints, and the same four healthy with a fifth that hangs
(never answers before the per-attempt timeout). Every phase has the same four healthy receivers,
so phases compare on the time by which those four had every event, and on their latencies (event
sent -> request received). The extra time the hanging endpoint adds is the hanging phase against
the five-healthy phase of its pair (the same work fanned out, only the fifth's answers differ), as
the median over the pairs; it is also shown against the four-endpoint reference.

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

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

from tests.support.auth import api_session  # noqa: E402
from tests.support.cloud_process import CloudProcess, PeakRss  # noqa: E402


class Receiver:
    def __init__(self, hang: bool = False):
        self.seen: dict[str, float] = {}          # webhook-id -> latency (s), first arrival
        self.last_first_arrival = 0.0              # when the latest new webhook-id arrived
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
                        if self.headers["webhook-id"] not in receiver.seen:
                            receiver.seen[self.headers["webhook-id"]] = now - sent_at
                            receiver.last_first_arrival = now
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
    from catalog.shared.events import envelope
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
    """Sends `events` events and waits for every healthy receiver to have each one. The first four
    healthy receivers are "the four" that every phase has, so phases compare on their deliveries."""
    healthy = [Receiver() for _ in range(healthy_count)]
    stuck = Receiver(hang=True) if hanging else None
    four = healthy[:4]
    ids = []
    for receiver in healthy + ([stuck] if stuck else []):
        response = api_session(cloud).post(f"{cloud.api_url}/webhooks", json={"url": receiver.url}, timeout=30)
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
    ended = max(r.last_first_arrival for r in healthy) if complete else time.time()
    four_done = max(r.last_first_arrival for r in four) if complete else ended
    all_latencies = sorted(v for r in healthy for v in r.seen.values())
    latencies = sorted(v for r in four for v in r.seen.values())
    delivered = len(all_latencies)
    duplicates = sum(r.requests for r in healthy) - delivered
    hanging_attempts = stuck.requests if stuck else 0
    for endpoint_id in ids:
        api_session(cloud).delete(f"{cloud.api_url}/webhooks/{endpoint_id}", timeout=30)
    for receiver in healthy + ([stuck] if stuck else []):
        receiver.stop()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")  # noqa: E731
    return {"phase": name, "events": events, "healthy_endpoints": len(healthy), "hanging_endpoints": int(hanging),
            "healthy_deliveries": delivered, "expected": expected, "complete": complete, "duplicates": duplicates,
            "hanging_endpoint_attempts": hanging_attempts, "enqueue_seconds": round(sent_seconds, 2),
            "seconds": round(ended - started, 2),
            "deliveries_per_second": round(delivered / (ended - started), 1),
            # the four receivers every phase has
            "four_seconds": round(four_done - started, 2),
            "latency_p50_s": round(pct(0.5), 3), "latency_p95_s": round(pct(0.95), 3),
            "latency_max_s": round(latencies[-1], 3) if latencies else None,
            "latency_mean_s": round(statistics.fmean(latencies), 3) if latencies else None}


FOUR, FIVE, HANGING = ("four-healthy", 4, False), ("five-healthy", 5, False), ("four-healthy-one-hanging", 4, True)


def plan_phases(repeat: int) -> list[tuple[str, int, bool]]:
    """The four-endpoint reference, then `repeat` pairs of five healthy and four healthy + one hanging,
    in alternating order (ABBA) so the machine's drift does not favour one side."""
    plan = [FOUR]
    for k in range(repeat):
        plan += [FIVE, HANGING] if k % 2 == 0 else [HANGING, FIVE]
    return plan


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
    parser.add_argument("--repeat", type=int, default=1, help="pairs of five-healthy and hanging phases (default 1)")
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
                phases = []
                for name, healthy, hanging in plan_phases(args.repeat):
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
              f"in {r['seconds']} s = {r['deliveries_per_second']:,}/s; the four: all delivered at {r['four_seconds']} s, "
              f"latency p50 {r['latency_p50_s']} s, p95 {r['latency_p95_s']} s, max {r['latency_max_s']} s; "
              f"duplicates {r['duplicates']}"
              + (f"; attempts at the hanging endpoint meanwhile: {r['hanging_endpoint_attempts']:,}"
                 if r["hanging_endpoints"] else ""))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # Linux: KiB
    print(f"peak RSS: local cloud (python -m local + dynalite) {rss.peak / 2 ** 20:,.0f} MiB; "
          f"this process (the receivers) {peak / 2 ** 20:,.0f} MiB")
    report_extra(phases, args.timeout)


def report_extra(phases: list[dict], timeout: float) -> None:
    """The extra time a hanging fifth endpoint adds to the four's deliveries, against the same fifth
    endpoint answering (pairs; median), and against no fifth endpoint at all (the reference run)."""
    by_name: dict[str, list[dict]] = {}
    for r in phases[1:]:
        by_name.setdefault(r["phase"], []).append(r)
    pairs = list(zip(by_name.get(FIVE[0], []), by_name.get(HANGING[0], [])))
    if not pairs:
        return
    print(f"\nextra time a hanging fifth endpoint adds to the four healthy endpoints' deliveries "
          f"(per-attempt timeout {timeout} s), over {len(pairs)} pair(s) against the fifth endpoint answering:")
    for key, label in (("four_seconds", "all delivered"), ("latency_p50_s", "latency p50"),
                       ("latency_p95_s", "latency p95"), ("latency_max_s", "latency max")):
        values = [b[key] - a[key] for a, b in pairs]
        print(f"  {label:<14} median {statistics.median(values):+.2f} s  "
              f"(pairs: {', '.join(f'{v:+.2f}' for v in values)} s)")
    ratios = [b["four_seconds"] / a["four_seconds"] for a, b in pairs]
    print(f"  ratio hanging / answering: median {statistics.median(ratios):.3f} "
          f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)})")
    reference = phases[0]
    if reference["phase"] == FOUR[0]:
        hanging = statistics.median(b["four_seconds"] for _, b in pairs)
        answering = statistics.median(a["four_seconds"] for a, _ in pairs)
        print(f"  against no fifth endpoint (one reference run, {reference['four_seconds']} s): "
              f"hanging fifth {hanging / reference['four_seconds']:.3f}x, "
              f"answering fifth {answering / reference['four_seconds']:.3f}x")


if __name__ == "__main__":
    main()
