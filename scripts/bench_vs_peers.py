#!/usr/bin/env python3
"""The measuring half of scripts/bench-vs-peers.sh (run it through that
script, which makes the venv). Each round runs, one after the other, each in
a fresh process so that thread pools do not meet:

  llama.cpp  greedy decode of one sequence, then of 16 sequences that share
             the prompt (prefilled once, its cache copied to the other 15,
             one llama_decode of 16 tokens per step), on the GGUF as it is;
  peft       a LoRA step (r 16, alpha 32, all seven targets, AdamW) of
             transformers' float32 model of the same GGUF at BATCH x SEQ_LEN,
             each sequence the prompt and a completion, the loss on the
             completion (as east's step);
  east       `east bench engine --model GGUF --json` (its own prompt: the
             same ids are given to llama.cpp).

and then prints every figure's range over the rounds and east's ratio to its
peer, round by round (the ratios of one round share the machine's state),
as a table: which vector path each side ran (llama.cpp's build flags from
llama_print_system_info, east's decode kernels from its JSON), the decode
rates as a fraction of the sgemm rate east measured in the same round (2
FLOP a parameter a token: the roofline of a product-bound decode), and the
load average before and after the rounds.

With --shape qwen2.5-0.5b|llama3.2-1b (and --quantize q4_1|q8_0) the models
are random weights of that real model's shape instead, the same on both
sides in shape and storage: llama.cpp reads a GGUF written here with the
`gguf` package (every matrix, the tied embedding too, in the --quantize type,
as `east bench engine --shape --quantize` quantizes them; a placeholder
SentencePiece vocabulary of the model's size, since the ids are given), peft
trains transformers' randomly initialised model of that config, and east
runs `east bench engine --shape --quantize`. The prompt is 100 random ids.
"""
import argparse
import json
import os
import subprocess
import sys
import time

QUESTION = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
    "per fresh duck egg. How much in dollars does she make every day at the farmers' market? "
    "Think step by step and give the final answer after ####."
)  # east bench engine's benchQuestion (BenchCommand+Model.swift)


def prompt_ids(east, model):
    """The bench's chat prompt as east tokenizes it (the model's template and system message)."""
    out = subprocess.run([east, "model", "generate", "--model", model, "--chat", "--prompt", QUESTION,
                          "--max-tokens", "1", "--temperature", "0", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["prompt"]


# --- llama.cpp ---------------------------------------------------------------

def llama_decode(model, ids, n_seq, new_tokens, threads):
    """Prefill `ids` once on sequence 0, copy its cache to sequences 1..n_seq-1,
    then greedy steps of one token per sequence, all sequences in one batch."""
    import ctypes
    import numpy as np
    import llama_cpp as L

    L.llama_backend_init()
    mparams = L.llama_model_default_params()
    lmodel = L.llama_model_load_from_file(model.encode(), mparams)
    per_seq = len(ids) + new_tokens + 8
    cparams = L.llama_context_default_params()
    cparams.n_ctx = per_seq * n_seq
    cparams.n_batch = max(len(ids), n_seq)
    cparams.n_ubatch = max(len(ids), n_seq)
    cparams.n_seq_max = n_seq
    cparams.n_threads = threads
    cparams.n_threads_batch = threads
    if hasattr(cparams, "kv_unified"):
        cparams.kv_unified = False  # one cache stream per sequence: attention reads only its own
    ctx = L.llama_init_from_model(lmodel, cparams)
    vocab = L.llama_model_get_vocab(lmodel)
    n_vocab = L.llama_vocab_n_tokens(vocab)

    batch = L.llama_batch_init(max(len(ids), n_seq), 0, n_seq)

    def fill(tokens, positions, seqs, logits):
        batch.n_tokens = len(tokens)
        for i, (t, p, s, l) in enumerate(zip(tokens, positions, seqs, logits)):
            batch.token[i] = t
            batch.pos[i] = p
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = s
            batch.logits[i] = l

    def argmax(i):
        row = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(n_vocab,))
        return int(row.argmax())

    memory = L.llama_get_memory(ctx)

    def run():
        L.llama_memory_clear(memory, True)
        start = time.perf_counter()
        fill(ids, range(len(ids)), [0] * len(ids), [0] * (len(ids) - 1) + [1])
        if L.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed on the prompt")
        first = argmax(len(ids) - 1)
        for s in range(1, n_seq):
            L.llama_memory_seq_cp(memory, 0, s, -1, -1)  # the whole sequence: what split caches can copy
        prefilled = time.perf_counter()
        tokens = [first] * n_seq
        for step in range(new_tokens - 1):
            fill(tokens, [len(ids) + step] * n_seq, range(n_seq), [1] * n_seq)
            if L.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed at step %d" % step)
            tokens = [argmax(i) for i in range(n_seq)]
        return start, prefilled, time.perf_counter()

    run()  # warm-up: the first decode calls allocate and repack
    start, prefilled, done = run()
    info = L.llama_print_system_info().decode()
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(lmodel)
    produced = n_seq * new_tokens
    return {"prefill": len(ids) / (prefilled - start), "generation": produced / (done - start),
            "decode": n_seq * (new_tokens - 1) / (done - prefilled), "path": llama_path(info)}


def llama_path(info):
    """The widest vector extensions llama.cpp was built with, from its system info line."""
    flags = {part.split("=")[0].strip() for part in info.replace("|", "\n").splitlines()
             if part.strip().endswith("= 1") or part.strip().endswith("=1")}
    if "AVX512" in flags:
        return "AVX-512" + (" VNNI" if "AVX512_VNNI" in flags else "")
    if "AVX2" in flags:
        return "AVX2" + (" + AVX-VNNI" if "AVX_VNNI" in flags else "")
    return "no AVX2"


# --- random-weight models of the real shapes ---------------------------------

# east's ModelConfig.qwen25_05B and .llama32_1B (Sources/EASTEngine/Model/ModelConfig.swift)
SHAPES = {
    "qwen2.5-0.5b": dict(arch="qwen2", vocab=151936, dim=896, layers=24, heads=14, kv_heads=2, hidden=4864,
                         rope_theta=1e6, eps=1e-6, bias=True),
    "llama3.2-1b": dict(arch="llama", vocab=128256, dim=2048, layers=16, heads=32, kv_heads=8, hidden=8192,
                        rope_theta=5e5, eps=1e-5, bias=False),
}


def shape_gguf(shape, quantize, folder):
    """A GGUF of random weights (normal, std 0.02; norms 1) of `shape`, every
    matrix stored as `quantize`; written once into `folder`, then reused."""
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as Q

    path = os.path.join(folder, "%s-random-%s.gguf" % (shape, quantize))
    if os.path.exists(path):
        return path
    os.makedirs(folder, exist_ok=True)
    c = SHAPES[shape]
    qtype = {"q4_0": Q.Q4_0, "q4_1": Q.Q4_1, "q8_0": Q.Q8_0}[quantize]
    hd = c["dim"] // c["heads"]
    w = gguf.GGUFWriter(path + ".part", c["arch"])
    w.add_name("%s random %s" % (shape, quantize))
    w.add_context_length(4096)
    w.add_embedding_length(c["dim"])
    w.add_block_count(c["layers"])
    w.add_feed_forward_length(c["hidden"])
    w.add_head_count(c["heads"])
    w.add_head_count_kv(c["kv_heads"])
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(c["rope_theta"])
    w.add_layer_norm_rms_eps(c["eps"])
    w.add_vocab_size(c["vocab"])
    # placeholder SentencePiece vocabulary: llama.cpp needs one to load, the bench passes ids
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    tokens += ["t%d" % i for i in range(c["vocab"] - len(tokens))]
    types = [2, 3, 3] + [6] * 256 + [1] * (c["vocab"] - 259)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * c["vocab"])
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    rng = np.random.default_rng(1)

    def matrix(name, rows, cols):
        blocks = gguf.quants.quantize((rng.standard_normal((rows, cols), dtype=np.float32) * 0.02), qtype)
        w.add_tensor(name, blocks, raw_shape=blocks.shape, raw_dtype=qtype)

    def vector(name, n, value=None):
        v = np.ones(n, dtype=np.float32) if value is None else rng.standard_normal(n, dtype=np.float32) * value
        w.add_tensor(name, v)

    kv = c["kv_heads"] * hd
    matrix("token_embd.weight", c["vocab"], c["dim"])  # tied: also the output head
    for l in range(c["layers"]):
        b = "blk.%d." % l
        vector(b + "attn_norm.weight", c["dim"])
        matrix(b + "attn_q.weight", c["dim"], c["dim"])
        matrix(b + "attn_k.weight", kv, c["dim"])
        matrix(b + "attn_v.weight", kv, c["dim"])
        if c["bias"]:
            vector(b + "attn_q.bias", c["dim"], 0.02)
            vector(b + "attn_k.bias", kv, 0.02)
            vector(b + "attn_v.bias", kv, 0.02)
        matrix(b + "attn_output.weight", c["dim"], c["dim"])
        vector(b + "ffn_norm.weight", c["dim"])
        matrix(b + "ffn_gate.weight", c["hidden"], c["dim"])
        matrix(b + "ffn_up.weight", c["hidden"], c["dim"])
        matrix(b + "ffn_down.weight", c["dim"], c["hidden"])
    vector("output_norm.weight", c["dim"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.rename(path + ".part", path)
    return path


def shape_model(shape):
    """transformers' model of `shape`, randomly initialised, float32."""
    from transformers import AutoConfig, AutoModelForCausalLM
    c = SHAPES[shape]
    config = AutoConfig.for_model(
        c["arch"], vocab_size=c["vocab"], hidden_size=c["dim"], num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"], num_key_value_heads=c["kv_heads"], intermediate_size=c["hidden"],
        rope_theta=c["rope_theta"], rms_norm_eps=c["eps"], tie_word_embeddings=True, max_position_embeddings=4096)
    return AutoModelForCausalLM.from_config(config)


# --- peft --------------------------------------------------------------------

def peft_step(model, batch, seq_len, steps, threads, prompt, shape=None):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    if shape:
        base = shape_model(shape)
    else:
        folder, name = os.path.split(model)
        base = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    lora = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=targets))
    lora.train()
    optimizer = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=1e-4)
    # east's batch: the chat prompt, then a completion to fill seq_len, the
    # loss on the completion only (the prompt's labels are -100)
    generator = torch.Generator().manual_seed(1)
    completion = torch.randint(3, base.config.vocab_size, (batch, seq_len - len(prompt)), generator=generator)
    tokens = torch.cat([torch.tensor([prompt] * batch), completion], dim=1)
    labels = tokens.clone()
    labels[:, :len(prompt)] = -100

    def step():
        loss = lora(input_ids=tokens, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    return {"stepSeconds": seconds, "tokensPerSecond": batch * seq_len / seconds}


# --- the rounds --------------------------------------------------------------

def child(args, what):
    """Runs one measurement in a fresh Python process; returns its JSON."""
    out = subprocess.run([sys.executable, __file__, "--child", what] + sys.argv[1:],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--east", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--lora-steps", type=int, default=3)
    p.add_argument("--shape", choices=sorted(SHAPES))
    p.add_argument("--quantize", default="q4_1", choices=["q4_0", "q4_1", "q8_0"])
    p.add_argument("--shapes-dir", default=os.path.join(sys.prefix, "shapes"))
    p.add_argument("--child")
    p.add_argument("--ids")
    args = p.parse_args()

    if args.child:
        if args.child.startswith("llama"):
            ids = [int(t) for t in args.ids.split(",")]
            r = llama_decode(args.model, ids, int(args.child[5:]), args.new_tokens, args.threads)
        else:
            ids = [int(t) for t in args.ids.split(",")]
            r = peft_step(args.model, args.batch, args.seq_len, args.lora_steps, args.threads, ids, args.shape)
        print(json.dumps(r))
        return

    if args.shape:
        import random
        gguf_path = shape_gguf(args.shape, args.quantize, args.shapes_dir)
        sys.argv += ["--model", gguf_path]  # the children's llama.cpp reads it
        args.model = gguf_path
        ids = random.Random(5).sample(range(259, SHAPES[args.shape]["vocab"]), 100)
        east_model = ["--shape", args.shape, "--quantize", args.quantize]
        print("%s shape, random weights as %s" % (args.shape, args.quantize), flush=True)
    else:
        ids = prompt_ids(args.east, args.model)
        east_model = ["--model", args.model]
    training = args.lora_steps > 0
    sys.argv += ["--ids", ",".join(map(str, ids))]
    print("prompt: %d tokens; %d new tokens a sequence; %d threads; %s"
          % (len(ids), args.new_tokens, args.threads,
             "LoRA at %d x %d" % (args.batch, args.seq_len) if training else "no LoRA (--lora-steps 0)"), flush=True)
    rows, paths, roofline = [], set(), []
    load_before = os.getloadavg()
    for r in range(args.rounds):
        one, sixteen = child(args, "llama1"), child(args, "llama16")
        peft = child(args, "peft") if training else None
        east = json.loads(subprocess.run(
            [args.east, "bench", "engine"] + east_model + ["--threads", str(args.threads), "--json",
             "--new-tokens", str(args.new_tokens), "--batch", str(args.batch), "--seq-len", str(args.seq_len)]
            + (["--steps", str(args.lora_steps)] if training else ["--skip-training"]),
            check=True, capture_output=True, text=True).stdout)
        g = east["generation"]
        paths.add(("llama.cpp: " + one["path"], "east: " + east["setup"].get("decodeKernels", "?")))
        row = {
            "batch-1 generation (prefill included)": (one["generation"], g["n1"]),
            "batch-1 decode alone": (one["decode"], g["decodeN1"]),
            "16 sequences, generation": (sixteen["generation"], g["n16"]),
            "16 sequences, decode alone": (sixteen["decode"], g["decodeN16"]),
            "prefill": (one["prefill"], g["prefill"]),
        }
        if training:
            row["LoRA training (peft)"] = (peft["tokensPerSecond"], east["loraTraining"]["tokensPerSecond"])
        rows.append(row)
        # 2 FLOP a parameter a token, against the sgemm rate of this round
        gflop = 2 * east["setup"]["parameters"] / 1e9
        peak = east["sgemmPeakGFLOPs"]
        roofline.append({k: (row[k][0] * gflop / peak, row[k][1] * gflop / peak)
                         for k in ("batch-1 decode alone", "16 sequences, decode alone")})
        print("round %d (load %.2f): " % (r + 1, os.getloadavg()[0])
              + "; ".join("%s %.1f vs east %.1f" % (k, a, b) for k, (a, b) in row.items())
              + "; sgemm %.1f GFLOP/s" % peak, flush=True)
    load_after = os.getloadavg()

    def span(values, fmt="%.1f"):
        return (fmt + "-" + fmt) % (min(values), max(values))

    print("\nsummary: %d rounds, %d threads, %s; load average %.2f before, %.2f after"
          % (len(rows), args.threads, os.environ.get("LLAMA_BUILD", "?") + " llama.cpp build",
             load_before[0], load_after[0]))
    for llama, ours in sorted(paths):
        print("paths: %s; %s" % (llama, ours))
    # best / best: each side's least disturbed round, the steadier figure on a busy machine
    print("\n| tokens/s | llama.cpp / peft | east | east / peer | best / best |\n| --- | --- | --- | --- | --- |")
    for k in rows[0]:
        ratio = [b / a for a, b in (row[k] for row in rows)]
        peer, ours = [row[k][0] for row in rows], [row[k][1] for row in rows]
        print("| %s | %s | %s | %s | %.2fx |" % (k, span(peer), span(ours), span(ratio, "%.2f") + "x", max(ours) / max(peer)))
    print("\n| fraction of the sgemm rate (2 FLOP a parameter a token) | llama.cpp | east |\n| --- | --- | --- |")
    for k in roofline[0]:
        print("| %s | %s | %s |" % (k, span([100 * r[k][0] for r in roofline], "%.0f") + "%",
                                    span([100 * r[k][1] for r in roofline], "%.0f") + "%"))


if __name__ == "__main__":
    main()
