#!/usr/bin/env python3
"""`ponder serve` against `llama-server` built from the same pinned llama.cpp: one run,
one model, one machine, both on loopback with the same threads.

  scripts/bench-server.py --ponder build/ponder [--llama-server PATH] [--model GGUF]
      [--threads 1] [--requests 30] [--max-tokens 128] [--samples 8] [--rounds 5]

Without --llama-server it takes the one `scripts/build-llama.sh --server` builds (once,
into ~/.cache/ponder; `make bench-server` does the same). Each server is started in turn on a free port and stopped before the other runs.

(a) Latency: one request at a time, the same prompt, greedy, `max_tokens` tokens with
    end-of-generation ignored (`ignore_eos` on llama-server, `"ponder": {"ignore_eos":
    true}` on ponder). p50 and p90 over --requests requests after two warm-up requests;
    target: ponder's p50 <= 1.05 x llama-server's.
(b) Throughput: --samples samples of one prompt in one request (`n`; llama-server runs
    with `--parallel` = samples, ponder in raw mode, `"strategy": "sample"`), generated
    tokens per second of wall time, median over --rounds requests; target: ponder >=
    llama-server.

Beside wall time it reads each server's CPU time (all its threads, /proc/PID/stat) over
each phase: on a machine shared with other work, CPU time per request shows what each
server spends where wall time also shows what the neighbours took.

Every response is checked: the tokens asked for were generated (a server that stopped
early would look fast), else the run fails. Exits non-zero on any failure.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PROMPT = "a=47; b=a*6; c=b-58; d=c+19; d?\n"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process on a loopback port, stopped on exit; its output goes to a log file."""

    def __init__(self, name, argv, port):
        self.name, self.port = name, port
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode} at start; see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become healthy in 300 s; see {self.log.name}")
            time.sleep(0.2)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def cpu_seconds(self):
        """User + system CPU time of the server process so far (all its threads)."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def post(self, path, body):
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{self.name}: {path} answered {response.status}: {data[:500]!r}")
        return json.loads(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if exc[0] is None:
            os.unlink(self.log.name)


def check_tokens(name, response, choices, tokens):
    got = [c.get("text", "") for c in response["choices"]]
    completion = response["usage"]["completion_tokens"]
    if len(got) != choices or completion != choices * tokens:
        raise RuntimeError(f"{name}: asked for {choices} x {tokens} tokens, got {len(got)} choices and "
                           f"{completion} completion tokens")


def measure(server, body, choices, tokens, warmup, count):
    """Wall seconds of `count` requests, one after another, after `warmup` unmeasured ones,
    and the server's CPU seconds over those `count`."""
    times = []
    prompt_tokens = None
    cpu_start = 0.0
    for i in range(warmup + count):
        if i == warmup:
            cpu_start = server.cpu_seconds()
        start = time.perf_counter()
        response = server.post("/v1/completions", body)
        elapsed = time.perf_counter() - start
        check_tokens(server.name, response, choices, tokens)
        prompt_tokens = response["usage"]["prompt_tokens"]
        if i >= warmup:
            times.append(elapsed)
    return times, prompt_tokens, server.cpu_seconds() - cpu_start


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_server(name, argv, port, args):
    greedy = {"prompt": PROMPT, "max_tokens": args.max_tokens, "temperature": 0}
    sampled = {"prompt": PROMPT, "max_tokens": args.max_tokens, "temperature": 1.0, "n": args.samples, "seed": 1}
    if name == "ponder":
        greedy |= {"model": "bench", "ponder": {"strategy": "sample", "ignore_eos": True}}
        sampled |= {"model": "bench", "ponder": {"strategy": "sample", "ignore_eos": True}}
    else:
        greedy |= {"ignore_eos": True, "cache_prompt": True}
        sampled |= {"ignore_eos": True, "cache_prompt": True}
    with Server(name, argv, port) as server:
        latency, prompt_tokens, latency_cpu = measure(server, greedy, 1, args.max_tokens, 2, args.requests)
        batch, _, batch_cpu = measure(server, sampled, args.samples, args.max_tokens, 1, args.rounds)
    return {
        "prompt_tokens": prompt_tokens,
        "latency_p50_s": statistics.median(latency),
        "latency_p90_s": percentile(latency, 0.9),
        "latency_cpu_s_per_request": latency_cpu / args.requests,
        "throughput_tok_s": args.samples * args.max_tokens / statistics.median(batch),
        "throughput_tok_per_cpu_s": args.samples * args.max_tokens * args.rounds / batch_cpu,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ponder", required=True, help="the ponder binary")
    parser.add_argument("--llama-server", help="llama-server built from the pinned llama.cpp "
                        "(default: scripts/build-llama.sh --server's)")
    parser.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "models",
                                                        "toy-reasoner-l.gguf"))
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each server (default 1)")
    parser.add_argument("--requests", type=int, default=30, help="latency requests (default 30)")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens per sample (default 128)")
    parser.add_argument("--samples", type=int, default=8, help="samples of the throughput request (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="throughput requests (default 5)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    for name, value in (("--threads", args.threads), ("--requests", args.requests),
                        ("--max-tokens", args.max_tokens), ("--samples", args.samples), ("--rounds", args.rounds)):
        if value < 1:
            parser.error(f"{name} must be >= 1")
    if not args.llama_server:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build-llama.sh")
        built = subprocess.run([script, "--server"], stdout=subprocess.PIPE, text=True)
        if built.returncode != 0:
            sys.exit(f"bench-server: {script} --server failed ({built.returncode})")
        args.llama_server = os.path.join(built.stdout.strip(), "bin", "llama-server")
    for path in (args.ponder, args.llama_server, args.model):
        if not os.path.isfile(path):
            parser.error(f"no such file: {path}")

    # Room for the prompt and the answer in every sequence, and nothing larger.
    context = 64 * ((len(PROMPT) + args.max_tokens + 16 + 63) // 64)
    threads = str(args.threads)
    port = free_port()
    ponder = [args.ponder, "serve", "-m", f"bench={args.model}", "--port", str(port), "-t", threads,
              "--max-sequences", str(2 * args.samples), "--ctx-size", str(context), "--max-tokens",
              str(args.max_tokens), "--max-n", str(args.samples)]
    results = {"ponder": run_server("ponder", ponder, port, args)}
    port = free_port()
    llama = [args.llama_server, "-m", args.model, "--host", "127.0.0.1", "--port", str(port), "-t", threads,
             "-tb", threads, "--parallel", str(args.samples), "-c", str(context * args.samples), "--no-webui"]
    results["llama-server"] = run_server("llama-server", llama, port, args)

    p, l = results["ponder"], results["llama-server"]
    if p["prompt_tokens"] != l["prompt_tokens"]:
        print(f"note: prompt tokens differ: ponder {p['prompt_tokens']}, llama-server {l['prompt_tokens']}")
    latency_ratio = p["latency_p50_s"] / l["latency_p50_s"]
    throughput_ratio = p["throughput_tok_s"] / l["throughput_tok_s"]
    print(f"model {os.path.basename(args.model)}, {args.threads} thread(s) each, prompt {p['prompt_tokens']} tokens, "
          f"{args.max_tokens} tokens per sample (EOS ignored)")
    print(f"{'':24}{'ponder':>12}{'llama-server':>14}{'ratio':>9}")
    print(f"{'latency p50 (greedy)':24}{p['latency_p50_s'] * 1000:>10.1f}ms{l['latency_p50_s'] * 1000:>12.1f}ms"
          f"{latency_ratio:>9.3f}   target <= 1.05")
    print(f"{'latency p90 (greedy)':24}{p['latency_p90_s'] * 1000:>10.1f}ms{l['latency_p90_s'] * 1000:>12.1f}ms")
    print(f"{'CPU per greedy request':24}{p['latency_cpu_s_per_request'] * 1000:>10.1f}ms"
          f"{l['latency_cpu_s_per_request'] * 1000:>12.1f}ms"
          f"{p['latency_cpu_s_per_request'] / l['latency_cpu_s_per_request']:>9.3f}")
    print(f"{f'{args.samples} samples, tok/s':24}{p['throughput_tok_s']:>12.0f}{l['throughput_tok_s']:>14.0f}"
          f"{throughput_ratio:>9.3f}   target >= 1")
    print(f"{f'{args.samples} samples, tok/CPU s':24}{p['throughput_tok_per_cpu_s']:>12.0f}"
          f"{l['throughput_tok_per_cpu_s']:>14.0f}"
          f"{p['throughput_tok_per_cpu_s'] / l['throughput_tok_per_cpu_s']:>9.3f}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results["latency_ratio"] = latency_ratio
    results["throughput_ratio"] = throughput_ratio
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
            out.write("\n")


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, OSError) as e:
        sys.exit(f"bench-server: {e}")
