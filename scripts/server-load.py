#!/usr/bin/env python3
"""Load test for `ponder serve` (not part of the default tests).

Starts `ponder serve` on a free loopback port with the bundled toy models, runs N
concurrent clients for S seconds, each sending a mix of strategies (greedy, vote@4,
adaptive-vote, raw samples, prm-vote, streamed vote), then stops the server with SIGTERM.
Prints throughput, p50 / p99 latency, errors by status (429 counted apart: the bounded
queue saying so is intended) and the server's peak RSS.

  scripts/server-load.py build/ponder [--clients 32] [--seconds 60] [--threads 2]
"""
import argparse
import http.client
import json
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

QUESTIONS = ["a=44; b=a*2; b?", "a=69; b=a*3; b?", "a=59; b=a*8; b?", "a=7; b=a+5; c=b*3; c?"]

# (weight, model, ponder object, extra fields)
MIX = [
    (3, "toy-reasoner-l", {"strategy": "greedy"}, {}),
    (3, "toy-reasoner-l", {"strategy": "vote@4"}, {}),
    (2, "toy-reasoner-s", {"strategy": "adaptive-vote@8"}, {}),
    (2, "toy-reasoner-l", {"strategy": "sample"}, {"n": 2, "logprobs": True}),
    (1, "toy-reasoner-l", {"strategy": "prm-vote@4"}, {}),
    (2, "toy-reasoner-l", {"strategy": "vote@4"}, {"stream": True}),
]


def start_server(ponder, threads, max_queue):
    proc = subprocess.Popen(
        [ponder, "serve", "--port", "0", "-t", str(threads), "--max-queue", str(max_queue)],
        stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        sys.exit(f"server-load: ponder serve did not start: {line!r}")
    return proc, int(match.group(1))


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def client(port, deadline, seed, results, lock):
    rng = random.Random(seed)
    weights = [m[0] for m in MIX]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    while time.monotonic() < deadline:
        _, model, ponder, extra = rng.choices(MIX, weights)[0]
        body = {"model": model, "messages": [{"role": "user", "content": rng.choice(QUESTIONS)}],
                "ponder": ponder, "seed": rng.randrange(1 << 30), **extra}
        start = time.monotonic()
        # A kept-alive connection the server has just closed fails at once: like any HTTP
        # client, retry that once on a new connection; a second failure is an error.
        for attempt in (1, 2):
            try:
                conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                status = response.status
                break
            except (OSError, http.client.HTTPException) as e:
                status, data = f"connection: {type(e).__name__}", b""
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                stale = isinstance(e, (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected))
                if not stale:
                    break
        elapsed = time.monotonic() - start
        tokens = 0
        if status == 200 and not extra.get("stream"):
            tokens = json.loads(data)["usage"]["completion_tokens"]
        elif status == 429:
            time.sleep(float(response.getheader("Retry-After", "1")))
        with lock:
            results.append((status, elapsed, tokens, ponder["strategy"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ponder", help="the ponder binary")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=2, help="engine threads per model")
    parser.add_argument("--max-queue", type=int, default=64)
    args = parser.parse_args()
    if not 1 <= args.clients <= 1024 or not 0 < args.seconds <= 3600:
        sys.exit("server-load: --clients in [1, 1024], --seconds in (0, 3600]")

    proc, port = start_server(args.ponder, args.threads, args.max_queue)
    results, lock = [], threading.Lock()
    deadline = time.monotonic() + args.seconds
    began = time.monotonic()
    workers = [threading.Thread(target=client, args=(port, deadline, i, results, lock)) for i in range(args.clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.monotonic() - began
    rss = peak_rss_kib(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = "hung (killed)"

    ok = [r for r in results if r[0] == 200]
    busy = sum(1 for r in results if r[0] == 429)
    errors = {}
    for r in results:
        if r[0] not in (200, 429):
            errors[str(r[0])] = errors.get(str(r[0]), 0) + 1
    latencies = sorted(r[1] for r in ok)
    print(f"clients {args.clients}, {wall:.1f} s, {len(results)} requests: {len(ok)} ok, {busy} answered 429, "
          f"errors {errors or 0}")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        print(f"throughput {len(ok) / wall:.2f} requests/s, {sum(r[2] for r in ok) / wall:.0f} completion tokens/s "
              f"(streamed requests not counted); latency p50 {statistics.median(latencies):.2f} s, p99 {p99:.2f} s")
        for strategy in sorted({r[3] for r in ok}):
            mine = sorted(r[1] for r in ok if r[3] == strategy)
            print(f"  {strategy:16} {len(mine):5} ok, p50 {statistics.median(mine):.2f} s")
    print(f"server peak RSS {rss / 1024:.0f} MiB; exit after SIGTERM: {code}")
    return 1 if errors or code != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
