#!/usr/bin/env python3
"""The reference of tests/train/test_minilm.sh: the logits HuggingFace transformers'
BertForQuestionAnswering computes, in float64, for all-MiniLM-L6-v2 with a fixed QA head on the
first real SQuAD v1.1 dev features of the bundled sample.

  make_minilm_ref.py MODELDIR OUT.safetensors      (SQ_BIN: the sq tools, default bin/)

MODELDIR is what `scripts/get-model.sh minilm` writes (BertModel names, no QA head).  The
features are those test_minilm.sh makes: data/sample/xquad-dev.json (XQuAD English: SQuAD v1.1
dev questions and contexts, verbatim) tokenized with sq-tokenize, packed by sq-pack with
--shard-size N_FEATURES, shard 0, read back with sq-inspect (hf_finetune.py reads features the
same way).  The head is drawn here, N(0, 0.02) as HF initialises it, from a fixed seed.

OUT holds qa_outputs.weight and .bias (F32, the head), input_ids and token_type_ids (I32
[features, 384], zero past each length; the test checks sq's features are these), and
start_logits and end_logits (F32 [features, 384], -inf past each length, as sq-train predict
writes them).  Metadata: the model file's sha256 and the library versions.
"""
import hashlib, json, os, subprocess, sys, tempfile

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file
from transformers import BertForQuestionAnswering

N_FEATURES, MAX_SEQ, SEED = 6, 384, 20261205

model_dir, out = sys.argv[1], sys.argv[2]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
bin_dir = os.environ.get("SQ_BIN", os.path.join(root, "bin"))
with tempfile.TemporaryDirectory() as tmp:
    run = lambda *a: subprocess.run([os.path.join(bin_dir, a[0]), *a[1:]], check=True, capture_output=True)
    run("sq-tokenize", "-q", "--vocab", model_dir, "-o", f"{tmp}/dev.sqt", f"{root}/data/sample/xquad-dev.json")
    run("sq-pack", "-q", "--shard-size", str(N_FEATURES), "-o", f"{tmp}/dev", f"{tmp}/dev.sqt")
    lines = run("sq-inspect", "-v", f"{tmp}/dev/shard-00000.sqf").stdout.decode().splitlines()
feats = [json.loads(l) for l in lines if json.loads(l).get("type") == "feature"]
assert len(feats) == N_FEATURES, len(feats)

torch.manual_seed(SEED)
model = BertForQuestionAnswering.from_pretrained(model_dir, attn_implementation="eager").double().eval()
with torch.no_grad():
    g = torch.Generator().manual_seed(SEED)
    # float32 values (what the fixture stores and sq reads), computed with in float64
    model.qa_outputs.weight.copy_((torch.randn(model.qa_outputs.weight.shape, generator=g) * 0.02).double())
    model.qa_outputs.bias.copy_((torch.randn(2, generator=g) * 0.02).double())

ids = np.zeros((N_FEATURES, MAX_SEQ), np.int32)
types = np.zeros((N_FEATURES, MAX_SEQ), np.int32)
start = np.full((N_FEATURES, MAX_SEQ), -np.inf, np.float32)
end = np.full((N_FEATURES, MAX_SEQ), -np.inf, np.float32)
for i, f in enumerate(feats):
    n = len(f["input_ids"])
    ids[i, :n], types[i, :n] = f["input_ids"], f["token_type_ids"]
    with torch.no_grad():
        o = model(input_ids=torch.tensor([f["input_ids"]]), token_type_ids=torch.tensor([f["token_type_ids"]]),
                  attention_mask=torch.ones(1, n, dtype=torch.long))
    start[i, :n], end[i, :n] = o.start_logits[0].numpy(), o.end_logits[0].numpy()

sha = hashlib.sha256(open(os.path.join(model_dir, "model.safetensors"), "rb").read()).hexdigest()
save_file({"qa_outputs.weight": model.qa_outputs.weight.detach().float().numpy(),
           "qa_outputs.bias": model.qa_outputs.bias.detach().float().numpy(),
           "input_ids": ids, "token_type_ids": types, "start_logits": start, "end_logits": end}, out,
          metadata={"format": "pt", "model_sha256": sha, "features": "data/sample/xquad-dev.json, shard 0 of "
                    f"--shard-size {N_FEATURES}", "torch": torch.__version__, "transformers": transformers.__version__})
print("wrote", out, "features", [len(f["input_ids"]) for f in feats])
