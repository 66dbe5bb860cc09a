#!/usr/bin/env python3
"""The analysis scripts (summarize-seeds, replay-controller, replay-batch-allocation) on
small made-up eval runs: they answer from good rows, and refuse bad files with a message
naming the file and line, exit status 1 and no traceback.

usage: test_analysis_scripts.py SCRIPTS_DIR WORK_DIR
"""

import json
import os
import subprocess
import sys

SCRIPTS, WORK = sys.argv[1], sys.argv[2]


def run(script, *args):
    p = subprocess.run([sys.executable, os.path.join(SCRIPTS, script), *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


def row(qid, strategy, answers, right):
    """A trace row: samples answering `answers` in launch order, `right` the reference."""
    samples = [{"id": i, "answer": a, "correct": a == right, "tokens": 10, "mean_logprob": -0.1 * i,
                "scores": {"verifier": 0.9 if a == right else 0.3}} for i, a in enumerate(answers)]
    correct = max(set(answers), key=answers.count) == right
    return {"id": qid, "strategy": strategy, "correct": correct, "samples": samples,
            "cost": {"generated_tokens": 10 * len(answers), "verifier_tokens": 12 * len(answers), "wall_ms": 5.0,
                     "decoded_tokens": 10 * len(answers), "tree_tokens": 10 * len(answers)}}


failures = []


def check(what, ok, detail=""):
    if not ok:
        failures.append(f"{what}: {detail}")


def refused(what, result, *fragments):
    code, out, err = result
    check(what, code == 1, f"exit {code}")
    check(what, "Traceback" not in err, err)
    for fragment in fragments:
        check(what, fragment in err, f"no '{fragment}' in: {err}")


data = os.path.join(WORK, "data.jsonl")
write(data, [{"id": f"q{i}", "question": "?", "difficulty": {"steps": 1 + i % 2}} for i in range(4)])
answers = [["1"] * 16, ["2", "3"] * 8, ["4"] * 12 + ["5"] * 4, ["6", "7", "7", "6"] * 4]
for seed in (1, 2):
    write(os.path.join(WORK, f"run{seed}", "traces.jsonl"),
          [row(f"q{i}", s, a[:n], a[0]) for i, a in enumerate(answers) for s, n in (("vote@4", 4), ("prm-vote@16", 16))])
run1, run2 = os.path.join(WORK, "run1"), os.path.join(WORK, "run2")
traces = os.path.join(run1, "traces.jsonl")

# Good input.
code, out, err = run("summarize-seeds.py", "--data", data, run1, run2)
check("summarize-seeds answers", code == 0, err)
check("summarize-seeds counts", "4 questions finished by all 2 strategies in all 2 runs" in out, out)
check("summarize-seeds groups", "difficulty.steps" in out and "| 1 | 2 |" in out, out)
code, out, err = run("replay-controller.py", traces)
check("replay-controller answers", code == 0 and "vote: within" in out and "margin: within" in out, err + out)
code, out, err = run("replay-batch-allocation.py", traces)
check("replay-batch-allocation answers", code == 0 and "uniform prm-vote@2" in out, err + out)

# Bad input: each a clear refusal.
missing = os.path.join(WORK, "missing")
refused("summarize-seeds, no run", run("summarize-seeds.py", "--data", data, missing), "cannot read", missing)
refused("summarize-seeds, no data", run("summarize-seeds.py", "--data", missing, run1), "cannot read", missing)
not_json = os.path.join(WORK, "bad", "traces.jsonl")
write(not_json, [row("q0", "vote@4", ["1"], "1"), "{oops"])
refused("summarize-seeds, not JSON", run("summarize-seeds.py", "--data", data, os.path.dirname(not_json)),
        not_json + ":2: not JSON")
not_trace = os.path.join(WORK, "other", "traces.jsonl")
write(not_trace, [{"id": "q0", "strategy": "vote@4"}])
refused("summarize-seeds, not a trace row", run("summarize-seeds.py", "--data", data, os.path.dirname(not_trace)),
        not_trace + ":1: not a trace row")
refused("replay-controller, no prm-vote@16", run("replay-controller.py", data), "no prm-vote@16 rows")
short = os.path.join(WORK, "short.jsonl")
write(short, [{"strategy": "prm-vote@16", "samples": [{"id": 0}], "cost": {"verifier_tokens": 1}}])
refused("replay-controller, a row without tokens", run("replay-controller.py", short), short + ":1:", "'tokens'")
refused("replay-batch-allocation, not JSON", run("replay-batch-allocation.py", not_json), not_json + ":2: not JSON")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("analysis scripts: all checks passed")
