#!/usr/bin/env python3
"""Tiny random Llama 3.2-style and Qwen2-style models, and what Hugging Face
transformers computes on them, as fixtures for the Swift tests
(Llama3Qwen2ParityTests), which compare our engine against them without Python.

Written under Tests/EASTEngineTests/.fixtures/ (hidden, so SwiftPM does not
take them for resources):
    llama3-tiny/ qwen2-tiny/   HF folders: config.json + model.safetensors (float32)
    llama3-tiny.gguf qwen2-tiny.gguf
                               the same weights as llama.cpp's converter lays them
                               out ("llama" arch with Q/K rows permuted and the
                               rope_freqs tensor; "qwen2" arch with q/k/v biases),
                               matrices as Q8_0 blocks
    llama3_qwen2_parity.json   per model: logits at every position of a 40-token
                               prompt, a greedy continuation, the summed log-prob
                               of a fixed completion

Every weight matrix is first rounded through Q8_0 (quantize, dequantize), so
the float32 HF folder and the Q8_0 GGUF hold exactly the same numbers and one
set of reference figures serves both.

The Llama one uses rope_type llama3 with original_max_position_embeddings 64
and rope_theta 10000: with head_dim 8 its four frequencies fall in the kept,
smoothed and divided bands, and the script checks that the scaling moves the
logits at the tested positions (against the same weights with plain RoPE).
The Qwen2 one has nonzero q/k/v biases, an untied output head and head_dim
16 where hidden_size / num_attention_heads is 8.

Not a project dependency. To regenerate:
    python3 -m venv /tmp/parityvenv
    /tmp/parityvenv/bin/pip install torch transformers tokenizers gguf safetensors numpy
    /tmp/parityvenv/bin/python scripts/parity/llama3_qwen2_reference.py
"""
import json
import math
import os
import shutil

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType, quants
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "EASTEngineTests", ".fixtures")

VOCAB, PROMPT_LEN, GREEDY_NEW = 128, 40, 16
ROPE_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64}
SHAPE = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=128,
             rms_norm_eps=1e-5, hidden_act="silu", bos_token_id=1, eos_token_id=2, pad_token_id=0)


def llama_config(scaling=True):
    return LlamaConfig(**SHAPE, rope_theta=10000.0, rope_scaling=dict(ROPE_SCALING) if scaling else None,
                       tie_word_embeddings=True, attention_bias=False, mlp_bias=False)


def qwen2_config():
    # head_dim 16, not hidden_size / heads = 8: q_proj (64, 32), o_proj (32, 64)
    return Qwen2Config(**{**SHAPE, "rms_norm_eps": 1e-6, "head_dim": 16}, rope_theta=1000000.0, tie_word_embeddings=False,
                       use_sliding_window=False)


def q8_round(w):
    """w (rows, K) through Q8_0 and back: the values a Q8_0 GGUF holds."""
    blocks = quants.quantize(w.astype(np.float32), GGMLQuantizationType.Q8_0)
    return quants.dequantize(blocks, GGMLQuantizationType.Q8_0).reshape(w.shape).astype(np.float32), blocks


def randomize(model, seed):
    """Weights ~ N(0, 0.2^2) (large enough that the outputs are far from
    uniform), norm gains 1 + N(0, 0.1^2), biases N(0, 0.5^2); matrices
    rounded through Q8_0. Returns the Q8_0 blocks by parameter name."""
    g = torch.Generator().manual_seed(seed)
    blocks = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif p.dim() == 1:
                p.copy_(1 + torch.randn(p.shape, generator=g) * 0.1)
            else:
                rounded, b = q8_round((torch.randn(p.shape, generator=g) * 0.2).numpy())
                p.copy_(torch.from_numpy(rounded))
                blocks[name] = b
    return blocks


def permute(w, heads):
    """llama.cpp's convert_hf_to_gguf permute of Q/K rows (rotate_half -> neighbours)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_freqs(cfg):
    """The rope_freqs tensor llama.cpp writes for Llama 3 (each frequency's divisor)."""
    s = cfg.rope_scaling if cfg.rope_scaling else cfg.rope_parameters
    base, dim = cfg.rope_theta if hasattr(cfg, "rope_theta") else s["rope_theta"], cfg.head_dim
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high, old = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    out = []
    for f in freqs.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


GGUF_NAMES = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(name):
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    parts = name.split(".")
    return f"blk.{parts[2]}." + GGUF_NAMES[".".join(parts[3:])]


def write_gguf(model, blocks, arch, path):
    cfg = model.config
    w = gguf.GGUFWriter(path, arch)
    w.add_name(os.path.basename(path))
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    rope = getattr(cfg, "rope_parameters", None) or {}
    w.add_rope_freq_base(float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0))))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    if arch == "llama":
        s = cfg.rope_scaling if cfg.rope_scaling else rope
        w.add_rope_scaling_orig_ctx_len(s["original_max_position_embeddings"])
        w.add_tensor("rope_freqs.weight", llama3_rope_freqs(cfg))
    for name, p in model.state_dict().items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        heads = {"self_attn.q_proj.weight": cfg.num_attention_heads, "self_attn.k_proj.weight": cfg.num_key_value_heads}
        part = ".".join(name.split(".")[3:])
        if name in blocks:
            b = blocks[name]
            if arch == "llama" and part in heads:  # rows permute with their blocks
                b = permute(b, heads[part])
            w.add_tensor(gguf_name(name), b, raw_shape=b.shape, raw_dtype=GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(gguf_name(name), p.numpy().astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def log_softmax(logits):
    return torch.log_softmax(logits.double(), dim=-1)


def reference(model, seed):
    g = torch.Generator().manual_seed(seed)
    prompt = torch.randint(3, VOCAB, (PROMPT_LEN,), generator=g).tolist()
    completion = torch.randint(3, VOCAB, (12,), generator=g).tolist()
    with torch.no_grad():
        logits = model(torch.tensor([prompt])).logits[0]
        seq = list(prompt)
        for _ in range(GREEDY_NEW):
            seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
        full = model(torch.tensor([prompt + completion])).logits[0]
        lsm = log_softmax(full)
        logprob = sum(float(lsm[len(prompt) - 1 + i, t]) for i, t in enumerate(completion))
    return {"prompt": prompt, "logits": [[float(f"{x:.8g}") for x in row.tolist()] for row in logits],
            "greedy": seq[len(prompt):], "completion": completion, "completion_logprob": logprob}


def save(model, blocks, name, arch):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder, safe_serialization=True)
    for extra in os.listdir(folder):  # keep what the engine reads
        if extra not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(folder, extra))
    write_gguf(model, blocks, arch, os.path.join(OUT, name + ".gguf"))


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    results = {}

    llama = LlamaForCausalLM(llama_config()).float().eval()
    llama.config._attn_implementation = "eager"
    blocks = randomize(llama, seed=3)  # seeds 1, 4 and 5 give greedy runs of one repeated token
    results["llama3"] = reference(llama, seed=2)
    plain = LlamaForCausalLM(llama_config(scaling=False)).float().eval()
    plain.load_state_dict(llama.state_dict())
    with torch.no_grad():
        moved = (plain(torch.tensor([results["llama3"]["prompt"]])).logits[0] - torch.tensor(results["llama3"]["logits"])).abs()
    results["llama3"]["max_logit_change_from_scaling"] = float(moved.max())
    assert moved[1:].max() > 1e-2, "the llama3 scaling must change the outputs at the tested positions"
    save(llama, blocks, "llama3-tiny", "llama")

    qwen = Qwen2ForCausalLM(qwen2_config()).float().eval()
    qwen.config._attn_implementation = "eager"
    blocks = randomize(qwen, seed=5)
    results["qwen2"] = reference(qwen, seed=4)
    save(qwen, blocks, "qwen2-tiny", "qwen2")

    with open(os.path.join(OUT, "llama3_qwen2_parity.json"), "w") as f:
        json.dump(results, f)
    for k, r in results.items():
        print(k, "greedy", r["greedy"], "logprob", r["completion_logprob"],
              "scaling moved logits by", r.get("max_logit_change_from_scaling"))


if __name__ == "__main__":
    main()
