"""The local stack under load (`make dev`, as a subprocess), with 100,000 items already in its table.

    PYTHONPATH=layers/common:. .venv/bin/python -m bench.local_stack [--items 100000] [--burst 200]
        [--senders 8] [--rate 10] [--paced 200]

1. Preload: `--items` items written through moto's endpoint (BatchWriteItem, 4 writers): stored Stripe
   events with a 400-byte body, users and purchases, in partitions of their own, as a table that has
   served a while would hold them.
2. Burst: `--burst` signed Stripe deliveries (`customer.subscription.created`, one new user each) from
   `--senders` concurrent senders, each on a keep-alive connection. Accepted per second: deliveries
   over the time from the first send to the last 200. End to end: the same deliveries over the time
   from the first send until every event's `processedAt` is set (`GET /_local/events/...`, polled);
   every event must be processed (none lost).
3. Freshness: `--paced` deliveries at `--rate` per second, each followed by reads of the user's
   entitlements (a demo token) every 20 ms until `pro` is active: webhook 200 → visible, p50 and p99.
4. RSS of the stack's process (VmRSS), sampled every 0.5 s: after the preload and the highest seen.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import ROOT, scratch, table, verdict

SECRET = "whsec_bench_local"
TARGETS = {"accepted": 100.0, "end_to_end": 25.0, "p99_ms": 1000.0, "rss_mb": 600.0}


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.halt = pid, 0.0, threading.Event()

    def now(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def cpu(self) -> float:
        """CPU seconds the stack's process has used (user + system)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self.halt.wait(0.5):
            self.peak = max(self.peak, self.now())


def start_stack(workdir: Path) -> tuple[subprocess.Popen, str, dict]:
    port = _free_port()
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    env.update(
        PORT=str(port),
        PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
        STRIPE_WEBHOOK_SECRET=SECRET,
        PARITY_STATE_DIR=str(workdir / "state"),
        PARITY_LOCAL_FILE=str(workdir / "local.json"),
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    log = open(workdir / "stack.log", "wb")  # noqa: SIM115 - the stack's for its life
    process = subprocess.Popen([sys.executable, "-m", "local"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the stack did not start: {(workdir / 'stack.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    return process, base, json.loads((workdir / "local.json").read_text())


def preload(connection: dict, count: int) -> float:
    """`count` items into the table through moto's endpoint; seconds taken."""
    client, name = table_reader(connection)
    body = os.urandom(300).hex()[:400].encode()
    started = time.monotonic()

    def item(n: int) -> dict:
        kind = n % 3
        if kind == 0:
            return {
                "PK": {"S": f"EVENT#stripe#evt_preload_{n:07d}"}, "SK": {"S": "EVENT"},
                "GSI1PK": {"S": f"EVENTS#stripe:sub_preload_{n // 3:06d}"}, "GSI1SK": {"S": f"2026-01-01T00:00:00#{n}"},
                "eventType": {"S": "invoice.paid"}, "receivedAt": {"S": "2026-01-01T00:00:00+00:00"},
                "processedAt": {"S": "2026-01-01T00:00:01+00:00"}, "outcome": {"S": "applied"}, "body": {"B": body},
            }  # fmt: skip
        if kind == 1:
            return {"PK": {"S": f"USER#u_preload_{n:07d}"}, "SK": {"S": "PROFILE"}, "createdAt": {"S": "2026-01-01"}}
        return {
            "PK": {"S": f"PURCHASE#stripe:sub_preload_{n:07d}"}, "SK": {"S": "PURCHASE"},
            "state": {"S": "active"}, "store": {"S": "stripe"}, "productId": {"S": "price_pro_monthly"},
            "expiresAt": {"S": "2027-01-01T00:00:00+00:00"}, "version": {"N": "3"},
        }  # fmt: skip

    def write(start: int) -> None:
        requests = [{"PutRequest": {"Item": item(n)}} for n in range(start, min(start + 25, count))]
        while requests:
            left = client.batch_write_item(RequestItems={name: requests}).get("UnprocessedItems", {})
            requests = left.get(name, [])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(0, count, 25)))
    return time.monotonic() - started


def subscription_event(user: str, created: int) -> dict:
    from tests.support import stripe

    tag = uuid.uuid4().hex[:12]
    obj = stripe.subscription(f"sub_{tag}", "active", created + 30 * 86400, customer=f"cus_{tag}", user_id=user)
    return stripe.event("customer.subscription.created", obj, created=created, event_id=f"evt_{tag}")


class Sender:
    """One keep-alive connection posting signed Stripe events."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def post(self, event: dict) -> int:
        from tests.support import stripe

        body = stripe.encode(event)
        headers = {"Stripe-Signature": stripe.sign(body, SECRET), "Content-Type": "application/json"}
        self.connection.request("POST", "/webhooks/stripe", body, headers)
        response = self.connection.getresponse()
        response.read()
        return response.status

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes]:
        self.connection.request("GET", path, headers=headers or {})
        response = self.connection.getresponse()
        return response.status, response.read()


def table_reader(connection: dict) -> tuple:
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=connection["endpointUrl"],
        region_name=connection["region"],
        aws_access_key_id="parity-local",
        aws_secret_access_key="parity-local",
    )
    return client, connection["resources"]["ParityTable"]["ref"]


def processed_events(table: tuple, event_ids: list[str]) -> set[str]:
    """The Stripe events among `event_ids` whose item has `processedAt`."""
    from parity.adapters.dynamodb import event_key

    client, name = table
    done: set[str] = set()
    for start in range(0, len(event_ids), 100):
        keys = [event_key("stripe", event_id) for event_id in event_ids[start : start + 100]]
        request = {name: {"Keys": keys, "ProjectionExpression": "eventId, processedAt"}}
        while request:
            page = client.batch_get_item(RequestItems=request)
            done |= {i["eventId"]["S"] for i in page["Responses"].get(name, []) if "processedAt" in i}
            request = page.get("UnprocessedKeys") or {}
    return done


def burst(base: str, table: tuple, count: int, senders: int) -> dict:
    now = int(time.time())
    events = [subscription_event(f"u_burst_{uuid.uuid4().hex[:10]}", now) for _ in range(count)]
    lanes = [events[i::senders] for i in range(senders)]
    statuses: list[int] = []
    started = time.monotonic()

    def send(lane: list[dict]) -> None:
        sender = Sender(base)
        statuses.extend(sender.post(event) for event in lane)

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, lanes))
    accepted_s = time.monotonic() - started
    # Processed: read from the table through moto's endpoint, 100 event items a request (asking the
    # stack about each event would cost it more than the events themselves).
    processed: set[str] = set()
    deadline = time.monotonic() + 300
    while len(processed) < count and time.monotonic() < deadline:
        processed |= processed_events(table, [e["id"] for e in events if e["id"] not in processed])
        if len(processed) < count:
            time.sleep(0.1)
    done_s = time.monotonic() - started
    return {
        "count": count,
        "accepted_200": sum(1 for s in statuses if s == 200),
        "accepted_per_s": count / accepted_s,
        "processed": len(processed),
        "end_to_end_per_s": len(processed) / done_s,
        "seconds": done_s,
    }


def freshness(base: str, count: int, rate: float) -> dict:
    """Webhook 200 → entitlement visible, one user per event, `rate` events per second."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(user: str) -> None:
        sender = Sender(base)
        request = urllib.request.Request(base + "/_demo/token", data=json.dumps({"sub": user}).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.loads(response.read())["token"]
        assert sender.post(subscription_event(user, int(time.time()))) == 200
        accepted = time.monotonic()
        while time.monotonic() - accepted < 30:
            status, raw = sender.get(f"/v1/users/{user}/entitlements", {"Authorization": f"Bearer {token}"})
            if status == 200 and (json.loads(raw).get("entitlements", {}).get("pro") or {}).get("active"):
                with lock:
                    latencies.append(time.monotonic() - accepted)
                return
            time.sleep(0.02)

    threads = []
    started = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, started + n / rate - time.monotonic()))
        thread = threading.Thread(target=one, args=(f"u_fresh_{uuid.uuid4().hex[:10]}",), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=60)
    ordered = sorted(latencies)
    pick = lambda q: 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")  # noqa: E731
    return {"count": count, "visible": len(ordered), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": pick(1.0)}


def run(items: int, burst_size: int, senders: int, rate: float, paced: int) -> dict:
    with scratch("parity-bench-local-") as workdir:
        process, base, connection = start_stack(workdir)
        sampler = RssSampler(process.pid)
        try:
            rss_start = sampler.now()
            preload_s = preload(connection, items)
            rss_loaded = sampler.now()
            sampler.start()
            cpu = sampler.cpu()
            burst_result = burst(base, table_reader(connection), burst_size, senders)
            burst_result["stack_cpu_s"] = sampler.cpu() - cpu
            fresh = freshness(base, paced, rate)
        finally:
            sampler.halt.set()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
        return {
            "items": items, "preload_s": preload_s, "rss_start_mb": rss_start, "rss_loaded_mb": rss_loaded,
            "rss_peak_mb": max(sampler.peak, rss_loaded), "burst": burst_result, "fresh": fresh, "senders": senders,
            "rate": rate,
        }  # fmt: skip


def render(result: dict) -> list[str]:
    b, f = result["burst"], result["fresh"]
    rows = [
        ("items in the table before the burst", f"{result['items']:,}", "100,000", verdict(result["items"] >= 100_000)),
        ("preload (BatchWriteItem, 4 writers)", f"{result['preload_s']:.1f} s", "–", verdict(None)),
        (f"burst: deliveries accepted / s ({b['count']} from {result['senders']} senders)", f"{b['accepted_per_s']:.0f}",
         "≥ 100", verdict(b["accepted_per_s"] >= TARGETS["accepted"] and b["accepted_200"] == b["count"])),
        ("burst: answered 200", f"{b['accepted_200']} / {b['count']}", "all", verdict(b["accepted_200"] == b["count"])),
        ("burst: events / s end to end", f"{b['end_to_end_per_s']:.1f}", "≥ 25", verdict(b["end_to_end_per_s"] >= TARGETS["end_to_end"])),
        ("burst: the stack's CPU time (one process) / wall time", f"{b['stack_cpu_s']:.1f} s / {b['seconds']:.1f} s",
         "–", verdict(None)),
        ("burst: processed (none lost)", f"{b['processed']} / {b['count']}", "all", verdict(b["processed"] == b["count"])),
        (f"webhook → visible at {result['rate']:g} events / s, p50", f"{f['p50_ms']:.0f} ms", "–", verdict(None)),
        (f"webhook → visible at {result['rate']:g} events / s, p99 ({f['visible']} / {f['count']} seen)",
         f"{f['p99_ms']:.0f} ms", "≤ 1 s", verdict(f["p99_ms"] <= TARGETS["p99_ms"] and f["visible"] == f["count"])),
        ("RSS: started / after the preload", f"{result['rss_start_mb']:.0f} / {result['rss_loaded_mb']:.0f} MB", "–", verdict(None)),
        ("RSS: highest during the runs", f"{result['rss_peak_mb']:.0f} MB", "≤ 600 MB", verdict(result["rss_peak_mb"] <= TARGETS["rss_mb"])),
    ]  # fmt: skip
    return [
        "## The local stack under load",
        "",
        "`python -m local` as a subprocess (`bench/local_stack.py`), its state in a temporary directory; the",
        f"table holds {result['items']:,} items (stored events, users, purchases) before anything is measured.",
        "The burst posts signed Stripe `customer.subscription.created` events (one new user each) from",
        "concurrent keep-alive connections; end to end is until every event's `processedAt` is set. Freshness",
        "posts events at a steady rate and reads the user's entitlements every 20 ms until `pro` is active.",
        "",
        *table(("measure", "value", "target", "met"), "lrll", rows),
        "",
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--paced", type=int, default=200)
    args = parser.parse_args(argv)
    print("\n".join(render(run(args.items, args.burst, args.senders, args.rate, args.paced))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
