#!/usr/bin/env bash
# Bad inputs and impossible options are one-line errors with the right exit
# status (1 bad input, 2 bad usage), and leave no run behind.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
synthetic_features feat 30 3
tiny_config "$T/cfg.json"
FIX=$SQ_ROOT/tests/train/fixtures
tr=("$SQ_BIN/sq-train")
ok=(--data "$T/feat" --config "$T/cfg.json" --max-steps 1 --batch-size 4 -q)

# usage
expect_fail 2 'data FEATDIR is required' "${tr[@]}" --config "$T/cfg.json" -o "$T/r"
expect_fail 2 'init MODEL or --config' "${tr[@]}" --data "$T/feat" -o "$T/r"
expect_fail 2 '\-\-lr' "${tr[@]}" "${ok[@]}" --lr -1 -o "$T/r"
expect_fail 2 '\-\-warmup' "${tr[@]}" "${ok[@]}" --warmup 2 -o "$T/r"
expect_fail 2 'not a multiple of --grad-accum 3' "${tr[@]}" "${ok[@]}" --batch-size 10 --grad-accum 3 -o "$T/r"
expect_fail 2 'device' "${tr[@]}" "${ok[@]}" --device tpu -o "$T/r"
expect_fail 2 'unknown option|unrecognized' "${tr[@]}" "${ok[@]}" --frobnicate -o "$T/r"
expect_fail 2 'replay needs' "${tr[@]}" replay --init "$FIX/micro/model.safetensors" -o "$T/r"
expect_fail 2 'predict needs' "${tr[@]}" predict --data "$T/feat" -o "$T/r"
"${tr[@]}" --help | grep -q '^usage: sq-train' || fail "--help"
"${tr[@]}" replay --help | grep -q 'usage: sq-train replay' || fail "replay --help"
"${tr[@]}" predict --help | grep -q 'usage: sq-train predict' || fail "predict --help"

# data
expect_fail 1 'nowhere' "${tr[@]}" "${ok[@]/$T\/feat/$T/nowhere}" -o "$T/r"
cp -r "$T/feat" "$T/damaged"
shard=$(ls "$T/damaged"/shard-*.sqf | head -n1)
printf '\x55' | dd of="$shard" bs=1 seek=$(( $(stat -c %s "$shard") - 9 )) conv=notrunc status=none
expect_fail 1 'shard' "${tr[@]}" --data "$T/damaged" --config "$T/cfg.json" --max-steps 1 --batch-size 4 -q -o "$T/r"
cp -r "$T/feat" "$T/truncated"
shard=$(ls "$T/truncated"/shard-*.sqf | head -n1)
truncate -s 100 "$shard"
expect_fail 1 'shard' "${tr[@]}" --data "$T/truncated" --config "$T/cfg.json" --max-steps 1 --batch-size 4 -q -o "$T/r"

# config and weights
printf '{"hidden_size": 30, "num_attention_heads": 4}' >"$T/bad1.json"
expect_fail 1 'not a multiple of num_attention_heads' "${tr[@]}" --data "$T/feat" --config "$T/bad1.json" -o "$T/r"
printf '{"hidden_act": "relu"}' >"$T/bad2.json"
expect_fail 1 'hidden_act' "${tr[@]}" --data "$T/feat" --config "$T/bad2.json" -o "$T/r"
printf '{"hidden_size": ' >"$T/bad3.json"
expect_fail 1 'bad3.json:1:' "${tr[@]}" --data "$T/feat" --config "$T/bad3.json" -o "$T/r"
printf '{"vocab_size": 1000, "max_position_embeddings": 64}' >"$T/bad4.json"
expect_fail 1 'vocabulary' "${tr[@]}" --data "$T/feat" --config "$T/bad4.json" -o "$T/r"
printf '{"max_position_embeddings": 16}' >"$T/bad5.json"
expect_fail 1 'max_position_embeddings 16' "${tr[@]}" --data "$T/feat" --config "$T/bad5.json" -o "$T/r"
expect_fail 1 'bert.embeddings.word_embeddings.weight: shape \[1200, 32\]' \
    "${tr[@]}" --data "$T/feat" --init "$FIX/micro/model.safetensors" --config "$T/cfg.json" -o "$T/r"
expect_fail 1 'no config' "${tr[@]}" predict --init "$FIX/micro/grads.safetensors" --data "$T/feat" -o "$T/x"
head -c 1000 "$FIX/micro/model.safetensors" >"$T/cut.safetensors"
expect_fail 1 'cut.safetensors' "${tr[@]}" --data "$T/feat" --init "$T/cut.safetensors" --config "$T/cfg.json" -o "$T/r"
# --init folders: without weights, with a PyTorch pickle only, with a shard index
# naming a missing shard (one line, saying what to do)
mkdir -p "$T/nomodel"
cp "$T/cfg.json" "$T/nomodel/config.json"
expect_fail 1 'nomodel: no model.safetensors or model.safetensors.index.json in this folder .*get-model.sh' \
    "${tr[@]}" --data "$T/feat" --init "$T/nomodel" -o "$T/r"
expect_fail 1 'nomodel: no model.safetensors' "${tr[@]}" predict --init "$T/nomodel" --data "$T/feat" -o "$T/x"
touch "$T/nomodel/pytorch_model.bin"
expect_fail 1 'pytorch_model.bin, a PyTorch pickle .*safe_serialization=True' \
    "${tr[@]}" --data "$T/feat" --init "$T/nomodel" -o "$T/r"
printf '{"weight_map": {"bert.embeddings.word_embeddings.weight": "model-00001-of-00002.safetensors"}}' \
    >"$T/nomodel/model.safetensors.index.json"
expect_fail 1 'index.json: shard model-00001-of-00002.safetensors: .*No such file' \
    "${tr[@]}" --data "$T/feat" --init "$T/nomodel" -o "$T/r"
[ ! -e "$T/r/run.json" ] || fail "a refused run left run.json"
[ ! -e "$T/x" ] || fail "a refused predict left its output"

# replay on batches that are not there
expect_fail 1 'input_ids_3' "${tr[@]}" replay --init "$FIX/micro/model.safetensors" \
    --batches "$FIX/micro/batches.safetensors" --steps 4 --lr 1e-3 --warmup-steps 0 --weight-decay 0 \
    --max-grad-norm 1 -o "$T/rep"
[ ! -e "$T/rep" ] || fail "a failed replay left its output"
echo ok
