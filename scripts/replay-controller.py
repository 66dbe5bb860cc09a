#!/usr/bin/env python3
"""Replay stopping policies on the samples of a `prm-vote@16` run, to bound `adaptive`.

Usage: scripts/replay-controller.py [--signal verifier|logprob] [--frontier] RUN_DIR/traces.jsonl...

Runs draw sample k with seed + k, so any policy that draws samples in launch order can be
replayed exactly on one prm-vote@16 run's samples: their answers, verifier scores and
tokens. Two families of policies are searched over a grid:
  vote    the controller's (docs/adaptive.md): a first wave of w0 samples; accept it when
          all agree and each scores >= easy; else draw `wave` at a time until the leader
          holds `consensus` of the weight (score ** power) with >= min_votes, or 16 drawn;
  margin  draw one at a time (at least w0) until the leader's weight minus the
          runner-up's is >= delta, or N drawn.
The score is the PRM's solution score (`verifier`, whose tokens cost 1370240 / 5296384
generator tokens each) or exp(mean logprob) (`logprob`, free). Cost is generated plus
weighted verifier tokens per question, toy-reasoner-l-equivalent.

For each run it prints the best accuracy either family reaches within the issue's two
caps: 35% of vote@16's cost (its generated tokens) and 50% of prm-vote@16's. The settings
are chosen on the same questions they are scored on, so these are upper bounds for the
families, not results. --frontier also prints each family's accuracy-cost frontier.
"""

import argparse
import collections
import itertools

import prm_vote_samples


def load(path, signal):
    questions = prm_vote_samples.load(path)
    if signal == "logprob":  # the sample's token probability: no verifier to pay for
        for samples in questions:
            for s in samples:
                s["score"], s["verifier_cost"] = s["token_probability"], 0.0
    return questions


def tally(samples, power):
    weight, votes, first = collections.defaultdict(float), collections.Counter(), {}
    for i, s in enumerate(samples):
        if s["answer"] is None:
            continue
        weight[s["answer"]] += s["score"] ** power
        votes[s["answer"]] += 1
        first.setdefault(s["answer"], i)
    return weight, votes, first


def outcome(samples, k, power):
    weight, votes, first = tally(samples[:k], power)
    if not weight:
        return False, k
    leader = max(weight, key=lambda a: (weight[a], votes[a], -first[a]))
    return any(s["answer"] == leader and s["correct"] for s in samples[:k]), k


def vote_policy(samples, w0, easy, wave, consensus, min_votes, power):
    k = w0
    head = samples[:w0]
    if not (all(s["answer"] is not None and s["answer"] == head[0]["answer"] for s in head)
            and min(s["score"] for s in head) >= easy):
        while k < len(samples):
            k = min(len(samples), k + wave)
            weight, votes, _ = tally(samples[:k], power)
            total = sum(weight.values())
            if weight and total > 0:
                leader = max(weight, key=weight.get)
                if weight[leader] / total >= consensus and votes[leader] >= min_votes:
                    break
    return outcome(samples, k, power)


def margin_policy(samples, delta, power, n, w0):
    k = 0
    while k < n:
        k += 1
        if k < w0:
            continue
        weight, _, _ = tally(samples[:k], power)
        top = sorted(weight.values(), reverse=True) + [0.0, 0.0]
        if top[0] - top[1] >= delta:
            break
    return outcome(samples, k, power)


FAMILIES = {
    "vote": (vote_policy, list(itertools.product([1, 2, 3, 4], [0.3, 0.5, 0.7, 0.9, 0.95, 2.0], [1, 2, 4],
                                                 [0.5, 0.55, 0.6, 0.7, 0.8, 0.9], [1, 2, 3, 4], [0.5, 1, 2, 4]))),
    "margin": (margin_policy, list(itertools.product([0.3, 0.5, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0],
                                                     [0.25, 0.5, 1, 2], [8, 12, 16], [1, 2, 3]))),
}


def evaluate(questions, policy, setting):
    right = cost = 0.0
    for samples in questions:
        ok, k = policy(samples, *setting)
        right += ok
        cost += sum(s["tokens"] + s["verifier_cost"] for s in samples[:k])
    return right / len(questions), cost / len(questions)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("traces", nargs="+")
    p.add_argument("--signal", choices=["verifier", "logprob"], default="verifier")
    p.add_argument("--frontier", action="store_true")
    a = p.parse_args()
    for path in a.traces:
        questions = load(path, a.signal)
        vote_acc = sum(outcome(s, 16, 0)[0] for s in questions) / len(questions)
        vote_cost = sum(s["tokens"] for q in questions for s in q) / len(questions)
        scored = questions if a.signal == "verifier" else load(path, "verifier")
        prm_acc = sum(outcome(s, 16, 1)[0] for s in scored) / len(questions)
        prm_cost = sum(s["tokens"] + s["verifier_cost"] for q in scored for s in q) / len(questions)
        print(f"{path} ({len(questions)} questions, signal {a.signal}): vote@16 {100 * vote_acc:.1f}% at "
              f"{vote_cost:.0f}, prm-vote@16 {100 * prm_acc:.1f}% at {prm_cost:.0f}")
        for name, (policy, grid) in FAMILIES.items():
            points = [(*evaluate(questions, policy, setting), setting) for setting in grid]
            for cap, base, target in ((0.35 * vote_cost, "vote@16", vote_acc - 0.01),
                                      (0.5 * prm_cost, "prm-vote@16", prm_acc - 0.01)):
                inside = [pt for pt in points if pt[1] <= cap]
                best = max(inside, key=lambda pt: pt[0]) if inside else None
                text = f"{100 * best[0]:.1f}% at {best[1]:.0f} {best[2]}" if best else "nothing"
                print(f"  {name}: within {cap:.0f} ({base}'s cap): {text}; target {100 * target:.1f}%")
            if a.frontier:
                best_acc = -1.0
                for acc, cost, setting in sorted(points, key=lambda pt: (pt[1], -pt[0])):
                    if acc > best_acc:
                        best_acc = acc
                        print(f"    {100 * acc:.1f}% at {cost:.0f} {setting}")


if __name__ == "__main__":
    main()
