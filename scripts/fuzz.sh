#!/usr/bin/env bash
# Fuzzes one reader of outside input with libFuzzer and AddressSanitizer:
#
#   bash scripts/fuzz.sh TARGET SECONDS     # TARGET: gguf safetensors config tokenizer dataset spec-yaml spec-json envelope grader
#   bash scripts/fuzz.sh all SECONDS        # each target in turn
#
# Builds east-fuzz into .build-fuzz (Swift's -sanitize=fuzzer,address), starts
# from the target's kept corpus (Tests/Fixtures/fuzz/corpus/TARGET, seeded from
# the test fixtures and from values in the code), and runs with every input
# bounded: 1 s (-timeout), 2 GiB of memory (-rss_limit_mb) and 1 GiB a single
# allocation (-malloc_limit_mb). A crash, a slow input or an allocation beyond
# the bound is written to .fuzz/artifacts/TARGET/ and fails the script; copy it
# to Tests/Fixtures/fuzz/crashes/TARGET/ with the fix, so the tests replay it.
# At the end the new inputs are merged, minimized, into the kept corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET|all SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET|all SECONDS}
targets=(gguf safetensors config tokenizer dataset spec-yaml spec-json envelope grader)
if [ "$target" = all ]; then
    for t in "${targets[@]}"; do bash "$0" "$t" "$seconds"; done
    exit 0
fi
[[ " ${targets[*]} " == *" $target "* ]] || { echo "unknown target $target (${targets[*]})" >&2; exit 2; }

echo "building east-fuzz with libFuzzer and AddressSanitizer (.build-fuzz; log .fuzz/build.log)"
mkdir -p .fuzz
swift build -c release --product east-fuzz --build-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld >.fuzz/build.log 2>&1 || { tail -20 .fuzz/build.log >&2; exit 1; }
fuzz=.build-fuzz/release/east-fuzz

corpus=Tests/Fixtures/fuzz/corpus/$target
work=.fuzz/work/$target
artifacts=.fuzz/artifacts/$target
mkdir -p "$corpus" "$work" "$artifacts"
# Seeds: the test fixtures of the file readers, and the code's own values (east-fuzz seeds).
fixtures=Tests/EASTEngineTests/.fixtures
case $target in
    gguf) cp -n "$fixtures"/*.gguf "$work"/ ;;
    safetensors) for f in "$fixtures"/*/model.safetensors models/arith-easy/model.safetensors; do cp -n "$f" "$work/$(basename "$(dirname "$f")").safetensors"; done ;;
    config) for f in "$fixtures"/*/config.json models/arith-easy/config.json; do cp -n "$f" "$work/$(basename "$(dirname "$f")").json"; done ;;
    tokenizer) cp -n "$fixtures"/*-tokenizer.json models/arith-easy/tokenizer.json "$work"/ 2>/dev/null || cp "$fixtures"/*-tokenizer.json models/arith-easy/tokenizer.json "$work"/ ;;
esac
seeds=.fuzz/seeds
swift build --product east-fuzz >/dev/null 2>&1 && "$(swift build --show-bin-path)/east-fuzz" seeds "$seeds"
cp -n "$seeds/$target"/* "$work"/ 2>/dev/null || true

echo "fuzzing $target for $seconds s (corpus $corpus; artifacts $artifacts)"
EAST_FUZZ_TARGET=$target ASAN_OPTIONS=allocator_may_return_null=0:detect_leaks=0 "$fuzz" "$work" "$corpus" \
    -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >".fuzz/$target.log" 2>&1 || status=$?
grep -E "^(stat::|Done|#[0-9]+.*DONE)" ".fuzz/$target.log" | tail -8 || true
# Keep the smallest corpus that covers what this run reached.
mkdir -p "$corpus.merged"
EAST_FUZZ_TARGET=$target "$fuzz" -merge=1 "$corpus.merged" "$corpus" "$work" >>".fuzz/$target.log" 2>&1
rm -rf "$corpus" && mv "$corpus.merged" "$corpus"
echo "$target: corpus $(ls "$corpus" | wc -l) inputs ($(du -sk "$corpus" | cut -f1) KiB)"
if [ "${status:-0}" -ne 0 ] || [ -n "$(ls "$artifacts")" ]; then
    echo "$target: the fuzzer stopped on an input (see .fuzz/$target.log and $artifacts/)" >&2
    exit 1
fi
