#!/usr/bin/env python3
"""Throughput of one `ponder eval` on the local engine, through one llama-server and
through two, in one run (docs/remote.md). Each llama-server and the local engine run one
thread pinned to a core of its own where taskset and the cores allow (server k on core k,
the local engine on core 0); the eval client is not pinned.

  scripts/bench-remote.py --ponder build/ponder [--questions 32] [--strategy vote@8]
  scripts/bench-remote.py --ponder build/ponder --strategy beam@4 --verifier models/toy-prm.gguf

Prints, per configuration: wall seconds, generated tokens, tokens per second, and for the
remote runs the HTTP path's overhead per sample (the client's wall time per request minus
the time llama-server reports for it).
"""

import argparse
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def llama_server_path():
    cache = os.environ.get("PONDER_CACHE", os.path.expanduser("~/.cache/ponder"))
    found = sorted(glob.glob(os.path.join(cache, "llama.cpp-*", "install", "bin", "llama-server")))
    if not found:
        sys.exit("llama-server is not built: make llama-server")
    return found[-1]


def pinned(core, args):
    if shutil.which("taskset") and core < os.cpu_count():
        return ["taskset", "-c", str(core), *args]
    return args


def wait_healthy(url, process):
    for _ in range(600):
        if process.poll() is not None:
            sys.exit(f"a server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} was not ready")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponder", required=True)
    ap.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "models", "toy-reasoner-l.gguf"))
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "toy", "dev.jsonl"))
    ap.add_argument("--questions", type=int, default=32)
    ap.add_argument("--strategy", default="vote@8")
    ap.add_argument("--concurrency", type=int, default=4, help="samples in flight per server (and its -np)")
    ap.add_argument("--verifier", help="a PRM for the strategy (searches, prm-vote), run by the eval locally")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="ponder-bench-remote-")
    binary = llama_server_path()
    ports = [free_port(), free_port()]
    servers = []
    log = open(os.path.join(work, "servers.log"), "w")
    print(f"cores: {os.cpu_count()}; taskset: {'yes' if shutil.which('taskset') else 'no'}; "
          f"{a.questions} questions x {a.strategy}, seed 1, one thread per engine")
    try:
        for k, port in enumerate(ports):
            p = subprocess.Popen(pinned(k, [binary, "-m", a.model, "-t", "1", "-tb", "1", "--host", "127.0.0.1",
                                            "--port", str(port), "-np", str(a.concurrency), "-c",
                                            str(1024 * a.concurrency), "--no-webui"]),
                                 stdout=log, stderr=subprocess.STDOUT)
            servers.append(p)
            wait_healthy(f"http://127.0.0.1:{port}", p)
        runs = [("local engine (core 0)", [], 0),
                ("1 llama-server (core 0)", [f"http://127.0.0.1:{ports[0]},concurrency={a.concurrency}"], None),
                ("1 llama-server (core 1)", [f"http://127.0.0.1:{ports[1]},concurrency={a.concurrency}"], None),
                ("2 llama-servers (cores 0, 1)", [f"http://127.0.0.1:{p},concurrency={a.concurrency}" for p in ports], None)]
        print(f"{'configuration':32} {'wall s':>8} {'gen tokens':>11} {'tok/s':>8} {'accuracy':>9} {'HTTP ms/sample':>15}")
        for name, backends, core in runs:
            out = os.path.join(work, re.sub(r"\W+", "-", name))
            args = [a.ponder, "eval", "-t", "1", "--seed", "1", "--data", a.data, "--limit", str(a.questions),
                    "--strategies", a.strategy, "--out", out, "--no-progress"]
            if a.verifier:
                args += ["--verifier", a.verifier]
            for b in backends:
                args += ["--backend", b]
            if core is not None:
                args = pinned(core, args)
            start = time.monotonic()
            done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wall = time.monotonic() - start
            if done.returncode != 0:
                sys.exit(f"{name}: ponder eval failed: {done.stderr[-2000:]}")
            with open(os.path.join(out, "summary.json")) as f:
                row = json.load(f)["strategies"][0]
            tokens = row["generated_tokens"] * a.questions
            overheads = [float(m) for m in re.findall(r"([\d.]+) ms per sample beyond", done.stderr)]
            overhead = f"{sum(overheads) / len(overheads):.2f}" if overheads else "-"
            print(f"{name:32} {wall:8.2f} {tokens:11.0f} {tokens / wall:8.0f} {row['accuracy']:9.3f} {overhead:>15}")
    finally:
        for p in servers:
            p.kill()
            p.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
