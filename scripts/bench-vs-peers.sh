#!/usr/bin/env bash
# Side by side on this machine: llama.cpp (llama-cpp-python), transformers +
# peft (LoRA) and `east bench engine --model`, on the same GGUF and the same
# chat prompt ids, in alternating rounds; prints each figure's range, east's
# ratio to its peer, the vector path each side ran and the fraction of the
# sgemm rate (measured by east in the same round) each decode reached. Outside CI.
#
#   bash scripts/bench-vs-peers.sh                 # 5 rounds, 128 new tokens, LoRA at 4 x 256
#   ROUNDS=1 NEW_TOKENS=4 SEQ_LEN=128 LORA_STEPS=1 bash scripts/bench-vs-peers.sh  # a smoke run
#   PATH_AVX2=1 LORA_STEPS=0 bash scripts/bench-vs-peers.sh   # both sides on AVX2 only
#   MIX=q4_k_m LORA_STEPS=0 bash scripts/bench-vs-peers.sh     # SmolLM2 as Q4_K_M
#   SHAPE=qwen2.5-0.5b QUANTIZE=q4_1 LORA_STEPS=0 bash scripts/bench-vs-peers.sh   # random weights of a real shape
#
# The peers live in a git-ignored venv inside the repository (PEERS_VENV,
# default .peers/venv), made on first use: torch, transformers, peft, gguf,
# and llama-cpp-python compiled from PyPI's source (about 15 minutes on 2
# cores) into a folder of its own per build: .peers/venv/llama-native
# (-DGGML_NATIVE=ON) or, with PATH_AVX2=1, .peers/venv/llama-avx2 (AVX2, FMA
# and F16C, no AVX-512), while east runs with EAST_NO_AVX512=1 and its
# OpenBLAS with OPENBLAS_CORETYPE=Haswell, and torch (peft) with
# ATEN_CPU_CAPABILITY=avx2 and MKL_ENABLE_INSTRUCTIONS=AVX2: the same
# instruction sets on every side, as on a CPU without AVX-512.
#
# Settings: THREADS (2), ROUNDS (5), NEW_TOKENS (128), BATCH (4), SEQ_LEN
# (256), LORA_STEPS (3), MODEL (the SmolLM2 GGUF), EAST (the east binary;
# default .build/release/east, built if missing), SHAPE (qwen2.5-0.5b or
# llama3.2-1b: random weights of that shape instead of the GGUF; their GGUF
# for llama.cpp is written once into $PEERS_VENV/shapes), QUANTIZE (q4_1),
# PATH_AVX2 (0), MIX (q4_k_m or q5_k_m: the model requantized by `east model
# quantize` into .peers/, the same file for both sides). Other benchmarks on the machine move every figure: the
# summary prints the load average before and after; run it while the machine
# is quiet.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PEERS_VENV:-$root/.peers/venv}"
model="${MODEL:-$root/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}"
east="${EAST:-$root/.build/release/east}"
if [[ "${PATH_AVX2:-0}" == 1 ]]; then
    build=avx2
    cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
    export EAST_NO_AVX512=1 OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
else
    build=native
    cmake_args="-DGGML_NATIVE=ON"
fi
llama="$venv/llama-$build"

if [[ ! -f "$venv/.peers-ready" ]]; then
    echo "making the peers' venv in $venv" >&2
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip wheel
    "$venv/bin/pip" install --quiet torch transformers peft numpy gguf sentencepiece
    touch "$venv/.peers-ready"
fi
if [[ ! -f "$llama/.ready" ]]; then
    echo "building llama-cpp-python ($build: $cmake_args) into $llama: about 15 minutes on 2 cores" >&2
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="${BUILD_JOBS:-2}" \
        "$venv/bin/pip" install --quiet --no-cache-dir --no-deps --target "$llama" \
        llama-cpp-python typing-extensions diskcache jinja2
    touch "$llama/.ready"
fi

[[ -s "$model" ]] || bash "$root/scripts/fetch-smollm2.sh"
# Always (incremental: seconds when up to date), unless EAST names a binary:
# an old build left in .build/release would be measured for the tree's.
if [[ -z "${EAST:-}" ]]; then
    (cd "$root" && swift build -c release --product east)
fi
if [[ -n "${MIX:-}" ]]; then
    mixed="$root/.peers/$(basename "$model" .gguf | sed 's/\.[^.]*$//').${MIX^^}.gguf"
    mkdir -p "$root/.peers"
    [[ -s "$mixed" ]] || "$east" model quantize --model "$model" --type "$MIX" --out "$mixed"
    model="$mixed"
fi

exec env PYTHONPATH="$llama" LLAMA_BUILD="$build" "$venv/bin/python" "$root/scripts/bench_vs_peers.py" \
    --east "$east" --model "$model" \
    --threads "${THREADS:-2}" --rounds "${ROUNDS:-5}" --new-tokens "${NEW_TOKENS:-128}" \
    --batch "${BATCH:-4}" --seq-len "${SEQ_LEN:-256}" --lora-steps "${LORA_STEPS:-3}" \
    ${SHAPE:+--shape "$SHAPE"} --quantize "${QUANTIZE:-q4_1}"
