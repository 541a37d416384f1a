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
json.dump({"prompt": prompt, "logProbs": [[round(x, 6) for x in row] for row in lp.tolist()],
           "note": "log-softmax at every position from transformers LlamaForCausalLM (float32), written by make_fixture.py"},
          open(d + "/expected.json", "w"))
