#!/usr/bin/env python3
"""`ponder serve` against `llama-server` built from the same pinned llama.cpp: one run,
one model, one machine, both on loopback with the same threads.

  scripts/bench-server.py --ponder build/ponder [--llama-server PATH] [--model GGUF]
      [--threads 1] [--requests 30] [--max-tokens 128] [--samples 8] [--rounds 5]

Without --llama-server it takes the one `scripts/build-llama.sh --server` builds (once,
into ~/.cache/ponder; `make bench-server` does the same). Both servers run at once, idle
but for the request in flight, and take turns request by request (ABBA), so that a
change in the machine's load hits both.

(a) Latency: one request at a time, the same prompt, greedy, `max_tokens` tokens with
    end-of-generation ignored (`ignore_eos` on llama-server, `"ponder": {"ignore_eos":
    true}` on ponder). p50 and p90 over --requests requests after two warm-up requests;
    target: ponder's p50 <= 1.05 x llama-server's.
(b) Throughput: --samples samples of one prompt in one request (`n`; llama-server runs
    with `--parallel` = samples, ponder in raw mode, `"strategy": "sample"`), generated
    tokens per second of wall time, median over --rounds requests; target: ponder >=
    llama-server.
(c) ponder's prompt cache (`--only prompt-cache` runs this part alone): ponder serve
    with --prompt-cache 0 and with the default 4 answers the same --cache-requests chat
    requests, each a system prompt shared by all and a question of data/toy/test.jsonl
    (--cache-strategy, default greedy; seed 1): prompt tokens decoded and copied (from
    /metrics), wall time, and how many answers are identical. A copied prefix holds the
    keys and values the same tokens produced before, but the rest of the prompt is then
    decoded in a smaller batch, which rounds differently (as does a question decoded
    beside another one): at a near tie an answer may part.

Beside wall time it reads each server's CPU time (all its threads, /proc/PID/stat) over
each measured request: on a machine shared with other work, CPU time per request shows what each
server spends where wall time also shows what the neighbours took.

Every response is checked: every choice ran to max_tokens (a server that stopped early
would look fast), else the run fails. Exits non-zero on any failure.
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
SYSTEM = ("You solve small arithmetic chains. Read each assignment in order, compute every "
          "variable on its own line, and end with the value asked for after four hashes.")


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
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
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
        # A kept-alive connection the server closed while idle fails at once: like any HTTP
        # client, send again once on a new connection.
        for attempt in (1, 2):
            try:
                self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                response = self.conn.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected) as e:
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
                if attempt == 2:
                    raise RuntimeError(f"{self.name}: {path}: {e}") from e
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
    """Every choice ran to max_tokens: with EOS ignored, finish_reason "length" says so (the
    context holds more). llama-server's usage counts the first of n completions only."""
    reasons = [c.get("finish_reason") for c in response["choices"]]
    completion = response["usage"]["completion_tokens"]
    if len(reasons) != choices or any(r != "length" for r in reasons) or completion < tokens:
        raise RuntimeError(f"{name}: asked for {choices} x {tokens} tokens, got {len(reasons)} choices "
                           f"ending {reasons} and {completion} completion tokens")


def measure(servers, bodies, choices, tokens, warmup, count):
    """Wall seconds of `count` requests to each server, one request at a time, the servers
    taking turns (ABBA, so that neither always goes first) after `warmup` unmeasured
    rounds; and each server's CPU seconds over its measured requests."""
    times = {s.name: [] for s in servers}
    cpu = {s.name: 0.0 for s in servers}
    prompt_tokens = {}
    for i in range(warmup + count):
        for server in (servers if i % 2 == 0 else servers[::-1]):
            cpu_before = server.cpu_seconds()
            start = time.perf_counter()
            response = server.post("/v1/completions", bodies[server.name])
            elapsed = time.perf_counter() - start
            check_tokens(server.name, response, choices, tokens)
            prompt_tokens[server.name] = response["usage"]["prompt_tokens"]
            if i >= warmup:
                times[server.name].append(elapsed)
                cpu[server.name] += server.cpu_seconds() - cpu_before
    return times, cpu, prompt_tokens


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def metric(server, name):
    server.conn.request("GET", "/metrics")
    response = server.conn.getresponse()
    for line in response.read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise RuntimeError(f"{server.name}: /metrics has no {name}")


def prompt_cache_run(args):
    """ponder with and without its prompt cache on requests sharing a system prompt."""
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "toy", "test.jsonl")
    with open(data) as rows:
        questions = [json.loads(line)["question"] for line in rows][:args.cache_requests]
    runs = {}
    for cache in (0, 4):
        port = free_port()
        argv = [args.ponder, "serve", "-m", f"bench={args.model}", "--port", str(port), "-t", str(args.threads),
                "--max-sequences", "16", "--prompt-cache", str(cache)]
        answers = []
        with Server(f"ponder --prompt-cache {cache}", argv, port) as server:
            start = time.perf_counter()
            for q in questions:
                response = server.post("/v1/chat/completions", {
                    "model": f"bench:{args.cache_strategy}", "seed": 1,
                    "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}]})
                answers.append(response["choices"][0]["message"]["content"])
            wall = time.perf_counter() - start
            runs[cache] = {"wall_s": wall, "answers": answers,
                           "decoded": metric(server, 'ponder_tokens_total{kind="prompt"}'),
                           "cached": metric(server, 'ponder_tokens_total{kind="cached"}')}
    off, on = runs[0], runs[4]
    same = sum(a == b for a, b in zip(off["answers"], on["answers"]))
    print(f"prompt cache: {len(questions)} chat requests ({args.cache_strategy}, seed 1) sharing a "
          f"{len(SYSTEM)}-character system prompt, {args.threads} thread(s)")
    print(f"{'':24}{'off':>10}{'on':>10}")
    print(f"{'prompt tokens decoded':24}{off['decoded']:>10.0f}{on['decoded']:>10.0f}")
    print(f"{'prompt tokens copied':24}{off['cached']:>10.0f}{on['cached']:>10.0f}")
    print(f"{'wall s':24}{off['wall_s']:>10.2f}{on['wall_s']:>10.2f}")
    print(f"answers identical: {same} of {len(questions)}")
    return {"off": {k: v for k, v in off.items() if k != "answers"},
            "on": {k: v for k, v in on.items() if k != "answers"}, "identical_answers": same,
            "requests": len(questions)}


def request_bodies(args):
    """The latency and throughput requests, in each server's words."""
    greedy = {"prompt": PROMPT, "max_tokens": args.max_tokens, "temperature": 0}
    sampled = {"prompt": PROMPT, "max_tokens": args.max_tokens, "temperature": 1.0, "n": args.samples, "seed": 1}
    ponder_fields = {"model": "bench", "ponder": {"strategy": "sample", "ignore_eos": True}}
    llama_fields = {"ignore_eos": True, "cache_prompt": True}
    return ({"ponder": greedy | ponder_fields, "llama-server": greedy | llama_fields},
            {"ponder": sampled | ponder_fields, "llama-server": sampled | llama_fields})


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
    parser.add_argument("--cache-requests", type=int, default=40, help="prompt-cache requests (default 40)")
    parser.add_argument("--cache-strategy", default="greedy", help="prompt-cache requests' strategy (default greedy)")
    parser.add_argument("--only", choices=["compare", "prompt-cache"], help="run one part only")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    for name, value in (("--threads", args.threads), ("--requests", args.requests),
                        ("--max-tokens", args.max_tokens), ("--samples", args.samples), ("--rounds", args.rounds),
                        ("--cache-requests", args.cache_requests)):
        if value < 1:
            parser.error(f"{name} must be >= 1")
    for path in (args.ponder, args.model):
        if not os.path.isfile(path):
            parser.error(f"no such file: {path}")
    results = {}
    if args.only != "compare":
        results["prompt_cache"] = prompt_cache_run(args)
    if args.only != "prompt-cache":
        results |= compare(args)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
            out.write("\n")


def compare(args):
    """ponder serve against llama-server: latency and throughput."""
    if not args.llama_server:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build-llama.sh")
        built = subprocess.run([script, "--server"], stdout=subprocess.PIPE, text=True)
        if built.returncode != 0:
            sys.exit(f"bench-server: {script} --server failed ({built.returncode})")
        args.llama_server = os.path.join(built.stdout.strip(), "bin", "llama-server")
    for path in (args.ponder, args.llama_server, args.model):
        if not os.path.isfile(path):
            raise RuntimeError(f"no such file: {path}")

    # Room for the prompt and the answer in every sequence, and nothing larger.
    context = 64 * ((len(PROMPT) + args.max_tokens + 16 + 63) // 64)
    threads = str(args.threads)
    ponder_port, llama_port = free_port(), free_port()
    ponder = [args.ponder, "serve", "-m", f"bench={args.model}", "--port", str(ponder_port), "-t", threads,
              "--max-sequences", str(2 * args.samples), "--ctx-size", str(context), "--max-tokens",
              str(args.max_tokens), "--max-n", str(args.samples)]
    llama = [args.llama_server, "-m", args.model, "--host", "127.0.0.1", "--port", str(llama_port), "-t", threads,
             "-tb", threads, "--parallel", str(args.samples), "-c", str(context * args.samples), "--no-webui"]
    greedy, sampled = request_bodies(args)
    with Server("ponder", ponder, ponder_port) as p_server, Server("llama-server", llama, llama_port) as l_server:
        servers = [p_server, l_server]
        latency, latency_cpu, prompt_tokens = measure(servers, greedy, 1, args.max_tokens, 2, args.requests)
        batch, batch_cpu, _ = measure(servers, sampled, args.samples, args.max_tokens, 1, args.rounds)
    results = {}
    for name in ("ponder", "llama-server"):
        results[name] = {
            "prompt_tokens": prompt_tokens[name],
            "latency_p50_s": statistics.median(latency[name]),
            "latency_p90_s": percentile(latency[name], 0.9),
            "latency_cpu_s_per_request": latency_cpu[name] / args.requests,
            "throughput_tok_s": args.samples * args.max_tokens / statistics.median(batch[name]),
            "throughput_tok_per_cpu_s": args.samples * args.max_tokens * args.rounds / batch_cpu[name],
        }

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
    return results


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, OSError) as e:
        sys.exit(f"bench-server: {e}")
