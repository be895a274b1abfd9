#!/usr/bin/env bash
# Bad inputs and impossible options are one-line errors with the right exit
# status (1 bad input, 2 bad usage), and a refused start leaves nothing under
# -o (not even an empty folder).  A file given to the wrong option is named
# with what it is and the tool that makes it.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
synthetic_features feat 30 3
tiny_config "$T/cfg.json"
FIX=$SQ_ROOT/tests/train/fixtures
tr=("$SQ_BIN/sq-train")
ok=(--data "$T/feat" --config "$T/cfg.json" --max-steps 1 --batch-size 4 -q)

# refused CODE PATTERN sq-train-arguments...: expect_fail, and -o $T/r not created.
refused() {
    local code=$1 pat=$2; shift 2
    expect_fail "$code" "$pat" "${tr[@]}" "$@" -o "$T/r"
    [ ! -e "$T/r" ] || fail "sq-train $* (refused) left $T/r behind: $(ls -A "$T/r")"
}

# usage
expect_fail 2 'data FEATDIR is required' "${tr[@]}" --config "$T/cfg.json" -o "$T/r"
refused 2 'init MODEL or --config' --data "$T/feat"
refused 2 '\-\-lr' "${ok[@]}" --lr -1
refused 2 '\-\-warmup' "${ok[@]}" --warmup 2
refused 2 'not a multiple of --grad-accum 3' "${ok[@]}" --batch-size 10 --grad-accum 3
refused 2 'device' "${ok[@]}" --device tpu
refused 2 'unknown option|unrecognized' "${ok[@]}" --frobnicate
refused 2 'need --eval-data' "${ok[@]}" --save-best
expect_fail 2 'replay needs' "${tr[@]}" replay --init "$FIX/micro/model.safetensors" -o "$T/r"
expect_fail 2 'predict needs' "${tr[@]}" predict --data "$T/feat" -o "$T/r"

# data
refused 1 'nowhere' "${ok[@]/$T\/feat/$T/nowhere}"
cp -r "$T/feat" "$T/damaged"
shard=$(ls "$T/damaged"/shard-*.sqf | head -n1)
printf '\x55' | dd of="$shard" bs=1 seek=$(( $(stat -c %s "$shard") - 9 )) conv=notrunc status=none
refused 1 'shard' --data "$T/damaged" --config "$T/cfg.json" --max-steps 1 --batch-size 4 -q
cp -r "$T/feat" "$T/truncated"
shard=$(ls "$T/truncated"/shard-*.sqf | head -n1)
truncate -s 100 "$shard"
refused 1 'shard' --data "$T/truncated" --config "$T/cfg.json" --max-steps 1 --batch-size 4 -q

# config and weights
printf '{"hidden_size": 30, "num_attention_heads": 4}' >"$T/bad1.json"
refused 1 'not a multiple of num_attention_heads' --data "$T/feat" --config "$T/bad1.json"
printf '{"hidden_act": "relu"}' >"$T/bad2.json"
refused 1 'hidden_act' --data "$T/feat" --config "$T/bad2.json"
printf '{"hidden_size": ' >"$T/bad3.json"
refused 1 'bad3.json:1:' --data "$T/feat" --config "$T/bad3.json"
printf '{"vocab_size": 1000, "max_position_embeddings": 64}' >"$T/bad4.json"
refused 1 'vocabulary' --data "$T/feat" --config "$T/bad4.json"
printf '{"max_position_embeddings": 16}' >"$T/bad5.json"
refused 1 'max_position_embeddings 16' --data "$T/feat" --config "$T/bad5.json"
refused 1 'bert.embeddings.word_embeddings.weight: shape \[1200, 32\]' \
    --data "$T/feat" --init "$FIX/micro/model.safetensors" --config "$T/cfg.json"
expect_fail 1 'no config' "${tr[@]}" predict --init "$FIX/micro/grads.safetensors" --data "$T/feat" -o "$T/x"
head -c 1000 "$FIX/micro/model.safetensors" >"$T/cut.safetensors"
refused 1 'cut.safetensors' --data "$T/feat" --init "$T/cut.safetensors" --config "$T/cfg.json"
refused 1 'bad3.json' "${ok[@]}" --eval-data "$T/feat" --eval-dataset "$T/bad3.json"

# A file given to the wrong option: what it is, and which tool makes what was wanted.
refused 1 "feat.sqt is a tokens file from sq-tokenize; --data wants a feature folder from sq-pack" \
    --data "$T/feat.sqt" --config "$T/cfg.json"
refused 1 "feat.json is a SQuAD JSON dataset; --data wants a feature folder from sq-pack" \
    --data "$T/feat.json" --config "$T/cfg.json"
refused 1 "cfg.json is a model config \(HF config.json\); --init wants model weights \(.safetensors\) \(a config goes to --config\)" \
    --data "$T/feat" --init "$T/cfg.json"
refused 1 "model.safetensors is a safetensors file .*; --config wants an HF config.json \(weights go to --init\)" \
    --data "$T/feat" --config "$FIX/micro/model.safetensors"
refused 1 "vocab.txt is a WordPiece vocabulary .*; --config wants an HF config.json" --data "$T/feat" --config "$VOCAB"
refused 1 "feat.sqt is a tokens file from sq-tokenize; --eval-dataset wants the SQuAD JSON" \
    "${ok[@]}" --eval-data "$T/feat" --eval-dataset "$T/feat.sqt"
refused 1 "feat.json is a SQuAD JSON dataset; --eval-data wants a feature folder from sq-pack" \
    "${ok[@]}" --eval-data "$T/feat.json" --eval-dataset "$T/feat.json"
"${tr[@]}" "${ok[@]}" -o "$T/run"
refused 1 "run is a run folder from sq-train; --data wants a feature folder" --data "$T/run" --config "$T/cfg.json"
expect_fail 1 "cfg.json is a model config \(HF config.json\); --init wants model weights" \
    "${tr[@]}" predict --init "$T/cfg.json" --data "$T/feat" -o "$T/x"
expect_fail 1 "feat.sqt is a tokens file from sq-tokenize; --data wants a feature folder" \
    "${tr[@]}" predict --init "$T/run/model.safetensors" --data "$T/feat.sqt" -o "$T/x"
[ ! -e "$T/x" ] || fail "a refused predict left $T/x"
# --init folders: without weights, with a PyTorch pickle only, with a shard index
# naming a missing shard (one line, saying what to do)
mkdir -p "$T/nomodel"
cp "$T/cfg.json" "$T/nomodel/config.json"
refused 1 'nomodel: no model.safetensors or model.safetensors.index.json in this folder .*get-model.sh' \
    --data "$T/feat" --init "$T/nomodel"
expect_fail 1 'nomodel: no model.safetensors' "${tr[@]}" predict --init "$T/nomodel" --data "$T/feat" -o "$T/x"
touch "$T/nomodel/pytorch_model.bin"
refused 1 'pytorch_model.bin, a PyTorch pickle .*safe_serialization=True' --data "$T/feat" --init "$T/nomodel"
printf '{"weight_map": {"bert.embeddings.word_embeddings.weight": "model-00001-of-00002.safetensors"}}' \
    >"$T/nomodel/model.safetensors.index.json"
refused 1 'index.json: shard model-00001-of-00002.safetensors: .*No such file' --data "$T/feat" --init "$T/nomodel"
[ ! -e "$T/x" ] || fail "a refused predict left its output"

# replay on batches that are not there
expect_fail 1 'input_ids_3' "${tr[@]}" replay --init "$FIX/micro/model.safetensors" \
    --batches "$FIX/micro/batches.safetensors" --steps 4 --lr 1e-3 --warmup-steps 0 --weight-decay 0 \
    --max-grad-norm 1 -o "$T/rep"
[ ! -e "$T/rep" ] || fail "a failed replay left its output"
echo ok
