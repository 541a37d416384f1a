#!/usr/bin/env python3
"""Reference figures for SmolLM2-135M-Instruct (Q4_1 GGUF) from Hugging Face
transformers, written to Tests/EASTEngineTests/.fixtures/smollm2_parity.json.
The Swift tests (SmolLM2ParityTests) compare our engine against this file
without Python, as llm.c checks itself against PyTorch.

Not a project dependency. To regenerate:
    scripts/fetch-smollm2.sh
    python3 -m venv /tmp/parityvenv
    /tmp/parityvenv/bin/pip install transformers torch gguf tokenizers numpy
    /tmp/parityvenv/bin/python scripts/parity/smollm2_reference.py

Both sides dequantize the same Q4_1/Q8_0 blocks to float32 and run in float32.

Token ids: transformers 5.x builds the tokenizer from the GGUF but does not know
the "smollm" pre-tokenizer (tokenizer.ggml.pre) and falls back to plain GPT-2
splitting, which differs when two or more whitespace characters stand before a
digit ("a  1"). SmolLM2's own tokenizer.json pre-tokenizes with
Sequence[Digits(individual_digits=True), ByteLevel(use_regex=True)], which is
also what llama.cpp's "smollm" split does (\\p{N} first, then the GPT-2 regex).
So ALL token ids in the fixture come from the `tokenizers` library: the
vocabulary and merges transformers read from the GGUF, with that pre-tokenizer
put in place. The script also records, for each string, whether transformers'
own fallback agreed ("transformers_agrees").
"""
import json
import os
import sys

import torch
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL_DIR = os.path.join(ROOT, "models", "smollm2")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "Tests", "EASTEngineTests", ".fixtures", "smollm2_parity.json")

HARD_STRINGS = [
    "Hello world",
    "  leading spaces and trailing  ",
    "a  1",
    "x\n\n2",
    "12345 + 678 = 13023",
    "3.14159, 1e-5 and 1,000,000",
    "tabs\tand\r\nnewlines\n\n\n",
    "Café naïve façade — Zürich, São Paulo, Ελληνικά, русский",
    "emoji 🙂👍🏽 and 🇫🇷 flags",
    "$\\frac{a}{b} + \\sqrt{x^2}$ and \\(e^{i\\pi}=-1\\)",
    "don't I'll we've they're it's SHE'S",
    "<|im_start|>user\nhi<|im_end|>",
    "日本語のテキスト",
    "    def f(x):\n        return x  # 2 spaces",
]

SYSTEM = None  # the model's default system message
QUESTIONS = ["What is 2+2?", "Name a color."]
GREEDY_QUESTION = "Tell me a fun fact about cats."
COMPLETION_QUESTION = "What is the capital of France?"
COMPLETION = "The capital of France is Paris."
GREEDY_TOKENS = 48


def main():
    if not os.path.exists(os.path.join(MODEL_DIR, GGUF)):
        sys.exit("run scripts/fetch-smollm2.sh first")
    torch.manual_seed(0)
    hf_tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, dtype=torch.float32)
    model.eval()

    # The tokenizer with SmolLM2's real pre-tokenizer (see the module doc).
    backend = hf_tok.backend_tokenizer
    import copy
    tok = copy.deepcopy(backend)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])

    def ids(text):
        return tok.encode(text, add_special_tokens=False).ids

    tokenization = []
    for s in HARD_STRINGS:
        ours = ids(s)
        theirs = hf_tok.encode(s, add_special_tokens=False)
        assert tok.decode(ours, skip_special_tokens=False) == s, s
        tokenization.append({"text": s, "ids": ours, "transformers_agrees": ours == theirs})

    def chat(question):
        messages = [{"role": "user", "content": question}]
        return hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    @torch.no_grad()
    def log_probs(prompt_ids):
        logits = model(torch.tensor([prompt_ids])).logits[0].float()
        return torch.log_softmax(logits, dim=-1)

    prompts = []
    for q in QUESTIONS:
        text = chat(q)
        p = ids(text)
        lp = log_probs(p)[-1]
        top = torch.topk(lp, 10)
        prompts.append({"question": q, "text": text, "ids": p,
                        "top10_ids": top.indices.tolist(),
                        "top10_logprobs": [float(x) for x in top.values]})

    # Greedy continuation of a chat prompt, by hand (argmax, no cache tricks),
    # until <|im_end|> or GREEDY_TOKENS tokens.
    greedy_prompt = ids(chat(GREEDY_QUESTION))
    seq = list(greedy_prompt)
    greedy = []
    with torch.no_grad():
        for _ in range(GREEDY_TOKENS):
            nxt = int(torch.argmax(log_probs(seq)[-1]))
            greedy.append(nxt)
            seq.append(nxt)
            if nxt == 2:  # <|im_end|>
                break

    # Summed log-prob of a fixed completion (then <|im_end|>) after a chat prompt.
    ctext = chat(COMPLETION_QUESTION)
    cprompt = ids(ctext)
    ccompletion = ids(COMPLETION) + [2]
    lp = log_probs(cprompt + ccompletion)
    total = 0.0
    for i, t in enumerate(ccompletion):
        total += float(lp[len(cprompt) - 1 + i, t])

    fixture = {
        "gguf": GGUF,
        "tokenizer_source": "tokenizers: GGUF vocab/merges with Sequence[Digits(individual_digits=True), ByteLevel] "
                            "(SmolLM2's tokenizer.json pre-tokenizer = llama.cpp 'smollm'); transformers 5.x alone "
                            "falls back to GPT-2 splitting",
        "transformers_version": __import__("transformers").__version__,
        "torch_version": torch.__version__,
        "tokenization": tokenization,
        "prompts": prompts,
        "greedy": {"question": GREEDY_QUESTION, "prompt_ids": greedy_prompt, "ids": greedy, "text": tok.decode(greedy)},
        "completion": {"question": COMPLETION_QUESTION, "prompt_ids": cprompt, "completion_ids": ccompletion,
                       "text": COMPLETION, "sum_logprob": total},
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", OUT)
    for t in tokenization:
        if not t["transformers_agrees"]:
            print("transformers' GPT-2 fallback differs on", repr(t["text"]))
    print("greedy:", repr(fixture["greedy"]["text"]))
    print("completion sum logprob:", total)


if __name__ == "__main__":
    main()
