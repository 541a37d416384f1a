#!/usr/bin/env python3
"""Reference figures for the GGUF block types, from an implementation that is
not ours: the `gguf` package's numpy (de)quantizers (gguf.quants), and a plain
numpy forward pass. Written under Tests/EASTEngineTests/.fixtures/ for the
Swift tests (GGUFTests, DecodeKernelTests), which then need no Python:

    ggml_blocks.json   per type (Q4_0 ... Q6_K, Q2_K, Q3_K): a few blocks of
                       random bytes with sane float16 scales (base64) and the
                       floats gguf.quants.dequantize makes of them; for the
                       types gguf.quants also writes (Q4_0, Q4_1, Q5_0, Q5_1,
                       Q8_0): inputs and the bytes it writes for them
    mixed-tiny.gguf    a tiny Llama-architecture model (width 256, 2 layers,
                       vocabulary 256, no tokenizer) whose matrices are random
                       blocks of ten types (every type the loader reads), Q/K
                       rows permuted as llama.cpp's converter lays them out
    mixed_tiny_parity.json
                       per prompt (4 prompts of random ids): the log-softmax of
                       the next token after prefixes of 8, 16 and 24 tokens, and
                       the greedy continuation of 12 tokens, computed in float64
                       from gguf.quants' dequantized weights; and the same with
                       every product's input rounded to 8-bit blocks of 32 first
                       (scale max |x| / 127, round to nearest), as the integer
                       decode kernels do, and how far that pass moves when its
                       inputs are perturbed by float32's rounding before the
                       8-bit rounding (values near a half step round the other
                       way): the closest the integer path can be expected to
                       come to it

Not a project dependency. To regenerate:
    python3 -m venv /tmp/ggmlvenv && /tmp/ggmlvenv/bin/pip install gguf numpy
    /tmp/ggmlvenv/bin/python scripts/parity/ggml_types_reference.py
"""
import base64
import json
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, quants

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "EASTEngineTests", ".fixtures")
RNG = np.random.default_rng(31)

# bytes per block, and where the float16 scales sit (offset, typical magnitude)
LAYOUT = {
    Q.Q4_0: (18, [(0, 0.01)]),
    Q.Q4_1: (20, [(0, 0.005), (2, -0.04)]),
    Q.Q5_0: (22, [(0, 0.005)]),
    Q.Q5_1: (24, [(0, 0.003), (2, -0.04)]),
    Q.Q8_0: (34, [(0, 0.0005)]),
    Q.Q2_K: (84, [(80, 0.002), (82, 0.001)]),
    Q.Q3_K: (110, [(108, 0.0005)]),
    Q.Q4_K: (144, [(0, 0.0005), (2, 0.0005)]),
    Q.Q5_K: (176, [(0, 0.0003), (2, 0.0005)]),
    Q.Q6_K: (210, [(208, 0.0001)]),
}


def random_blocks(qtype, count):
    """`count` blocks of random bytes whose float16 scales are set to random
    values of the type's usual magnitude (random bits there would be NaNs)."""
    size, scales = LAYOUT[qtype]
    blocks = RNG.integers(0, 256, size=(count, size), dtype=np.uint8)
    for offset, magnitude in scales:
        values = (magnitude * RNG.uniform(0.5, 1.5, size=count)).astype(np.float16)
        blocks[:, offset:offset + 2] = values.view(np.uint8).reshape(count, 2)
    return blocks


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def blocks_fixture():
    out = {"dequantize": {}, "quantize": {}}
    for qtype in LAYOUT:
        block_values = quants.GGML_QUANT_SIZES[qtype][0]
        blocks = random_blocks(qtype, 3)
        values = quants.dequantize(blocks.reshape(1, -1), qtype).reshape(-1)
        assert values.size == 3 * block_values and np.all(np.isfinite(values))
        out["dequantize"][qtype.name] = {"bytes": b64(blocks), "values": [float(v) for v in values.astype(np.float32)]}
    for qtype in (Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0):
        x = (RNG.standard_normal(4 * 32) * 0.05).astype(np.float32)
        x[5] = 0.2  # an outlier in the first block
        blocks = quants.quantize(x.reshape(1, -1), qtype)
        out["quantize"][qtype.name] = {"input": [float(v) for v in x], "bytes": b64(blocks)}
    return out


# --- the tiny model -----------------------------------------------------------

DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB = 256, 256, 2, 4, 2, 256
HEAD_DIM = DIM // HEADS
EPS, THETA = 1e-5, 10000.0
# every type the loader reads, spread over the matrices (rows of 256 fit the k-quants)
TYPES = {
    "token_embd.weight": Q.Q6_K,  # tied: also the output head
    "blk.0.attn_q.weight": Q.Q4_K, "blk.0.attn_k.weight": Q.Q5_K, "blk.0.attn_v.weight": Q.Q6_K,
    "blk.0.attn_output.weight": Q.Q5_0, "blk.0.ffn_gate.weight": Q.Q2_K, "blk.0.ffn_up.weight": Q.Q3_K,
    "blk.0.ffn_down.weight": Q.Q4_1,
    "blk.1.attn_q.weight": Q.Q5_1, "blk.1.attn_k.weight": Q.Q8_0, "blk.1.attn_v.weight": Q.Q4_0,
    "blk.1.attn_output.weight": Q.Q4_K, "blk.1.ffn_gate.weight": Q.Q5_K, "blk.1.ffn_up.weight": Q.Q6_K,
    "blk.1.ffn_down.weight": Q.Q8_0,
}


def matrix(qtype, rows, cols):
    """Random blocks for a (rows, cols) matrix and the floats they hold, their
    float16 scales multiplied so that the values' RMS is 1 / sqrt(cols) (the
    activations then stay of order 1 and attention stays smooth: a model with
    larger weights turns chaotic, every small difference moving its output)."""
    per_block, size = quants.GGML_QUANT_SIZES[qtype]
    blocks = random_blocks(qtype, rows * cols // per_block)
    w = quants.dequantize(blocks.reshape(rows, -1), qtype)
    factor = (1 / np.sqrt(cols)) / np.sqrt(np.mean(w.astype(np.float64) ** 2))
    for offset, _ in LAYOUT[qtype][1]:  # every value is linear in the block's float16 scales
        h = blocks[:, offset:offset + 2].copy().view(np.float16).astype(np.float32) * factor
        blocks[:, offset:offset + 2] = h.astype(np.float16).view(np.uint8).reshape(-1, 2)
    blocks = blocks.reshape(rows, -1)
    return blocks, quants.dequantize(blocks, qtype).astype(np.float64)


def unpermute(w, heads):
    """GGUF row 2i + j of each head is Hugging Face row j * half + i (the Swift loader does the same)."""
    hd = w.shape[0] // heads
    return w.reshape(heads, hd // 2, 2, -1).swapaxes(1, 2).reshape(w.shape)


def build_model():
    tensors, weights = {}, {}
    kv = KV_HEADS * HEAD_DIM
    shapes = {"token_embd.weight": (VOCAB, DIM)}
    for l in range(LAYERS):
        b = "blk.%d." % l
        shapes.update({b + "attn_q.weight": (DIM, DIM), b + "attn_k.weight": (kv, DIM), b + "attn_v.weight": (kv, DIM),
                       b + "attn_output.weight": (DIM, DIM), b + "ffn_gate.weight": (HIDDEN, DIM),
                       b + "ffn_up.weight": (HIDDEN, DIM), b + "ffn_down.weight": (DIM, HIDDEN)})
    for name, shape in shapes.items():
        blocks, w = matrix(TYPES[name], *shape)
        tensors[name] = (blocks, TYPES[name])
        if name.endswith("attn_q.weight"):
            w = unpermute(w, HEADS)
        if name.endswith("attn_k.weight"):
            w = unpermute(w, KV_HEADS)
        weights[name] = w
    for l in range(LAYERS):
        for norm in ("attn_norm", "ffn_norm"):
            v = (1 + 0.1 * RNG.standard_normal(DIM)).astype(np.float32)
            tensors["blk.%d.%s.weight" % (l, norm)] = (v, None)
            weights["blk.%d.%s.weight" % (l, norm)] = v.astype(np.float64)
    v = (1 + 0.1 * RNG.standard_normal(DIM)).astype(np.float32)
    tensors["output_norm.weight"] = (v, None)
    weights["output_norm.weight"] = v.astype(np.float64)
    return tensors, weights


def write_gguf(tensors, path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("mixed-tiny")
    w.add_context_length(64)
    w.add_embedding_length(DIM)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(HIDDEN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(THETA)
    w.add_layer_norm_rms_eps(EPS)
    w.add_vocab_size(VOCAB)
    for name, (data, qtype) in tensors.items():
        if qtype is None:
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def rms_norm(x, g):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * g


def rope(x, positions):
    """Hugging Face's rotate_half RoPE on (T, heads, head_dim)."""
    half = HEAD_DIM // 2
    freqs = THETA ** (-np.arange(half) * 2.0 / HEAD_DIM)
    angles = positions[:, None] * freqs[None, :]
    cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)


NOISE = None  # a generator: perturb q8's inputs by float32-sized relative noise


def q8(x):
    """x with each run of 32 values rounded to 8 bits: d = max |x| / 127, d * round(x / d)."""
    if NOISE is not None:
        x = x * (1 + NOISE.uniform(-2 ** -23, 2 ** -23, size=x.shape))
    blocks = x.reshape(x.shape[0], -1, 32)
    d = np.abs(blocks).max(axis=-1, keepdims=True) / 127
    q = np.round(np.divide(blocks, d, out=np.zeros_like(blocks), where=d > 0))
    return (q * d).reshape(x.shape)


def forward(weights, ids, activations8=False):
    """Logits (T, VOCAB) of every position, float64; with activations8, every
    product's input rounded to 8-bit blocks first."""
    A = q8 if activations8 else (lambda a: a)
    T = len(ids)
    x = weights["token_embd.weight"][ids]
    pos = np.arange(T, dtype=np.float64)
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(LAYERS):
        b = "blk.%d." % l
        h = A(rms_norm(x, weights[b + "attn_norm.weight"]))
        q = rope((h @ weights[b + "attn_q.weight"].T).reshape(T, HEADS, HEAD_DIM), pos)
        k = rope((h @ weights[b + "attn_k.weight"].T).reshape(T, KV_HEADS, HEAD_DIM), pos)
        v = (h @ weights[b + "attn_v.weight"].T).reshape(T, KV_HEADS, HEAD_DIM)
        out = np.zeros((T, HEADS, HEAD_DIM))
        for hh in range(HEADS):
            g = hh // (HEADS // KV_HEADS)
            s = q[:, hh] @ k[:, g].T / np.sqrt(HEAD_DIM) + mask
            p = np.exp(s - s.max(axis=-1, keepdims=True))
            p /= p.sum(axis=-1, keepdims=True)
            out[:, hh] = p @ v[:, g]
        x = x + A(out.reshape(T, DIM)) @ weights[b + "attn_output.weight"].T
        h = A(rms_norm(x, weights[b + "ffn_norm.weight"]))
        gate, up = h @ weights[b + "ffn_gate.weight"].T, h @ weights[b + "ffn_up.weight"].T
        x = x + A(gate / (1 + np.exp(-gate)) * up) @ weights[b + "ffn_down.weight"].T
    return A(rms_norm(x, weights["output_norm.weight"])) @ weights["token_embd.weight"].T


def log_softmax(z):
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "ggml_blocks.json"), "w") as f:
        json.dump(blocks_fixture(), f)
    tensors, weights = build_model()
    write_gguf(tensors, os.path.join(OUT, "mixed-tiny.gguf"))
    prompts = []
    for _ in range(4):
        ids = [int(t) for t in RNG.integers(3, VOCAB, size=24)]
        entry = {"ids": ids}
        for key, a8 in (("", False), ("8bit", True)):
            logits = forward(weights, ids, a8)
            entry["nextLogProbs" + key] = {str(n): [float(v) for v in log_softmax(logits[n - 1])] for n in (8, 16, 24)}
            greedy = list(ids)
            for _ in range(12):
                greedy.append(int(np.argmax(forward(weights, greedy, a8)[-1])))
            entry["greedy" + key] = greedy[len(ids):]
        prompts.append(entry)
    global NOISE
    sensitivity = 0.0
    for seed in range(3):
        NOISE = np.random.default_rng(seed)
        for entry in prompts:
            logits = forward(weights, entry["ids"], True)
            for n, expected in entry["nextLogProbs8bit"].items():
                sensitivity = max(sensitivity, float(np.abs(log_softmax(logits[int(n) - 1]) - np.array(expected)).max()))
    NOISE = None
    with open(os.path.join(OUT, "mixed_tiny_parity.json"), "w") as f:
        json.dump({"prompts": prompts, "types": {k: v.name for k, v in TYPES.items()},
                   "roundingSensitivity": sensitivity}, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
