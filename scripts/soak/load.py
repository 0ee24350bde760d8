"""Mixed load against a running sidecar, and a sample of its health every
minute into a CSV: the soak run's engine (scripts/soak.sh starts it).

Senders, each on its own thread at a fixed rate (not as fast as possible: a
soak asks whether steady traffic makes anything grow, not how much fits):

- native events over HTTP (`POST /v1/events`, keep-alive), 40 types with
  numbers in their messages, 500 users;
- GELF over UDP, plain and gzip'd, every tenth message chunked;
- Sentry envelopes: an event with a `session` item beside it, and
  session-only envelopes as a browser SDK sends per page load;
- a deploy every DEPLOY_EVERY_S, after which one new error type starts, so
  the gate flags it and the analyzer, the LLM stub and triage run.

Every minute one CSV row: RSS and its peak, open files, store size on disk,
p50/p99 ack latency of the HTTP requests that carry events (native and
Sentry event envelopes), requests answered 200 and not, UDP datagrams sent,
and the sidecar's own figures from `/v1/status` (LLM calls, tickets,
events waiting for the writer).

Usage: python3 load.py BASE_URL UDP_PORT PID STORE_DIR MINUTES CSV
"""

import gzip
import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

SENTRY_KEY = "5e17c0de5e17c0de5e17c0de5e17c0de"  # the default project's key
NATIVE_PER_S = 30
GELF_PER_S = 30
SENTRY_EVENTS_PER_S = 5
SENTRY_SESSIONS_PER_S = 20
DEPLOY_EVERY_S = 300
KINDS = [f"Soak{kind}Error" for kind in (
    "Checkout Payment Cart Login Search Upload Export Import Render Cache "
    "Queue Mailer Billing Invoice Refund Report Session Token Profile Avatar "
    "Comment Like Follow Feed Notify Webhook Crawler Index Resize Thumbnail "
    "Geo Tax Coupon Stock Order Ship Track Review Rating Wishlist").split()]
USERS = [f"user{i}" for i in range(500)]


class Stats:
    """What the senders saw since the last sample."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.latencies_ms = []
        self.ok = 0
        self.failed = 0
        self.udp_sent = 0

    def answered(self, status, elapsed_s, carries_event):
        with self.lock:
            if status == 200:
                self.ok += 1
                if carries_event:
                    self.latencies_ms.append(elapsed_s * 1000.0)
            else:
                self.failed += 1

    def sent_udp(self):
        with self.lock:
            self.udp_sent += 1

    def take(self):
        with self.lock:
            taken = (sorted(self.latencies_ms), self.ok, self.failed, self.udp_sent)
            self.reset()
            return taken


class Clock:
    """Paces one sender at `per_s` without drifting."""

    def __init__(self, per_s):
        self.interval = 1.0 / per_s
        self.next_at = time.monotonic()

    def wait(self):
        self.next_at += self.interval
        delay = self.next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:
            self.next_at = time.monotonic()  # fell behind: do not burst to catch up


class Http:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, base):
        self.url = urllib.parse.urlsplit(base)
        self.conn = None

    def post(self, path, body, headers):
        started = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=60)
            self.conn.request("POST", path, body=body, headers=headers)
            response = self.conn.getresponse()
            response.read()
            return response.status, time.monotonic() - started
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return 0, time.monotonic() - started


def message(rng, kind):
    return f"{kind}: order {rng.randrange(10**6)} failed after {rng.randrange(1, 500)} ms"


def stack(kind, service):
    return "\n".join([
        f"{kind}: soak",
        f"    at handle (/srv/{service}/{kind.lower()}.js:{len(kind) * 3}:7)",
        f"    at route (/srv/{service}/router.js:88:12)",
        "    at process (node:internal/process/task_queues:95:5)",
    ])


class State:
    """Shared by the senders: which types are firing, and the release."""

    def __init__(self):
        self.lock = threading.Lock()
        self.kinds = list(KINDS[:30])
        self.release = "soak@0"
        self.stop = threading.Event()

    def pick(self, rng):
        with self.lock:
            # The newest type (after a deploy) fires often enough for the gate.
            kind = self.kinds[-1] if rng.random() < 0.15 else rng.choice(self.kinds)
            return kind, self.release


def native_sender(base, state, stats, seed):
    rng, conn, clock = random.Random(seed), Http(base), Clock(NATIVE_PER_S)
    while not state.stop.is_set():
        clock.wait()
        kind, release = state.pick(rng)
        body = json.dumps({
            "type": kind, "message": message(rng, kind), "stack": stack(kind, "api"),
            "user": rng.choice(USERS), "release": release, "environment": "production",
        })
        status, elapsed = conn.post("/v1/events", body, {"content-type": "application/json"})
        stats.answered(status, elapsed, True)


def gelf_chunks(payload, rng):
    message_id = rng.randbytes(8)
    parts = [payload[i:i + 400] for i in range(0, len(payload), 400)]
    return [b"\x1e\x0f" + message_id + struct.pack("BB", n, len(parts)) + part
            for n, part in enumerate(parts)]


def gelf_sender(udp_port, state, stats, seed):
    rng, clock = random.Random(seed), Clock(GELF_PER_S)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    while not state.stop.is_set():
        clock.wait()
        kind, release = state.pick(rng)
        payload = json.dumps({
            "version": "1.1", "host": "soak", "level": 3,
            "short_message": message(rng, kind), "full_message": stack(kind, "worker"),
            "_user_id": rng.choice(USERS), "_release": release, "_environment": "production",
            "_padding": "x" * rng.randrange(0, 900),
        }).encode()
        sent += 1
        if sent % 10 == 0:
            datagrams = gelf_chunks(payload, rng)
        elif sent % 2 == 0:
            datagrams = [gzip.compress(payload)]
        else:
            datagrams = [payload]
        for datagram in datagrams:
            sock.sendto(datagram, ("127.0.0.1", udp_port))
        stats.sent_udp()


def envelope(items, sent_at):
    header = json.dumps({"event_id": uuid.uuid4().hex, "sent_at": sent_at})
    lines = [header]
    for item_type, payload in items:
        data = json.dumps(payload)
        lines.append(json.dumps({"type": item_type, "length": len(data.encode())}))
        lines.append(data)
    return ("\n".join(lines) + "\n").encode()


def session(rng, release, now):
    return {"sid": uuid.uuid4().hex, "did": rng.choice(USERS), "init": True, "started": now,
            "timestamp": now, "status": "ok", "errors": 0,
            "attrs": {"release": release, "environment": "production"}}


def sentry_sender(base, state, stats, seed, with_event, per_s):
    rng, conn, clock = random.Random(seed), Http(base), Clock(per_s)
    headers = {"content-type": "application/x-sentry-envelope",
               "x-sentry-auth": f"Sentry sentry_version=7, sentry_key={SENTRY_KEY}, sentry_client=soak/1"}
    while not state.stop.is_set():
        clock.wait()
        kind, release = state.pick(rng)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        items = [("session", session(rng, release, now))]
        if with_event:
            items.insert(0, ("event", {
                "event_id": uuid.uuid4().hex, "level": "error", "platform": "python",
                "release": release, "environment": "production", "user": {"id": rng.choice(USERS)},
                "exception": {"values": [{"type": kind, "value": message(rng, kind), "stacktrace": {"frames": [
                    {"filename": "app/routes.py", "function": "route", "lineno": 40, "in_app": True},
                    {"filename": f"app/{kind.lower()}.py", "function": "handle", "lineno": 12, "in_app": True},
                ]}}]},
            }))
        status, elapsed = conn.post("/api/1/envelope/", envelope(items, now), headers)
        stats.answered(status, elapsed, with_event)


def deployer(base, state):
    n = 0
    while not state.stop.wait(DEPLOY_EVERY_S):
        n += 1
        with state.lock:
            state.release = f"soak@{n}"
            state.kinds.append(KINDS[30 + (n - 1) % (len(KINDS) - 30)] + f"{n}")
            del state.kinds[:-31]  # the new type, and a fixed number of old ones
        body = json.dumps({"revision": f"soak-{n}", "environment": "production"}).encode()
        request = urllib.request.Request(f"{base}/v1/deploys", data=body,
                                         headers={"content-type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=30).read()
        except OSError as error:
            print(f"deploy {n} failed: {error}", file=sys.stderr)


def disk_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass  # sled removed it between listing and reading
    return total


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    kib = lambda key: int(fields.get(key, "0 kB").split()[0])  # noqa: E731
    return kib("VmRSS"), kib("VmHWM"), len(os.listdir(f"/proc/{pid}/fd"))


def percentile(sorted_values, p):
    if not sorted_values:
        return ""
    index = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return f"{sorted_values[index]:.1f}"


def sidecar_status(base):
    try:
        with urllib.request.urlopen(f"{base}/v1/status", timeout=10) as reply:
            status = json.load(reply)
    except (OSError, ValueError):
        return "", "", ""
    return (status.get("llm", {}).get("calls", ""),
            status.get("tickets", {}).get("total", ""),
            status.get("ingest", {}).get("queue_depth", ""))


def tree_rows(base, minute):
    """Entries and bytes per store tree (GET /v1/admin/store), one row each."""
    try:
        with urllib.request.urlopen(f"{base}/v1/admin/store", timeout=30) as reply:
            stats = json.load(reply)
    except (OSError, ValueError):
        return []
    return [(minute, t["name"], t["entries"], t["key_bytes"] + t["value_bytes"])
            for t in stats.get("trees", [])]


TREES_EVERY_MIN = 10

COLUMNS = ["minute", "rss_kib", "peak_rss_kib", "open_files", "store_bytes", "ack_p50_ms",
           "ack_p99_ms", "ok", "failed", "udp_sent", "llm_calls", "tickets", "queue_depth"]


def main():
    base, udp_port, pid, store, minutes, csv_path = sys.argv[1:7]
    udp_port, pid, minutes = int(udp_port), int(pid), int(minutes)
    state, stats = State(), Stats()
    senders = [
        threading.Thread(target=native_sender, args=(base, state, stats, 1)),
        threading.Thread(target=native_sender, args=(base, state, stats, 2)),
        threading.Thread(target=gelf_sender, args=(udp_port, state, stats, 3)),
        threading.Thread(target=sentry_sender, args=(base, state, stats, 4, True, SENTRY_EVENTS_PER_S)),
        threading.Thread(target=sentry_sender, args=(base, state, stats, 5, False, SENTRY_SESSIONS_PER_S)),
        threading.Thread(target=deployer, args=(base, state)),
    ]
    for thread in senders:
        thread.daemon = True
        thread.start()
    trees_path = csv_path.removesuffix(".csv") + "-trees.csv"
    with open(csv_path, "w") as csv, open(trees_path, "w") as trees:
        csv.write(",".join(COLUMNS) + "\n")
        trees.write("minute,tree,entries,bytes\n")
        for minute in range(1, minutes + 1):
            time.sleep(60)
            latencies, ok, failed, udp_sent = stats.take()
            rss, peak, files = proc_status(pid)
            row = [minute, rss, peak, files, disk_bytes(store), percentile(latencies, 50),
                   percentile(latencies, 99), ok, failed, udp_sent, *sidecar_status(base)]
            csv.write(",".join(str(v) for v in row) + "\n")
            csv.flush()
            print(" ".join(f"{k}={v}" for k, v in zip(COLUMNS, row)), flush=True)
            if minute == 1 or minute % TREES_EVERY_MIN == 0:
                for tree_row in tree_rows(base, minute):
                    trees.write(",".join(str(v) for v in tree_row) + "\n")
                trees.flush()
    state.stop.set()


if __name__ == "__main__":
    main()
