# Regenerates this fixture (needs torch and transformers):
#   python make_fixture.py
# A tiny Llama with GQA, untied head, non-default rope_theta and large random
# weights, saved by transformers, plus its log-softmax at every prompt position.
import json, os, torch
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(1)
cfg = LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, rope_theta=300.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                  max_position_embeddings=64, initializer_range=0.3, bos_token_id=1, eos_token_id=2, pad_token_id=0)
model = LlamaForCausalLM(cfg).float().eval()
with torch.no_grad():
    for n, p in model.named_parameters():
        if "norm" in n: p.uniform_(0.5, 1.5)
d = os.path.dirname(os.path.abspath(__file__))
model.save_pretrained(d, safe_serialization=True)
if os.path.exists(d + "/generation_config.json"):
    os.remove(d + "/generation_config.json")
prompt = [1, 5, 9, 20, 33, 7, 7, 31, 3, 3, 12]
with torch.no_grad():
    lp = torch.log_softmax(model(torch.tensor([prompt])).logits[0], -1)
# Gradients of loss = -sum over positions t >= 3 of log p(prompt[t+1]) (prompt [0..<4], completion the rest).
logp = torch.log_softmax(model(torch.tensor([prompt[:-1]])).logits[0], -1)
loss = -sum(logp[t, prompt[t + 1]] for t in range(3, len(prompt) - 1))
loss.backward()
names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
         "model.layers.1.self_attn.v_proj.weight", "model.layers.0.mlp.down_proj.weight", "model.layers.1.input_layernorm.weight",
         "model.norm.weight", "lm_head.weight"]
params = dict(model.named_parameters())
json.dump({"prompt": prompt, "logProbs": [[round(x, 6) for x in row] for row in lp.tolist()],
           "loss": loss.item(),
           "gradients": {n: [float("%.6g" % x) for x in params[n].grad.flatten().tolist()] for n in names},
           "note": "log-softmax at every position and gradients of the masked loss, from transformers LlamaForCausalLM (float32), written by make_fixture.py"},
          open(d + "/expected.json", "w"))
