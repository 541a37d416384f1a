#!/usr/bin/env python3
"""Tokenizer parity fixtures for Llama 3's "llama-bpe" and Qwen2's "qwen2"
pre-tokenizers (ByteLevelBPETokenizerTests' Llama3Qwen2 tests).

For each, a small byte-level BPE vocabulary is trained with the `tokenizers`
package under that model's own settings (Llama 3: Split with its regex, ByteLevel
without regex, ignore_merges; Qwen2: NFC, Split with its single-digit regex,
ByteLevel without regex), with the model's special tokens added. Written under
Tests/EASTEngineTests/.fixtures/:
    llama3-tokenizer.json qwen2-tokenizer.json   the tokenizer.json files
    llama3-tokenizer.gguf qwen2-tokenizer.gguf   the same as GGUF tokenizer.ggml.* metadata
                                                 (pre "llama-bpe" / "qwen2"), no tensors
    bpe_tokenizer_parity.json                    hard strings and their ids from `tokenizers`

Not a project dependency. To regenerate (venv as in llama3_qwen2_reference.py):
    /tmp/parityvenv/bin/python scripts/parity/bpe_tokenizer_reference.py
"""
import json
import os

import gguf
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "EASTEngineTests", ".fixtures")

LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

SPECIALS = {
    "llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
}

CORPUS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "How many clips did Natalia sell altogether in April and May? The answer is 72.",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting.",
    "Let's think step by step. 12 / 60 = 0.2 per minute, so 0.2 * 50 = 10. #### 10",
    "She's sure they'll come; we've said it's fine, I'm glad you'd ask. THEY'RE HERE, DON'T GO.",
    "The café's crème brûlée costs 5,000 yen — naïve façade, São Paulo, Zürich, Ελληνικά, русский, 日本語.",
    "Compute $\\frac{1}{2} + \\sqrt{16} = 4.5$ and \\begin{align} x^2 + y^2 &= 1 \\end{align}.",
    "Emoji 🙂🚀 and 👍🏽 appear; tabs\tand  double  spaces,\n\nnew lines\r\n and 2024-12-02 12:30:45.",
    "In 1999 there were 123456789 people; 3.14159 is pi; 1,234,567.89 dollars; 007 agents.",
    "def f(x):\n    return x ** 2  # square\n\nprint(f(12345))",
] * 20

HARD_STRINGS = [
    "Hello world",
    "1234567",
    "a 1 22 333 4444 55555",
    "  12 apples",
    "x  1",
    "Total: $1,234.56",
    "3.14159",
    "line one\nline two\n\n\nline three",
    "trailing spaces   ",
    "\r\n mixed \r\nendings\n",
    "tabs\tand\t\tmore",
    "café naïve São Zürich crème brûlée",
    "cafe\u0301 (decomposed e + U+0301)",
    "Ελληνικά русский 日本語",
    "emoji 🙂🚀👍🏽 together",
    "$\\frac{a}{b} + \\sqrt{x^2}$",
    "\\begin{align} x &= 2 \\\\ y &= 3 \\end{align}",
    "don't I'm we've they'll she'd it's you're",
    "DON'T I'M WE'VE THEY'LL SHE'D",
    "'quoted' and \"double\"",
    "#### 42",
    "    indented code(x) ** 2",
    "12:30:45 on 2024-12-02",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n7*8=?<|eot_id|>",
    "!!!...???",
    "",
]


def build(kind):
    tok = Tokenizer(models.BPE(ignore_merges=(kind == "llama3")))
    pattern = LLAMA3_PATTERN if kind == "llama3" else QWEN2_PATTERN
    if kind == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(CORPUS, trainer=trainer)
    tok.add_special_tokens(SPECIALS[kind])
    return tok


def write_gguf(tok, kind, path):
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    added = {t["id"]: t for t in data["added_tokens"]}
    n = max(list(vocab.values()) + list(added.keys())) + 1
    tokens, types = [""] * n, [1] * n
    for t, i in vocab.items():
        tokens[i] = t
    for i, t in added.items():
        tokens[i], types[i] = t["content"], 3 if t["special"] else 4
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    w = gguf.GGUFWriter(path, "llama" if kind == "llama3" else "qwen2")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe" if kind == "llama3" else "qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    eos = SPECIALS[kind][-1] if kind == "llama3" else "<|im_end|>"
    w.add_bos_token_id(tok.token_to_id(SPECIALS[kind][0]))
    w.add_eos_token_id(tok.token_to_id(eos))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    result = {}
    for kind in ["llama3", "qwen2"]:
        tok = build(kind)
        tok.save(os.path.join(OUT, f"{kind}-tokenizer.json"))
        write_gguf(tok, kind, os.path.join(OUT, f"{kind}-tokenizer.gguf"))
        cases = []
        for s in HARD_STRINGS:
            enc = tok.encode(s, add_special_tokens=False)
            cases.append({"text": s, "ids": enc.ids, "pieces": [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(
                tok.normalizer.normalize_str(s) if tok.normalizer else s)]})
        result[kind] = {"vocab_size": tok.get_vocab_size(), "specials": {t: tok.token_to_id(t) for t in SPECIALS[kind]},
                        "cases": cases}
        print(kind, tok.get_vocab_size(), "tokens;", cases[2]["pieces"])
    with open(os.path.join(OUT, "bpe_tokenizer_parity.json"), "w") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
