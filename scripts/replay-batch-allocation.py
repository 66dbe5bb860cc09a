#!/usr/bin/env python3
"""Replays batch-budget allocation rules on the samples of one prm-vote@16 eval run.

Sample k of a question is drawn with seed + k whichever strategy draws it, so a policy
that takes samples in launch order can be replayed on a prm-vote@16 run's traces.jsonl
(its answers, verifier scores and tokens). Prints, for uniform prm-vote@k (k = 2, 4, 8)
and for each gain estimate at the same total cost, the accuracy and the cost per question
in toy-reasoner-l-equivalent tokens (docs/adaptive.md).

usage: scripts/replay-batch-allocation.py RUN_DIR/traces.jsonl
"""
import collections
import math
import sys

import prm_vote_samples


def load(path):
    questions = prm_vote_samples.load(path)
    for samples in questions:
        for s in samples:
            s["cost"] = s["tokens"] + s["verifier_cost"]
    return questions


def vote(samples):
    """The weighted vote's leader, its weighted share and its samples' mean score."""
    weight, members, first = collections.defaultdict(float), collections.defaultdict(list), {}
    for i, s in enumerate(samples):
        if s["answer"] is None:
            continue
        weight[s["answer"]] += s["score"]
        members[s["answer"]].append(s["score"])
        first.setdefault(s["answer"], i)
    if not weight:
        return None, 0.0, 0.0
    leader = max(weight, key=lambda a: (weight[a], len(members[a]), -first[a]))
    total = sum(weight.values())
    return leader, weight[leader] / total if total > 0 else 0.0, sum(members[leader]) / len(members[leader])


def right(samples):
    leader, _, _ = vote(samples)
    return leader is not None and any(s["answer"] == leader and s["correct"] for s in samples)


GAINS = {
    "1 - P(right)": lambda p, n: 1 - p,
    "(1 - P(right)) / n": lambda p, n: (1 - p) / n,
    "(1 - P(right)) / sqrt(n)": lambda p, n: (1 - p) / math.sqrt(n),
}


def allocate(questions, total, gain, round_share=0.25, most=16):
    n = [1] * len(questions)
    spent = sum(q[0]["cost"] for q in questions)
    while True:
        def value(i):
            _, share, score = vote(questions[i][:n[i]])
            per_sample = sum(s["cost"] for s in questions[i][:n[i]]) / n[i]
            return gain(share * score, n[i]) / max(per_sample, 1.0)
        ranked = sorted((i for i in range(len(questions)) if n[i] < most), key=lambda i: -value(i))
        granted = 0
        for i in ranked[:max(1, math.ceil(round_share * len(questions)))]:
            estimate = sum(s["cost"] for s in questions[i][:n[i]]) / n[i]
            if spent + estimate > total:
                continue
            spent += questions[i][n[i]]["cost"]
            n[i] += 1
            granted += 1
        if granted == 0:
            break
    accuracy = sum(right(q[:k]) for q, k in zip(questions, n)) / len(questions)
    return accuracy, spent / len(questions)


def main():
    questions = load(sys.argv[1])
    print(f"{len(questions)} questions")
    for k in (2, 4, 8):
        accuracy = sum(right(q[:k]) for q in questions) / len(questions)
        cost = sum(s["cost"] for q in questions for s in q[:k]) / len(questions)
        print(f"uniform prm-vote@{k}: {100 * accuracy:.1f}% at {cost:.0f} tokens/question")
        for name, gain in GAINS.items():
            a, c = allocate(questions, cost * len(questions), gain)
            print(f"  {name:28s} {100 * a:.1f}% at {c:.0f}")


if __name__ == "__main__":
    main()
