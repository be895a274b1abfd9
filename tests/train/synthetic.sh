# Sourced by the train tests after lib.sh: synthetic SQuAD data through the
# real tools.  synthetic_features NAME PARAGRAPHS SEED makes $T/NAME.json and
# the feature directory $T/NAME (64-token windows); tiny_config FILE writes a
# small BERT config.
synthetic_features() {
    local name=$1 n=$2 seed=$3
    "$SQ_ROOT/tests/train/make_synthetic.sh" "$n" "$seed" "$name" >"$T/$name.json"
    "$SQ_BIN/sq-tokenize" -q --vocab "$VOCAB" -o "$T/$name.sqt" "$T/$name.json"
    "$SQ_BIN/sq-pack" -q --max-seq 64 --doc-stride 16 --max-query 16 -o "$T/$name" "$T/$name.sqt"
}

tiny_config() { # FILE [HIDDEN [LAYERS [HEADS [DROPOUT]]]]
    local h=${2:-32} l=${3:-2} a=${4:-2} p=${5:-0.1}
    printf '{"vocab_size": 30522, "hidden_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d, ' "$h" "$l" "$a" >"$1"
    printf '"intermediate_size": %d, "max_position_embeddings": 64, "hidden_dropout_prob": %s, ' $((4 * h)) "$p" >>"$1"
    printf '"attention_probs_dropout_prob": %s}\n' "$p" >>"$1"
}
