#!/usr/bin/env bash
# The trained model is HuggingFace's: BertForQuestionAnswering.from_pretrained
# (RUNDIR) loads model.safetensors + config.json and gives the logits that
# sq-train predict gives.  Also: a BertModel checkpoint (no "bert." prefix, no
# QA head) is accepted by --init with the head initialised, refused by
# predict; an F16 copy of the weights predicts within fp16 rounding.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
need_python transformers
need_python torch
source "$SQ_ROOT/tests/train/synthetic.sh"
synthetic_features feat 40 9
tiny_config "$T/cfg.json" 32 2 2 0.1
"$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" --max-steps 3 --batch-size 8 --lr 1e-3 -q -o "$T/run"
"$SQ_BIN/sq-train" predict --init "$T/run/model.safetensors" --data "$T/feat" -o "$T/logits.safetensors"
"$SQ_BIN/sq-inspect" -v "$T/feat" >"$T/feat.jsonl"

python3 - "$T" <<'PY'
import json, sys, numpy as np, torch
from safetensors.numpy import load_file, save_file
from transformers import BertForQuestionAnswering, BertConfig, BertModel
T = sys.argv[1]
m = BertForQuestionAnswering.from_pretrained(f"{T}/run").eval()
got = load_file(f"{T}/logits.safetensors")
worst = 0.0
for n, line in enumerate(open(f"{T}/feat.jsonl")):
    f = json.loads(line)
    if f.get("type") != "feature": continue
    ids = torch.tensor([f["input_ids"]]); tt = torch.tensor([f["token_type_ids"]])
    with torch.no_grad():
        o = m(input_ids=ids, token_type_ids=tt, attention_mask=torch.ones_like(ids))
    L = ids.shape[1]
    i = f["index"]
    for want, key in ((o.start_logits[0].numpy(), "start_logits"), (o.end_logits[0].numpy(), "end_logits")):
        have = got[key][i]
        assert np.all(np.isneginf(have[L:])), f"feature {i}: {key} past the length is not -inf"
        worst = max(worst, float(np.linalg.norm(have[:L] - want) / np.linalg.norm(want)))
print("worst relative logits error vs transformers:", worst)
assert worst < 1e-4, worst
# A BertModel checkpoint: names without "bert.", no qa_outputs.
cfg = BertConfig.from_pretrained(f"{T}/run")
bm = BertModel(cfg, add_pooling_layer=True)
bm.load_state_dict({k[5:]: v for k, v in m.state_dict().items() if k.startswith("bert.")}, strict=False)
bm.save_pretrained(f"{T}/backbone")
# F16 weights of the trained model.
w = load_file(f"{T}/run/model.safetensors")
save_file({k: v.astype(np.float16) for k, v in w.items()}, f"{T}/f16.safetensors", metadata={"format": "pt"})
PY

"$SQ_BIN/sq-train" predict --init "$T/f16.safetensors" --config "$T/run/config.json" --data "$T/feat" -o "$T/f16-logits.safetensors"
expect_fail 1 'no qa_outputs' "$SQ_BIN/sq-train" predict --init "$T/backbone/model.safetensors" --data "$T/feat" -o "$T/x.safetensors"
"$SQ_BIN/sq-train" --data "$T/feat" --init "$T/backbone/model.safetensors" --max-steps 1 --batch-size 8 -o "$T/run2" 2>"$T/err"
grep -q 'no qa_outputs; initialised as HF does' "$T/err" || fail "backbone --init: $(cat "$T/err")"
python3 - "$T" <<'PY'
import sys, numpy as np
from safetensors.numpy import load_file
T = sys.argv[1]
a, b = load_file(f"{T}/logits.safetensors"), load_file(f"{T}/f16-logits.safetensors")
for k in a:
    fin = np.isfinite(a[k])
    assert np.array_equal(fin, np.isfinite(b[k]))
    r = np.linalg.norm(a[k][fin] - b[k][fin]) / np.linalg.norm(a[k][fin])
    print(k, "F16 weights: relative error", r)
    assert r < 2e-2, r
PY
echo ok
