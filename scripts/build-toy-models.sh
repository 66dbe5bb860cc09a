#!/usr/bin/env bash
# Rebuilds ponder's toy world from scratch with fixed seeds: the dev/test data files, the
# reasoners toy-reasoner-s and toy-reasoner-l, the process reward model toy-prm, their
# measured quality (ponder eval and ponder toy-steps), model cards and models/SHA256SUMS.
# `make toy-models` runs it after installing the Debian packages, LibTorch among them.
#
#   BUILD=build                  build directory (configured here with the trainer)
#   PONDER_TRAIN_THREADS=2       LibTorch threads of toy-reasoner-l
#   PONDER_SMALL_THREADS=1       LibTorch threads of toy-reasoner-s and toy-prm: their 128-wide
#                                matrices train ~2x faster on one thread than on two here
#                                (toy-reasoner-s: about 12,000 against 5,200 tokens/s)
#   PONDER_EVAL_THREADS=2        threads of the evaluation
#
#   --keep    keep each model whose file and training summary (models/NAME.train.json)
#             exist, and only measure and write the cards (after retraining one model)
set -euo pipefail
keep=false
[[ "${1:-}" == "--keep" ]] && keep=true

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
threads=${PONDER_TRAIN_THREADS:-2}
small_threads=${PONDER_SMALL_THREADS:-1}
eval_threads=${PONDER_EVAL_THREADS:-2}
models=$root/models
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export OPENBLAS_NUM_THREADS=1  # LibTorch runs its own threads; nested BLAS threads only contend
# Core-type and cache-size overrides some machines set slow OpenBLAS down by ~10% here.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
start=$(date +%s)
stage() { echo "== $(( $(date +%s) - start ))s: $*" >&2; }

stage "building the trainer, the data tool and ponder"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPONDER_BUILD_TRAINER=ON >/dev/null
if ! grep -q "ponder-train" "$build/build.ninja"; then
  echo "build-toy-models: LibTorch was not found; run scripts/install-deps.sh" >&2
  exit 1
fi
cmake --build "$build" --target ponder_train ponder_toy_data ponder_cli
trainer="$build/ponder-train"

stage "writing data/toy/dev.jsonl and data/toy/test.jsonl"
"$build/ponder-toy-data" -o "$root/data/toy"

# Recipe (see models/*.md): AdamW betas 0.9/0.95, weight decay 0.1, clip 1.0, linear
# warm-up then cosine decay to 10% of the peak, 16 x 256-token batches of whole problems.
# train NAME THREADS ARGS...: runs ponder-train, writing models/NAME.gguf and NAME.train.json.
kept() { $keep && [[ -f "$models/$1.gguf" && -f "$models/$1.train.json" ]]; }
train() {
  local name=$1 threads=$2
  shift 2
  if kept "$name"; then
    stage "keeping $name"
    return
  fi
  stage "training $name"
  "$trainer" "$@" --threads "$threads" --name "$name" --summary "$models/$name.train.json" -o "$models/$name.gguf"
}

"$trainer" init --preset toy-reasoner-s --seed 1 -o "$work/s-init.gguf"
train toy-reasoner-s "$small_threads" reasoner --init "$work/s-init.gguf" --seed 11 \
  --steps 1200 --lr 2e-3 --warmup 200 --eval-every 300

"$trainer" init --preset toy-reasoner-l --seed 2 -o "$work/l-init.gguf"
train toy-reasoner-l "$threads" reasoner --init "$work/l-init.gguf" --seed 12 \
  --steps 1200 --lr 1.5e-3 --warmup 200 --eval-every 300

# toy-prm's data: half injected mistakes, half toy-reasoner-l's own samples (16 each at
# the temperature it is measured at) of 600 training problems, so it learns the mistakes
# of the reasoner it judges.
if ! kept toy-prm; then
  stage "sampling toy-reasoner-l on 600 training problems"
  mkdir -p "$work/prm-data"
  "$build/ponder-toy-data" -o "$work/prm-data" --train-sample 600 --train-seed 99
  rm -rf "$work/l-samples"
  "$build/ponder" eval -m "$models/toy-reasoner-l.gguf" --threads "$eval_threads" --no-progress \
    --data "$work/prm-data/train-sample.jsonl" --strategies vote@16 --temp 0.8 --max-tokens 240 --seed 5 \
    --out "$work/l-samples" > /dev/null
  "$build/ponder" toy-steps --skip-prm --data "$work/prm-data/train-sample.jsonl" \
    --traces "$work/l-samples/traces.jsonl" --strategy vote@16 --write-samples "$work/l-samples.jsonl" > /dev/null
fi
# Fine-tuned from toy-reasoner-s grown by two layers that start as the identity: they
# compare each written character with the reasoner's prediction at the one before.
"$trainer" grow -m "$models/toy-reasoner-s.gguf" --layers 2 --seed 1 -o "$work/prm-init.gguf"
train toy-prm "$small_threads" prm --init "$work/prm-init.gguf" --seed 13 \
  --steps 1800 --lr 2e-3 --warmup 50 --eval-every 300 --prefix-flags --flag-weight 3 \
  --reasoner-samples "$work/l-samples.jsonl" --samples-share 0.5

stage "measuring (ponder eval and ponder toy-steps on data/toy/test.jsonl)"
measure() {  # name, strategies
  rm -rf "$work/eval-$1"
  "$build/ponder" eval -m "$models/$1.gguf" --threads "$eval_threads" --no-progress --data "$root/data/toy/test.jsonl" \
    --strategies "$2" --temp 0.8 --max-tokens 240 --seed 1 --by difficulty.steps --out "$work/eval-$1" > /dev/null
}
measure toy-reasoner-s greedy,vote@16
measure toy-reasoner-l greedy,vote@16,prm-vote@16,prm-best-of-n@16
"$build/ponder" toy-steps --threads "$eval_threads" --traces "$work/eval-toy-reasoner-l/traces.jsonl" \
  --strategy vote@16 --json > "$work/steps.json"
{
  for name in toy-reasoner-s toy-reasoner-l; do
    printf '### %s (`ponder eval`)\n\n' "$name"
    cat "$work/eval-$name/summary.md"
    printf '\n'
  done
  printf '### toy-prm (`ponder toy-steps --traces ... --strategy vote@16`)\n\n```json\n'
  cat "$work/steps.json"
  printf '```\n'
} > "$work/eval.md"

card_head() {
  case "$1" in
    toy-reasoner-s) cat <<'CARD'
# toy-reasoner-s

The small toy reasoner: llama architecture, 943,744 parameters (n_embd 128, 4 layers,
2 heads of 64, FFN 384, context 256), the shared toy vocabulary (354 tokens: 3 control,
256 bytes, 95 printable characters). Matrices f16, norms f32. Heads of 64 rather than 4
of 32: on AVX-512 ggml's f16 dot product steps 64 lanes, so 32-wide heads run flash
attention's scalar tail loop (when the shape was chosen, `ponder eval` of greedy +
vote@16 on 200 test problems: 18.8 s instead of 43.7 s; held-out loss 0.0578 instead
of 0.0589).

- Task: multi-step integer arithmetic (src/toy/task.h). Prompt: BOS, question, "\n";
  output: one step per line, "#### <answer>", EOS.
- Data: an endless stream of training-split problems (seed 11), steps 1-5 uniform,
  2-digit operands 3x as often as 1-digit ones; each step worked by a method drawn at
  random (direct, split into tens and units, round to the next ten), so sampled
  solutions take different paths. Loss on solution tokens only.
- Training: ponder-train (LibTorch) on one thread, init seed 1 (N(0, 0.02), residual
  projections scaled by 1/sqrt(8)), 1200 steps of 16 x 256 tokens (whole problems packed, attention
  kept within a problem), AdamW lr 2e-3 (betas 0.9/0.95, weight decay 0.1), clip 1.0,
  warm-up 200, cosine to 2e-4.
- Role: drafter and first stage of cascades for toy-reasoner-l (same vocabulary).
- Rebuild: `make toy-models` (scripts/build-toy-models.sh).
CARD
    ;;
    toy-reasoner-l) cat <<'CARD'
# toy-reasoner-l

The large toy reasoner and ponder's default model (`ponder run` without `-m`): llama
architecture, 5,296,384 parameters (n_embd 256, 6 layers, 8 heads, FFN 768, context
256), the shared toy vocabulary (354 tokens). Matrices f16, norms f32.

- Task and data: as toy-reasoner-s (src/toy/task.h), training stream seed 12.
- Training: ponder-train (LibTorch), init seed 2 (N(0, 0.02), residual projections
  scaled by 1/sqrt(12)), 1200 steps of 16 x 256 tokens, AdamW lr 1.5e-3 (betas
  0.9/0.95, weight decay 0.1), clip 1.0, warm-up 200, cosine to 1.5e-4.
- Rebuild: `make toy-models` (scripts/build-toy-models.sh).
CARD
    ;;
    toy-prm) cat <<'CARD'
# toy-prm

The toy process reward model (Math-Shepherd style): toy-reasoner-s grown by two layers
(`ponder-train grow`; 6 layers, 1,370,240 parameters, the shared vocabulary), then
fine-tuned. Matrices f16, norms f32.

- Input (src/toy/prm.h): BOS, question, "\n", then each step's line, "\n" and the tag
  `~`. The token after a tag is `+` when that step and every step before it are
  correct, `-` otherwise; read P(+) against P(-) there (the verdict).
- Data, two sources drawn at random per document:
  - half: toy-reasoner-l's own solutions of 600 training-split problems (16 samples
    each at temperature 0.8, seed 5: `ponder eval`, then `ponder toy-steps --write-samples`), every step
    labelled by src/toy/prm.h's checker (`toy::read_labelled_samples`). These are the
    mistakes the PRM has to judge in a vote, and no injector writes them as
    toy-reasoner-l does.
  - half: training-split problems (seed 13) with reference solutions, half of them
    with one injected mistake of the kinds toy-reasoner-l makes: a blend of two
    methods 55% (`toy::blend_methods`: every equation right, the plan wrong, e.g. 69*3
    as "60*3=180, 1*3=3, 180+3=183"), a wrong digit or carry in one equation 30%, a
    wrong operand 5%, a wrong operation 5%, a wrong answer line 5%. After the mistake
    the solution continues correctly from the wrong value. The mix follows how
    toy-reasoner-l's samples first go wrong (below): about 3 in 4 write a wrong plan
    whose every equation holds, most of them such blends; the rest slip in an
    equation's arithmetic.
- Targets: the label after each tag; the next character of correct steps (weight 0.1);
  and at every character of every step a flag (`--prefix-flags`, weight 3): is the
  solution still right up to here (`toy::label_prefixes`)? A flag trains only the sign
  of logit('+') - logit('-'), so the same position keeps predicting the next character.
  The PRM learns to mark the first wrong character where it is written, and the tag
  reads the mark.
- Why two more layers: a wrong character is one that differs from the prediction made
  at the character before, which toy-reasoner-s completes only in its top layer; the
  new layers start as the identity and learn the comparison.
- What each part is worth (held-out step AUC after 1,200 steps, from the previous
  toy-reasoner-s, injected mistakes only): tags only 0.69, grown 0.70; flags at weight
  1 0.77, grown 0.82; grown with flags at weight 3 0.84 (10: 0.76); the same for 1,500
  steps 0.87. toy-reasoner-l's samples at share 0.5: on the test split (below) the
  PRM-weighted vote rises from 80.5% (the previous toy-prm, trained on injected
  mistakes only; plain vote 80.8%) to 84.5%; on dev it is 92.6% (plain 87.9%; share
  0.35: 91.6%). The verdict alone on injected mistakes drops (dev 0.871 to 0.702),
  the step score with the PRM's surprise holds (0.941 to 0.921).
- Training: ponder-train prm on one thread, 1800 steps of 16 x 256 tokens, AdamW
  lr 2e-3 (betas 0.9/0.95, weight decay 0.1), clip 1.0, warm-up 50, cosine to 2e-4.
- Step score (`toy::prm_step_probabilities`): sigmoid(log P(+) - log P(-) after the
  step's tag + 0.5 x the lowest logprob the PRM gave any token of this step or one
  before it). The verdict and the PRM's own surprise at the text catch different
  mistakes. The weight 0.5 was chosen on the dev split: injected-step AUC by weight
  (`ponder-train surprise -m models/toy-prm.gguf --prm`) 0 / 0.5 / 1: 0.702 / 0.921 /
  0.932; dev PRM-weighted vote (`ponder eval --data data/toy/dev.jsonl
  -s prm-vote@16`, the weight set in models/toy-prm.verifier.json) 0 / 0.5 / 1: 91.6 / 92.6 / 91.1%.
- Solution score: its weakest step's score (`"aggregation": "min"` in
  models/toy-prm.verifier.json, the settings `--verifier` reads beside the model);
  the PRM-weighted vote sums the scores of the samples giving each answer.
- Known limitation: toy-reasoner-l's own surprise (the lowest logprob it gives any
  token of a step or one before it) checks the injected steps better than toy-prm
  (below), and PRM best-of-16 stays below the plain vote: the scores are good enough
  to weigh votes, not to pick one sample.
- Rebuild: `make toy-models` (scripts/build-toy-models.sh).
CARD
    ;;
  esac
}

stage "writing model cards and SHA256SUMS"
for name in toy-reasoner-s toy-reasoner-l toy-prm; do
  {
    card_head "$name"
    printf '\n## Training run (ponder-train --summary)\n\n```json\n'
    cat "$models/$name.train.json"
    printf '```\n\n## Measured on data/toy/test.jsonl (temperature 0.8, 16 samples, seed 1)\n\n'
    cat "$work/eval.md"
  } > "$models/$name.md"
done
{
  printf '{"toy-reasoner-s": '; cat "$work/eval-toy-reasoner-s/summary.json"
  printf ', "toy-reasoner-l": '; cat "$work/eval-toy-reasoner-l/summary.json"
  printf ', "toy-prm": '; cat "$work/steps.json"; printf '}\n'
} > "$models/toy-eval.json"
(cd "$models" && sha256sum toy-reasoner-s.gguf toy-reasoner-l.gguf toy-prm.gguf > SHA256SUMS)
# The default model's difficulty probe is tied to its hash: fitted again (docs/difficulty.md).
stage "fitting toy-reasoner-l's difficulty probe on the dev split"
"$build/ponder" calibrate -m "$models/toy-reasoner-l.gguf" --data "$root/data/toy/dev.jsonl" --threads 1 --no-progress
stage "done"
cat "$work/eval.md"
