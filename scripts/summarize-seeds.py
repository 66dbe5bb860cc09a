#!/usr/bin/env python3
"""Summarise `ponder eval` runs of the same strategies at several seeds.

Usage: scripts/summarize-seeds.py --data DATA.jsonl [--plot OUT.svg] RUN_DIR...

Each RUN_DIR is one seed's `--out` directory (its traces.jsonl is read). Only questions
that every run finished for every strategy are counted, so a run still going can be
read. Prints markdown tables:
  - per strategy: accuracy per run and their mean, and the means over runs of generated
    tokens, verifier tokens, reprocess ratio (decoded / tree tokens) and wall seconds per
    question;
  - paired differences of each search against prm-vote@16 (and pf@8 against
    prm-best-of-n@8): the mean over runs, with a bootstrap 95% interval over questions
    (2,000 resamples, seeded; a question's difference is its mean over the runs);
  - accuracy per value of --by (default difficulty.steps, read from DATA).
With --plot, draws accuracy against generated tokens per question (one line per family
of strategies, a point per budget) with gnuplot, and writes the points beside it (.tsv).
Standard library only; gnuplot is run without a shell.
"""

import argparse
import collections
import os
import random
import subprocess

import jsonl

SEARCHES = ("rollback", "beam", "dvts", "pf", "epf", "astar")


def field(item, dotted):
    for part in dotted.split("."):
        if not isinstance(item, dict) or part not in item:
            return None
        item = item[part]
    return item


def read_runs(dirs):
    runs = []
    for d in dirs:
        rows = collections.defaultdict(dict)
        path = os.path.join(d, "traces.jsonl")
        for number, r in jsonl.rows(path):
            cost = r.get("cost")
            if (not isinstance(r.get("id"), str) or not isinstance(r.get("strategy"), str)
                    or not isinstance(r.get("correct"), bool) or not isinstance(cost, dict)
                    or not all(isinstance(cost.get(k), (int, float)) for k in ("generated_tokens", "verifier_tokens", "wall_ms"))):
                jsonl.fail(f"{path}:{number}: not a trace row of ponder eval (id, strategy, correct and cost expected)")
            rows[r["id"]][r["strategy"]] = r
        runs.append(rows)
    strategies = []
    for rows in runs:
        for by_strategy in rows.values():
            for s in by_strategy:
                if s not in strategies:
                    strategies.append(s)
    complete = [q for q in runs[0] if all(len(rows.get(q, {})) == len(strategies) for rows in runs)]
    # Families in the order first seen, each by budget.
    families = list(dict.fromkeys(budget_key(s)[0] for s in strategies))
    strategies.sort(key=lambda s: (families.index(budget_key(s)[0]), budget_key(s)[1]))
    return runs, strategies, complete


def budget_key(name):
    family, _, budget = name.partition("@")
    return family, int(budget) if budget.isdigit() else 0


def bootstrap(diffs, resamples=2000, seed=1):
    rnd = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(diffs[rnd.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return sum(diffs) / n, means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run directories, one per seed")
    p.add_argument("--data", required=True, help="the data set the runs answered (for --by)")
    p.add_argument("--by", default="difficulty.steps", help="data field to group accuracy by")
    p.add_argument("--plot", help="SVG to draw accuracy vs generated tokens into")
    a = p.parse_args()

    runs, strategies, complete = read_runs(a.runs)
    if not complete:
        jsonl.fail("no question is finished for every strategy in every run")
    groups = {item.get("id"): field(item, a.by) for _, item in jsonl.rows(a.data)}
    k = len(runs)
    print(f"{len(complete)} questions finished by all {len(strategies)} strategies in all {k} runs\n")

    def rows_of(s):
        return [rows[q][s] for rows in runs for q in complete]

    def correct(s, q):
        return sum(rows[q][s]["correct"] for rows in runs) / k

    stats = {}
    header = "| strategy | " + " | ".join(f"run {i + 1}" for i in range(k)) + " | mean accuracy | generated tokens / q | verifier tokens / q | reprocess ratio | wall s / q |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for s in strategies:
        per_run = [sum(rows[q][s]["correct"] for q in complete) / len(complete) for rows in runs]
        rs = rows_of(s)
        gen = sum(r["cost"]["generated_tokens"] for r in rs) / len(rs)
        ver = sum(r["cost"]["verifier_tokens"] for r in rs) / len(rs)
        tree = sum(r["cost"].get("tree_tokens", 0) for r in rs)
        ratio = sum(r["cost"].get("decoded_tokens", 0) for r in rs) / tree if tree else float("nan")
        wall = sum(r["cost"]["wall_ms"] for r in rs) / len(rs) / 1000
        acc = sum(per_run) / k
        stats[s] = (acc, gen)
        print(f"| {s} | " + " | ".join(f"{100 * x:.1f}%" for x in per_run)
              + f" | {100 * acc:.1f}% | {gen:.1f} | {ver:.1f} | {ratio:.3f} | {wall:.2f} |")

    pairs = [(s, "prm-vote@16") for s in strategies if s.split("@")[0] in SEARCHES]
    pairs.append(("pf@8", "prm-best-of-n@8"))
    print("\n| difference | points (mean over runs) | 95% interval | generated tokens / q, each |")
    print("|---|---|---|---|")
    for x, y in pairs:
        if x not in stats or y not in stats:
            continue
        d, lo, hi = bootstrap([correct(x, q) - correct(y, q) for q in complete])
        print(f"| {x} − {y} | {100 * d:+.1f} | [{100 * lo:+.1f}, {100 * hi:+.1f}] | {stats[x][1]:.0f} vs {stats[y][1]:.0f} |")

    values = sorted({groups.get(q) for q in complete}, key=lambda v: (v is None, v))
    print(f"\nAccuracy by {a.by} (mean over runs; questions per value: "
          + ", ".join(f"{v}: {sum(groups.get(q) == v for q in complete)}" for v in values) + ")\n")
    print("| strategy | " + " | ".join(str(v) for v in values) + " |")
    print("|---|" + "---|" * len(values))
    for s in strategies:
        cells = []
        for v in values:
            qs = [q for q in complete if groups.get(q) == v]
            cells.append(f"{100 * sum(correct(s, q) for q in qs) / len(qs):.1f}%")
        print(f"| {s} | " + " | ".join(cells) + " |")

    if a.plot:
        families = collections.OrderedDict()
        for s in strategies:
            families.setdefault(budget_key(s)[0], []).append(s)
        tsv = os.path.splitext(a.plot)[0] + ".tsv"
        try:
            with open(tsv, "w", encoding="utf-8") as f:
                for family, members in families.items():
                    f.write(f"# {family}\n")
                    for s in members:
                        f.write(f"{stats[s][1]:.1f}\t{100 * stats[s][0]:.2f}\t{s}\n")
                    f.write("\n\n")
        except OSError as e:
            jsonl.fail(f"cannot write {tsv}: {e.strerror}")
        colours = ["#1f77b4", "#2ca02c", "#17becf", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                   "#7f7f7f", "#bcbd22"]
        plots = ", ".join(f"'{os.path.basename(tsv)}' index {i} with linespoints pt 7 ps 0.8 lw 2 "
                          f"lc rgb '{colours[i % len(colours)]}' title '{family}'"
                          for i, family in enumerate(families))
        script = (f"set terminal svg size 900,600 dynamic\nset output '{os.path.basename(a.plot)}'\n"
                  "set xlabel 'generated tokens per question (mean over runs)'\nset ylabel 'accuracy, % (mean over runs)'\n"
                  "set logscale x 2\nset key bottom right\nset grid\n"
                  f"set title 'accuracy vs generated tokens, {len(complete)} questions x {k} seeds'\nplot {plots}\n")
        # Run in the plot's folder so that no path is spliced into the script's strings.
        try:
            subprocess.run(["gnuplot"], input=script, text=True, check=True,
                           cwd=os.path.dirname(os.path.abspath(a.plot)))
        except (OSError, subprocess.CalledProcessError) as e:
            jsonl.fail(f"gnuplot could not draw {a.plot}: {e}")
        print(f"\nwrote {a.plot} and {tsv}")


if __name__ == "__main__":
    main()
