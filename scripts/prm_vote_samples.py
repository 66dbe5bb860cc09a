"""The samples of a `prm-vote@16` eval run, read for replay by the scripts beside it.

Sample k of a question is drawn with seed + k whichever strategy draws it, so a policy
that takes a question's samples in launch order can be replayed on them exactly.
"""

import math

import jsonl

# toy-prm's parameters / toy-reasoner-l's: what a verifier token costs in generator tokens
VERIFIER_RATIO = 1370240 / 5296384


def load(path):
    """Per question, its samples in launch order: answer, correct, tokens, the PRM's
    solution score, exp(mean logprob), and the question's verifier tokens shared out in
    proportion to the samples' lengths (weighted by VERIFIER_RATIO)."""
    questions = []
    for number, row in jsonl.rows(path):
        if row.get("strategy") != "prm-vote@16":
            continue
        try:
            samples = sorted(row["samples"], key=lambda s: s["id"])
            generated = sum(s["tokens"] for s in samples)
            verifier = row["cost"]["verifier_tokens"]
            questions.append([{
                "answer": s.get("answer"),
                "correct": s.get("correct", False),
                "tokens": s["tokens"],
                "score": s["scores"]["verifier"],
                "token_probability": math.exp(s["mean_logprob"]),
                "verifier_cost": VERIFIER_RATIO * verifier * s["tokens"] / max(generated, 1),
            } for s in samples])
        except (KeyError, TypeError) as e:
            jsonl.fail(f"{path}:{number}: a prm-vote@16 row without {e} (a trace row of ponder eval was expected)")
    if not questions:
        jsonl.fail(f"{path}: no prm-vote@16 rows (run ponder eval with --strategies prm-vote@16)")
    return questions
