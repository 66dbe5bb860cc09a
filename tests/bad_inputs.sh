#!/usr/bin/env bash
# The bad-input list: ponder fed what a careless or unlucky user would feed it (bad
# models, values, data files, run directories, signals, full disks). Each case gives the
# command, the outcome class it must have and a regex its output must match:
#
#   usage    exit 2 (bad command line)         runtime  exit 1 (bad file, failed run)
#   error    exit 1 or 2                       ok       exit 0
#
# Every case runs under `timeout`. The script prints observed vs expected per case and
#   crashes N, hangs N, silent wrong N, lost N, mismatched N
# and exits 1 when any of them is not 0. A crash is an exit by signal; silent wrong, an
# input refused by nobody (exit 0 where an error was due); lost, a result that was not
# written although ponder said nothing or exited 0 (full disks, kills and resumes).
#
#   tests/bad_inputs.sh PONDER GGUF_EDIT TINY_MODEL WORK_DIR
#
# GGUF_EDIT is the test tool that writes GGUF copies with edited metadata; TINY_MODEL a
# random-weight model (`ponder toy-model --preset tiny`). Cases marked `needs:eval`
# check the eval layer's run directories; PONDER_BAD_INPUTS_SKIP=eval skips them.
# Commands are argument vectors: no shell is built from any input.

set -uo pipefail

if [[ $# -ne 4 ]]; then
  echo "usage: $0 PONDER GGUF_EDIT TINY_MODEL WORK_DIR" >&2
  exit 2
fi
PONDER=$1
GGUF_EDIT=$2
TINY=$(realpath "$3")
WORK=$4
LIMIT=${PONDER_BAD_INPUTS_TIMEOUT:-60}  # seconds per command; beyond it the case hangs
SKIP=${PONDER_BAD_INPUTS_SKIP:-}

rm -rf "$WORK"
mkdir -p "$WORK"
OUT="$WORK/output.txt"

crashes=0 hangs=0 silent=0 lost=0 mismatched=0 passed=0 skipped=0 started=0

expected_codes() {
  case $1 in
    usage) echo 2 ;;
    runtime) echo 1 ;;
    error) echo "1 2" ;;
    ok) echo 0 ;;
    any) echo "0 1 2" ;;
  esac
}

# record KIND CLASS REGEX RC LABEL: compares what a case did with what it must do.
record() {
  local kind=$1 class=$2 regex=$3 rc=$4 label=$5 verdict
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    verdict=HANG
    ((hangs++))
  elif [[ $rc -gt 128 ]]; then
    verdict="CRASH (signal $((rc - 128)))"
    ((crashes++))
  elif [[ " $(expected_codes "$class") " == *" $rc "* ]] && grep -Ezq -- "$regex" "$OUT"; then
    verdict=ok
    ((passed++))
  elif [[ $rc -eq 0 && $class != ok && $class != any ]]; then
    if [[ $kind == disk || $kind == signal ]]; then
      verdict=LOST
      ((lost++))
    else
      verdict="SILENT WRONG"
      ((silent++))
    fi
  else
    verdict=MISMATCH
    ((mismatched++))
  fi
  printf '%-13s %-7s %-8s exit %-3s %5.1fs  %s\n' "$verdict" "$kind" "$class" "$rc" \
    "$(($(date +%s%N) - started))e-9" "$label"
  if [[ $verdict != ok ]]; then
    printf '    expected /%s/, got: %s\n' "$regex" "$(head -c 400 "$OUT" | tr '\n' ' ')"
  fi
}

skipping() {
  if [[ -n ${NEEDS:-} && ,$SKIP, == *",$NEEDS,"* ]]; then
    ((skipped++))
    return 0
  fi
  return 1
}

# check KIND CLASS REGEX COMMAND...: runs the command (stdin closed) and records it.
check() {
  local kind=$1 class=$2 regex=$3
  shift 3
  skipping && return
  started=$(date +%s%N)
  timeout -k 5 "$LIMIT" "$@" </dev/null >"$OUT" 2>&1
  record "$kind" "$class" "$regex" $? "${*#"$PONDER "}"
}

# check_to FILE KIND CLASS REGEX COMMAND...: the same with stdout sent to FILE.
check_to() {
  local file=$1 kind=$2 class=$3 regex=$4
  shift 4
  skipping && return
  started=$(date +%s%N)
  timeout -k 5 "$LIMIT" "$@" </dev/null 2>"$OUT" >"$file"
  record "$kind" "$class" "$regex" $? "${*#"$PONDER "} > $file"
}

# ---------------------------------------------------------------------------------------
# Fixtures

DATA="$WORK/data.jsonl"  # six valid rows
printf '%s\n' \
  '{"id":"q1","question":"a=2; b=a+3; b?","answer":"5","difficulty":{"steps":1}}' \
  '{"id":"q2","question":"a=4; b=a*2; b?","answer":"8","difficulty":{"steps":1}}' \
  '{"id":"q3","question":"a=9; b=a-1; b?","answer":"8","difficulty":{"steps":1}}' \
  '{"id":"q4","question":"a=7; b=a+1; b?","answer":"8","difficulty":{"steps":2}}' \
  '{"id":"q5","question":"a=3; b=a*3; b?","answer":"9","difficulty":{"steps":2}}' \
  '{"id":"q6","question":"a=5; b=a+5; b?","answer":"10","difficulty":{"steps":2}}' >"$DATA"

# The commands without a model (RUN0...), on the tiny model (RUNM...), and with fast
# settings (RUN...; CLI11 refuses an option given twice, so cases that set -s,
# --max-tokens or --strategies start from RUNM).
RUN0=("$PONDER" run -s greedy --max-tokens 4)
GEN0=("$PONDER" generate -p hi --max-tokens 4)
EVAL0=("$PONDER" eval --strategies greedy --max-tokens 4 --no-progress)
RUNM=("$PONDER" run -m "$TINY")
GENM=("$PONDER" generate -m "$TINY" -p hi)
EVALM=("$PONDER" eval -m "$TINY" --no-progress)
RUN=("${RUNM[@]}" -s greedy --max-tokens 4)
GEN=("${GENM[@]}" --max-tokens 4)
EVAL=("${EVALM[@]}" --strategies greedy --max-tokens 4)
fresh_out() {  # a new, not yet existing run directory
  mktemp -u "$WORK/out.XXXXXX"
}

# Models: written by hand or edited from the tiny one.
M="$WORK/models"
mkdir -p "$M/dir.gguf"
: >"$M/empty.gguf"
echo "this is not a model" >"$M/text.gguf"
head -c 64 "$TINY" >"$M/header-only.gguf"
head -c 3000 "$TINY" >"$M/cut-metadata.gguf"
head -c "$(($(stat -c %s "$TINY") / 2))" "$TINY" >"$M/cut-tensors.gguf"
head -c 100000 /dev/urandom >"$M/random.gguf"
printf 'GGUF' >"$M/magic-only.gguf"
ln -s "$TINY" "$M/link.gguf"
ln -s "$M/nowhere.gguf" "$M/dangling.gguf"
mkfifo "$M/fifo.gguf"

edit() {  # edit NAME KEY=TYPE:VALUE...
  local name=$1
  shift
  "$GGUF_EDIT" "$TINY" "$M/$name.gguf" "$@" || { echo "cannot write model $name" >&2; exit 2; }
}
edit block0 llama.block_count=u32:0
edit block600 llama.block_count=u32:600
edit block3 llama.block_count=u32:3
edit noblock llama.block_count=drop:
edit blockstr llama.block_count=str:many
edit embd0 llama.embedding_length=u32:0
edit ctx0 llama.context_length=u32:0
edit ctx3e9 llama.context_length=u32:3000000000
edit ctx2e9 llama.context_length=u32:2000000000
edit ctx16 llama.context_length=u32:16
edit heads3 llama.attention.head_count=u32:3
edit kvheads3 llama.attention.head_count_kv=u32:3
edit kvheads0 llama.attention.head_count_kv=u32:0
edit experts2000 llama.expert_count=u32:2000
edit experts4 llama.expert_count=u32:4
edit used2 llama.expert_used_count=u32:2
edit nextn3 llama.nextn_predict_layers=u32:3
edit rope llama.rope.scaling.type=str:sideways
edit epsnan llama.attention.layer_norm_rms_epsilon=f32:nan
edit epsneg llama.attention.layer_norm_rms_epsilon=f32:-1
edit ropenan llama.rope.freq_base=f32:inf
edit novocab tokenizer.ggml.model=str:none
edit weirdvocab tokenizer.ggml.model=str:weird
edit notokens tokenizer.ggml.tokens=drop:
edit noarch general.architecture=drop:
edit unknownarch general.architecture=str:telepathy
edit badtemplate "tokenizer.chat_template=str:{% for"

# ---------------------------------------------------------------------------------------
echo "== models"

check model runtime 'model file not found: .*missing.gguf' "$PONDER" run -m "$M/missing.gguf" q
check model runtime 'model file not found' "$PONDER" generate -m "$M/missing.gguf" -p hi
check model runtime 'model file not found' "$PONDER" eval -m "$M/missing.gguf" --data "$DATA" --out "$(fresh_out)"
check model runtime 'empty or truncated' "${RUN0[@]}" -m "$M/empty.gguf" q
check model runtime 'empty or truncated' "${GEN0[@]}" -m "$M/empty.gguf"
check model runtime 'empty or truncated' "${EVAL0[@]}" -m "$M/empty.gguf" --data "$DATA" --out "$(fresh_out)"
check model runtime 'not a GGUF model file' "${RUN0[@]}" -m "$M/text.gguf" q
check model runtime 'not a GGUF model file' "${GEN0[@]}" -m "$M/random.gguf"
check model runtime 'not a GGUF model file' "${EVAL0[@]}" -m "$M/text.gguf" --data "$DATA" --out "$(fresh_out)"
check model runtime 'not a regular file' "${RUN0[@]}" -m "$M/dir.gguf" q
check model runtime 'not a regular file' "${GEN0[@]}" -m "$M/dir.gguf"
check model runtime 'not a regular file' "${EVAL0[@]}" -m "$M/dir.gguf" --data "$DATA" --out "$(fresh_out)"
check model runtime 'not a regular file' "${GEN0[@]}" -m "$M/fifo.gguf"
check model runtime 'not a regular file' "${GEN0[@]}" -m /dev/zero
check model runtime 'model file not found' "${GEN0[@]}" -m "$M/dangling.gguf"
check model runtime 'cannot load model' "${GEN0[@]}" -m "$M/header-only.gguf"
check model runtime 'cannot load model' "${GEN0[@]}" -m "$M/cut-metadata.gguf"
check model runtime 'cannot load model' "${RUN0[@]}" -m "$M/cut-tensors.gguf" q
check model runtime 'cannot load model' "${GEN0[@]}" -m "$M/magic-only.gguf"
check model runtime 'llama.block_count is 0; it must be in \[1, 512\]' "${RUN0[@]}" -m "$M/block0.gguf" q
check model runtime 'llama.block_count is 0; it must be in \[1, 512\]' "${GEN0[@]}" -m "$M/block0.gguf"
check model runtime 'llama.block_count is 0' "${EVAL0[@]}" -m "$M/block0.gguf" --data "$DATA" --out "$(fresh_out)"
check model runtime 'llama.block_count is 600; it must be in \[1, 512\]' "${GEN0[@]}" -m "$M/block600.gguf"
check model runtime 'cannot load model.*blk.2' "${GEN0[@]}" -m "$M/block3.gguf"
check model runtime 'key not found in model: llama.block_count' "${GEN0[@]}" -m "$M/noblock.gguf"
check model runtime 'llama.block_count has wrong type' "${GEN0[@]}" -m "$M/blockstr.gguf"
check model runtime 'llama.embedding_length is 0' "${GEN0[@]}" -m "$M/embd0.gguf"
check model runtime 'llama.context_length is 0' "${RUN0[@]}" -m "$M/ctx0.gguf" q
check model runtime 'llama.context_length is 3000000000; it must be in \[1, 2147483647\]' "${GEN0[@]}" -m "$M/ctx3e9.gguf"
check model runtime 'llama.attention.head_count_kv is 4; it must be a divisor of llama.attention.head_count \(3\)' \
  "${GEN0[@]}" -m "$M/heads3.gguf"
check model runtime 'llama.attention.head_count_kv is 3; it must be a divisor' "${GEN0[@]}" -m "$M/kvheads3.gguf"
check model runtime 'cannot load model.*wrong shape' "${GEN0[@]}" -m "$M/kvheads0.gguf"
check model runtime 'llama.expert_count is 2000; it must be in \[0, 1024\]' "${GEN0[@]}" -m "$M/experts2000.gguf"
check model runtime 'llama.expert_used_count is 0; it must be in \[1, 4\]' "${GEN0[@]}" -m "$M/experts4.gguf"
check model runtime 'llama.expert_used_count is 2; it must be 0' "${GEN0[@]}" -m "$M/used2.gguf"
check model runtime 'llama.nextn_predict_layers is 3; it must be in \[0, 2\]' "${GEN0[@]}" -m "$M/nextn3.gguf"
check model runtime "llama.rope.scaling.type is 'sideways'" "${GEN0[@]}" -m "$M/rope.gguf"
check model runtime 'layer_norm_rms_epsilon is nan; it must be a finite number' "${RUN0[@]}" -m "$M/epsnan.gguf" q
check model runtime 'layer_norm_rms_epsilon is -1.0+; it must be >= 0' "${GEN0[@]}" -m "$M/epsneg.gguf"
check model runtime 'llama.rope.freq_base is inf; it must be a finite number' "${GEN0[@]}" -m "$M/ropenan.gguf"
check model runtime "tokenizer.ggml.model is 'none'; ponder needs a model with a vocabulary" "${GEN0[@]}" -m "$M/novocab.gguf"
check model runtime "unknown tokenizer: 'weird'" "${GEN0[@]}" -m "$M/weirdvocab.gguf"
check model runtime 'cannot find tokenizer vocab' "${GEN0[@]}" -m "$M/notokens.gguf"
check model runtime 'cannot load model' "${GEN0[@]}" -m "$M/noarch.gguf"
check model runtime "unknown model architecture: 'telepathy'" "${GEN0[@]}" -m "$M/unknownarch.gguf"
check model runtime 'chat template .* not supported' "${GEN0[@]}" -m "$M/badtemplate.gguf" --chat
check model ok 'sample 0' "${GEN0[@]}" -m "$M/badtemplate.gguf"
check model ok 'sample 0' "${GEN0[@]}" -m "$M/link.gguf"
# Thinking control: a template llama.cpp's Jinja engine cannot read, or no template.
check model usage "--thinking: the chat template of .*badtemplate.gguf cannot be read by llama.cpp's Jinja engine" \
  "${RUN0[@]}" -m "$M/badtemplate.gguf" --thinking on q
check model usage '--thinking-budget: model .* has no chat template' "${RUN[@]}" --thinking-budget 16 q
check model usage '--thinking: sometimes not in \{auto,on,off\}' "${RUN[@]}" --thinking sometimes q
check model usage '--thinking-budget: must be an integer in \[-1, ' "${RUN[@]}" --thinking-budget -2 q
# A model that claims a huge context: the KV cache is refused by size, not allocated.
check model usage 'the KV cache for .* would take .* GiB, more than the .* allowed.*at most [0-9]+ new tokens' \
  "$PONDER" generate -p hi -m "$M/ctx2e9.gguf" -n 256 --max-tokens 1048576
check model ok 'sample 0' "${GEN0[@]}" -m "$M/ctx2e9.gguf"
# The models directory variable: the default model comes from it.
mkdir -p "$WORK/models-dir"
ln -s "$TINY" "$WORK/models-dir/toy-reasoner-l.gguf"
check model ok '.' env PONDER_MODELS_DIR="$WORK/models-dir" "$PONDER" run -s greedy --max-tokens 4 q
check model runtime "model file not found: $WORK/nowhere/toy-reasoner-l.gguf" \
  env PONDER_MODELS_DIR="$WORK/nowhere" "$PONDER" run -s greedy --max-tokens 4 q
check model runtime "model file not found: $WORK/nowhere/toy-reasoner-l.gguf" \
  env PONDER_MODELS_DIR="$WORK/nowhere" "$PONDER" generate -p hi

# The difficulty probe: calibrating where greedy is always wrong, probe files that are
# missing, not probes or for another model, and an output path that is a directory.
check model usage 'every example has the same label \(0 of 6 right\)' \
  "$PONDER" calibrate -m "$TINY" --data "$DATA" --max-tokens 4 --no-progress -o "$WORK/tiny.probe.json"
check model runtime 'cannot read the probe .*missing.probe.json' \
  "$PONDER" calibrate -m "$TINY" --data "$DATA" --max-tokens 4 --no-progress --evaluate "$WORK/missing.probe.json"
check model runtime 'bad probe file .*data.jsonl' \
  "$PONDER" calibrate -m "$TINY" --data "$DATA" --max-tokens 4 --no-progress --evaluate "$DATA"
check model usage 'probe: fitted on hidden states of 256 values' \
  "$PONDER" calibrate -m "$TINY" --data "$DATA" --max-tokens 4 --no-progress \
  --evaluate "$(cd "$(dirname "$0")/.." && pwd)/models/toy-reasoner-l.probe.json"
check model usage '--out: a probe is written only when fitting' \
  "$PONDER" calibrate -m "$TINY" --data "$DATA" --evaluate x.json -o y.json

# ---------------------------------------------------------------------------------------
echo "== values"

# Every numeric option of run: negative, zero or out of range, huge, NaN, infinity,
# not a number; each refused while parsing with its range.
check value usage '--budget: must be an integer in \[0, 1024\]' "${RUNM[@]}" --max-tokens 4 -s vote -b -1 q
check value usage '--budget: must be an integer in \[0, 1024\]' "${RUNM[@]}" --max-tokens 4 -s vote -b 1025 q
check value usage '--budget: must be an integer' "${RUNM[@]}" --max-tokens 4 -s vote -b x q
check value usage '--budget: must be an integer' "${RUNM[@]}" --max-tokens 4 -s vote -b 1e3 q
check value usage '--seed: must be an integer in \[0, 18446744073709551615\]' "${RUN[@]}" --seed -1 q
check value usage '--seed: must be an integer' "${RUN[@]}" --seed 18446744073709551616 q
check value usage '--seed: must be an integer' "${RUN[@]}" --seed 1.5 q
check value usage '--seed: must be an integer' "${RUN[@]}" --seed nan q
check value ok '.' "${RUN[@]}" --seed 18446744073709551615 q
check value usage '--temp: must be a number in \[0, 100\]' "${RUN[@]}" --temp -1 q
check value usage '--temp: must be a number in \[0, 100\]' "${RUN[@]}" --temp 101 q
check value usage "--temp: .*not 'nan'" "${RUN[@]}" --temp nan q
check value usage "--temp: .*not 'inf'" "${RUN[@]}" --temp inf q
check value usage "--temp: .*not '-inf'" "${RUN[@]}" --temp -inf q
check value usage '--temp: must be a number' "${RUN[@]}" --temp 1e400 q
check value usage '--temp: must be a number' "${RUN[@]}" --temp warm q
check value usage '--temp: must be a number' "${RUN[@]}" --temp '' q
check value ok '.' "${RUN[@]}" --temp 0 q
check value usage '--top-p: must be a number in \(0, 1\]' "${RUN[@]}" --top-p 0 q
check value usage '--top-p: must be a number in \(0, 1\]' "${RUN[@]}" --top-p 1.5 q
check value usage '--top-p: must be a number' "${RUN[@]}" --top-p nan q
check value usage '--top-p: must be a number' "${RUN[@]}" --top-p -0.1 q
check value usage '--top-k: must be an integer in \[0, 1048576\]' "${RUN[@]}" --top-k -1 q
check value usage '--top-k: must be an integer' "${RUN[@]}" --top-k 2000000 q
check value usage '--top-k: must be an integer' "${RUN[@]}" --top-k 2.5 q
check value usage '--min-p: must be a number in \[0, 1\)' "${RUN[@]}" --min-p 1 q
check value usage '--min-p: must be a number' "${RUN[@]}" --min-p -0.1 q
check value usage '--min-p: must be a number' "${RUN[@]}" --min-p nan q
check value usage '--max-tokens: must be an integer in \[1, 1048576\]' "${RUNM[@]}" -s greedy --max-tokens 0 q
check value usage '--max-tokens: must be an integer' "${RUNM[@]}" -s greedy --max-tokens -1 q
check value usage '--max-tokens: must be an integer' "${RUNM[@]}" -s greedy --max-tokens 2147483647 q
check value usage '--max-tokens: must be an integer' "${RUNM[@]}" -s greedy --max-tokens 1e9 q
check value usage '--max-tokens: must be an integer' "${RUNM[@]}" -s greedy --max-tokens nan q
check value ok '.' "$PONDER" run -s greedy -m "$M/ctx16.gguf" --max-tokens 1048576 q
check value usage '--threshold: must be a number in \(0.5, 1\)' "${RUN[@]}" --threshold 0.5 q
check value usage '--threshold: must be a number in \(0.5, 1\)' "${RUN[@]}" --threshold 1 q
check value usage '--threshold: must be a number' "${RUN[@]}" --threshold nan q
check value usage '--threshold: must be a number' "${RUN[@]}" --threshold inf q
check value usage '--threshold: must be a number' "${RUN[@]}" --threshold -2 q
check value usage '--wave: must be an integer in \[1, 1024\]' "${RUN[@]}" --wave 0 q
check value usage '--wave: must be an integer' "${RUN[@]}" --wave -1 q
check value usage '--wave: must be an integer' "${RUN[@]}" --wave 5000 q
check value usage '--wave: must be an integer' "${RUN[@]}" --wave nan q
check value usage '--esc-window: must be an integer in \[2, 1024\]' "${RUN[@]}" --esc-window 1 q
check value usage '--esc-window: must be an integer' "${RUN[@]}" --esc-window 0 q
check value usage '--esc-window: must be an integer' "${RUN[@]}" --esc-window inf q
check value usage '--threads: must be an integer in \[0, [0-9]+\]' "${RUN[@]}" -t -1 q
check value usage '--threads: must be an integer in \[0, [0-9]+\]' "${RUN[@]}" -t 100000 q
check value usage '--threads: must be an integer' "${RUN[@]}" -t nan q
check value usage '--threads: must be an integer' "${RUN[@]}" -t 2.5 q
check value ok '.' "${RUN[@]}" -t 0 q
check value usage 'the question is empty' "${RUN[@]}" ''
check value usage 'question is required' "${RUN[@]}"
# Strategies and their budgets.
check value usage "strategy 'vote@0': the budget must be in \[1, 1024\]" "${RUNM[@]}" --max-tokens 4 -s vote@0 q
check value usage "strategy 'adaptive-vote@0': the budget must be in \[1, 1024\]" "${RUNM[@]}" --max-tokens 4 -s adaptive-vote@0 q
check value usage "strategy 'adaptive-vote@-3': the budget must be in \[1, 1024\]" "${RUNM[@]}" --max-tokens 4 -s adaptive-vote@-3 q
check value usage "strategy 'esc@0': the budget must be in \[1, 1024\]" "${RUNM[@]}" --max-tokens 4 -s esc@0 q
check value usage "strategy 'rpc@1025': the budget must be in \[1, 1024\]" "${RUNM[@]}" --max-tokens 4 -s rpc@1025 q
check value usage "the budget after '@' must be an integer" "${RUNM[@]}" --max-tokens 4 -s vote@x q
check value usage "the budget after '@' must be an integer" "${RUNM[@]}" --max-tokens 4 -s vote@ q
check value usage 'budget is given twice \(@8 and --budget 3\)' "${RUNM[@]}" --max-tokens 4 -s vote@8 -b 3 q
check value ok '.' "${RUNM[@]}" --max-tokens 4 -s vote@2 -b 2 q
check value usage "strategy 'greedy' takes no budget" "${RUNM[@]}" --max-tokens 4 -s greedy@4 q
check value usage "strategy 'greedy' takes no budget" "${RUNM[@]}" --max-tokens 4 -s greedy -b 3 q
check value usage "needs a budget: vote@N or --budget N" "${RUNM[@]}" --max-tokens 4 -s vote q
check value usage "unknown strategy 'telepathy' \(known: greedy" "${RUNM[@]}" --max-tokens 4 -s telepathy@2 q
check value usage "unknown strategy '' \(known:" "${RUNM[@]}" --max-tokens 4 -s '' q
check value usage "answer rule: unknown 'nonsense' \(one of auto, hash" "${RUN[@]}" --answer nonsense q
check value usage 'pattern' "${RUN[@]}" --answer regex q
check value usage 'pattern' "${RUN[@]}" --answer regex --answer-regex '(' q
check value usage 'pattern: only used with the regex rule' "${RUN[@]}" --answer hash --answer-regex 'x' q
check value usage 'The following argument was not expected|unexpected|Extra' "${RUN[@]}" --bogus q
# generate's own options.
check value usage '--samples: must be an integer in \[1, 256\]' "${GEN[@]}" -n 0
check value usage '--samples: must be an integer in \[1, 256\]' "${GEN[@]}" -n 257
check value usage '--samples: must be an integer' "${GEN[@]}" -n -1
check value usage '--samples: must be an integer' "${GEN[@]}" -n nan
check value usage '--temp: must be a number' "${GEN[@]}" --temp inf
check value usage '--top-k: must be an integer' "${GEN[@]}" --top-k -5
check value usage '--min-p: must be a number' "${GEN[@]}" --min-p inf
check value usage '--seed: must be an integer' "${GEN[@]}" --seed -1
check value usage '--max-tokens: must be an integer' "${GENM[@]}" --max-tokens 0
check value usage '--threads: must be an integer' "${GEN[@]}" -t 100000
check value usage 'the prompt is empty' "$PONDER" generate -m "$TINY" -p ''
check value ok '"samples":\[' "${GEN[@]}" -n 3 --top-k 5 --min-p 0.1 --json
# eval's own options.
check value usage '--limit: must be an integer in \[0, 2147483647\]' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --limit -1
check value usage '--limit: must be an integer' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --limit 1e3
check value usage '--limit: must be an integer' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --limit all
check value usage '--max-sequences: must be an integer in \[1, [0-9]+\]' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --max-sequences 0
check value usage '--max-sequences: must be an integer' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --max-sequences 100000
check value usage '--max-sequences: must be an integer' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --max-sequences -4
check value usage '--replicas: must be an integer in \[0, 64\]' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --replicas 65
check value usage '--replicas: must be an integer' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --replicas -1
check value ok 'runs done now' "${EVALM[@]}" --max-tokens 4 --data "$DATA" --out "$(fresh_out)" --strategies vote@4,greedy --replicas 3
check value usage '--replicas 2: with --backend the servers draw the samples' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --replicas 2 --backend http://127.0.0.1:9
check value usage '--in-flight: must be an integer in \[0, [0-9]+\]' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --in-flight -1
check value usage '--in-flight: must be an integer' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --in-flight 100000
check value usage '--seed: must be an integer' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --seed -1
check value usage '--temp: must be a number' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --temp nan
check value usage '--threshold: must be a number' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --threshold nan
check value usage '--threads: must be an integer' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" -t 100000
check value usage 'strategies: give at least one' "${EVALM[@]}" --max-tokens 4 --data "$DATA" --out "$(fresh_out)" --strategies ' , '
check value usage "'vote@2' is listed twice" "${EVALM[@]}" --max-tokens 4 --data "$DATA" --out "$(fresh_out)" --strategies vote@2,vote@2
check value usage "strategy 'esc@0': the budget must be in" "${EVALM[@]}" --max-tokens 4 --data "$DATA" --out "$(fresh_out)" --strategies greedy,esc@0
check value usage '--on-bad-data: skip or stop' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --on-bad-data maybe
check value usage 'format' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --format yaml
check value usage "--by nosuch: no row of .* has this field" "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --by nosuch
check value ok 'runs done now' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --by difficulty.steps
check value ok 'runs done now' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --limit 2 --seed 18446744073709551615
# A configuration that could stall is refused before it starts; narrow ones queue.
check value usage 'max-sequences: must be >= 2' \
  "${EVALM[@]}" --max-tokens 4 --data "$DATA" --out "$(fresh_out)" --strategies vote@4 --max-sequences 1
check value usage 'in-flight 4 needs max-sequences >= 8' \
  "${EVALM[@]}" --max-tokens 4 --data "$DATA" --out "$(fresh_out)" --strategies vote@4 --max-sequences 4 --in-flight 4
check value ok 'runs done now' \
  "${EVALM[@]}" --max-tokens 4 --data "$DATA" --out "$(fresh_out)" --strategies vote@4,adaptive-vote --max-sequences 2
# toy-model.
check value usage '--seed: must be an integer' "$PONDER" toy-model -o "$WORK/t.gguf" --seed -1
check value usage '--std: must be a number in \[0, 100\]' "$PONDER" toy-model -o "$WORK/t.gguf" --std nan
check value usage '--std: must be a number' "$PONDER" toy-model -o "$WORK/t.gguf" --std -1
check value usage "unknown preset 'galactic'" "$PONDER" toy-model -o "$WORK/t.gguf" --preset galactic
check value usage 'toy-model: --out is required' "$PONDER" toy-model
check value usage '--type: q5 not in' "$PONDER" toy-model -o "$WORK/t.gguf" --type q5
check value usage '--f16 excludes --type' "$PONDER" toy-model -o "$WORK/t.gguf" --f16 --type q8_0
check value usage 'A subcommand is required|subcommand' "$PONDER"
check value usage 'subcommand is required|frobnicate' "$PONDER" frobnicate

# ---------------------------------------------------------------------------------------
echo "== data files"

D="$WORK/data"
mkdir -p "$D/dir.jsonl"
: >"$D/empty.jsonl"
printf 'question,answer\n1+1,2\n' >"$D/csv.jsonl"
printf '[{"id":"a","question":"1+1?","answer":"2"}]\n' >"$D/array.jsonl"
printf '%s\n' '{"id":"a","answer":"2"}' '{"id":"b","question":"2+2?"}' >"$D/missing-fields.jsonl"
printf '%s\n' '{"id":"a","question":5,"answer":"2"}' '{"id":"b","question":"2+2?","answer":[4]}' \
  '{"id":7,"question":"3+3?","answer":{"n":6}}' >"$D/wrong-types.jsonl"
head -c 4000 /dev/urandom >"$D/binary.jsonl"
printf '{"id":"a","question":"1+1?\0","answer":"2"}\n' >"$D/nul.jsonl"
printf '%s\n' '{"id":"a","question":"1+1?","answer":"2"}' '{"id":"b","question":' >"$D/cut.jsonl"
{
  printf '{"id":"huge","question":"'
  head -c 1000000 /dev/zero | tr '\0' 'a'
  printf '","answer":"1"}\n'
} >"$D/huge-line.jsonl"
printf '\xef\xbb\xbf{"id":"a","question":"1+1?","answer":"2"}\r\n{"id":"b","question":"2+2?","answer":"4"}\r\n' \
  >"$D/bom-crlf.jsonl"
printf '%s\n' '{"problem":"What is 1+1?","solution":"It is $\\boxed{2}$."}' >"$D/math.jsonl"
printf '%s\n' '{"question":"1+1?","answer":"1+1=2\n#### 2"}' >"$D/gsm8k.jsonl"

check data runtime 'cannot read data file' "${EVAL[@]}" --data "$D/missing.jsonl" --out "$(fresh_out)"
check data runtime 'no valid items' "${EVAL[@]}" --data "$D/empty.jsonl" --out "$(fresh_out)"
NEEDS=eval check data runtime 'directory' "${EVAL[@]}" --data "$D/dir.jsonl" --out "$(fresh_out)"  # needs:eval
check data runtime 'csv.jsonl:1: .*no valid items' "${EVAL[@]}" --data "$D/csv.jsonl" --out "$(fresh_out)"
check data runtime 'array.jsonl:1: .*no valid items' "${EVAL[@]}" --data "$D/array.jsonl" --out "$(fresh_out)"
check data runtime 'missing-fields.jsonl:1: .*missing-fields.jsonl:2: .*no valid items' \
  "${EVAL[@]}" --data "$D/missing-fields.jsonl" --out "$(fresh_out)"
check data ok 'wrong-types.jsonl:2: .*wrong-types.jsonl:3: .*2 bad rows skipped.*1 runs done now' \
  "${EVAL[@]}" --data "$D/wrong-types.jsonl" --out "$(fresh_out)"
check data runtime 'bad rows skipped.*no valid items' "${EVAL[@]}" --data "$D/binary.jsonl" --out "$(fresh_out)"
check data any 'runs done now|nul.jsonl:1' "${EVAL[@]}" --data "$D/nul.jsonl" --out "$(fresh_out)"
check data ok 'cut.jsonl:2: .*1 bad rows skipped.*1 runs done now' "${EVAL[@]}" --data "$D/cut.jsonl" --out "$(fresh_out)"
check data runtime 'bad data at line 2' "${EVAL[@]}" --data "$D/cut.jsonl" --out "$(fresh_out)" --on-bad-data stop
check data runtime '1 of 1 runs failed' "${EVAL[@]}" --data "$D/huge-line.jsonl" --out "$(fresh_out)"
check data ok '2 runs done now' "${EVAL[@]}" --data "$D/bom-crlf.jsonl" --out "$(fresh_out)"
check data ok '1 runs done now' "${EVAL[@]}" --data "$D/math.jsonl" --out "$(fresh_out)"
check data ok '1 runs done now' "${EVAL[@]}" --data "$D/gsm8k.jsonl" --out "$(fresh_out)"
check data runtime 'no valid items' "${EVAL[@]}" --data "$D/gsm8k.jsonl" --out "$(fresh_out)" --format math
check data ok '2 runs done now' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --limit 2
check data ok '6 runs done now' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)" --limit 1000

# ---------------------------------------------------------------------------------------
echo "== run directories"

echo "a file" >"$WORK/a-file"
check rundir runtime '.' "${EVAL[@]}" --data "$DATA" --out "$WORK/a-file"
check rundir runtime '.' "${EVAL[@]}" --data "$DATA" --out "$WORK/a-file/sub"
check rundir runtime '.' "${EVAL[@]}" --data "$DATA" --out /proc/ponder-out
check rundir runtime '.' "${EVAL[@]}" --data "$DATA" --out /dev/full
check rundir usage 'out' "${EVAL[@]}" --data "$DATA" --out ''
RD=$(fresh_out)
check rundir ok '6 runs done now, 0 resumed' "${EVAL[@]}" --data "$DATA" --out "$RD"
check rundir ok '0 runs done now, 6 resumed' "${EVAL[@]}" --data "$DATA" --out "$RD"
check rundir ok '6 runs done now, 6 resumed' "${EVALM[@]}" --max-tokens 4 --data "$DATA" --out "$RD" --strategies greedy,sample@2
check rundir runtime 'other settings.*temperature' "${EVAL[@]}" --data "$DATA" --out "$RD" --temp 0.3
check rundir runtime 'other settings' "${EVALM[@]}" --strategies greedy --data "$DATA" --out "$RD" --max-tokens 5
NEEDS=eval check rundir runtime 'other settings|differs' "${EVAL[@]}" --data "$DATA" --out "$RD" --top-k 3  # needs:eval
NEEDS=eval check rundir runtime 'other settings|differs' "${EVAL[@]}" --data "$DATA" --out "$RD" --min-p 0.2  # needs:eval
# Same ids, other questions and references: resuming would report the old results.
sed 's/"answer":"[0-9]*"/"answer":"77"/' "$DATA" >"$D/same-ids.jsonl"
NEEDS=eval check rundir runtime 'differ|other' "${EVAL[@]}" --data "$D/same-ids.jsonl" --out "$RD"  # needs:eval
# Another model under the same file name.
mkdir -p "$WORK/other-model"
"$PONDER" toy-model --preset tiny --seed 2 -o "$WORK/other-model/$(basename "$TINY")" >/dev/null
NEEDS=eval check rundir runtime 'differ|other' \
  "$PONDER" eval -m "$WORK/other-model/$(basename "$TINY")" --strategies greedy --max-tokens 4 --no-progress \
  --data "$DATA" --out "$RD"  # needs:eval
# Corrupted traces: a cut line is skipped and rerun; a row without its cost is an error
# that names the file, or is rerun.
RC=$(fresh_out)
"${EVAL[@]}" --data "$DATA" --out "$RC" >/dev/null 2>&1
echo '{"id":"q1","strat' >>"$RC/traces.jsonl"
check rundir ok '0 runs done now, 6 resumed' "${EVAL[@]}" --data "$DATA" --out "$RC"
sed -i '1s/"cost":{[^}]*},//' "$RC/traces.jsonl"
NEEDS=eval check rundir any 'traces.jsonl|runs done now' "${EVAL[@]}" --data "$DATA" --out "$RC"  # needs:eval
head -c 5000 /dev/urandom >"$RC/traces.jsonl"
NEEDS=eval check rundir any 'traces.jsonl|6 runs done now' "${EVAL[@]}" --data "$DATA" --out "$RC"  # needs:eval
RJ=$(fresh_out)
"${EVAL[@]}" --data "$DATA" --out "$RJ" >/dev/null 2>&1
echo 'not json' >"$RJ/run.json"
NEEDS=eval check rundir runtime 'run.json' "${EVAL[@]}" --data "$DATA" --out "$RJ"  # needs:eval
# Paths with quotes and shell syntax are plain names: the plots are drawn.
RQ="$WORK/bob's run; touch $WORK/pwned \"x\""
NEEDS=eval check rundir ok 'runs done now' "${EVAL[@]}" --data "$DATA" --out "$RQ"  # needs:eval
if [[ -e "$WORK/pwned" ]]; then
  echo "CRASH         rundir  a path ran a command: $WORK/pwned exists"
  ((crashes++))
fi
NEEDS=eval check rundir ok 'accuracy_vs_tokens.svg' ls "$RQ/accuracy_vs_tokens.svg"  # needs:eval
# Two evals into one directory at once (same settings): the second is kept out.
lock_case() {
  skipping && return
  local dir first
  dir=$(fresh_out)
  "$PONDER" eval -m "$TINY" --data "$DATA" --out "$dir" --strategies greedy,vote@8 --max-tokens 64 --no-progress \
    -t 1 >/dev/null 2>&1 &
  first=$!
  while [[ ! -e "$dir/run.json" && ! -e "$dir/traces.jsonl" ]] && kill -0 "$first" 2>/dev/null; do sleep 0.02; done
  # Held still while the second one tries, so that it cannot finish first on a busy machine.
  kill -STOP "$first" 2>/dev/null
  check rundir error 'lock|in use|running' "${EVALM[@]}" --strategies greedy,vote@8 --max-tokens 64 -t 1 \
    --data "$DATA" --out "$dir"
  kill -CONT "$first" 2>/dev/null
  wait "$first"
}
NEEDS=eval lock_case  # needs:eval

# ---------------------------------------------------------------------------------------
echo "== disk faults"

check_to /dev/full disk runtime 'cannot write the output: No space left' "${RUN[@]}" q
check_to /dev/full disk runtime 'cannot write the output: No space left' "${RUN[@]}" --json q
check_to /dev/full disk runtime 'cannot write the output: No space left' "${GEN[@]}" -n 2
check_to /dev/full disk runtime 'cannot write the output' "${EVAL[@]}" --data "$DATA" --out "$(fresh_out)"
check_to /dev/full disk runtime 'cannot write the output' "$PONDER" run --help
check disk runtime 'cannot write /dev/full' "$PONDER" toy-model --preset tiny -o /dev/full
check disk runtime 'cannot write' "$PONDER" toy-model --preset tiny -o "$WORK/no-such-dir/m.gguf"
# The run directory's files on a full disk (each file a link to /dev/full).
for file in traces.jsonl summary.json summary.md run.json; do
  RF=$(fresh_out)
  mkdir -p "$RF"
  ln -s /dev/full "$RF/$file"
  NEEDS=eval check disk runtime "$file" "${EVAL[@]}" --data "$DATA" --out "$RF"  # needs:eval
done

# ---------------------------------------------------------------------------------------
echo "== signals"

# signal_case SIGNAL: an eval killed mid-run ends promptly; run again, it resumes and
# every (item, strategy) is in traces.jsonl exactly once.
signal_case() {
  local sig=$1 dir pid rc rows unique
  dir=$(fresh_out)
  started=$(date +%s%N)
  "$PONDER" eval -m "$TINY" --data "$TOY_DATA" --limit 60 --out "$dir" --strategies greedy,vote@8 --max-tokens 48 \
    --no-progress --max-sequences 16 -t 1 >"$OUT" 2>&1 &
  pid=$!
  while [[ $(cat "$dir/traces.jsonl" 2>/dev/null | wc -l) -lt 10 ]] && kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
  kill "-$sig" "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null && ((waited < LIMIT * 10)); do
    sleep 0.1
    ((waited++))
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    wait "$pid"
    record signal ok '.' 124 "eval killed with SIG$sig (did not stop)"
    return
  fi
  wait "$pid"
  rc=$?
  # Ending by the signal (or exiting non-zero after catching it) is expected here.
  if [[ $rc -ne 0 ]]; then rc=0; fi
  echo "stopped" >"$OUT"
  record signal ok 'stopped' "$rc" "eval killed with SIG$sig mid-run"
  started=$(date +%s%N)
  timeout -k 5 "$LIMIT" "$PONDER" eval -m "$TINY" --data "$TOY_DATA" --limit 60 --out "$dir" \
    --strategies greedy,vote@8 --max-tokens 48 --no-progress --max-sequences 16 -t 1 </dev/null >"$OUT" 2>&1
  rc=$?
  record signal ok 'runs done now, [1-9][0-9]* resumed' "$rc" "resumed after SIG$sig"
  started=$(date +%s%N)
  rows=$(wc -l <"$dir/traces.jsonl")
  unique=$(sed -E 's/^.*"id":"([^"]*)","reference".*"strategy":"([^"]*)"\}$/\1 \2/' "$dir/traces.jsonl" | sort -u | wc -l)
  echo "rows $rows, distinct $unique" >"$OUT"
  if [[ $rows -eq 120 && $unique -eq 120 ]]; then rc=0; else rc=1; fi
  record signal ok 'rows 120, distinct 120' "$rc" "after SIG$sig and resume: each of 60 items x 2 strategies once"
}
TOY_DATA="$(cd "$(dirname "$0")/.." && pwd)/data/toy/test.jsonl"
# (stderr: bash's notice of a job ended by a signal; ponder's own output goes to $OUT)
signal_case INT 2>/dev/null
signal_case TERM 2>/dev/null
signal_case HUP 2>/dev/null

# ---------------------------------------------------------------------------------------
total=$((passed + crashes + hangs + silent + lost + mismatched))
echo
echo "$total cases: $passed as expected, $skipped skipped (PONDER_BAD_INPUTS_SKIP=$SKIP)"
echo "crashes $crashes, hangs $hangs, silent wrong $silent, lost $lost, mismatched $mismatched"
if ((crashes + hangs + silent + lost + mismatched > 0)); then exit 1; fi
exit 0
