#!/usr/bin/env bash
# Side by side on this machine: llama.cpp (llama-cpp-python, built native),
# transformers + peft (LoRA) and `east bench engine --model`, on the same
# GGUF and the same chat prompt ids, in alternating rounds; prints each
# figure's range and east's ratio to its peer (issue #18). Outside CI.
#
#   bash scripts/bench-vs-peers.sh                 # 5 rounds, 128 new tokens, LoRA at 4 x 256
#   ROUNDS=1 NEW_TOKENS=4 SEQ_LEN=32 LORA_STEPS=1 bash scripts/bench-vs-peers.sh   # a smoke run
#   SHAPE=qwen2.5-0.5b QUANTIZE=q4_1 LORA_STEPS=0 bash scripts/bench-vs-peers.sh   # random weights of a real shape
#
# The peers live in a venv outside the repository (PEERS_VENV, default
# /work/peers-venv), made on first use: llama-cpp-python from PyPI compiled
# with -DGGML_NATIVE=ON (about 15 minutes on 2 cores), torch, transformers,
# peft, gguf. Settings: THREADS (2), ROUNDS (5), NEW_TOKENS (128), BATCH (4),
# SEQ_LEN (256), LORA_STEPS (3), MODEL (the SmolLM2 GGUF), EAST (the east
# binary; default .build/release/east, built if missing), SHAPE (qwen2.5-0.5b or
# llama3.2-1b: random weights of that shape instead of the GGUF; their GGUF
# for llama.cpp is written once into $PEERS_VENV/shapes), QUANTIZE (q4_1).
# Other benchmarks on the machine move every figure: run it while the
# machine is quiet.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PEERS_VENV:-/work/peers-venv}"
model="${MODEL:-$root/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}"
east="${EAST:-$root/.build/release/east}"

if [[ ! -f "$venv/.peers-ready" ]]; then
    echo "making the peers' venv in $venv (llama-cpp-python compiles from source: about 15 minutes)" >&2
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip wheel
    "$venv/bin/pip" install --quiet torch transformers peft numpy gguf
    CMAKE_ARGS="-DGGML_NATIVE=ON" CMAKE_BUILD_PARALLEL_LEVEL="${BUILD_JOBS:-2}" \
        "$venv/bin/pip" install --quiet --no-cache-dir llama-cpp-python
    touch "$venv/.peers-ready"
fi

[[ -s "$model" ]] || bash "$root/scripts/fetch-smollm2.sh"
# Always (incremental: seconds when up to date), unless EAST names a binary:
# an old build left in .build/release would be measured for the tree's.
if [[ -z "${EAST:-}" ]]; then
    (cd "$root" && swift build -c release --product east)
fi

exec "$venv/bin/python" "$root/scripts/bench_vs_peers.py" --east "$east" --model "$model" \
    --threads "${THREADS:-2}" --rounds "${ROUNDS:-5}" --new-tokens "${NEW_TOKENS:-128}" \
    --batch "${BATCH:-4}" --seq-len "${SEQ_LEN:-256}" --lora-steps "${LORA_STEPS:-3}" \
    ${SHAPE:+--shape "$SHAPE"} --quantize "${QUANTIZE:-q4_1}"
