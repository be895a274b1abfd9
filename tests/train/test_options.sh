#!/usr/bin/env bash
# sq-train's options: the help in the tools' common style (Usage:, -V and
# --version, an "Exit status" section); HF Trainer / run_qa names accepted
# where sq's option means the same (run.json records sq's values) and refused
# naming sq's option where the meaning differs, leaving nothing under -o.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
synthetic_features feat 30 3
tiny_config "$T/cfg.json"
tr=("$SQ_BIN/sq-train")

"${tr[@]}" --help >"$T/help" || fail "--help exited $?"
head -n1 "$T/help" | grep -q '^Usage: sq-train --data' || fail "--help: $(head -n1 "$T/help")"
grep -Eq '^  -V, --version' "$T/help" || fail "--help lists no -V, --version"
grep -q '^Exit status:' "$T/help" || fail "--help has no Exit status section"
for code in 0 1 2 75 130; do grep -Eq "^  $code +[a-zA-Z]" "$T/help" || fail "--help: exit status $code not described"; done
for sub in predict replay bench; do
    "${tr[@]}" "$sub" --help >"$T/help-$sub" || fail "$sub --help exited $?"
    head -n1 "$T/help-$sub" | grep -q "^Usage: sq-train $sub" || fail "$sub --help: $(head -n1 "$T/help-$sub")"
done
for v in -V --version; do
    "${tr[@]}" "$v" | grep -Eq '^sq-train [0-9]' || fail "$v: $("${tr[@]}" "$v")"
done

# Same meaning: HF's names give what sq's would (both spellings of a value).
"${tr[@]}" --data "$T/feat" --config "$T/cfg.json" --batch-size 4 -q --learning_rate 0.002 --num_train_epochs 1.0 \
    --max_steps=3 --gradient_accumulation_steps 2 --warmup_ratio 0.2 --weight_decay=0.05 --max_grad_norm 0.5 \
    --logging_steps 1 --save_steps 2 --output_dir "$T/hf"
python3 - "$T/hf/run.json" <<'PY' || fail "run.json does not hold the HF options' values"
import json, sys
o = json.load(open(sys.argv[1]))["options"]
want = {"lr": 0.002, "epochs": 1, "max_steps": 3, "grad_accum": 2, "warmup": 0.2, "weight_decay": 0.05,
        "max_grad_norm": 0.5, "log_every": 1, "checkpoint_every": 2}
bad = {k: (o[k], v) for k, v in want.items() if o[k] != v}
assert not bad, bad
assert o["output"].endswith("/hf"), o["output"]
PY
[ "$(grep -c '"step"' "$T/hf/metrics.jsonl")" = 3 ] || fail "--logging_steps 1: $(cat "$T/hf/metrics.jsonl")"

# Different meaning (or not sq-train's): refused, naming what to give instead.
refused() {
    local pat=$1; shift
    expect_fail 2 "$pat" "${tr[@]}" --data "$T/feat" --config "$T/cfg.json" "$@" -o "$T/r"
    [ ! -e "$T/r" ] || fail "sq-train $* (refused) left $T/r"
}
refused "per_device_train_batch_size is HF's; sq-train's --batch-size is the global batch" --per_device_train_batch_size 8
refused "max_seq_length is HF's; .*sq-pack --max-seq" --max_seq_length 384
refused "doc_stride is HF's; .*sq-pack --doc-stride" --doc_stride=128
refused "fp16 is HF's; .*--precision bf16" --fp16
refused "num_train_epochs 1.5: sq-train's --epochs counts whole epochs; for part of one give --max-steps" \
    --num_train_epochs 1.5
refused "resume_from_checkpoint is HF's; --resume continues" --resume_from_checkpoint "$T/hf"
# --bf16 is --precision bf16, which the CPU does not compute.
refused "precision bf16 needs --device cuda" --device cpu --bf16
# Every subcommand: -V, and a help with Usage: and an exit status section.
for sub in predict replay bench; do
    "${tr[@]}" "$sub" -V | grep -q '^sq-train [0-9]' || fail "sq-train $sub -V prints no version"
    help=$("${tr[@]}" "$sub" --help) || fail "sq-train $sub --help failed"
    grep -q '^Usage: sq-train '"$sub" <<<"$help" || fail "sq-train $sub --help has no Usage: line"
    grep -q '^Exit status' <<<"$help" || fail "sq-train $sub --help has no exit status section"
done
echo ok
