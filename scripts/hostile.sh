#!/usr/bin/env bash
# Bad input as a careless or hostile user brings it, through the release build:
#
#   bash scripts/hostile.sh [PER_KIND] [SEED]     # default 60 mutants of each kind, seed 1
#
# Mutates valid files (`east-fuzz mutate`: seeded, so any finding replays):
# GGUF models, safetensors weights, config.json, tokenizer.json (byte-level
# BPE and the embedded default's word tokenizer), dataset JSONL and
# experiment specs, and runs each mutant through the command that reads it. A mutant must end within 30 s in exit status 0 (the file was still
# usable) or in a clean error: a non-zero status below 128 with an `east:` or
# `Error:` message. A signal (a crash), a timeout (a hang) or a silent failure
# fails the script; those mutants are kept in .hostile/failed/. The table
# counts, for each kind, how many errors name the file (its path) or a field.
set -euo pipefail
cd "$(dirname "$0")/.."
per=${1:-60}
seed=${2:-1}
source scripts/lib.sh

step "building east (release)" swift build -c release --product east
step "building east-fuzz" swift build --product east-fuzz
east=$PWD/.build/release/east
fuzz=$(swift build --show-bin-path)/east-fuzz
work=$PWD/.hostile
rm -rf "$work"
mkdir -p "$work/failed"
fixtures=Tests/EASTEngineTests/.fixtures

# The checkpoints mutated: a small random Llama with the Llama 3 test
# tokenizer (byte-level BPE, 605 tokens), and the embedded default (its word
# tokenizer). `checkpoint BASE DIR FILE MUTANT` copies BASE with FILE replaced.
"$east" model init --out "$work/bpe" --vocab 605 --dim 32 --layers 1 --heads 2 >/dev/null
cp "$fixtures/llama3-tokenizer.json" "$work/bpe/tokenizer.json"
checkpoint() {
    mkdir -p "$2"
    cp "$1"/config.json "$1"/model.safetensors "$1"/tokenizer.json "$2/"
    cp "$4" "$2/$3"
}

printf '| kind | mutants | accepted | clean errors | of which name the file or a field | crashed | hung | other |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
failures=0
run_kind() {  # KIND binary|text SEED-FILES... -- (then the mutant is $m, its folder $d)
    local kind=$1 type=$2
    shift 2
    local sources=()
    while [ "$1" != -- ]; do sources+=("$1"); shift; done
    shift
    local dir=$work/$kind
    "$fuzz" mutate "$type" "$seed" "$per" "$dir/mutants" "${sources[@]}" >/dev/null
    local accepted=0 clean=0 named=0 crashed=0 hung=0 other=0 m status
    for m in "$dir"/mutants/*; do
        local d=$dir/run-$(basename "$m")
        mkdir -p "$d"
        set +e
        timeout 30 bash -c "$1" _ "$m" "$d" >"$d/stdout" 2>"$d/stderr"
        status=$?
        set -e
        local message
        message=$(grep -a -E '^(east: |Error: )' "$d/stderr" | head -1 || true)
        if [ "$status" -eq 0 ]; then
            accepted=$((accepted + 1))
        elif [ "$status" -eq 124 ]; then
            hung=$((hung + 1)); cp "$m" "$work/failed/$kind-hung-$(basename "$m")"
        elif [ "$status" -ge 128 ]; then
            crashed=$((crashed + 1)); cp "$m" "$work/failed/$kind-crashed-$(basename "$m")"
        elif [ -n "$message" ]; then
            clean=$((clean + 1))
            if [[ "$message" == *"$(basename "$m")"* || "$message" == *"$d"* || "$message" == *"$(dirname "$m")"* \
                  || "$message" =~ field|key|line\ [0-9]|[a-z_]+\.[a-z_]+|\"[a-z_]+\"|tensor|header|run\ spec ]]; then
                named=$((named + 1))
            fi
        else
            other=$((other + 1)); cp "$m" "$work/failed/$kind-silent-$(basename "$m")"
        fi
    done
    printf '| %s | %d | %d | %d | %d | %d | %d | %d |\n' "$kind" "$per" "$accepted" "$clean" "$named" "$crashed" "$hung" "$other"
    failures=$((failures + crashed + hung + other))
}

export EAST=$east
export -f checkpoint
run_kind gguf binary "$fixtures/llama3-tiny.gguf" "$fixtures/qwen2-tiny.gguf" "$fixtures/mixed-tiny.gguf" -- \
    '"$EAST" model logits --model "$1" --prompt-ids 1,2,3 --top 3'
export BPE=$work/bpe
run_kind safetensors binary "$work/bpe/model.safetensors" -- \
    'checkpoint "$BPE" "$2/ckpt" model.safetensors "$1" && "$EAST" model logits --checkpoint "$2/ckpt" --prompt "1+1=" --top 3'
run_kind config text "$work/bpe/config.json" -- \
    'checkpoint "$BPE" "$2/ckpt" config.json "$1" && "$EAST" model logits --checkpoint "$2/ckpt" --prompt "1+1=" --top 3'
run_kind tokenizer-bpe text "$work/bpe/tokenizer.json" -- \
    'checkpoint "$BPE" "$2/ckpt" tokenizer.json "$1" && "$EAST" model logits --checkpoint "$2/ckpt" --prompt "Hello, 1+1=" --top 3'
run_kind tokenizer-word text models/arith-easy/tokenizer.json -- \
    'checkpoint models/arith-easy "$2/ckpt" tokenizer.json "$1" && "$EAST" model logits --checkpoint "$2/ckpt" --prompt "Emma has 3 apples." --top 3'
"$fuzz" seeds "$work/seeds" >/dev/null
datasets=("$work"/seeds/dataset/*)
for f in ../shared/datasets/math500/test.jsonl ../shared/datasets/gsm8k/test.jsonl; do
    if [ -f "$f" ]; then head -20 "$f" > "$work/seeds/$(basename "$(dirname "$f")").jsonl"; datasets+=("$work/seeds/$(basename "$(dirname "$f")").jsonl"); fi
done
run_kind dataset text "${datasets[@]}" -- \
    '"$EAST" eval --checkpoint models/arith-easy --file "$1" --count 4 --max-tokens 4'
# A spec that passes every check reaches the missing results of its
# (empty) folder: that is the spec accepted.
run_kind spec text results/*/spec.yaml results/*/experiment.json "$work"/seeds/spec-yaml/* -- \
    '"$EAST" experiment --spec "$1" --report-only --out "$2/experiment" 2>"$2/error"; status=$?
     grep -q "results.json cannot be read" "$2/error" && exit 0; cat "$2/error" >&2; exit $status'

if [ "$failures" -gt 0 ]; then
    echo "$failures mutant(s) crashed, hung or failed without a message: kept in $work/failed/ (replay: the command of its kind)" >&2
    exit 1
fi
echo "every mutant ended in a result or a clean error"
